/**
 * Realistic mixed test traffic for the demo and benchmarks: TCP sessions, DNS over UDP, ICMP echo, ARP
 * and IPv6, some frames 802.1Q-tagged, sizes from 60 to 1514 bytes, with valid IPv4 header, TCP and
 * ICMP checksums. Deterministic for a seed. Addresses in 198.18.0.0/15 and 2001:db8::/32, MACs 02:…
 *
 * @module
 */
import { checksumAdd, checksumFinish, internetChecksum } from "../codec/checksum.ts";

/** xorshift32: small, fast, reproducible. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) || 0x9e3779b9;
  }
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

function mac(buf: Uint8Array, off: number, host: number): void {
  buf.set([0x02, 0x66, 0x78, 0x10, (host >> 8) & 0xff, host & 0xff], off);
}

function ipv4(
  buf: Uint8Array,
  off: number,
  proto: number,
  payload: number,
  src: number,
  dst: number,
  id: number,
) {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  buf[off] = 0x45;
  dv.setUint16(off + 2, 20 + payload);
  dv.setUint16(off + 4, id & 0xffff);
  dv.setUint16(off + 6, 0x4000);
  buf[off + 8] = 64;
  buf[off + 9] = proto;
  dv.setUint32(off + 12, src);
  dv.setUint32(off + 16, dst);
  dv.setUint16(off + 10, internetChecksum(buf, off, 20));
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
      f.fill(0xff, 0, 6);
      mac(f, 6, client);
      f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
      mac(f, 22, client);
      new DataView(f.buffer).setUint32(28, A(tap, client));
      new DataView(f.buffer).setUint32(38, A(tap, server));
    } else if (kind < 15) { // IPv6 UDP
      const pay = 8 + 20 + rng.int(400);
      f = new Uint8Array(Math.max(60, 14 + 40 + pay));
      mac(f, 0, server);
      mac(f, 6, client);
      f.set([0x86, 0xdd, 0x60, 0, 0, 0], 12);
      new DataView(f.buffer).setUint16(18, pay);
      f[20] = 17;
      f[21] = 64;
      f.set([0x20, 0x01, 0x0d, 0xb8, 0, tap], 22);
      f[37] = client;
      f.set([0x20, 0x01, 0x0d, 0xb8, 0, tap], 38);
      f[53] = server;
      const dv = new DataView(f.buffer);
      dv.setUint16(54, 40000 + client);
      dv.setUint16(56, 5353);
      dv.setUint16(58, pay);
      for (let k = 62; k < 54 + pay; k++) f[k] = (i + k) & 0xff;
      let s = checksumAdd(0, f, 22, 32);
      s += 17 + pay;
      s = checksumAdd(s, f, 54, pay);
      dv.setUint16(60, checksumFinish(s) || 0xffff);
    } else if (kind < 25) { // ICMP echo
      const pay = 8 + 56;
      f = new Uint8Array(14 + 20 + pay);
      mac(f, 0, server);
      mac(f, 6, client);
      f.set([0x08, 0x00], 12);
      ipv4(f, 14, 1, pay, A(tap, client), A(tap, server), i);
      f[34] = 8;
      new DataView(f.buffer).setUint16(38, client);
      new DataView(f.buffer).setUint16(40, i & 0xffff);
      for (let k = 42; k < f.length; k++) f[k] = k & 0xff;
      new DataView(f.buffer).setUint16(36, internetChecksum(f, 34, pay));
    } else if (kind < 45) { // DNS query / response over UDP
      const pay = 8 + 30 + rng.int(200);
      f = new Uint8Array(Math.max(60, 14 + 20 + pay));
      mac(f, 0, server);
      mac(f, 6, client);
      f.set([0x08, 0x00], 12);
      ipv4(f, 14, 17, pay, A(tap, client), A(tap, 53), i);
      const dv = new DataView(f.buffer);
      dv.setUint16(34, 30000 + client);
      dv.setUint16(36, 53);
      dv.setUint16(38, pay);
      dv.setUint16(42, i & 0xffff);
      dv.setUint16(44, 0x0100);
      for (let k = 54; k < 34 + pay; k++) f[k] = 0x61 + ((i + k) % 26);
      dv.setUint16(40, l4sum4(f, 14, 34, pay, 17));
    } else { // TCP: handshakes, bulk data and ACKs
      const bulk = rng.int(100) < 45;
      const data = bulk ? 1460 - rng.int(600) : rng.int(100) < 50 ? 0 : 20 + rng.int(500);
      const pay = 20 + data;
      f = new Uint8Array(Math.max(60, 14 + 20 + pay));
      mac(f, 0, server);
      mac(f, 6, client);
      f.set([0x08, 0x00], 12);
      ipv4(f, 14, 6, pay, A(tap, client), A(tap, server), i);
      const dv = new DataView(f.buffer);
      dv.setUint16(34, 40000 + client);
      dv.setUint16(36, [443, 80, 22, 8443][client % 4]);
      dv.setUint32(38, 1000 + i * 1460);
      dv.setUint32(42, 5000 + i);
      f[46] = 0x50;
      f[47] = data === 0 ? (i % 7 === 0 ? 0x02 : 0x10) : 0x18;
      dv.setUint16(48, 64240);
      for (let k = 54; k < 34 + pay; k++) f[k] = (i * 7 + k) & 0xff;
      dv.setUint16(50, l4sum4(f, 14, 34, pay, 6));
    }
    if (tagged) {
      const t = new Uint8Array(f.length + 4);
      t.set(f.subarray(0, 12));
      const vid = 10 + (client % 5);
      t.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
      t.set(f.subarray(12), 16);
      f = t;
    }
    out.push(f);
  }
  return out;
}
