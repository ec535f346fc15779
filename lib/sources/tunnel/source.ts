/**
 * Tunnel receive (`-rx -E …`): `recvmmsg` batches from the tunnel sockets, each packet decapsulated on
 * its own (a bad one is counted and skipped, the rest of its batch kept) and stamped with its kernel
 * receive time. The sockets' own drops are the kernel drops of this source.
 *
 * @module
 */
import { formatIp, type IpAddress } from "../../codec/mod.ts";
import { DropReason } from "../../ring/reasons.ts";
import type { Ingest, KernelStats, Source } from "../source.ts";
import { Decapsulator, type TunnelKind } from "./decap.ts";
import { TunnelReceiver } from "./receiver.ts";

/** Settings of a tunnel receive. */
export interface TunnelSourceConfig {
  kind: "tunnel";
  tunnel: TunnelKind;
  /** Local address to bind (default: any, both families). */
  local?: IpAddress;
  /** Device to bind to (`-i`). */
  iface?: string;
  /** GRE key, VXLAN VNI or ERSPAN session to accept (`-K`). */
  key?: number;
  /** VXLAN UDP port. */
  port: number;
  /** Socket receive buffer in bytes (default 32 MiB). */
  rcvbuf?: number;
}

/** Batches read from one socket per `read()`, so the loop sees its stop flag and timers between. */
const BATCHES_PER_READ = 16;

/** A tunnel as a capture source. */
export class TunnelSource implements Source {
  readonly desc: string;
  readonly #rx: TunnelReceiver;
  readonly #decap: Decapsulator;

  constructor(cfg: TunnelSourceConfig) {
    this.#rx = new TunnelReceiver({
      kind: cfg.tunnel,
      local: cfg.local,
      iface: cfg.iface,
      port: cfg.port,
      rcvbuf: cfg.rcvbuf,
    });
    this.#decap = new Decapsulator(cfg.tunnel, cfg.key);
    this.desc = `rx ${cfg.tunnel}${cfg.local ? `:${formatIp(cfg.local)}` : ""}${
      cfg.iface ? ` ${cfg.iface}` : ""
    }`;
  }

  read(into: Ingest): number {
    const rx = this.#rx;
    const decap = this.#decap;
    let total = 0;
    for (let s = 0; s < rx.sockets.length; s++) {
      const ipHeader = rx.sockets[s].ipHeader;
      for (let turn = 0; turn < BATCHES_PER_READ; turn++) {
        const n = rx.recv(s);
        if (n === 0) break;
        const buf = rx.buf;
        for (let i = 0; i < n; i++) {
          if (rx.truncated[i]) {
            into.drop(DropReason.oversize);
            continue;
          }
          const len = decap.decap(buf, rx.offs[i], rx.lens[i], ipHeader);
          if (len < 0) into.drop(-1 - len);
          else into.frame(buf, decap.frameOff, len, len, rx.secs[i], rx.nsecs[i], 0, 0);
        }
        into.commit();
        total += n;
        if (n < rx.batch) break;
      }
    }
    return total;
  }

  wait(ms: number): void {
    this.#rx.wait(ms);
  }

  kernelStats(): KernelStats {
    return this.#rx.kernelStats();
  }

  tick(): void {}

  summary(): null {
    return null;
  }

  close(): void {
    this.#rx.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
