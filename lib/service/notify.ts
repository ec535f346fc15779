/**
 * sd_notify(3) without libsystemd: one datagram per message to the AF_UNIX socket systemd names in
 * `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace), sent with `sendto` through the libc
 * table. Used by `fluxcap run` under a `Type=notify` unit: `READY=1`, `STATUS=…`, `WATCHDOG=1`,
 * `RELOADING=1`.
 *
 * @module
 */
import {
  C,
  clock_gettime,
  close,
  errno,
  errnoText,
  sendto,
  sockaddrUn,
  socket,
  SUN_PATH_MAX,
} from "../../ffi/mod.ts";

/**
 * The `struct sockaddr_un` for `name` and its length: a path, or `@name` for the abstract namespace.
 * Throws a RangeError for an empty or too long name.
 */
export function unixAddress(name: string): { addr: Uint8Array; len: number } {
  const sa = sockaddrUn(name);
  if (sa === null) {
    throw new RangeError(
      name === ""
        ? "Invalid NOTIFY_SOCKET: empty"
        : `Invalid NOTIFY_SOCKET "${name}": longer than ${SUN_PATH_MAX - 1} bytes`,
    );
  }
  return sa;
}

/**
 * A connection to the service manager's notification socket.
 *
 * @example
 * ```ts
 * import { Notifier } from "./notify.ts";
 * const n = Notifier.fromEnv(); // null when not started by systemd with Type=notify
 * n?.send("READY=1\nSTATUS=3 pipelines running");
 * ```
 */
export class Notifier {
  /** The socket name as given in `NOTIFY_SOCKET`. */
  readonly socketName: string;
  /** µs from `WATCHDOG_USEC` when the watchdog is on for this process, else null. */
  readonly watchdogUsec: number | null;
  #fd: number;
  #addr: Uint8Array;
  #len: number;
  #warned = false;
  readonly #log: (s: string) => void;

  private constructor(name: string, watchdogUsec: number | null, log: (s: string) => void) {
    const { addr, len } = unixAddress(name);
    const fd = socket(C.AF_UNIX, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`Cannot open a socket for NOTIFY_SOCKET "${name}": ${errnoText(errno())}`);
    this.socketName = name;
    this.watchdogUsec = watchdogUsec;
    this.#fd = fd;
    this.#addr = addr;
    this.#len = len;
    this.#log = log;
  }

  /**
   * The notifier systemd asked for through `NOTIFY_SOCKET` (and `WATCHDOG_USEC`/`WATCHDOG_PID`), or
   * null when there is none. A bad value is logged once and ignored: notification is best effort.
   */
  static fromEnv(log: (s: string) => void = () => {}): Notifier | null {
    const env = (k: string) => {
      if (Deno.permissions.querySync({ name: "env", variable: k }).state !== "granted") return undefined;
      return Deno.env.get(k);
    };
    const name = env("NOTIFY_SOCKET");
    if (name === undefined || name === "") return null;
    let wd: number | null = null;
    const usec = env("WATCHDOG_USEC");
    const pid = env("WATCHDOG_PID");
    if (usec !== undefined && /^[0-9]+$/.test(usec) && Number(usec) > 0) {
      if (pid === undefined || pid === "" || Number(pid) === Deno.pid) wd = Number(usec);
    }
    try {
      return new Notifier(name, wd, log);
    } catch (e) {
      log(`notify: ${(e as Error).message}; not notifying systemd`);
      return null;
    }
  }

  /** Sends one message (`KEY=value` lines). Failures are logged once, then ignored. */
  send(message: string): boolean {
    if (this.#fd < 0) return false;
    const b = new TextEncoder().encode(message);
    const n = sendto(this.#fd, b, b.length, C.MSG_DONTWAIT, this.#addr, this.#len);
    if (n < 0) {
      const e = errno();
      if (!this.#warned) {
        this.#warned = true;
        this.#log(`notify: cannot send to NOTIFY_SOCKET "${this.socketName}": ${errnoText(e)}`);
      }
      return false;
    }
    return true;
  }

  /** Closes the socket. Safe to call twice. */
  close(): void {
    if (this.#fd >= 0) close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** `MONOTONIC_USEC=` for `RELOADING=1`: CLOCK_MONOTONIC in µs (systemd 253+ reads it with a reload). */
export function monotonicUsec(): bigint {
  const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec; }
  clock_gettime(C.CLOCK_MONOTONIC, new Uint8Array(ts.buffer));
  return ts[0] * 1_000_000n + ts[1] / 1000n;
}
