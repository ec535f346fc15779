/**
 * fluxcap as a library: the shared-memory ring, frame codecs, frame operations and packet I/O.
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
export { parseArgs, USAGE, UsageError } from "./lib/args.ts";
export type { Args, Mode } from "./lib/args.ts";
export { FluxError } from "./lib/errors.ts";
export * from "./lib/codec/mod.ts";
export {
  DROP_REASON_COUNT,
  DropCounters,
  dropReasonOf,
  FramePipeline,
  MAX_GROWTH,
  parseVlanFilter,
  TPID_8021AD,
  TPID_8021Q,
  TPID_QINQ,
  validateOps,
  VlanAction,
} from "./lib/ops/mod.ts";
export type { OpsConfig, OpsSide } from "./lib/ops/mod.ts";
export { checkKernelRing, KERNEL_RING_DEFAULTS, PacketCapture } from "./lib/io/capture.ts";
export type { KernelRingOptions } from "./lib/io/capture.ts";
export { maxFrameLen, PacketSender, SendStatus, TxRingSender } from "./lib/io/sender.ts";
export type { FlushResult, SenderOptions } from "./lib/io/sender.ts";
export { ifIndex, ifMtu } from "./lib/io/netdev.ts";
export { parseEncapSpec, parseKey, resolveHost } from "./lib/io/tunnel.ts";
export { startMetrics } from "./lib/watch/metrics.ts";
