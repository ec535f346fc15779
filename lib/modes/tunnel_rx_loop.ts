/**
 * Worker loop (not built yet).
 * @module
 */
import { FluxError } from "../errors.ts";
import type { LoopContext } from "./worker.ts";

/** Runs the loop. */
export function run(_job: unknown, _ctx: LoopContext): void {
  throw new FluxError("This mode is not built yet in this version of fluxcap");
}
