/**
 * IPv6 (RFC 8200): fixed header parse and emit, extension-header walk to the upper layer, the fragment
 * header, fragmentation planning, and reassembly.
 *
 * @module
 */

import { inRange, readU16, readU32, toHex, writeU16, writeU32 } from "./bytes.ts";
import { CodecError } from "./error.ts";
import { checksumAdd } from "./checksum.ts";
import { type FragmentPlan, fragmentSize, planFragments } from "./ipv4.ts";
import { type ReassembledDatagram, ReassemblerBase } from "./reassembly.ts";

/** Offset of the version / traffic class / flow label word. */
export const IPV6_VERSION_TC_FLOW = 0;
/** Offset of the payload length. */
export const IPV6_PAYLOAD_LENGTH = 4;
/** Offset of the next header. */
export const IPV6_NEXT_HEADER = 6;
/** Offset of the hop limit. */
export const IPV6_HOP_LIMIT = 7;
/** Offset of the source address. */
export const IPV6_SRC = 8;
/** Offset of the destination address. */
export const IPV6_DST = 24;
/** Length of the fixed header. */
export const IPV6_HEADER_LENGTH = 40;

/** Next Header value of the hop-by-hop options header. */
export const IPV6_EXT_HOP_BY_HOP = 0;
/** Next Header value of the routing header. */
export const IPV6_EXT_ROUTING = 43;
/** Next Header value of the fragment header. */
export const IPV6_EXT_FRAGMENT = 44;
/** Next Header value of ESP (the walk stops there: what follows is encrypted). */
export const IPV6_EXT_ESP = 50;
/** Next Header value of the authentication header (length in 4-byte units). */
export const IPV6_EXT_AH = 51;
/** Next Header value meaning nothing follows. */
export const IPV6_NO_NEXT_HEADER = 59;
/** Next Header value of the destination options header. */
export const IPV6_EXT_DEST_OPTIONS = 60;
/** Next Header value of the mobility header. */
export const IPV6_EXT_MOBILITY = 135;
/** Next Header value of the HIP header. */
export const IPV6_EXT_HIP = 139;
/** Next Header value of the shim6 header. */
export const IPV6_EXT_SHIM6 = 140;

/** Offset of the next header in the fragment header. */
export const FRAG_NEXT_HEADER = 0;
/** Offset of the offset / flags word in the fragment header. */
export const FRAG_OFFSET_FLAGS = 2;
/** Offset of the identification in the fragment header. */
export const FRAG_ID = 4;
/** Length of the fragment header. */
export const FRAG_HEADER_LENGTH = 8;
/** Most extension headers `parseIpv6` walks before giving up. */
export const MAX_EXTENSION_HEADERS = 16;

/** A parsed IPv6 packet: the fixed header plus where the extension-header chain leads. */
export interface Ipv6Info {
  /** Always 6. */
  version: number;
  /** Traffic class. */
  trafficClass: number;
  /** Flow label (20 bits). */
  flowLabel: number;
  /** Payload length field. */
  payloadLength: number;
  /** Next header of the fixed header. */
  nextHeader: number;
  /** Hop limit. */
  hopLimit: number;
  /** Offset of the 16-byte source address. */
  srcOffset: number;
  /** Offset of the 16-byte destination address. */
  dstOffset: number;
  /** Offset right after the fixed header. */
  payloadOffset: number;
  /**
   * Protocol after the extension headers (TCP 6, UDP 17, ICMPv6 58, ESP 50, No Next Header 59…). For a
   * non-first fragment it is the fragment header's next header, but the bytes are not its header.
   */
  upperProtocol: number;
  /** Offset where the upper-layer header (or a non-first fragment's data) starts. */
  upperOffset: number;
  /** Bytes from `upperOffset` to the end of the payload. */
  upperLength: number;
  /** Offset of the fragment header, or -1 if the packet is not a fragment. */
  fragmentHeaderOffset: number;
  /** Fragment offset in bytes (0 if not a fragment). */
  fragmentOffset: number;
  /** M flag of the fragment header (false if not a fragment). */
  moreFragments: boolean;
  /** Identification of the fragment header (0 if not a fragment). */
  fragmentId: number;
}

