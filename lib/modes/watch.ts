/**
 * `fluxcap -io` (not built yet).
 * @module
 */
import type { Args } from "../args.ts";
import { FluxError } from "../errors.ts";

/** Runs the mode; resolves to the exit status. */
export function runWatch(_a: Args, _log: (s: string) => void): Promise<number> {
  return Promise.reject(new FluxError("Mode -io is not built yet in this version of fluxcap"));
}
