/**
 * Transmit outputs: a NIC (`sendmmsg` or a TX ring), a tunnel, capture files. Each is one file (or
 * folder) behind the {@linkcode Sink} interface; {@linkcode openSink} opens the one a job names.
 *
 * @module
 */
import { FileSink, type FileSinkConfig } from "./file.ts";
import { type NicSinkConfig, PacketSender } from "./nic.ts";
import { TxRingSender } from "./nic_tx_ring.ts";
import type { Sink } from "./sink.ts";
import { TunnelSender, type TunnelSinkConfig } from "./tunnel/sender.ts";

export type { FileSinkConfig, NicSinkConfig, TunnelSinkConfig };
export { type FlushResult, type FrameCut, Outcome, type Sink, Staged } from "./sink.ts";
export { FileSink, PacketSender, TunnelSender, TxRingSender };
export { fitsLink, maxFrameLen } from "./packet_socket.ts";
export { checkRawSocket, UDP_BUCKETS } from "./tunnel/sockets.ts";
export { OutputClosed } from "../io/pcapfile.ts";

/** Settings of any sink. */
export type SinkConfig = NicSinkConfig | TunnelSinkConfig | FileSinkConfig;

/** Opens the sink `cfg` describes; `log` takes its occasional messages (a file finished). */
export function openSink(cfg: SinkConfig, log: (s: string) => void): Sink {
  switch (cfg.kind) {
    case "nic":
      return cfg.txRing
        ? new TxRingSender({ iface: cfg.iface, qdiscBypass: cfg.qdiscBypass, frameSize: cfg.frameSize })
        : new PacketSender({ iface: cfg.iface, qdiscBypass: cfg.qdiscBypass });
    case "tunnel":
      return new TunnelSender(cfg);
    case "file":
      return new FileSink(cfg, log);
  }
}