/** Fields for `emitIpv6`. */
export interface Ipv6Repr {
  /** Source address, 16 bytes. */
  src: Uint8Array;
  /** Destination address, 16 bytes. */
  dst: Uint8Array;
  /** Next header. */
  nextHeader: number;
  /** Bytes that will follow the fixed header. */
  payloadLength: number;
  /** Default 64. */
  hopLimit?: number;
  /** Default 0. */
  trafficClass?: number;
  /** Default 0. */
  flowLabel?: number;
}

/** A parsed or to-be-emitted IPv6 fragment header. */
export interface Ipv6Fragment {
  /** Next header of the fragmentable part. */
  nextHeader: number;
  /** Offset in bytes, a multiple of 8. */
  fragmentOffset: number;
  /** M flag. */
  moreFragments: boolean;
  /** Identification (32 bits). */
  id: number;
}

/** A fresh reusable `Ipv6Info` for the `into` argument of `parseIpv6`. */
export function newIpv6Info(): Ipv6Info {
  return {
    version: 6,
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: 0,
    nextHeader: 0,
    hopLimit: 0,
    srcOffset: 0,
    dstOffset: 0,
    payloadOffset: 0,
    upperProtocol: 0,
    upperOffset: 0,
    upperLength: 0,
    fragmentHeaderOffset: -1,
    fragmentOffset: 0,
    moreFragments: false,
    fragmentId: 0,
  };
}

/** True for the Next Header values `parseIpv6` walks through as extension headers. */
export function isIpv6ExtensionHeader(nh: number): boolean {
  return nh === IPV6_EXT_HOP_BY_HOP || nh === IPV6_EXT_ROUTING || nh === IPV6_EXT_FRAGMENT ||
    nh === IPV6_EXT_AH || nh === IPV6_EXT_DEST_OPTIONS || nh === IPV6_EXT_MOBILITY || nh === IPV6_EXT_HIP ||
    nh === IPV6_EXT_SHIM6;
}

/**
 * Parses the IPv6 fixed header in `buf[off, off + len)` and walks the extension headers (hop-by-hop,
 * routing, destination options, fragment, AH, mobility, HIP, shim6) to the upper-layer protocol. The walk
 * stops at a non-first fragment. Bytes past the payload length are ignored.
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseIpv6 } from "./ipv6.ts";
 * const p = fromHex("6000000000083b40" + "00".repeat(15) + "01" + "00".repeat(15) + "01" + "00".repeat(8));
 * const h = parseIpv6(p, 0, p.length); // h.upperProtocol === 59, h.upperOffset === 40
 * ```
 */
export function parseIpv6(buf: Uint8Array, off: number, len: number, into?: Ipv6Info): Ipv6Info | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < IPV6_HEADER_LENGTH) return new CodecError(`Truncated IPv6 header "${len}" bytes: need 40`);
  const w = readU32(buf, off + IPV6_VERSION_TC_FLOW);
  if (w >>> 28 !== 6) return new CodecError(`Bad IP version "${w >>> 28}": expected 6`);
  const payloadLength = readU16(buf, off + IPV6_PAYLOAD_LENGTH);
  if (IPV6_HEADER_LENGTH + payloadLength > len) {
    return new CodecError(
      `Truncated IPv6 packet: payload length "${payloadLength}" exceeds ${len - 40} bytes`,
    );
  }
  const end = off + IPV6_HEADER_LENGTH + payloadLength;
  let nh = buf[off + IPV6_NEXT_HEADER];
  let pos = off + IPV6_HEADER_LENGTH;
  let fragHdr = -1;
  let fragOffset = 0;
  let more = false;
  let fragId = 0;
  for (let n = 0; isIpv6ExtensionHeader(nh); n++) {
    if (n === MAX_EXTENSION_HEADERS) {
      return new CodecError(`Too many IPv6 extension headers: more than ${MAX_EXTENSION_HEADERS}`);
    }
    if (nh === IPV6_EXT_HOP_BY_HOP && n !== 0) {
      return new CodecError(`Misplaced IPv6 hop-by-hop header at offset "${pos - off}": must come first`);
    }
    if (pos + 8 > end) {
      return new CodecError(`Truncated IPv6 extension header "${nh}" at offset "${pos - off}"`);
    }
    let extLen: number;
    if (nh === IPV6_EXT_FRAGMENT) {
      if (fragHdr >= 0) return new CodecError(`Duplicate IPv6 fragment header at offset "${pos - off}"`);
      extLen = FRAG_HEADER_LENGTH;
      fragHdr = pos;
      const of = readU16(buf, pos + FRAG_OFFSET_FLAGS);
      fragOffset = of & 0xfff8;
      more = (of & 1) !== 0;
      fragId = readU32(buf, pos + FRAG_ID);
    } else if (nh === IPV6_EXT_AH) {
      extLen = (buf[pos + 1] + 2) * 4;
    } else {
      extLen = (buf[pos + 1] + 1) * 8;
    }
    if (pos + extLen > end) {
      return new CodecError(
        `Truncated IPv6 extension header "${nh}" at offset "${pos - off}": ${extLen} bytes`,
      );
    }
    nh = buf[pos];
    pos += extLen;
    if (fragHdr >= 0 && fragOffset !== 0) break;
  }
  const out = into ?? newIpv6Info();
  out.version = 6;
  out.trafficClass = (w >>> 20) & 0xff;
  out.flowLabel = w & 0xfffff;
  out.payloadLength = payloadLength;
  out.nextHeader = buf[off + IPV6_NEXT_HEADER];
  out.hopLimit = buf[off + IPV6_HOP_LIMIT];
  out.srcOffset = off + IPV6_SRC;
  out.dstOffset = off + IPV6_DST;
  out.payloadOffset = off + IPV6_HEADER_LENGTH;
  out.upperProtocol = nh;
  out.upperOffset = pos;
  out.upperLength = end - pos;
  out.fragmentHeaderOffset = fragHdr;
  out.fragmentOffset = fragOffset;
  out.moreFragments = more;
  out.fragmentId = fragId;
  return out;
}

