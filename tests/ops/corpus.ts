/**
 * Frame builders and a mixed test corpus for the filter, flow-hash and dedup tests: 802.1Q, 802.1ad,
 * QinQ (0x88a8 + 0x8100, 0x9100 + 0x8100) and double 0x8100 tags; IPv4 (with options, fragments) and
 * IPv6 (with a fragment header, hop-by-hop); TCP, UDP, ICMP, ICMPv6, GRE, ARP, LLDP, MPLS, 802.3/LLC;
 * short, truncated, odd-length, padded and snapped frames. Written as classic pcap with the frame index
 * in the timestamp, so a file filtered by tcpdump tells which frames it kept.
 *
 * Addresses are from 198.18.0.0/15 and 2001:db8::/32 plus a few outside them (203.0.113.0/24, 10/8,
 * link-local and multicast) so that `net` expressions split the corpus; MACs are 02:…
 * @module
 */

import {
  emitPcapHeader,
  emitPcapRecordHeader,
  PCAP_GLOBAL_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  readCapture,
} from "../../lib/codec/pcap.ts";
import { isError } from "../../lib/codec/error.ts";
import { internetChecksum } from "../../lib/codec/checksum.ts";

/** Seconds of frame 0's timestamp; frame i has `BASE_SEC + i`. */
export const BASE_SEC = 1_000_000;

/** A VLAN tag to build. */
export interface Tag {
  tpid: number;
  vid: number;
  pcp?: number;
}

/** One corpus frame: its captured bytes and its length on the wire (≥ bytes.length). */
export interface CorpusFrame {
  bytes: Uint8Array;
  origLen: number;
  note: string;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** "02:00:00:00:00:01" → 6 bytes. */
export function mac(s: string): Uint8Array {
  const parts = s.split(":").map((h) => parseInt(h, 16));
  if (parts.length !== 6 || parts.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad MAC ${s}`);
  return Uint8Array.from(parts);
}

/** Dotted quad → 4 bytes. */
export function ip4(s: string): Uint8Array {
  const parts = s.split(".").map(Number);
  if (parts.length !== 4 || parts.some((x) => !(Number.isInteger(x) && x >= 0 && x <= 255))) {
    throw new Error(`bad IPv4 ${s}`);
  }
  return Uint8Array.from(parts);
}

/** IPv6 text (with at most one "::", no embedded IPv4) → 16 bytes. */
export function ip6(s: string): Uint8Array {
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${s}`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v >> 8, v & 0xff);
}

function u32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** Deterministic filler bytes. */
export function fill(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Ethernet II frame with the given tags (outermost first). */
export function ether(
  o: { dst?: string; src?: string; tags?: Tag[]; type: number; payload: Uint8Array },
): Uint8Array {
  const tags = (o.tags ?? []).map((t) => cat(u16(t.tpid), u16(((t.pcp ?? 0) << 13) | t.vid)));
  return cat(
    mac(o.dst ?? "02:00:00:00:00:02"),
    mac(o.src ?? "02:00:00:00:00:01"),
    ...tags,
    u16(o.type),
    o.payload,
  );
}

/** Options of {@linkcode ipv4}. */
export interface Ipv4Opts {
  src: string;
  dst: string;
  proto: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  frag?: number;
  /** IP options (multiple of 4 bytes). */
  options?: Uint8Array;
  tos?: number;
}

/** IPv4 packet with a correct header checksum. */
export function ipv4(o: Ipv4Opts): Uint8Array {
  const opt = o.options ?? new Uint8Array(0);
  const hl = 20 + opt.length;
  const h = new Uint8Array(hl);
  h[0] = 0x40 | (hl / 4);
  h[1] = o.tos ?? 0;
  h.set(u16(hl + o.payload.length), 2);
  h.set(u16(o.id ?? 0x1234), 4);
  h.set(u16((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.frag ?? 0)), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  h.set(ip4(o.src), 12);
  h.set(ip4(o.dst), 16);
  h.set(opt, 20);
  h.set(u16(internetChecksum(h, 0, hl)), 10);
  return cat(h, o.payload);
}

/** IPv6 packet. */
export function ipv6(
  o: { src: string; dst: string; nh: number; payload: Uint8Array; hlim?: number },
): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = 0x60;
  h.set(u16(o.payload.length), 4);
  h[6] = o.nh;
  h[7] = o.hlim ?? 64;
  h.set(ip6(o.src), 8);
  h.set(ip6(o.dst), 24);
  return cat(h, o.payload);
}

/** IPv6 fragment header (8 bytes) followed by `payload`. `offset` in 8-byte units. */
export function ip6frag(
  nh: number,
  offset: number,
  more: boolean,
  id: number,
  payload: Uint8Array,
): Uint8Array {
  return cat(Uint8Array.of(nh, 0), u16((offset << 3) | (more ? 1 : 0)), u32(id), payload);
}

/** IPv6 hop-by-hop header (8 bytes, PadN) followed by `payload`. */
export function ip6hbh(nh: number, payload: Uint8Array): Uint8Array {
  return cat(Uint8Array.of(nh, 0, 1, 4, 0, 0, 0, 0), payload);
}

/** TCP flag bits. */
export const TCP = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 } as const;

/** TCP segment (checksum left 0: nothing here verifies it). */
export function tcp(
  o: { sport: number; dport: number; seq?: number; ack?: number; flags?: number; payload?: Uint8Array },
): Uint8Array {
  const h = new Uint8Array(20);
  h.set(u16(o.sport), 0);
  h.set(u16(o.dport), 2);
  h.set(u32(o.seq ?? 1000), 4);
  h.set(u32(o.ack ?? 0), 8);
  h[12] = 5 << 4;
  h[13] = o.flags ?? TCP.ACK;
  h.set(u16(65535), 14);
  return cat(h, o.payload ?? new Uint8Array(0));
}

/** UDP datagram (checksum 0). */
export function udp(sport: number, dport: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return cat(u16(sport), u16(dport), u16(8 + payload.length), u16(0), payload);
}

/** ICMP (type 8 echo request by default) or ICMPv6 (type 128) echo. */
export function icmpEcho(type: number, id: number, seq: number, payload = fill(16, id)): Uint8Array {
  return cat(Uint8Array.of(type, 0, 0, 0), u16(id), u16(seq), payload);
}

/** ARP over Ethernet/IPv4. op 1 request, 2 reply. */
export function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Uint8Array {
  return cat(u16(1), u16(0x0800), Uint8Array.of(6, 4), u16(op), mac(sha), ip4(spa), mac(tha), ip4(tpa));
}

/** Pads an Ethernet frame to 60 bytes (the minimum without FCS), as a NIC would. */
export function pad60(f: Uint8Array): Uint8Array {
  return f.length >= 60 ? f : cat(f, new Uint8Array(60 - f.length));
}

const TAG_SETS: Tag[][] = [
  [],
  [{ tpid: 0x8100, vid: 100 }],
  [{ tpid: 0x8100, vid: 200, pcp: 5 }],
  [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 100 }],
  [{ tpid: 0x9100, vid: 300 }, { tpid: 0x8100, vid: 200 }],
  [{ tpid: 0x8100, vid: 100 }, { tpid: 0x8100, vid: 200 }],
  [{ tpid: 0x88a8, vid: 200 }],
];

