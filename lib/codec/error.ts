/**
 * The error value returned (never thrown) by every codec in `lib/codec`.
 *
 * Codecs run on hostile input at line rate, so a malformed packet is an ordinary outcome, not an
 * exception: parse and emit functions return either their result or a `CodecError`.
 *
 * @module
 */

/**
 * Why a buffer could not be parsed, or why a header could not be emitted.
 *
 * @example
 * ```ts
 * import { CodecError, isError } from "./error.ts";
 * const r: number | CodecError = new CodecError('Bad GRE version "1": only version 0 is supported');
 * if (isError(r)) console.log(r.reason);
 * ```
 */
export class CodecError {
  /**
   * Creates the error value.
   *
   * @param reason Sentence-case explanation, with the offending value quoted and context after a colon.
   */
  constructor(readonly reason: string) {}

  /** Returns the reason, so that template strings and `console.log` show something useful. */
  toString(): string {
    return `CodecError: ${this.reason}`;
  }
}

/**
 * Type guard that narrows a codec result to its error branch.
 *
 * @example
 * ```ts
 * import { isError } from "./error.ts";
 * import { parseVxlan } from "./vxlan.ts";
 * const r = parseVxlan(new Uint8Array(8), 0, 8);
 * if (isError(r)) console.log(r.reason); // the I flag is missing
 * ```
 */
export function isError(value: unknown): value is CodecError {
  return value instanceof CodecError;
}