function checkInt(name: string, v: number, max: number): CodecError | undefined {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    return new CodecError(`Bad ${name} "${v}": must be 0..${max}`);
  }
  return undefined;
}

/**
 * Writes the 40-byte IPv6 fixed header at `off`. Returns 40 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitIpv6 } from "./ipv6.ts";
 * const b = new Uint8Array(40);
 * const a = new Uint8Array(16);
 * emitIpv6(b, 0, { src: a, dst: a, nextHeader: 59, payloadLength: 0 }); // 40
 * ```
 */
export function emitIpv6(buf: Uint8Array, off: number, repr: Ipv6Repr): number | CodecError {
  if (!inRange(buf, off, IPV6_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for IPv6 header: need 40 bytes");
  }
  if (repr.src.length !== 16 || repr.dst.length !== 16) {
    return new CodecError("Bad IPv6 address: must be 16 bytes");
  }
  const hop = repr.hopLimit ?? 64;
  const tc = repr.trafficClass ?? 0;
  const flow = repr.flowLabel ?? 0;
  const bad = checkInt("next header", repr.nextHeader, 255) ?? checkInt("hop limit", hop, 255) ??
    checkInt("traffic class", tc, 255) ?? checkInt("flow label", flow, 0xfffff) ??
    checkInt("IPv6 payload length", repr.payloadLength, 65535);
  if (bad) return bad;
  writeU32(buf, off + IPV6_VERSION_TC_FLOW, ((6 << 28) | (tc << 20) | flow) >>> 0);
  writeU16(buf, off + IPV6_PAYLOAD_LENGTH, repr.payloadLength);
  buf[off + IPV6_NEXT_HEADER] = repr.nextHeader;
  buf[off + IPV6_HOP_LIMIT] = hop;
  buf.set(repr.src, off + IPV6_SRC);
  buf.set(repr.dst, off + IPV6_DST);
  return IPV6_HEADER_LENGTH;
}

/**
 * Sets the payload length field of the IPv6 header at `off` (bytes after the fixed header, extension
 * headers included). Like every setter here it writes its own field only and checks nothing: it patches
 * a header the caller emitted (`emitIpv6`) into a template.
 *
 * @example
 * ```ts
 * import { setIpv6PayloadLength } from "./ipv6.ts";
 * const h = new Uint8Array(40);
 * setIpv6PayloadLength(h, 0, 1460); // h[4] === 0x05, h[5] === 0xb4
 * ```
 */
export function setIpv6PayloadLength(buf: Uint8Array, off: number, length: number): void {
  writeU16(buf, off + IPV6_PAYLOAD_LENGTH, length);
}

/**
 * Sets the next header field of the IPv6 header at `off`.
 *
 * @example
 * ```ts
 * import { IPV6_EXT_FRAGMENT, setIpv6NextHeader } from "./ipv6.ts";
 * const h = new Uint8Array(40);
 * setIpv6NextHeader(h, 0, IPV6_EXT_FRAGMENT); // h[6] === 44
 * ```
 */
export function setIpv6NextHeader(buf: Uint8Array, off: number, nextHeader: number): void {
  buf[off + IPV6_NEXT_HEADER] = nextHeader;
}

/**
 * Sets the fragment offset (`offset` in bytes, a multiple of 8) and the M flag of the fragment header
 * at `off`.
 *
 * @example
 * ```ts
 * import { setIpv6FragmentOffset } from "./ipv6.ts";
 * const f = new Uint8Array(8);
 * setIpv6FragmentOffset(f, 0, 1232, true); // f[2] === 0x04, f[3] === 0xd1
 * ```
 */
export function setIpv6FragmentOffset(buf: Uint8Array, off: number, offset: number, more: boolean): void {
  writeU16(buf, off + FRAG_OFFSET_FLAGS, (offset & 0xfff8) | (more ? 1 : 0));
}

/**
 * Sets the 32-bit identification of the fragment header at `off`.
 *
 * @example
 * ```ts
 * import { setIpv6FragmentId } from "./ipv6.ts";
 * const f = new Uint8Array(8);
 * setIpv6FragmentId(f, 0, 0xdeadbeef); // f[4..8] = de ad be ef
 * ```
 */
export function setIpv6FragmentId(buf: Uint8Array, off: number, id: number): void {
  writeU32(buf, off + FRAG_ID, id);
}

/**
 * The one's-complement sum (unfolded) of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer
 * packet of `upperLength` bytes and protocol `nextHeader`, the addresses read from the IPv6 header at
 * `off`. Add the upper-layer header and payload to it (`checksumAdd`, `checksumAddAt`); with
 * `upperLength` 0 it is the per-tunnel constant, the length added per packet.
 *
 * @example
 * ```ts
 * import { ipv6PseudoHeaderSum } from "./ipv6.ts";
 * const h = new Uint8Array(40);
 * h[23] = 1; // source ::1
 * h[39] = 2; // destination ::2
 * ipv6PseudoHeaderSum(h, 0, 17, 16); // 1 + 2 + 17 + 16
 * ```
 */
export function ipv6PseudoHeaderSum(
  buf: Uint8Array,
  off: number,
  nextHeader: number,
  upperLength: number,
): number {
  return checksumAdd(0, buf, off + IPV6_SRC, 32) + nextHeader + upperLength;
}

/**
 * Parses the 8-byte fragment header at `off` (`len` bytes available).
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseIpv6Fragment } from "./ipv6.ts";
 * parseIpv6Fragment(fromHex("1100000100000001"), 0, 8); // {nextHeader: 17, fragmentOffset: 0, moreFragments: true, id: 1}
 * ```
 */
export function parseIpv6Fragment(buf: Uint8Array, off: number, len: number): Ipv6Fragment | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < FRAG_HEADER_LENGTH) {
    return new CodecError(`Truncated IPv6 fragment header "${len}" bytes: need 8`);
  }
  const of = readU16(buf, off + FRAG_OFFSET_FLAGS);
  return {
    nextHeader: buf[off + FRAG_NEXT_HEADER],
    fragmentOffset: of & 0xfff8,
    moreFragments: (of & 1) !== 0,
    id: readU32(buf, off + FRAG_ID),
  };
}

