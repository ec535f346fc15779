/**
 * A user-facing error: its message is printed as one line and the process exits 1.
 * @module
 */
export class FluxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FluxError";
  }
}

/**
 * The interface a loop is bound to was removed (driver reload, hot-unplug, veth recreated): its socket
 * is bound to an index that no longer exists. The process ends with this error so that a supervisor
 * restarts fluxcap on the new interface.
 */
export function throwInterfaceGone(iface: string): never {
  throw new FluxError(
    `Interface "${iface}" went away (it no longer exists): stopping, so that a supervisor can restart fluxcap`,
  );
}
