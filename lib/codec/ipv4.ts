/**
 * IPv4 (RFC 791): header parse and emit with checksum, fragmentation planning, and reassembly.
 *
 * @module
 */

import { inRange, readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { checksumAdd, internetChecksum } from "./checksum.ts";
import { CodecError } from "./error.ts";
import { type ReassembledDatagram, ReassemblerBase } from "./reassembly.ts";

/** Offset of the version / IHL byte. */
export const IPV4_VERSION_IHL = 0;
/** Offset of the DSCP / ECN byte. */
export const IPV4_TOS = 1;
/** Offset of the total length. */
export const IPV4_TOTAL_LENGTH = 2;
/** Offset of the identification. */
export const IPV4_ID = 4;
/** Offset of the flags / fragment offset word. */
export const IPV4_FLAGS_FRAG = 6;
/** Offset of the TTL. */
export const IPV4_TTL = 8;
/** Offset of the protocol. */
export const IPV4_PROTOCOL = 9;
/** Offset of the header checksum. */
export const IPV4_CHECKSUM = 10;
/** Offset of the source address. */
export const IPV4_SRC = 12;
/** Offset of the destination address. */
export const IPV4_DST = 16;
/** Length of a header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** Don't Fragment bit in the flags / fragment offset word. */
export const IPV4_FLAG_DF = 0x4000;
/** More Fragments bit in the flags / fragment offset word. */
export const IPV4_FLAG_MF = 0x2000;
/** Mask of the fragment offset (in 8-byte units) in the flags / fragment offset word. */
export const IPV4_FRAG_MASK = 0x1fff;

/** IP protocol number of ICMP. */
export const IP_PROTO_ICMP = 1;
/** IP protocol number of TCP. */
export const IP_PROTO_TCP = 6;
/** IP protocol number of UDP. */
export const IP_PROTO_UDP = 17;
/** IP protocol number of GRE. */
export const IP_PROTO_GRE = 47;
/** IP protocol number of ICMPv6. */
export const IP_PROTO_ICMPV6 = 58;
/** IP protocol number of SCTP. */
export const IP_PROTO_SCTP = 132;

/** A parsed IPv4 header. Addresses are unsigned 32-bit numbers; offsets point into the input. */
export interface Ipv4Info {
  /** Always 4. */
  version: number;
  /** Header length in bytes (IHL × 4). */
  headerLength: number;
  /** Differentiated services code point. */
  dscp: number;
  /** Explicit congestion notification. */
  ecn: number;
  /** Total length field (header + payload). */
  totalLength: number;
  /** Identification. */
  id: number;
  /** DF flag. */
  dontFragment: boolean;
  /** MF flag. */
  moreFragments: boolean;
  /** Fragment offset in bytes (the wire field × 8). */
  fragmentOffset: number;
  /** Time to live. */
  ttl: number;
  /** Upper-layer protocol. */
  protocol: number;
  /** Stored header checksum. */
  checksum: number;
  /** Whether the header checksum verifies. */
  checksumValid: boolean;
  /** Source address. */
  src: number;
  /** Destination address. */
  dst: number;
  /** Offset of the payload (after options). */
  payloadOffset: number;
  /** Payload length per the total length field (trailing padding excluded). */
  payloadLength: number;
}

/** Fields for `emitIpv4` (no options: the header is always 20 bytes). */
export interface Ipv4Repr {
  /** Source address as an unsigned 32-bit number. */
  src: number;
  /** Destination address as an unsigned 32-bit number. */
  dst: number;
  /** Upper-layer protocol. */
  protocol: number;
  /** Bytes that will follow the header. */
  payloadLength: number;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  id?: number;
  /** Default false. */
  dontFragment?: boolean;
  /** Default false. */
  moreFragments?: boolean;
  /** In bytes, a multiple of 8. Default 0. */
  fragmentOffset?: number;
  /** Default 0. */
  dscp?: number;
  /** Default 0. */
  ecn?: number;
}

/** A fresh reusable `Ipv4Info` for the `into` argument of `parseIpv4`. */
export function newIpv4Info(): Ipv4Info {
  return {
    version: 4,
    headerLength: 0,
    dscp: 0,
    ecn: 0,
    totalLength: 0,
    id: 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 0,
    protocol: 0,
    checksum: 0,
    checksumValid: false,
    src: 0,
    dst: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
}

/**
 * Parses the IPv4 header in `buf[off, off + len)`. Bytes past the total length (Ethernet padding) are
 * ignored; a total length beyond `len` is an error.
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseIpv4 } from "./ipv4.ts";
 * const p = fromHex("450000140001000040007cdb7f0000017f000001");
 * const h = parseIpv4(p, 0, p.length); // h.protocol === 0, h.checksumValid === true
 * ```
 */
export function parseIpv4(buf: Uint8Array, off: number, len: number, into?: Ipv4Info): Ipv4Info | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < IPV4_HEADER_LENGTH) return new CodecError(`Truncated IPv4 header "${len}" bytes: need 20`);
  const vihl = buf[off + IPV4_VERSION_IHL];
  if (vihl >>> 4 !== 4) return new CodecError(`Bad IP version "${vihl >>> 4}": expected 4`);
  const headerLength = (vihl & 15) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) {
    return new CodecError(`Bad IPv4 IHL "${vihl & 15}": must be at least 5`);
  }
  if (headerLength > len) {
    return new CodecError(`Truncated IPv4 options: header is ${headerLength} bytes of ${len}`);
  }
  const totalLength = readU16(buf, off + IPV4_TOTAL_LENGTH);
  if (totalLength < headerLength) {
    return new CodecError(`Bad IPv4 total length "${totalLength}": under the header length ${headerLength}`);
  }
  if (totalLength > len) {
    return new CodecError(`Truncated IPv4 packet: total length "${totalLength}" exceeds ${len} bytes`);
  }
  const out = into ?? newIpv4Info();
  const tos = buf[off + IPV4_TOS];
  const ff = readU16(buf, off + IPV4_FLAGS_FRAG);
  out.version = 4;
  out.headerLength = headerLength;
  out.dscp = tos >>> 2;
  out.ecn = tos & 3;
  out.totalLength = totalLength;
  out.id = readU16(buf, off + IPV4_ID);
  out.dontFragment = (ff & IPV4_FLAG_DF) !== 0;
  out.moreFragments = (ff & IPV4_FLAG_MF) !== 0;
  out.fragmentOffset = (ff & IPV4_FRAG_MASK) * 8;
  out.ttl = buf[off + IPV4_TTL];
  out.protocol = buf[off + IPV4_PROTOCOL];
  out.checksum = readU16(buf, off + IPV4_CHECKSUM);
  out.checksumValid = internetChecksum(buf, off, headerLength) === 0;
  out.src = readU32(buf, off + IPV4_SRC);
  out.dst = readU32(buf, off + IPV4_DST);
  out.payloadOffset = off + headerLength;
  out.payloadLength = totalLength - headerLength;
  return out;
}

