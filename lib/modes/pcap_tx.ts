/**
 * `fluxcap -tx -w` (not built yet).
 * @module
 */
import type { Args } from "../args.ts";
import { FluxError } from "../errors.ts";
import type { OpsConfig } from "../ops/mod.ts";

/** Runs the mode; resolves to the exit status. */
export function runPcapTransmit(_a: Args, _ring: string, _ops: OpsConfig, _log: (s: string) => void): Promise<number> {
  return Promise.reject(new FluxError("Mode -tx -w is not built yet in this version of fluxcap"));
}
