/**
 * Realistic mixed test traffic for the demo and benchmarks: TCP sessions, DNS over UDP, ICMP echo, ARP
 * and IPv6, some frames 802.1Q-tagged, sizes from 60 to 1514 bytes, with valid IPv4 header, TCP and
 * ICMP checksums, and IPv4/UDP frames in many flows for the encapsulation benchmark. Headers come from
 * the codec's emitters. Deterministic for a seed. Addresses in 198.18.0.0/15 and 2001:db8::/32, MACs 02:…
 *
 * @module
 */
import {
  checksumAdd,
  checksumFinish,
  type CodecError,
  emitEthernet,
  emitIpv4,
  emitIpv6,
  emitUdp,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  insertVlanTag,
  internetChecksum,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  isError,
} from "../codec/mod.ts";

/** xorshift32: small, fast, reproducible. */
export class Rng {
  #s: number;
  /** A generator for `seed` (0 is replaced by a fixed non-zero seed). */
  constructor(seed: number) {
    this.#s = (seed >>> 0) || 0x9e3779b9;
  }
  /** The next 32-bit value. */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
}

function mac(host: number): Uint8Array {
  return new Uint8Array([0x02, 0x66, 0x78, 0x10, (host >> 8) & 0xff, host & 0xff]);
}

const BROADCAST = new Uint8Array(6).fill(0xff);
const FLOW_DST_MAC = new Uint8Array([0x02, 0x66, 0x78, 0, 0, 0x02]);
const FLOW_SRC_MAC = new Uint8Array([0x02, 0x66, 0x78, 0, 0, 0x01]);

/** Writes the Ethernet header of `f` (never fails: the frames are made large enough). */
function ethernet(f: Uint8Array, dst: Uint8Array, src: Uint8Array, etherType: number): void {
  must(emitEthernet(f, 0, { dst, src, etherType }));
}

/** An IPv4 header at 14 (DF set, TTL 64) with its checksum. */
function ipv4(f: Uint8Array, protocol: number, payloadLength: number, src: number, dst: number, id: number) {
  must(emitIpv4(f, 14, { src, dst, protocol, payloadLength, id: id & 0xffff, dontFragment: true }));
}

function must(r: number | CodecError): number {
  if (isError(r)) throw new Error(`Cannot make traffic: ${r.reason}`);
  return r;
}

/** Checksum of an L4 segment over the IPv4 pseudo-header. */
function l4sum4(buf: Uint8Array, ipOff: number, l4Off: number, len: number, proto: number): number {
  let s = checksumAdd(0, buf, ipOff + 12, 8);
  s += proto + len;
  s = checksumAdd(s, buf, l4Off, len);
  return checksumFinish(s) || 0xffff;
}

const A = (x: number, y: number) => ((198 << 24) | (18 << 16) | (x << 8) | y) >>> 0;

/**
 * Makes `count` frames of mixed traffic seen on one tap. `tap` (0..255) varies addresses between taps.
 */