/**
 * Writes an 8-byte fragment header at `off`. Returns 8 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitIpv6Fragment } from "./ipv6.ts";
 * const b = new Uint8Array(8);
 * emitIpv6Fragment(b, 0, { nextHeader: 17, fragmentOffset: 1448, moreFragments: false, id: 7 }); // 8
 * ```
 */
export function emitIpv6Fragment(buf: Uint8Array, off: number, frag: Ipv6Fragment): number | CodecError {
  if (!inRange(buf, off, FRAG_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for fragment header: need 8");
  }
  const bad = checkInt("next header", frag.nextHeader, 255) ??
    checkInt("fragment offset", frag.fragmentOffset, 0xfff8) ??
    checkInt("fragment id", frag.id, 0xffffffff);
  if (bad) return bad;
  if (frag.fragmentOffset % 8 !== 0) {
    return new CodecError(`Bad fragment offset "${frag.fragmentOffset}": must be a multiple of 8`);
  }
  buf[off + FRAG_NEXT_HEADER] = frag.nextHeader;
  buf[off + 1] = 0;
  writeU16(buf, off + FRAG_OFFSET_FLAGS, frag.fragmentOffset | (frag.moreFragments ? 1 : 0));
  writeU32(buf, off + FRAG_ID, frag.id);
  return FRAG_HEADER_LENGTH;
}

/**
 * Bytes of the fragmentable part in each IPv6 fragment but the last, for packets no larger than `mtu`
 * carrying `unfragmentableLen` bytes of headers (default 40) and the 8-byte fragment header: a multiple
 * of 8, or 0 when under 8 bytes fit. The plan of `fragmentIpv6` without the array, for hot paths.
 *
 * @example
 * ```ts
 * import { ipv6FragmentPayload } from "./ipv6.ts";
 * ipv6FragmentPayload(1280); // 1232
 * ```
 */
export function ipv6FragmentPayload(mtu: number, unfragmentableLen: number = IPV6_HEADER_LENGTH): number {
  return fragmentSize(mtu - unfragmentableLen - FRAG_HEADER_LENGTH);
}

/**
 * Plans IPv6 fragments of a fragmentable part of `fragmentableLen` bytes for packets no larger than
 * `mtu`, each carrying `unfragmentableLen` bytes of headers (default 40) plus an 8-byte fragment header.
 * A part that fits unfragmented (`unfragmentableLen + fragmentableLen <= mtu`) yields one plan.
 *
 * @example
 * ```ts
 * import { fragmentIpv6 } from "./ipv6.ts";
 * fragmentIpv6(3000, 1280); // 3 plans: 1232, 1232 and 536 bytes
 * ```
 */
export function fragmentIpv6(
  fragmentableLen: number,
  mtu: number,
  unfragmentableLen: number = IPV6_HEADER_LENGTH,
): FragmentPlan[] | CodecError {
  const bad = checkInt("payload length", fragmentableLen, 65535) ?? checkInt("MTU", mtu, 0xffffffff) ??
    checkInt("unfragmentable length", unfragmentableLen, 65535);
  if (bad) return bad;
  if (unfragmentableLen + fragmentableLen <= mtu) {
    return [{ offset: 0, length: fragmentableLen, moreFragments: false }];
  }
  return planFragments(fragmentableLen, mtu - unfragmentableLen - FRAG_HEADER_LENGTH, mtu);
}

/**
 * Reassembles IPv6 fragments keyed by (source, destination, identification), like `Ipv4Reassembler`.
 * The result's `payload` is the reassembled fragmentable part and `protocol` the next header of the
 * first fragment's fragment header. Overlaps drop the offending fragment (counted in `stats`).
 *
 * @example
 * ```ts
 * import { Ipv6Reassembler } from "./ipv6.ts";
 * const r = new Ipv6Reassembler({ timeoutMs: 60_000 });
 * const pkt = new Uint8Array(40); // an IPv6 packet, e.g. from a ring slot
 * const done = r.push(pkt, 0, pkt.length, Date.now());
 * if (done) console.log(done.protocol, done.payload.length);
 * ```
 */
export class Ipv6Reassembler extends ReassemblerBase {
  #info = newIpv6Info();

  /**
   * Offers the IPv6 packet `buf[off, off + len)`. An unfragmented packet is returned at once, its
   * `payload` a view of the upper-layer bytes. A fragment returns `undefined` until its datagram is
   * complete, then the fragmentable part as a fresh copy. Dropped packets return `undefined`.
   */
  push(buf: Uint8Array, off: number, len: number, now: number): ReassembledDatagram | undefined {
    const h = parseIpv6(buf, off, len, this.#info);
    if (h instanceof CodecError) {
      this.table.reject();
      return undefined;
    }
    if (h.fragmentHeaderOffset < 0) {
      return {
        protocol: h.upperProtocol,
        payload: buf.subarray(h.upperOffset, h.upperOffset + h.upperLength),
      };
    }
    const dataOff = h.fragmentHeaderOffset + FRAG_HEADER_LENGTH;
    const dataEnd = h.payloadOffset + h.payloadLength;
    const key = `${toHex(buf, h.srcOffset, 16)}/${toHex(buf, h.dstOffset, 16)}/${h.fragmentId}`;
    return this.table.add(
      { key, offset: h.fragmentOffset, more: h.moreFragments, protocol: buf[h.fragmentHeaderOffset] },
      buf,
      dataOff,
      dataEnd - dataOff,
      now,
    );
  }
}