interface L3 {
  type: number;
  payload: Uint8Array;
  note: string;
  dst?: string;
  src?: string;
}

function l3Variants(): L3[] {
  const v: L3[] = [];
  const v4 = (note: string, o: Ipv4Opts, extra: Partial<L3> = {}) =>
    v.push({ type: 0x0800, payload: ipv4(o), note, ...extra });
  const v6 = (note: string, o: Parameters<typeof ipv6>[0], extra: Partial<L3> = {}) =>
    v.push({ type: 0x86dd, payload: ipv6(o), note, ...extra });
  v4("v4 tcp syn 443", {
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 6,
    payload: tcp({ sport: 40000, dport: 443, flags: TCP.SYN }),
  });
  v4("v4 tcp ack 443 reply", {
    src: "198.18.0.2",
    dst: "198.18.0.1",
    proto: 6,
    ttl: 63,
    payload: tcp({ sport: 443, dport: 40000, flags: TCP.ACK | TCP.PSH, payload: fill(100, 3) }),
  }, { src: "02:00:00:00:00:02", dst: "02:00:00:00:00:01" });
  v4("v4 ssh", {
    src: "198.19.1.1",
    dst: "203.0.113.5",
    proto: 6,
    payload: tcp({ sport: 22, dport: 50022, flags: TCP.ACK, payload: fill(48, 4) }),
  }, { src: "02:00:00:00:00:03" });
  v4("v4 tcp 1500 synack", {
    src: "10.1.1.1",
    dst: "198.18.5.5",
    proto: 6,
    ttl: 1,
    payload: tcp({ sport: 1500, dport: 2100, flags: TCP.SYN | TCP.ACK }),
  });
  v4("v4 dns", {
    src: "198.18.0.1",
    dst: "198.18.0.53",
    proto: 17,
    payload: udp(5353, 53, fill(30, 5)),
  });
  v4("v4 udp 2500 odd", {
    src: "203.0.113.9",
    dst: "198.18.3.3",
    proto: 17,
    payload: udp(2500, 999, fill(101, 6)),
  });
  v4("v4 icmp echo", {
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 1,
    payload: icmpEcho(8, 7, 1),
  });
  v4("v4 icmp echo reply", {
    src: "198.18.0.2",
    dst: "198.18.0.1",
    proto: 1,
    payload: icmpEcho(0, 7, 1),
  });
  v4("v4 gre", {
    src: "198.18.7.1",
    dst: "198.18.7.2",
    proto: 47,
    payload: cat(u16(0), u16(0x6558), fill(60, 7)),
  });
  // A 600-byte UDP datagram to port 80 split in three fragments (offsets 0, 26, 52 units).
  const dgram = udp(3333, 80, fill(592, 8));
  v4("v4 frag first", {
    src: "198.18.9.1",
    dst: "198.18.9.2",
    proto: 17,
    id: 77,
    mf: true,
    payload: dgram.subarray(0, 208),
  });
  v4("v4 frag middle", {
    src: "198.18.9.1",
    dst: "198.18.9.2",
    proto: 17,
    id: 77,
    mf: true,
    frag: 26,
    payload: dgram.subarray(208, 416),
  });
  v4("v4 frag last", {
    src: "198.18.9.1",
    dst: "198.18.9.2",
    proto: 17,
    id: 77,
    frag: 52,
    payload: dgram.subarray(416),
  });
  v4("v4 tcp frag first 80", {
    src: "198.18.9.3",
    dst: "198.18.9.4",
    proto: 6,
    id: 78,
    mf: true,
    payload: tcp({ sport: 50000, dport: 80, flags: TCP.SYN, payload: fill(20, 9) }),
  });
  v4("v4 options 443", {
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 6,
    options: Uint8Array.of(0x94, 4, 0, 0), // router alert
    payload: tcp({ sport: 40001, dport: 443, flags: TCP.SYN }),
  });
  v4("v4 mcast mdns", {
    src: "198.18.0.7",
    dst: "224.0.0.251",
    proto: 17,
    ttl: 255,
    payload: udp(5353, 5353, fill(40, 10)),
  }, { dst: "01:00:5e:00:00:fb" });
  v4("v4 df ip proto 132", {
    src: "198.18.0.8",
    dst: "198.18.0.9",
    proto: 132,
    df: true,
    payload: fill(48, 11),
  });
  v6("v6 tcp syn 443", {
    src: "2001:db8::1",
    dst: "2001:db8::2",
    nh: 6,
    payload: tcp({ sport: 40000, dport: 443, flags: TCP.SYN }),
  });
  v6("v6 tcp 22", {
    src: "2001:db8:1::5",
    dst: "2001:db8::1",
    nh: 6,
    payload: tcp({ sport: 22, dport: 61000, flags: TCP.ACK, payload: fill(36, 12) }),
  });
  v6("v6 dns", { src: "2001:db8::1", dst: "2001:db8::53", nh: 17, payload: udp(5300, 53, fill(40, 13)) });
  v6("v6 icmp6 echo", { src: "2001:db8::1", dst: "2001:db8::2", nh: 58, payload: icmpEcho(128, 9, 2) });
  v6("v6 icmp6 mcast", {
    src: "fe80::1",
    dst: "ff02::1",
    nh: 58,
    hlim: 255,
    payload: icmpEcho(129, 9, 3),
  }, { dst: "33:33:00:00:00:01" });
  const seg = tcp({ sport: 40100, dport: 1999, flags: TCP.ACK, payload: fill(300, 14) });
  v6("v6 frag first", {
    src: "2001:db8::7",
    dst: "2001:db8::8",
    nh: 44,
    payload: ip6frag(6, 0, true, 0xabcd, seg.subarray(0, 160)),
  });
  v6("v6 frag next", {
    src: "2001:db8::7",
    dst: "2001:db8::8",
    nh: 44,
    payload: ip6frag(6, 20, false, 0xabcd, seg.subarray(160)),
  });
  v6("v6 hbh udp", {
    src: "2001:db8::9",
    dst: "2001:db8::a",
    nh: 0,
    payload: ip6hbh(17, udp(1234, 1234, fill(12, 15))),
  });
  v6("v6 outside tcp", {
    src: "2001:db9::1",
    dst: "fd00::2",
    nh: 6,
    payload: tcp({ sport: 1000, dport: 2000, flags: TCP.FIN | TCP.ACK }),
  });
  v.push({
    type: 0x0806,
    payload: arp(1, "02:00:00:00:00:01", "198.18.0.1", "00:00:00:00:00:00", "198.18.0.2"),
    note: "arp who-has",
    dst: "ff:ff:ff:ff:ff:ff",
  });
  v.push({
    type: 0x0806,
    payload: arp(2, "02:00:00:00:00:02", "198.18.0.2", "02:00:00:00:00:01", "198.18.0.1"),
    note: "arp reply",
    src: "02:00:00:00:00:02",
    dst: "02:00:00:00:00:01",
  });
  v.push({ type: 0x88cc, payload: fill(40, 16), note: "lldp", dst: "01:80:c2:00:00:0e" });
  v.push({
    type: 0x8847,
    payload: cat(
      u32((100 << 12) | (1 << 8) | 64),
      ipv4({ src: "198.18.4.1", dst: "198.18.4.2", proto: 17, payload: udp(53, 53, fill(20, 17)) }),
    ),
    note: "mpls ipv4 dns",
  });
  return v;
}

