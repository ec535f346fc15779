/**
 * User-facing errors. {@linkcode FluxError} (defined in `ffi/`, the bottom layer, so that every layer
 * can extend it) is the one base class of "tell the user" errors: the command line prints its message
 * as one line and exits with its `exitCode`; anything else is a bug and keeps its stack.
 *
 * @module
 */
// The base class comes from a file of its own with no imports: the pure layers use this module too.
import { FluxError } from "../ffi/flux_error.ts";

export { FluxError, isUserError } from "../ffi/flux_error.ts";

/**
 * A mistake in the command line or a configuration file: printed as one line, exit status 2 (a unit
 * can use `RestartPreventExitStatus=2`: restarting will not fix it).
 */
export class UsageError extends FluxError {
  /** 2: a configuration error. */
  override readonly exitCode: number = 2;
  /** An error with `message` (one line, naming the value and the reason). */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The interface a loop is bound to was removed (driver reload, hot-unplug, veth recreated): its socket
 * is bound to an index that no longer exists. The process ends with this error so that a supervisor
 * restarts fluxcap on the new interface.
 */
export class InterfaceGone extends FluxError {
  constructor(iface: string) {
    super(
      `Interface "${iface}" went away (it no longer exists): stopping, so that a supervisor can restart fluxcap`,
    );
    this.name = "InterfaceGone";
  }
}

/** Short, lower-case text for a Deno file-system error ("no such file or directory"). */
export function fsErrorText(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/ \(os error \d+\).*$/, "").replace(/^./, (c) => c.toLowerCase());
}
