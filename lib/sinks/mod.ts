/**
 * Transmit outputs: a NIC (`sendmmsg` or a TX ring), a tunnel, capture files, and output groups over
 * NICs or tunnels. Each is one file (or folder) behind the {@linkcode Sink} interface;
 * {@linkcode openSink} opens the one a job names.
 *
 * @module
 */
import { FileSink, type FileSinkConfig } from "./file/sink.ts";
import { GroupSink, type GroupSinkConfig } from "./group.ts";
import { type NicSinkConfig, PacketSender } from "./nic.ts";
import { TX_RING_DEFAULTS, TxRingSender } from "./nic_tx_ring.ts";
import type { Sink, SinkEnv } from "./sink.ts";
import { TunnelSender, type TunnelSinkConfig } from "./tunnel/sender.ts";

export type { FileSinkConfig, GroupSinkConfig, NicSinkConfig, TunnelSinkConfig };
export { GROUP_CHECK_MS, GROUP_FAIL_MS, GroupSink, MAX_GROUP_MEMBERS } from "./group.ts";
export {
  type FlushResult,
  type FrameCut,
  Outcome,
  type Sink,
  type SinkCounters,
  type SinkEnv,
  Staged,
} from "./sink.ts";
export { FileSink, PacketSender, TunnelSender, TX_RING_DEFAULTS, TxRingSender };
export { fitsLink, maxFrameLen } from "./packet_socket.ts";
export { checkRawSocket, UDP_BUCKETS } from "./tunnel/sockets.ts";
export { OutputClosed, PcapOutput } from "./file/output.ts";
export type {
  CaptureCounters,
  CaptureInterfaceInfo,
  PcapFileOptions,
  PcapOutputOptions,
} from "./file/output.ts";
export {
  type CaptureFileFormat,
  chooseFormat,
  createCaptureFile,
  exists,
  parseFileMode,
  type PcapTarget,
  resolveTarget,
} from "./file/names.ts";
export { splitCommand } from "./file/postrotate.ts";

/** Settings of any sink. */
export type SinkConfig = NicSinkConfig | TunnelSinkConfig | FileSinkConfig | GroupSinkConfig;

/** Opens the sink `cfg` describes, in the loop `env` describes. */
export function openSink(cfg: SinkConfig, env: SinkEnv): Sink {
  switch (cfg.kind) {
    case "nic":
      return cfg.txRing
        ? new TxRingSender(cfg)
        : new PacketSender({ iface: cfg.iface, qdiscBypass: cfg.qdiscBypass });
    case "tunnel":
      return new TunnelSender(cfg, env);
    case "file":
      return new FileSink(cfg, env);
    case "group":
      return new GroupSink(cfg, env, (member) => openSink(member, env));
  }
}