/**
 * Builds the corpus: every L3 variant under every tag set, then short, truncated, odd and snapped
 * frames. Deterministic.
 */
export function buildCorpus(): CorpusFrame[] {
  const out: CorpusFrame[] = [];
  const variants = l3Variants();
  TAG_SETS.forEach((tags, ti) => {
    variants.forEach((v, vi) => {
      const frame = ether({ dst: v.dst, src: v.src, tags, type: v.type, payload: v.payload });
      // Every third frame padded to 60 bytes, as a NIC would; the rest as built.
      const bytes = (ti + vi) % 3 === 0 ? pad60(frame) : frame;
      out.push({ bytes, origLen: bytes.length, note: `${v.note} tags=${tags.map((t) => t.vid).join("/")}` });
    });
  });
  const add = (bytes: Uint8Array, note: string, origLen = bytes.length) => out.push({ bytes, origLen, note });
  // Short frames: below an Ethernet header, and headers cut short.
  add(Uint8Array.of(0x02), "1 byte");
  add(fill(6, 20), "6 bytes");
  add(fill(13, 21), "13 bytes");
  add(ether({ type: 0x0800, payload: new Uint8Array(0) }), "eth only, ipv4 type");
  add(ether({ type: 0x8100, payload: Uint8Array.of(0) }), "15 bytes, tag cut");
  add(
    ether({ type: 0x8100, payload: Uint8Array.of(0x00, 100) }),
    "16 bytes: TPID and TCI (VID 100), no type",
  );
  add(ether({ tags: [{ tpid: 0x8100, vid: 100 }], type: 0x0800, payload: new Uint8Array(0) }), "tag, no ip");
  const v4tcp = ipv4({
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 6,
    payload: tcp({ sport: 40000, dport: 443, flags: TCP.SYN }),
  });
  add(ether({ type: 0x0800, payload: v4tcp.subarray(0, 10) }), "ipv4 header cut at 10");
  add(ether({ type: 0x0800, payload: v4tcp.subarray(0, 26) }), "tcp header cut at 6");
  add(ether({ type: 0x0800, payload: v4tcp.subarray(0, 33) }), "tcp header cut before flags");
  add(
    ether({
      tags: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 100 }],
      type: 0x0800,
      payload: v4tcp.subarray(0, 22),
    }),
    "qinq, tcp ports cut",
  );
  const v6udp = ipv6({
    src: "2001:db8::1",
    dst: "2001:db8::53",
    nh: 17,
    payload: udp(5300, 53, fill(7, 22)),
  });
  add(ether({ type: 0x86dd, payload: v6udp.subarray(0, 20) }), "ipv6 header cut");
  add(ether({ type: 0x86dd, payload: v6udp.subarray(0, 41) }), "udp cut after 1 byte");
  // Odd lengths.
  for (const n of [1, 3, 5, 17, 255]) {
    add(
      ether({
        tags: n % 2 ? [{ tpid: 0x8100, vid: 100 }] : [],
        type: 0x0800,
        payload: ipv4({
          src: "198.18.1.1",
          dst: "198.18.1.2",
          proto: 17,
          payload: udp(1000 + n, 2000, fill(n, n)),
        }),
      }),
      `odd udp ${n}`,
    );
  }
  // Big frames (for `greater`), and snapped frames: caplen < length on the wire.
  const big = ether({
    type: 0x0800,
    payload: ipv4({
      src: "198.18.0.1",
      dst: "198.18.0.2",
      proto: 6,
      payload: tcp({ sport: 40000, dport: 443, payload: fill(1460, 23) }),
    }),
  });
  add(big, "1514 bytes");
  add(big.slice(0, 54), "snapped 54 of 1514", 1514);
  add(big.slice(0, 34), "snapped 34 of 1514", 1514);
  add(big.slice(0, 90), "snapped 90 of 150", 150);
  // 802.3 length field + LLC (spanning tree).
  add(
    pad60(
      cat(
        mac("01:80:c2:00:00:00"),
        mac("02:00:00:00:00:05"),
        u16(38),
        Uint8Array.of(0x42, 0x42, 3),
        fill(35, 24),
      ),
    ),
    "stp 802.3",
  );
  return out;
}

