/**
 * What the main thread asks a worker to run: one typed union, posted as a structured clone.
 *
 * @module
 */
import type { OpsConfig } from "../ops/mod.ts";
import type { SinkConfig } from "../sinks/mod.ts";
import type { SourceConfig } from "../sources/mod.ts";

/** Capture: a source into a ring. */
export interface RxJob {
  side: "rx";
  ring: string;
  ops: OpsConfig;
  source: SourceConfig;
}

/** Transmit: a ring to a sink. */
export interface TxJob {
  side: "tx";
  ring: string;
  ops: OpsConfig;
  sink: SinkConfig;
  /** Start at the oldest frame the ring holds instead of the live edge. */
  fromOldest: boolean;
}

/** Every job a worker runs. */
export type Job = RxJob | TxJob;
