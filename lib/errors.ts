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
