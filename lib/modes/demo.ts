/**
 * `fluxcap demo` (not built yet).
 * @module
 */
import type { Args } from "../args.ts";
import { FluxError } from "../errors.ts";

/** Runs the mode; resolves to the exit status. */
export function runDemo(_a: Args, _log: (s: string) => void): Promise<number> {
  return Promise.reject(new FluxError("Mode demo is not built yet in this version of fluxcap"));
}
