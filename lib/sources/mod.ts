/**
 * Capture inputs: a NIC, a tunnel, a capture file. Each is one file behind the {@linkcode Source}
 * interface; {@linkcode openSource} opens the one a job names.
 *
 * @module
 */
import { FileSource, type FileSourceConfig } from "./file.ts";
import { NicSource, type NicSourceConfig } from "./nic.ts";
export { checkKernelRing, KERNEL_RING_DEFAULTS, type KernelRingOptions } from "./nic.ts";
import type { Source } from "./source.ts";
import { TunnelSource, type TunnelSourceConfig } from "./tunnel/source.ts";

export type { FileSourceConfig, NicSourceConfig, TunnelSourceConfig };
export { type Ingest, type KernelStats, type Source, SOURCE_DONE } from "./source.ts";
export { FileSource, NicSource, TunnelSource };
export { Decapsulator, GRE_RX_DST_MAC, GRE_RX_SRC_MAC, type TunnelKind } from "./tunnel/decap.ts";
export { TunnelReceiver } from "./tunnel/receiver.ts";

/** Settings of any source. */
export type SourceConfig = NicSourceConfig | TunnelSourceConfig | FileSourceConfig;

/** Opens the source `cfg` describes. */
export function openSource(cfg: SourceConfig): Source {
  switch (cfg.kind) {
    case "nic":
      return new NicSource(cfg);
    case "tunnel":
      return new TunnelSource(cfg);
    case "file":
      return new FileSource(cfg);
  }
}