function checkInt(name: string, v: number, max: number): CodecError | undefined {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    return new CodecError(`Bad ${name} "${v}": must be 0..${max}`);
  }
  return undefined;
}

/**
 * Writes a 20-byte IPv4 header with its checksum at `off`. Returns 20 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitIpv4 } from "./ipv4.ts";
 * const b = new Uint8Array(20);
 * emitIpv4(b, 0, { src: 0x7f000001, dst: 0x7f000001, protocol: 0, payloadLength: 0, id: 1, dontFragment: true });
 * // b is 45000014 0001 4000 4000 7cdb 7f000001 7f000001
 * ```
 */
export function emitIpv4(buf: Uint8Array, off: number, repr: Ipv4Repr): number | CodecError {
  if (!inRange(buf, off, IPV4_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for IPv4 header: need 20 bytes");
  }
  const ttl = repr.ttl ?? 64;
  const id = repr.id ?? 0;
  const frag = repr.fragmentOffset ?? 0;
  const dscp = repr.dscp ?? 0;
  const ecn = repr.ecn ?? 0;
  const bad = checkInt("IPv4 source", repr.src, 0xffffffff) ??
    checkInt("IPv4 destination", repr.dst, 0xffffffff) ??
    checkInt("IP protocol", repr.protocol, 255) ??
    checkInt("IPv4 payload length", repr.payloadLength, 65535 - IPV4_HEADER_LENGTH) ??
    checkInt("TTL", ttl, 255) ?? checkInt("IPv4 id", id, 65535) ?? checkInt("DSCP", dscp, 63) ??
    checkInt("ECN", ecn, 3) ?? checkInt("fragment offset", frag, IPV4_FRAG_MASK * 8);
  if (bad) return bad;
  if (frag % 8 !== 0) return new CodecError(`Bad fragment offset "${frag}": must be a multiple of 8`);
  buf[off + IPV4_VERSION_IHL] = 0x45;
  buf[off + IPV4_TOS] = (dscp << 2) | ecn;
  writeU16(buf, off + IPV4_TOTAL_LENGTH, IPV4_HEADER_LENGTH + repr.payloadLength);
  writeU16(buf, off + IPV4_ID, id);
  writeU16(
    buf,
    off + IPV4_FLAGS_FRAG,
    (repr.dontFragment ? IPV4_FLAG_DF : 0) | (repr.moreFragments ? IPV4_FLAG_MF : 0) | (frag / 8),
  );
  buf[off + IPV4_TTL] = ttl;
  buf[off + IPV4_PROTOCOL] = repr.protocol;
  writeU16(buf, off + IPV4_CHECKSUM, 0);
  writeU32(buf, off + IPV4_SRC, repr.src);
  writeU32(buf, off + IPV4_DST, repr.dst);
  writeU16(buf, off + IPV4_CHECKSUM, internetChecksum(buf, off, IPV4_HEADER_LENGTH));
  return IPV4_HEADER_LENGTH;
}

/**
 * Recomputes the header checksum of the IPv4 header at `off` in place (after editing TTL, say).
 * Returns the new checksum or a `CodecError` if the header does not fit.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { updateIpv4Checksum } from "./ipv4.ts";
 * const h = fromHex("450000140001000040000000 7f000001 7f000001");
 * updateIpv4Checksum(h, 0); // 0x7cdb
 * ```
 */
export function updateIpv4Checksum(buf: Uint8Array, off: number): number | CodecError {
  if (!inRange(buf, off, IPV4_HEADER_LENGTH)) return new CodecError("Truncated IPv4 header: need 20 bytes");
  const hl = (buf[off] & 15) * 4;
  if (hl < IPV4_HEADER_LENGTH || !inRange(buf, off, hl)) {
    return new CodecError(`Bad IPv4 header length "${hl}"`);
  }
  writeU16(buf, off + IPV4_CHECKSUM, 0);
  const c = internetChecksum(buf, off, hl);
  writeU16(buf, off + IPV4_CHECKSUM, c);
  return c;
}

/**
 * Sets the total length field (header + payload) of the IPv4 header at `off`. Like every setter here it
 * writes its own field only and checks nothing: it patches a header the caller emitted (`emitIpv4`)
 * into a template, so the bounds are the template's.
 *
 * @example
 * ```ts
 * import { setIpv4TotalLength } from "./ipv4.ts";
 * const h = new Uint8Array(20);
 * setIpv4TotalLength(h, 0, 1500); // h[2] === 0x05, h[3] === 0xdc
 * ```
 */
export function setIpv4TotalLength(buf: Uint8Array, off: number, totalLength: number): void {
  writeU16(buf, off + IPV4_TOTAL_LENGTH, totalLength);
}

/**
 * Sets the identification field of the IPv4 header at `off` (low 16 bits of `id`).
 *
 * @example
 * ```ts
 * import { setIpv4Id } from "./ipv4.ts";
 * const h = new Uint8Array(20);
 * setIpv4Id(h, 0, 0xbeef); // h[4] === 0xbe, h[5] === 0xef
 * ```
 */
export function setIpv4Id(buf: Uint8Array, off: number, id: number): void {
  writeU16(buf, off + IPV4_ID, id);
}

/**
 * Sets the fragment offset (`offset` in bytes, a multiple of 8) and the MF flag of the IPv4 header at
 * `off`, keeping its DF bit.
 *
 * @example
 * ```ts
 * import { setIpv4Fragment } from "./ipv4.ts";
 * const h = new Uint8Array(20);
 * setIpv4Fragment(h, 0, 1480, true); // flags / offset word 0x20b9
 * ```
 */
export function setIpv4Fragment(buf: Uint8Array, off: number, offset: number, more: boolean): void {
  const p = off + IPV4_FLAGS_FRAG;
  writeU16(buf, p, (readU16(buf, p) & IPV4_FLAG_DF) | (more ? IPV4_FLAG_MF : 0) | (offset >>> 3));
}

/**
 * Stores `checksum` in the header checksum field of the IPv4 header at `off` (see `ipv4ChecksumFrom`,
 * or `updateIpv4Checksum` to compute it from the header).
 *
 * @example
 * ```ts
 * import { setIpv4Checksum } from "./ipv4.ts";
 * const h = new Uint8Array(20);
 * setIpv4Checksum(h, 0, 0x7cdb); // h[10] === 0x7c, h[11] === 0xdb
 * ```
 */
export function setIpv4Checksum(buf: Uint8Array, off: number, checksum: number): void {
  writeU16(buf, off + IPV4_CHECKSUM, checksum);
}

/**
 * The one's-complement sum (unfolded) of the IPv4 header at `off` without its total length,
 * identification and checksum fields: the part of a header template that stays the same from packet to
 * packet. `ipv4ChecksumFrom` completes it per packet.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { ipv4ChecksumBase, ipv4ChecksumFrom } from "./ipv4.ts";
 * const h = fromHex("450000140001000040007cdb7f0000017f000001");
 * ipv4ChecksumFrom(ipv4ChecksumBase(h, 0), 20, 1); // 0x7cdb
 * ```
 */
export function ipv4ChecksumBase(buf: Uint8Array, off: number): number {
  const hl = (buf[off + IPV4_VERSION_IHL] & 15) * 4;
  return checksumAdd(0, buf, off, hl) - readU16(buf, off + IPV4_TOTAL_LENGTH) - readU16(buf, off + IPV4_ID) -
    readU16(buf, off + IPV4_CHECKSUM);
}

/**
 * The header checksum of a header whose other fields sum to `base` (`ipv4ChecksumBase`) with this total
 * length and identification: three additions and a fold, for a template patched per packet.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { ipv4ChecksumBase, ipv4ChecksumFrom } from "./ipv4.ts";
 * const h = fromHex("450000000000000040000000 7f000001 7f000001");
 * ipv4ChecksumFrom(ipv4ChecksumBase(h, 0), 20, 1); // 0x7cdb
 * ```
 */
export function ipv4ChecksumFrom(base: number, totalLength: number, id: number): number {
  let c = base + totalLength + id;
  c = (c & 0xffff) + (c >>> 16);
  return ~((c & 0xffff) + (c >>> 16)) & 0xffff;
}

/**
 * The IP version of the packet at `off`: the high nibble of its first byte (4 or 6 for IP).
 *
 * @example
 * ```ts
 * import { ipVersion } from "./ipv4.ts";
 * ipVersion(new Uint8Array([0x60]), 0); // 6
 * ```
 */
export function ipVersion(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_VERSION_IHL] >>> 4;
}

