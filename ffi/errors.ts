/**
 * The one user-facing error type, and failed libc calls turned into it with a message that reads
 * `Cannot <verb> <thing> "<name>": <strerror> (<ERRNO>)`.
 *
 * It lives in `ffi/`, the bottom layer, so that every layer above can extend it; `lib/errors.ts` is its
 * public home.
 *
 * @module
 */
import { E, errnoName } from "./errno.ts";
import { errno, readCString, strerror } from "./libc.ts";
import { FluxError } from "./flux_error.ts";

export { FluxError, isUserError } from "./flux_error.ts";

/** The C library's text for an errno value. */
export function errnoText(e: number): string {
  return readCString(strerror(e));
}

/** A failed system call, with the errno it set. */
export class SysError extends FluxError {
  /** errno value. */
  readonly errno: number;
  /** Symbolic errno name such as `ENODEV`. */
  readonly code: string;
  constructor(verb: string, thing: string, name: string, e: number) {
    const quoted = name === "" ? "" : ` "${name}"`;
    // Raw and packet sockets need the capability: say so where a user would otherwise be left guessing.
    const hint = (e === E.EPERM || e === E.EACCES) && /socket/.test(thing)
      ? ": run as root or grant CAP_NET_RAW (setcap cap_net_raw,cap_net_admin+ep)"
      : "";
    super(`Cannot ${verb} ${thing}${quoted}: ${errnoText(e)} (${errnoName(e)})${hint}`);
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
 * try {
 *   check(close(999), "close", "descriptor", "999");
 * } catch (e) {
 *   // Cannot close descriptor "999": Bad file descriptor (EBADF)
 * }
 * ```
 */
export function check(rc: number, verb: string, thing: string, name: string): number {
  if (rc < 0) throw new SysError(verb, thing, name, errno());
  return rc;
}

export { errnoName };
