/**
 * fluxcap as a library: the shared-memory ring, the frame codecs, the frame operations, and the sources
 * and sinks of packet I/O. The command line (`cli.ts`) is built from the same pieces.
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
export {
  createRing,
  DROP_REASONS,
  DropReason,
  formatSize,
  parseSize,
  ReaderKind,
  RingError,
  RingReader,
  RingWriter,
  snapshot,
  snapshotOf,
} from "./lib/ring/mod.ts";
export type {
  CreateOptions,
  CreateResult,
  DropCounts,
  DropReasonName,
  ReaderOptions,
  ReaderSnapshot,
  RingSnapshot,
  WriterOptions,
} from "./lib/ring/mod.ts";
export { parseCommandLine, USAGE } from "./lib/settings/mod.ts";
export type { Settings } from "./lib/settings/mod.ts";
export { FluxError, isUserError, UsageError } from "./lib/errors.ts";
export * from "./lib/codec/mod.ts";
export { FramePipeline, parseVlanFilter, validateOps } from "./lib/ops/mod.ts";
export type { OpsConfig, OpsSide } from "./lib/ops/mod.ts";
export { openSource } from "./lib/sources/mod.ts";
export type {
  FileSourceConfig,
  Ingest,
  KernelStats,
  NicSourceConfig,
  Source,
  SourceConfig,
  TunnelSourceConfig,
} from "./lib/sources/mod.ts";
export { openSink } from "./lib/sinks/mod.ts";
export type {
  FileSinkConfig,
  FlushResult,
  FrameCut,
  GroupSinkConfig,
  NicSinkConfig,
  PcapFileOptions,
  PcapTarget,
  Sink,
  SinkConfig,
  SinkCounters,
  SinkEnv,
  TunnelSinkConfig,
} from "./lib/sinks/mod.ts";
export { startMetrics } from "./lib/watch/metrics.ts";