/** One fragment of a fragmentation plan: a slice of the original payload. */
export interface FragmentPlan {
  /** Offset of this fragment's data in the original payload (a multiple of 8). */
  offset: number;
  /** Bytes of payload in this fragment. */
  length: number;
  /** MF flag of this fragment. */
  moreFragments: boolean;
}

/**
 * Plans how to split a payload into IPv4 fragments no larger than `mtu` (header included). Every
 * fragment but the last carries a multiple of 8 bytes. A payload that fits yields one plan.
 *
 * @param headerLength IPv4 header length of each fragment (default 20).
 * @example
 * ```ts
 * import { fragmentIpv4 } from "./ipv4.ts";
 * fragmentIpv4(3000, 1500);
 * // [{offset: 0, length: 1480, moreFragments: true}, {offset: 1480, length: 1480, moreFragments: true},
 * //  {offset: 2960, length: 40, moreFragments: false}]
 * ```
 */
export function fragmentIpv4(
  payloadLen: number,
  mtu: number,
  headerLength: number = IPV4_HEADER_LENGTH,
): FragmentPlan[] | CodecError {
  const bad = checkInt("payload length", payloadLen, 65535 - headerLength) ??
    checkInt("MTU", mtu, 0xffffffff);
  if (bad) return bad;
  if (headerLength < IPV4_HEADER_LENGTH || headerLength > 60 || headerLength % 4 !== 0) {
    return new CodecError(`Bad IPv4 header length "${headerLength}": must be 20..60, a multiple of 4`);
  }
  return planFragments(payloadLen, mtu - headerLength, mtu);
}