export function mixedTraffic(count: number, seed: number, tap = 0): Uint8Array[] {
  const rng = new Rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rng.int(100);
    const client = 10 + rng.int(40);
    const server = 200 + rng.int(20);
    const tagged = rng.int(100) < 15;
    let f: Uint8Array;
    if (kind < 5) { // ARP request
      f = new Uint8Array(60);
      ethernet(f, BROADCAST, mac(client), ETHERTYPE_ARP);
      f.set([0, 1, 0x08, 0, 6, 4, 0, 1], 14);
      f.set(mac(client), 22);
      new DataView(f.buffer).setUint32(28, A(tap, client));
      new DataView(f.buffer).setUint32(38, A(tap, server));
    } else if (kind < 15) { // IPv6 UDP
      const pay = 8 + 20 + rng.int(400);
      f = new Uint8Array(Math.max(60, 14 + 40 + pay));
      ethernet(f, mac(server), mac(client), ETHERTYPE_IPV6);
      const src = new Uint8Array(16), dst = new Uint8Array(16);
      src.set([0x20, 0x01, 0x0d, 0xb8, 0, tap]);
      src[15] = client;
      dst.set([0x20, 0x01, 0x0d, 0xb8, 0, tap]);
      dst[15] = server;
      must(emitIpv6(f, 14, { src, dst, nextHeader: IP_PROTO_UDP, payloadLength: pay }));
      must(emitUdp(f, 54, { srcPort: 40000 + client, dstPort: 5353, payloadLength: pay - 8 }));
      for (let k = 62; k < 54 + pay; k++) f[k] = (i + k) & 0xff;
      let s = checksumAdd(0, f, 22, 32);
      s += IP_PROTO_UDP + pay;
      s = checksumAdd(s, f, 54, pay);
      new DataView(f.buffer).setUint16(60, checksumFinish(s) || 0xffff);
    } else if (kind < 25) { // ICMP echo
      const pay = 8 + 56;
      f = new Uint8Array(14 + 20 + pay);
      ethernet(f, mac(server), mac(client), ETHERTYPE_IPV4);
      ipv4(f, IP_PROTO_ICMP, pay, A(tap, client), A(tap, server), i);
      f[34] = 8;
      new DataView(f.buffer).setUint16(38, client);
      new DataView(f.buffer).setUint16(40, i & 0xffff);
      for (let k = 42; k < f.length; k++) f[k] = k & 0xff;
      new DataView(f.buffer).setUint16(36, internetChecksum(f, 34, pay));
    } else if (kind < 45) { // DNS query / response over UDP
      const pay = 8 + 30 + rng.int(200);
      f = new Uint8Array(Math.max(60, 14 + 20 + pay));
      ethernet(f, mac(server), mac(client), ETHERTYPE_IPV4);
      ipv4(f, IP_PROTO_UDP, pay, A(tap, client), A(tap, 53), i);
      must(emitUdp(f, 34, { srcPort: 30000 + client, dstPort: 53, payloadLength: pay - 8 }));
      const dv = new DataView(f.buffer);
      dv.setUint16(42, i & 0xffff);
      dv.setUint16(44, 0x0100);
      for (let k = 54; k < 34 + pay; k++) f[k] = 0x61 + ((i + k) % 26);
      dv.setUint16(40, l4sum4(f, 14, 34, pay, IP_PROTO_UDP));
    } else { // TCP: handshakes, bulk data and ACKs
      const bulk = rng.int(100) < 45;
      const data = bulk ? 1460 - rng.int(600) : rng.int(100) < 50 ? 0 : 20 + rng.int(500);
      const pay = 20 + data;
      f = new Uint8Array(Math.max(60, 14 + 20 + pay));
      ethernet(f, mac(server), mac(client), ETHERTYPE_IPV4);
      ipv4(f, IP_PROTO_TCP, pay, A(tap, client), A(tap, server), i);
      const dv = new DataView(f.buffer);
      dv.setUint16(34, 40000 + client);
      dv.setUint16(36, [443, 80, 22, 8443][client % 4]);
      dv.setUint32(38, 1000 + i * 1460);
      dv.setUint32(42, 5000 + i);
      f[46] = 0x50;
      f[47] = data === 0 ? (i % 7 === 0 ? 0x02 : 0x10) : 0x18;
      dv.setUint16(48, 64240);
      for (let k = 54; k < 34 + pay; k++) f[k] = (i * 7 + k) & 0xff;
      dv.setUint16(50, l4sum4(f, 14, 34, pay, IP_PROTO_TCP));
    }
    if (tagged) {
      const t = new Uint8Array(f.length + 4);
      t.set(f);
      must(insertVlanTag(t, 0, f.length, { vid: 10 + (client % 5) }));
      f = t;
    }
    out.push(f);
  }
  return out;
}

/**
 * An IPv4/UDP frame of `len` bytes (42..9000) in flow `i & 255` (source address 198.18.10.<flow> and
 * source port 0xc000 + flow, to 198.18.11.1:5001), IPv4 id `i`, no UDP checksum: tapped traffic in many
 * flows, as the encapsulation benchmark sends it.
 */
export function udpFlowFrame(len: number, i: number): Uint8Array {
  if (!Number.isInteger(len) || len < 42 || len > 9000) {
    throw new RangeError(`Frame length "${len}" is out of range 42..9000`);
  }
  const f = new Uint8Array(len);
  const flow = i & 0xff;
  must(emitEthernet(f, 0, { dst: FLOW_DST_MAC, src: FLOW_SRC_MAC, etherType: ETHERTYPE_IPV4 }));
  const ipLen = len - 14;
  must(emitIpv4(f, 14, {
    src: A(10, flow),
    dst: A(11, 1),
    protocol: IP_PROTO_UDP,
    payloadLength: ipLen - 20,
    id: i & 0xffff,
  }));
  must(emitUdp(f, 34, { srcPort: 0xc000 | flow, dstPort: 5001, payloadLength: ipLen - 28 }));
  for (let k = 42; k < len; k++) f[k] = (i + k) & 0xff;
  return f;
}
