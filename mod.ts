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
  MemberSlot,
  parseSize,
  ReaderKind,
  RingError,
  RingFile,
  RingReader,
  RingWriter,
  snapshotOf,
} from "./lib/ring/mod.ts";
export type {
  CreateOptions,
  CreateResult,
  DropCounts,
  DropReasonName,
  ReaderKindName,
  ReaderOptions,
  ReaderSnapshot,
  RingGeometry,
  RingSnapshot,
  WriterOptions,
  WriterSnapshot,
} from "./lib/ring/mod.ts";
export { parseCommandLine, USAGE } from "./lib/settings/mod.ts";
export type {
  CreateSettings,
  DemoSettings,
  NicSinkSettings,
  ReceiveSettings,
  RunSettings,
  Settings,
  SinkSettings,
  SourceSettings,
  TransmitSettings,
  TunnelSinkSettings,
  WatchSettings,
} from "./lib/settings/mod.ts";
export { FluxError, isUserError, UsageError } from "./lib/errors.ts";
export * from "./lib/codec/mod.ts";
export {
  compileBpf,
  Dedup,
  FlowHasher,
  FramePipeline,
  parseVlanFilter,
  Rendezvous,
  validateOps,
} from "./lib/ops/mod.ts";
export type {
  BalanceMode,
  BpfFilter,
  BpfInsn,
  DedupOptions,
  OpsConfig,
  OpsSide,
  TranslateOptions,
} from "./lib/ops/mod.ts";
export { openSource } from "./lib/sources/mod.ts";
export type {
  FileSourceConfig,
  Ingest,
  KernelStats,
  NicSourceConfig,
  Source,
  SourceConfig,
  TunnelKind,
  TunnelSourceConfig,
} from "./lib/sources/mod.ts";
export { openSink } from "./lib/sinks/mod.ts";
export type {
  CaptureCounters,
  CaptureFileFormat,
  CaptureInterfaceInfo,
  FileSinkConfig,
  FlushResult,
  FrameCut,
  GroupSinkConfig,
  NicSinkConfig,
  PcapFileOptions,
  PcapOutputOptions,
  PcapTarget,
  Sink,
  SinkConfig,
  SinkCounters,
  SinkEnv,
  TunnelSinkConfig,
} from "./lib/sinks/mod.ts";