/**
 * Bytes of payload in each IPv4 fragment but the last, for packets no larger than `mtu` with headers of
 * `headerLength` bytes: the room left, rounded down to a multiple of 8. 0 when under 8 bytes fit. The
 * plan of `fragmentIpv4` without the array, for hot paths: fragment k carries
 * `[k × size, min((k + 1) × size, payloadLen))`, MF set on all but the last.
 *
 * @example
 * ```ts
 * import { ipv4FragmentPayload } from "./ipv4.ts";
 * ipv4FragmentPayload(1500); // 1480
 * ```
 */
export function ipv4FragmentPayload(mtu: number, headerLength: number = IPV4_HEADER_LENGTH): number {
  return fragmentSize(mtu - headerLength);
}

/** `room` rounded down to a multiple of 8, or 0 when under 8 (shared by IPv4 and IPv6). */
export function fragmentSize(room: number): number {
  const size = Math.floor(room / 8) * 8;
  return size < 8 ? 0 : size;
}

/** Shared by IPv4 and IPv6: `room` is the payload bytes that fit in one packet. */
export function planFragments(payloadLen: number, room: number, mtu: number): FragmentPlan[] | CodecError {
  if (payloadLen <= room) return [{ offset: 0, length: payloadLen, moreFragments: false }];
  const chunk = fragmentSize(room);
  if (chunk === 0) {
    return new CodecError(`MTU "${mtu}" too small: no room for 8 bytes of payload per fragment`);
  }
  const plans: FragmentPlan[] = [];
  for (let o = 0; o < payloadLen; o += chunk) {
    const length = Math.min(chunk, payloadLen - o);
    plans.push({ offset: o, length, moreFragments: o + length < payloadLen });
  }
  return plans;
}

