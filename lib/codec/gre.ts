/**
 * GRE (RFC 2784 with the key and sequence number extensions of RFC 2890), version 0 only.
 *
 * The optional fields are walked with a running offset driven by the C, K and S flag bits.
 *
 * @module
 */

import { inRange, readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { checksumAdd, checksumFinish } from "./checksum.ts";
import { CodecError } from "./error.ts";

/** Offset of the flags / version word. */
export const GRE_FLAGS = 0;
/** Offset of the protocol type. */
export const GRE_PROTOCOL = 2;
/** Offset of the first optional field. */
export const GRE_OPTIONAL = 4;
/** Length of the base header without optional fields. */
export const GRE_BASE_LENGTH = 4;
/** C bit: checksum and reserved1 fields present (4 bytes). */
export const GRE_FLAG_C = 0x8000;
/** R bit (RFC 1701 routing); rejected. */
export const GRE_FLAG_R = 0x4000;
/** K bit: key field present (4 bytes). */
export const GRE_FLAG_K = 0x2000;
/** S bit: sequence number field present (4 bytes). */
export const GRE_FLAG_S = 0x1000;
/** Mask of the version bits. */
export const GRE_VERSION_MASK = 0x0007;

/** A parsed GRE header; offsets point into the input. */
export interface GreInfo {
  /** C flag. */
  checksumPresent: boolean;
  /** K flag. */
  keyPresent: boolean;
  /** S flag. */
  sequencePresent: boolean;
  /** Always 0. */
  version: number;
  /** Protocol type (an EtherType: 0x6558 TEB, 0x0800 IPv4, 0x88be ERSPAN…). */
  protocol: number;
  /** Stored checksum (0 if absent). */
  checksum: number;
  /** Whether the checksum over header and payload verifies (true when absent). */
  checksumValid: boolean;
  /** Key (0 if absent). */
  key: number;
  /** Sequence number (0 if absent). */
  sequence: number;
  /** Header length in bytes: 4, 8, 12 or 16. */
  headerLength: number;
  /** Offset of the payload. */
  payloadOffset: number;
  /** Payload length up to the end of the given range. */
  payloadLength: number;
}

/** Fields for `emitGre`. */
export interface GreRepr {
  /** Protocol type. */
  protocol: number;
  /** Key to send (sets K); omit for none. */
  key?: number;
  /** Sequence number to send (sets S); omit for none. */
  sequence?: number;
  /** Reserve the checksum field (sets C); fill it with `setGreChecksum` once the payload is written. */
  checksum?: boolean;
}

/** A fresh reusable `GreInfo` for the `into` argument of `parseGre`. */
export function newGreInfo(): GreInfo {
  return {
    checksumPresent: false,
    keyPresent: false,
    sequencePresent: false,
    version: 0,
    protocol: 0,
    checksum: 0,
    checksumValid: true,
    key: 0,
    sequence: 0,
    headerLength: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
}

/**
 * Parses the GRE header at the start of `buf[off, off + len)` (the GRE packet: header and payload).
 * Version 1 (PPTP) and the RFC 1701 routing bit are rejected.
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseGre } from "./gre.ts";
 * const g = fromHex("20006558000001f4");
 * const h = parseGre(g, 0, g.length); // h.keyPresent, h.key === 500, h.protocol === 0x6558, h.headerLength === 8
 * ```
 */
export function parseGre(buf: Uint8Array, off: number, len: number, into?: GreInfo): GreInfo | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < GRE_BASE_LENGTH) return new CodecError(`Truncated GRE header "${len}" bytes: need 4`);
  const flags = readU16(buf, off + GRE_FLAGS);
  const version = flags & GRE_VERSION_MASK;
  if (version !== 0) return new CodecError(`Bad GRE version "${version}": only version 0 is supported`);
  if (flags & GRE_FLAG_R) return new CodecError("Unsupported GRE routing bit: RFC 1701 source routes");
  const c = (flags & GRE_FLAG_C) !== 0;
  const k = (flags & GRE_FLAG_K) !== 0;
  const s = (flags & GRE_FLAG_S) !== 0;
  const headerLength = GRE_BASE_LENGTH + (c ? 4 : 0) + (k ? 4 : 0) + (s ? 4 : 0);
  if (headerLength > len) return new CodecError(`Truncated GRE header "${len}" bytes: need ${headerLength}`);
  const out = into ?? newGreInfo();
  let pos = off + GRE_OPTIONAL;
  out.checksum = 0;
  out.checksumValid = true;
  if (c) {
    out.checksum = readU16(buf, pos);
    out.checksumValid = checksumFinish(checksumAdd(0, buf, off, len)) === 0;
    pos += 4;
  }
  out.key = 0;
  if (k) {
    out.key = readU32(buf, pos);
    pos += 4;
  }
  out.sequence = 0;
  if (s) {
    out.sequence = readU32(buf, pos);
    pos += 4;
  }
  out.checksumPresent = c;
  out.keyPresent = k;
  out.sequencePresent = s;
  out.version = 0;
  out.protocol = readU16(buf, off + GRE_PROTOCOL);
  out.headerLength = headerLength;
  out.payloadOffset = pos;
  out.payloadLength = off + len - pos;
  return out;
}

