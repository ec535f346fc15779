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
  /** The kind of source. */
  kind: "tunnel";
  /** The encapsulation received. */
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

/**
 * The kernel reassembles fragmented tunnel packets before a socket sees them; a packet whose fragments
 * time out or overlap is dropped there, seen by no socket. Its only trace is the network namespace's
 * `ReasmFails` counters (IPv4 and IPv6), which this reads and attributes to the tunnel: on a capture host
 * the tunnel is what arrives fragmented, but fragments of other traffic that fail are counted too.
 */
class ReassemblyFailures {
  #last = -1;

  /** Failed reassemblies since the previous call (0 the first time). */
  failedSince(): number {
    const now = reasmFails();
    if (now < 0) return 0;
    const d = this.#last < 0 ? 0 : Math.max(0, now - this.#last);
    this.#last = now;
    return d;
  }
}

/** IPv4 + IPv6 `ReasmFails` of this network namespace, or -1 when they cannot be read. */
function reasmFails(): number {
  try {
    const ip = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) => l.startsWith("Ip: "));
    const names = ip[0]?.split(" ") ?? [];
    const values = ip[1]?.split(" ") ?? [];
    const v4 = Number(values[names.indexOf("ReasmFails")] ?? 0);
    let v6 = 0;
    try {
      const m = /^Ip6ReasmFails\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/net/snmp6"));
      if (m) v6 = Number(m[1]);
    } catch { /* no IPv6 */ }
    return Number.isFinite(v4) ? v4 + v6 : -1;
  } catch {
    return -1;
  }
}

/** Batches read from one socket per `read()`, so the loop sees its stop flag and timers between. */
const BATCHES_PER_READ = 16;

/** A tunnel as a capture source. */
export class TunnelSource implements Source {
  readonly desc: string;
  readonly #rx: TunnelReceiver;
  readonly #decap: Decapsulator;
  readonly #reasm = new ReassemblyFailures();

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
    const k = this.#rx.kernelStats();
    return { drops: k.drops, packets: k.packets, reassembly: this.#reasm.failedSince() };
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
