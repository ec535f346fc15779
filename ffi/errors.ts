/**
 * Failed libc calls turned into typed errors that read
 * `Cannot <verb> <thing> "<name>": <strerror> (<ERRNO>)`.
 *
 * @module
 */
import { errno, readCString, strerror } from "./libc.ts";

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  61: "ENODATA",
  71: "EPROTO",
  75: "EOVERFLOW",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** Symbolic name of an errno value (`ENODEV`), or `E<n>` when unknown. */
export function errnoName(e: number): string {
  return NAMES[e] ?? `E${e}`;
}

/** The C library's text for an errno value. */
export function errnoText(e: number): string {
  return readCString(strerror(e));
}

/** A failed system call, with the errno it set. */
export class SysError extends Error {
  /** errno value. */
  readonly errno: number;
  /** Symbolic errno name such as `ENODEV`. */
  readonly code: string;
  constructor(verb: string, thing: string, name: string, e: number) {
    const quoted = name === "" ? "" : ` "${name}"`;
    super(`Cannot ${verb} ${thing}${quoted}: ${errnoText(e)} (${errnoName(e)})`);
    this.name = "SysError";
    this.errno = e;
    this.code = errnoName(e);
  }
}

/**
 * Throws a {@link SysError} when `rc` is negative, reading errno at once. Returns `rc` otherwise.
 *
 * @example
 * ```ts
 * import { check } from "./errors.ts";
 * import { close } from "./libc.ts";
 * check(close(999), "close", "descriptor", "999"); // throws: Cannot close descriptor "999": Bad file descriptor (EBADF)
 * ```
 */
export function check(rc: number, verb: string, thing: string, name: string): number {
  if (rc < 0) throw new SysError(verb, thing, name, errno());
  return rc;
}
