/**
 * VXLAN (RFC 7348): the 8-byte header carried in UDP port 4789, and the per-flow UDP source port.
 *
 * @module
 */

import { isVlanTpid } from "./ethernet.ts";
import { inRange, readU16, readU32, writeU32 } from "./bytes.ts";
import { CodecError } from "./error.ts";

/** IANA UDP destination port of VXLAN. */
export const VXLAN_UDP_PORT = 4789;
/** Offset of the flags byte. */
export const VXLAN_FLAGS = 0;
/** Offset of the 24-bit VNI (followed by a reserved byte). */
export const VXLAN_VNI = 4;
/** Length of the VXLAN header. */
export const VXLAN_HEADER_LENGTH = 8;
/** I flag: the VNI is valid. */
export const VXLAN_FLAG_I = 0x08;
/** Largest VNI (2^24 - 1). */
export const VXLAN_VNI_MAX = 0xffffff;
/** Lowest source port `vxlanSourcePort` returns (start of the dynamic range). */
export const VXLAN_SOURCE_PORT_MIN = 49152;

/** A parsed VXLAN header. */
export interface VxlanInfo {
  /** The whole flags byte (I is 0x08). */
  flags: number;
  /** VXLAN network identifier, 0..2^24-1. */
  vni: number;
  /** Offset of the inner Ethernet frame. */
  payloadOffset: number;
  /** Length of the inner frame up to the end of the given range. */
  payloadLength: number;
}

/**
 * Parses the VXLAN header at the start of `buf[off, off + len)` (the UDP payload). A header without the
 * I flag is an error value, as RFC 7348 asks receivers to drop it.
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseVxlan } from "./vxlan.ts";
 * const v = fromHex("0800000000002a00");
 * const h = parseVxlan(v, 0, v.length); // h.vni === 42, h.payloadOffset === 8
 * ```
 */
export function parseVxlan(
  buf: Uint8Array,
  off: number,
  len: number,
  into?: VxlanInfo,
): VxlanInfo | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < VXLAN_HEADER_LENGTH) return new CodecError(`Truncated VXLAN header "${len}" bytes: need 8`);
  const flags = buf[off + VXLAN_FLAGS];
  if ((flags & VXLAN_FLAG_I) === 0) {
    return new CodecError(`Bad VXLAN flags "0x${flags.toString(16).padStart(2, "0")}": I flag missing`);
  }
  const out = into ?? { flags: 0, vni: 0, payloadOffset: 0, payloadLength: 0 };
  out.flags = flags;
  out.vni = readU32(buf, off + VXLAN_VNI) >>> 8;
  out.payloadOffset = off + VXLAN_HEADER_LENGTH;
  out.payloadLength = len - VXLAN_HEADER_LENGTH;
  return out;
}

/**
 * Writes a VXLAN header (I flag, `vni`, reserved bytes zero) at `off`. Returns 8, or a `CodecError`
 * if the VNI is not 0..2^24-1 or the buffer is too small.
 *
 * @example
 * ```ts
 * import { emitVxlan } from "./vxlan.ts";
 * const b = new Uint8Array(8);
 * emitVxlan(b, 0, 42); // 8, b = 08 00 00 00 00 00 2a 00
 * ```
 */
export function emitVxlan(buf: Uint8Array, off: number, vni: number): number | CodecError {
  if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_VNI_MAX) {
    return new CodecError(`Bad VXLAN VNI "${vni}": must be 0..16777215`);
  }
  if (!inRange(buf, off, VXLAN_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for VXLAN header: need 8");
  }
  writeU32(buf, off + VXLAN_FLAGS, VXLAN_FLAG_I << 24);
  writeU32(buf, off + VXLAN_VNI, vni << 8);
  return VXLAN_HEADER_LENGTH;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function mix(h: number, buf: Uint8Array, off: number, len: number): number {
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return h;
}

/**
 * A UDP source port in 49152..65535 for carrying the Ethernet frame `frame[off, off + len)` in VXLAN,
 * derived from a hash of its flow: the MACs, then for IPv4 / IPv6 (behind up to two VLAN tags) the
 * addresses and protocol, and for TCP, UDP and SCTP (first fragments only) the ports. Stable for one
 * flow, spread across flows (RFC 7348 §5). Never throws: a short frame hashes what is there.
 *
 * @example
 * ```ts
 * import { vxlanSourcePort } from "./vxlan.ts";
 * const frame = new Uint8Array(60);
 * const port = vxlanSourcePort(frame, 0, frame.length); // e.g. 53712
 * ```
 */
export function vxlanSourcePort(frame: Uint8Array, off: number, len: number): number {
  if (!inRange(frame, off, len)) return VXLAN_SOURCE_PORT_MIN;
  const end = off + len;
  let h = mix(FNV_OFFSET, frame, off, Math.min(12, len));
  let pos = off + 12;
  if (pos + 2 > end) return finish(h);
  let type = readU16(frame, pos);
  for (let tags = 0; isVlanTpid(type) && tags < 2 && pos + 6 <= end; tags++) {
    pos += 4;
    type = readU16(frame, pos);
  }
  pos += 2;
  let proto = -1;
  let l4 = -1;
  if (type === 0x0800 && pos + 20 <= end && frame[pos] >>> 4 === 4) {
    const ihl = (frame[pos] & 15) * 4;
    proto = frame[pos + 9];
    h = mix(h, frame, pos + 9, 1);
    h = mix(h, frame, pos + 12, 8);
    const firstFragment = (readU16(frame, pos + 6) & 0x1fff) === 0;
    if (firstFragment && ihl >= 20) l4 = pos + ihl;
  } else if (type === 0x86dd && pos + 40 <= end && frame[pos] >>> 4 === 6) {
    proto = frame[pos + 6];
    h = mix(h, frame, pos + 6, 1);
    h = mix(h, frame, pos + 8, 32);
    l4 = pos + 40;
  }
  if ((proto === 6 || proto === 17 || proto === 132) && l4 >= 0 && l4 + 4 <= end) h = mix(h, frame, l4, 4);
  return finish(h);
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return VXLAN_SOURCE_PORT_MIN + ((h >>> 0) & 0x3fff);
}