/** Writes frames as a classic pcap file (nanosecond magic), frame i stamped `BASE_SEC + i`, mode 0600. */
export function writeCorpusPcap(path: string, frames: readonly CorpusFrame[]): void {
  const total = PCAP_GLOBAL_HEADER_LENGTH +
    frames.reduce((a, f) => a + PCAP_RECORD_HEADER_LENGTH + f.bytes.length, 0);
  const buf = new Uint8Array(total);
  let o = emitPcapHeader(buf, 0) as number;
  frames.forEach((f, i) => {
    const n = emitPcapRecordHeader(buf, o, {
      tsSec: BASE_SEC + i,
      tsNsec: 0,
      caplen: f.bytes.length,
      origLen: f.origLen,
    });
    if (typeof n !== "number") throw new Error(n.reason);
    o += n;
    buf.set(f.bytes, o);
    o += f.bytes.length;
  });
  Deno.writeFileSync(path, buf, { mode: 0o600, createNew: true });
}

/** Frame indices (from the timestamps) of a pcap written by {@linkcode writeCorpusPcap} or filtered from it. */
export function indicesOfPcap(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (const r of readCapture(bytes)) {
    if (isError(r)) throw new Error(r.reason);
    out.push(r.tsSec - BASE_SEC);
  }
  return out;
}