/**
 * The length `emitGre` will write for these fields: 4 plus 4 for each of checksum, key, sequence.
 *
 * @example
 * ```ts
 * import { greHeaderLength } from "./gre.ts";
 * greHeaderLength({ protocol: 0x88be, sequence: 1 }); // 8
 * ```
 */
export function greHeaderLength(repr: GreRepr): number {
  return GRE_BASE_LENGTH + (repr.checksum ? 4 : 0) + (repr.key !== undefined ? 4 : 0) +
    (repr.sequence !== undefined ? 4 : 0);
}

/**
 * Writes a GRE header at `off`; returns its length or a `CodecError`. With `checksum: true` the
 * checksum field is zeroed: call `setGreChecksum` after writing the payload.
 *
 * @example
 * ```ts
 * import { emitGre } from "./gre.ts";
 * const b = new Uint8Array(8);
 * emitGre(b, 0, { protocol: 0x6558, key: 500 }); // 8, b = 20 00 65 58 00 00 01 f4
 * ```
 */
export function emitGre(buf: Uint8Array, off: number, repr: GreRepr): number | CodecError {
  const hl = greHeaderLength(repr);
  if (!inRange(buf, off, hl)) return new CodecError(`Buffer too small for GRE header: need ${hl} bytes`);
  const p = repr.protocol;
  if (!Number.isInteger(p) || p < 0 || p > 0xffff) {
    return new CodecError(`Bad GRE protocol "${p}": must be 16 bits`);
  }
  for (const [name, v] of [["key", repr.key], ["sequence number", repr.sequence]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      return new CodecError(`Bad GRE ${name} "${v}": must be 0..4294967295`);
    }
  }
  let flags = 0;
  let pos = off + GRE_OPTIONAL;
  if (repr.checksum) {
    flags |= GRE_FLAG_C;
    writeU32(buf, pos, 0);
    pos += 4;
  }
  if (repr.key !== undefined) {
    flags |= GRE_FLAG_K;
    writeU32(buf, pos, repr.key);
    pos += 4;
  }
  if (repr.sequence !== undefined) {
    flags |= GRE_FLAG_S;
    writeU32(buf, pos, repr.sequence);
    pos += 4;
  }
  writeU16(buf, off + GRE_FLAGS, flags);
  writeU16(buf, off + GRE_PROTOCOL, p);
  return hl;
}

/**
 * Sets the protocol type of the GRE header at `off` (an EtherType). Writes that field only and checks
 * nothing: it patches a header the caller emitted (`emitGre`) into a template.
 *
 * @example
 * ```ts
 * import { setGreProtocol } from "./gre.ts";
 * const h = new Uint8Array([0x20, 0, 0x65, 0x58, 0, 0, 1, 0xf4]);
 * setGreProtocol(h, 0, 0x86dd); // h = 20 00 86 dd 00 00 01 f4
 * ```
 */
export function setGreProtocol(buf: Uint8Array, off: number, protocol: number): void {
  writeU16(buf, off + GRE_PROTOCOL, protocol);
}

/**
 * Computes and stores the checksum of the GRE packet `buf[off, off + len)` (header with C set, and
 * payload). Returns the checksum or a `CodecError` if C is not set or the range is bad.
 *
 * @example
 * ```ts
 * import { emitGre, setGreChecksum } from "./gre.ts";
 * const b = new Uint8Array(12);
 * emitGre(b, 0, { protocol: 0x0800, checksum: true });
 * setGreChecksum(b, 0, 12);
 * ```
 */
export function setGreChecksum(buf: Uint8Array, off: number, len: number): number | CodecError {
  if (!inRange(buf, off, len) || len < 8) return new CodecError(`Bad GRE range "${off}+${len}"`);
  if ((readU16(buf, off) & GRE_FLAG_C) === 0) {
    return new CodecError("Cannot set GRE checksum: C bit is clear");
  }
  writeU16(buf, off + GRE_OPTIONAL, 0);
  const c = checksumFinish(checksumAdd(0, buf, off, len));
  writeU16(buf, off + GRE_OPTIONAL, c);
  return c;
}
