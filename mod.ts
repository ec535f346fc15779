/**
 * fluxcap as a library: the shared-memory ring, frame codecs, frame operations, and the sources and
 * sinks of packet I/O.
 *
 * @example
 * ```ts
 * import { createRing, RingReader, RingWriter } from "./mod.ts";
 * createRing("/dev/shm/cisco", { size: 100 * 1024 * 1024 });
 * const w = RingWriter.open("/dev/shm/cisco", { desc: "rx eth1" });
 * const r = RingReader.open("/dev/shm/cisco", { desc: "tx eth2" });
 * w.write(new Uint8Array(60), 0, 60);
 * w.commit();
 * const n = r.poll(); // 1
 * r.release();
 * ```
 * @module
 */
export * from "./lib/ring/mod.ts";
export { parseArgs, parseCommandLine, USAGE } from "./lib/settings/mod.ts";
export type { Args, Mode, Settings } from "./lib/settings/mod.ts";
export { FluxError, isUserError, UsageError } from "./lib/errors.ts";
export * from "./lib/codec/mod.ts";
export {
  compileBpf,
  compileExpression,
  Dedup,
  DROP_REASON_COUNT,
  DropCounters,
  dropReasonOf,
  FlowHasher,
  FramePipeline,
  MAX_GROWTH,
  parseVlanFilter,
  Rendezvous,
  TPID_8021AD,
  TPID_8021Q,
  TPID_QINQ,
  validateOps,
  VlanAction,
} from "./lib/ops/mod.ts";
export type { OpsConfig, OpsSide } from "./lib/ops/mod.ts";
export { FileSource, NicSource, openSource, TunnelSource } from "./lib/sources/mod.ts";
export type { Ingest, Source, SourceConfig } from "./lib/sources/mod.ts";
export { FileSink, GroupSink, openSink, PacketSender, TunnelSender, TxRingSender } from "./lib/sinks/mod.ts";
export type { FrameCut, GroupSinkConfig, Sink, SinkConfig } from "./lib/sinks/mod.ts";
export { ifIndex, ifMtu, resolveHost } from "./lib/net/mod.ts";
export { parseEncapSpec, parseKey } from "./lib/settings/mod.ts";
export { startMetrics } from "./lib/watch/metrics.ts";
