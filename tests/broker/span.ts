/**
 * A SPAN session mirroring both the ingress and the egress port of a router, as one tap shows it: each
 * packet twice, the second copy a few frames later with another VLAN tag, the router's MACs and the TTL
 * (hop limit) one lower; plus non-IP frames seen in two VLANs, near-duplicates that are not, and real
 * retransmissions (the same bytes again, later than the window).
 * @module
 */
import {
  emitPcapHeader,
  emitPcapRecordHeader,
  PCAP_GLOBAL_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
} from "../../lib/codec/pcap.ts";
import { ether, fill, icmpEcho, ipv4, ipv6, tcp, udp } from "../ops/corpus.ts";

/** One frame of the stream, and whether `--dedup` must drop it. */
export interface SpanFrame {
  bytes: Uint8Array;
  sec: number;
  nsec: number;
  duplicate: boolean;
}

const ROUTER_IN = "02:0a:00:00:00:01";
const ROUTER_OUT = "02:0a:00:00:00:02";

/** The two SPAN copies of packet `k`: the ingress one (VLAN 10) and the egress one (VLAN 20). */
function copies(k: number): [Uint8Array, Uint8Array] {
  const kind = k % 4;
  const h2 = (n: number) => n.toString(16).padStart(2, "0");
  const host = `02:01:00:00:${h2((k >> 8) & 255)}:${h2(k & 255)}`;
  const server = "02:02:00:00:00:01";
  const pay = fill(40 + (k % 50), k + 1);
  pay[0] = k >> 8, pay[1] = k & 255;
  const l3 = (hop: number) => {
    if (kind === 0) {
      return ipv4({
        src: "198.18.0.10",
        dst: "198.19.0.20",
        proto: 6,
        ttl: hop,
        id: k,
        payload: tcp({ sport: 40000 + k, dport: 443, seq: k, payload: pay }),
      });
    }
    if (kind === 1) {
      return ipv4({
        src: "198.18.0.11",
        dst: "198.19.0.53",
        proto: 17,
        ttl: hop,
        id: k,
        payload: udp(5000 + k, 53, pay),
      });
    }
    if (kind === 2) {
      return ipv6({
        src: "2001:db8:1::10",
        dst: "2001:db8:2::20",
        nh: 17,
        hlim: hop,
        payload: udp(6000 + k, 4789, pay),
      });
    }
    return ipv4({
      src: "198.18.0.12",
      dst: "198.19.0.1",
      proto: 1,
      ttl: hop,
      id: k,
      payload: icmpEcho(8, k, k, pay),
    });
  };
  const type = kind === 2 ? 0x86dd : 0x0800;
  const a = ether({ src: host, dst: ROUTER_IN, tags: [{ tpid: 0x8100, vid: 10 }], type, payload: l3(64) });
  const b = ether({ src: ROUTER_OUT, dst: server, tags: [{ tpid: 0x8100, vid: 20 }], type, payload: l3(63) });
  return [a, b];
}

/**
 * The stream: `packets` packets, each twice (the second copy 3 frames later), every 50th packet
 * followed by a non-IP frame seen in both VLANs (same MACs: a duplicate) and by one with other MACs
 * (not one), every 40th by a near-duplicate (one payload byte differs: kept); frames 20 µs apart from
 * `t0`. Then, `retransmitAfterMs` later, the ingress copies of the first `retransmits` packets again
 * (kept: later than the window), each with its egress copy (a duplicate of the retransmission).
 */
export function spanStream(packets: number, retransmits: number, retransmitAfterMs: number, t0 = 1_000): {
  first: SpanFrame[];
  second: SpanFrame[];
} {
  const seq: { bytes: Uint8Array; duplicate: boolean }[] = [];
  const pending: { at: number; bytes: Uint8Array }[] = [];
  const emit = (bytes: Uint8Array, duplicate: boolean) => {
    seq.push({ bytes, duplicate });
    while (pending.length > 0 && pending[0].at <= seq.length) {
      seq.push({ bytes: pending.shift()!.bytes, duplicate: true });
    }
  };
  for (let k = 0; k < packets; k++) {
    const [a, b] = copies(k);
    pending.push({ at: seq.length + 4, bytes: b });
    emit(a, false);
    if (k % 50 === 0) {
      const payload = fill(46, 9000 + k);
      const src = "02:03:00:00:00:01";
      emit(
        ether({ src, dst: "02:03:00:00:00:02", tags: [{ tpid: 0x8100, vid: 10 }], type: 0x88b5, payload }),
        false,
      );
      emit(
        ether({ src, dst: "02:03:00:00:00:02", tags: [{ tpid: 0x8100, vid: 20 }], type: 0x88b5, payload }),
        true,
      );
      emit(ether({ src: "02:03:00:00:00:09", dst: "02:03:00:00:00:02", type: 0x88b5, payload }), false);
    }
    if (k % 40 === 7) {
      const near = a.slice();
      near[near.length - 1] ^= 0xff;
      emit(near, false);
    }
  }
  for (const p of pending) seq.push({ bytes: p.bytes, duplicate: true });
  const stamp = (i: number, baseNs: number) => {
    const ns = baseNs + i * 20_000;
    const sec = Math.floor(ns / 1e9);
    return { sec, nsec: ns - sec * 1e9 };
  };
  const first = seq.map((f, i) => ({ ...f, ...stamp(i, t0 * 1e9) }));
  const t1 = t0 * 1e9 + seq.length * 20_000 + retransmitAfterMs * 1e6;
  const again: { bytes: Uint8Array; duplicate: boolean }[] = [];
  for (let k = 0; k < retransmits; k++) {
    const [a, b] = copies(k);
    again.push({ bytes: a, duplicate: false }, { bytes: b, duplicate: true });
  }
  const second = again.map((f, i) => ({ ...f, ...stamp(i, t1) }));
  return { first, second };
}

/** Writes frames as a nanosecond pcap with their own time stamps (mode 0600). */
export function writeStampedPcap(path: string, frames: SpanFrame[]): void {
  const total = PCAP_GLOBAL_HEADER_LENGTH +
    frames.reduce((a, f) => a + PCAP_RECORD_HEADER_LENGTH + f.bytes.length, 0);
  const buf = new Uint8Array(total);
  let o = emitPcapHeader(buf, 0) as number;
  for (const f of frames) {
    const n = emitPcapRecordHeader(buf, o, {
      tsSec: f.sec,
      tsNsec: f.nsec,
      caplen: f.bytes.length,
      origLen: f.bytes.length,
    });
    if (typeof n !== "number") throw new Error(n.reason);
    o += n;
    buf.set(f.bytes, o);
    o += f.bytes.length;
  }
  Deno.writeFileSync(path, buf, { mode: 0o600, createNew: true });
}