/** The expressions of the corpus test (the examples first). */
export const EXPRESSIONS = [
  "not port 22",
  "vlan 100 and tcp port 443",
  "net 198.18.0.0/15 or ip6",
  "tcp[tcpflags] & tcp-syn != 0",
  "vlan",
  "vlan and vlan 200",
  "ip[6:2] & 0x1fff != 0",
  "icmp6",
  "arp",
  "ether host 02:00:00:00:00:01",
  "len > 100",
  "greater 200",
  "less 64",
  "udp port 53",
  "ip6 and tcp",
  "portrange 1000-2000",
  "ip proto 47",
  "mpls",
  "mpls and udp port 53",
  "vlan 100",
  "vlan 10 and vlan 100",
  "vlan 300 and vlan 200 and tcp",
  "host 198.18.0.1",
  "src net 2001:db8::/32",
  "dst host 2001:db8::2",
  "ip6 dst net 2001:db8::/48 and udp",
  "tcp",
  "udp",
  "icmp",
  "ip",
  "ip6",
  "ether broadcast",
  "ether multicast",
  "ip multicast",
  "ip6 multicast",
  "ether proto 0x88cc",
  "stp",
  "tcp dst port 80 and (tcp[tcpflags] & (tcp-syn|tcp-ack)) = tcp-syn",
  "ip[8] < 64",
  "ip6[7] == 64",
  "icmp[icmptype] == icmp-echo",
  "icmp6[icmp6type] == icmp6-echo",
  "ip and ip[6:2] & 0x3fff == 0",
  "ip6 proto 44",
  "tcp port 443 or udp port 53",
  "not (tcp or udp)",
  "vlan and ip6 and udp",
  "ip[2:2] / (ip[9] - 6) > 1",
  "len % (ip[9] - 6) == 0",
  "ip[2:2] * 3 > 300 and ip[2:2] - 20 < 500",
  "(ip[2:2] >> 2) == 10 or (ip[2:2] << 1) > 1000",
  "(ip[2:2] ^ 0xff) & 0x0f != 0",
  "tcp[((tcp[12:1] & 0xf0) >> 2):1] == 0x17",
  "ether src 02:00:00:00:00:02 and not arp",
  "llc",
];
