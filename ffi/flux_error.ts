/**
 * The one user-facing error type of fluxcap, in a file of its own with no imports, so that the pure
 * layers (the codec, the frame operations) can throw it without loading libc.
 *
 * @module
 */

/**
 * An error meant for the user: its message is printed as one line (no stack) and the process exits
 * with {@linkcode FluxError.exitCode}. Every "tell the user" error extends it; {@linkcode isUserError}
 * is the one predicate for it.
 */
export class FluxError extends Error {
  /** Exit status: 1 for runtime failures, 2 for configuration (command line, config file) errors. */
  readonly exitCode: number = 1;
  /** An error with `message`: one line, naming the thing and the reason. */
  constructor(message: string) {
    super(message);
    this.name = "FluxError";
  }
}

/** True for errors whose message is for the user (instances of {@linkcode FluxError}). */
export function isUserError(e: unknown): e is FluxError {
  return e instanceof FluxError;
}
