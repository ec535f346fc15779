/**
 * UDP (RFC 768) header, as needed to carry VXLAN: parse and emit, with the optional checksum left to
 * the caller (0 = none over IPv4).
 *
 * @module
 */

import { inRange, readU16, writeU16 } from "./bytes.ts";
import { checksumFinish } from "./checksum.ts";
import { CodecError } from "./error.ts";

/** Offset of the source port. */
export const UDP_SRC_PORT = 0;
/** Offset of the destination port. */
export const UDP_DST_PORT = 2;
/** Offset of the length. */
export const UDP_LENGTH = 4;
/** Offset of the checksum. */
export const UDP_CHECKSUM = 6;
/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;

/** A parsed UDP header. */
export interface UdpInfo {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Length field (header + payload). */
  length: number;
  /** Checksum field (0 = none over IPv4). */
  checksum: number;
  /** Offset of the payload. */
  payloadOffset: number;
  /** Payload length per the length field. */
  payloadLength: number;
}

/** Fields for `emitUdp`. */
export interface UdpRepr {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Bytes that will follow the header. */
  payloadLength: number;
  /** Checksum to store; default 0 (none). */
  checksum?: number;
}

/**
 * Parses the UDP header of `buf[off, off + len)`. A length field beyond `len` is an error.
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseUdp } from "./udp.ts";
 * const u = fromHex("d0f012b5000c0000 08000000");
 * parseUdp(u, 0, u.length); // srcPort 53488, dstPort 4789, payloadLength 4
 * ```
 */
export function parseUdp(buf: Uint8Array, off: number, len: number, into?: UdpInfo): UdpInfo | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < UDP_HEADER_LENGTH) return new CodecError(`Truncated UDP header "${len}" bytes: need 8`);
  const length = readU16(buf, off + UDP_LENGTH);
  if (length < UDP_HEADER_LENGTH || length > len) {
    return new CodecError(`Bad UDP length "${length}": must be 8..${len}`);
  }
  const out = into ?? { srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOffset: 0, payloadLength: 0 };
  out.srcPort = readU16(buf, off + UDP_SRC_PORT);
  out.dstPort = readU16(buf, off + UDP_DST_PORT);
  out.length = length;
  out.checksum = readU16(buf, off + UDP_CHECKSUM);
  out.payloadOffset = off + UDP_HEADER_LENGTH;
  out.payloadLength = length - UDP_HEADER_LENGTH;
  return out;
}

/**
 * Writes an 8-byte UDP header at `off`. Returns 8 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitUdp } from "./udp.ts";
 * const b = new Uint8Array(8);
 * emitUdp(b, 0, { srcPort: 53488, dstPort: 4789, payloadLength: 4 }); // 8
 * ```
 */
export function emitUdp(buf: Uint8Array, off: number, repr: UdpRepr): number | CodecError {
  const checksum = repr.checksum ?? 0;
  for (
    const [name, v, max] of [
      ["source port", repr.srcPort, 65535],
      ["destination port", repr.dstPort, 65535],
      ["payload length", repr.payloadLength, 65535 - UDP_HEADER_LENGTH],
      ["checksum", checksum, 65535],
    ] as const
  ) {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      return new CodecError(`Bad UDP ${name} "${v}": must be 0..${max}`);
    }
  }
  if (!inRange(buf, off, UDP_HEADER_LENGTH)) return new CodecError("Buffer too small for UDP header: need 8");
  writeU16(buf, off + UDP_SRC_PORT, repr.srcPort);
  writeU16(buf, off + UDP_DST_PORT, repr.dstPort);
  writeU16(buf, off + UDP_LENGTH, UDP_HEADER_LENGTH + repr.payloadLength);
  writeU16(buf, off + UDP_CHECKSUM, checksum);
  return UDP_HEADER_LENGTH;
}

/**
 * Sets the source port of the UDP header at `off`. Like every setter here it writes its own field only
 * and checks nothing: it patches a header the caller emitted (`emitUdp`) into a template.
 *
 * @example
 * ```ts
 * import { setUdpSrcPort } from "./udp.ts";
 * const h = new Uint8Array(8);
 * setUdpSrcPort(h, 0, 53488); // h[0] === 0xd0, h[1] === 0xf0
 * ```
 */
export function setUdpSrcPort(buf: Uint8Array, off: number, port: number): void {
  writeU16(buf, off + UDP_SRC_PORT, port);
}

/**
 * Sets the length field (header + payload) of the UDP header at `off`.
 *
 * @example
 * ```ts
 * import { setUdpLength } from "./udp.ts";
 * const h = new Uint8Array(8);
 * setUdpLength(h, 0, 1480); // h[4] === 0x05, h[5] === 0xc8
 * ```
 */
export function setUdpLength(buf: Uint8Array, off: number, length: number): void {
  writeU16(buf, off + UDP_LENGTH, length);
}

/**
 * Stores `checksum` in the checksum field of the UDP header at `off` (see `udpChecksumFinish`).
 *
 * @example
 * ```ts
 * import { setUdpChecksum } from "./udp.ts";
 * const h = new Uint8Array(8);
 * setUdpChecksum(h, 0, 0xab80); // h[6] === 0xab, h[7] === 0x80
 * ```
 */
export function setUdpChecksum(buf: Uint8Array, off: number, checksum: number): void {
  writeU16(buf, off + UDP_CHECKSUM, checksum);
}

/**
 * The UDP checksum field for a running sum over the pseudo-header, the UDP header (checksum field 0) and
 * the payload: the Internet checksum, except that a computed 0 is sent as 0xffff (RFC 768: 0 means
 * "no checksum").
 *
 * @example
 * ```ts
 * import { udpChecksumFinish } from "./udp.ts";
 * udpChecksumFinish(0xffff); // 0xffff, not 0
 * udpChecksumFinish(0x1234); // 0xedcb
 * ```
 */
export function udpChecksumFinish(sum: number): number {
  return checksumFinish(sum) || 0xffff;
}