/**
 * Reassembles IPv4 fragments keyed by (source, destination, protocol, id). Bounded in datagrams and
 * fragments, with a timeout driven by the `now` the caller passes. Overlapping and bogus fragments are
 * dropped and counted in `stats`; nothing throws.
 *
 * @example
 * ```ts
 * import { Ipv4Reassembler } from "./ipv4.ts";
 * const r = new Ipv4Reassembler({ maxDatagrams: 128, timeoutMs: 5000 });
 * const pkt = new Uint8Array(20); // an IPv4 packet, e.g. from a ring slot
 * const done = r.push(pkt, 0, pkt.length, Date.now());
 * if (done) console.log(done.protocol, done.payload.length);
 * ```
 */
export class Ipv4Reassembler extends ReassemblerBase {
  #info = newIpv4Info();

  /**
   * Offers the IPv4 packet `buf[off, off + len)`. Returns the datagram when it is complete: for an
   * unfragmented packet immediately, with `payload` a view into `buf`; after reassembly, a fresh copy.
   * Returns `undefined` while fragments are missing or when the packet was dropped.
   */
  push(buf: Uint8Array, off: number, len: number, now: number): ReassembledDatagram | undefined {
    const h = parseIpv4(buf, off, len, this.#info);
    if (h instanceof CodecError) {
      this.table.reject();
      return undefined;
    }
    if (!h.moreFragments && h.fragmentOffset === 0) {
      return {
        protocol: h.protocol,
        payload: buf.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength),
      };
    }
    return this.table.add(
      {
        key: `${h.src}/${h.dst}/${h.protocol}/${h.id}`,
        offset: h.fragmentOffset,
        more: h.moreFragments,
        protocol: h.protocol,
      },
      buf,
      h.payloadOffset,
      h.payloadLength,
      now,
    );
  }
}
