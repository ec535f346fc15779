/**
 * ERSPAN (Cisco Encapsulated Remote SPAN, draft-foschiano-erspan) carried in GRE:
 * - type I: GRE protocol 0x88be without the S bit, the mirrored frame follows GRE directly;
 * - type II: GRE protocol 0x88be with the S bit, an 8-byte header (version 1);
 * - type III: GRE protocol 0x22eb, a 12-byte header (version 2) and, when O is set, an 8-byte
 *   platform-specific subheader.
 *
 * @module
 */

import { inRange, readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { CodecError } from "./error.ts";

/** GRE protocol type of ERSPAN types I and II. */
export const GRE_PROTO_ERSPAN = 0x88be;
/** GRE protocol type of ERSPAN type III. */
export const GRE_PROTO_ERSPAN_III = 0x22eb;
/** Version field value of a type II header. */
export const ERSPAN_II_VERSION = 1;
/** Version field value of a type III header. */
export const ERSPAN_III_VERSION = 2;
/** Offset of the version / VLAN word. */
export const ERSPAN_VER_VLAN = 0;
/** Offset of the COS / En-or-BSO / T / session id word. */
export const ERSPAN_COS_SESSION = 2;
/** Offset of the reserved / index word (type II). */
export const ERSPAN_II_INDEX = 4;
/** Offset of the timestamp (type III). */
export const ERSPAN_III_TIMESTAMP = 4;
/** Offset of the SGT (type III). */
export const ERSPAN_III_SGT = 8;
/** Offset of the P / FT / HW ID / D / Gra / O word (type III). */
export const ERSPAN_III_FLAGS = 10;
/** Length of a type II header. */
export const ERSPAN_II_LENGTH = 8;
/** Length of a type III header without the platform subheader. */
export const ERSPAN_III_LENGTH = 12;
/** Length of the type III platform-specific subheader. */
export const ERSPAN_PLATFORM_LENGTH = 8;
/** Largest session id (10 bits). */
export const ERSPAN_SESSION_MAX = 1023;

/** What `parseErspan` found. Fields that a type does not carry are 0 (or -1 where noted). */
export interface ErspanInfo {
  /** ERSPAN type. */
  type: 1 | 2 | 3;
  /** Session id 0..1023; -1 for type I, which carries none. */
  sessionId: number;
  /** Original VLAN 0..4095; -1 for type I. */
  vlan: number;
  /** Class of service (types II and III). */
  cos: number;
  /** En: original frame encapsulation (type II): 0 untagged, 1 ISL, 2 802.1Q, 3 VLAN kept. */
  encapType: number;
  /** BSO: bad/short/oversized (type III). */
  bso: number;
  /** T: the frame was truncated. */
  truncated: boolean;
  /** Port index (type II, 20 bits). */
  index: number;
  /** Timestamp (type III, in units given by `granularity`). */
  timestamp: number;
  /** Security group tag (type III). */
  sgt: number;
  /** P: the payload is an Ethernet PDU frame (type III). */
  p: boolean;
  /** FT: frame type, 0 Ethernet, 2 IP (type III). */
  frameType: number;
  /** Hardware id (type III, 6 bits). */
  hwId: number;
  /** D: direction, false ingress, true egress (type III). */
  direction: boolean;
  /** Gra: timestamp granularity (type III). */
  granularity: number;
  /** Offset of the 8-byte platform subheader (type III with O set), else -1. */
  platformOffset: number;
  /** Platform id of the subheader (6 bits), else 0. */
  platformId: number;
  /** ERSPAN header length: 0, 8, 12 or 20. */
  headerLength: number;
  /** Offset of the mirrored frame. */
  frameOffset: number;
  /** Length of the mirrored frame up to the end of the given range. */
  frameLength: number;
}

/** Fields for `emitErspanII`. */
export interface ErspanIIRepr {
  /** Session id 0..1023. */
  sessionId: number;
  /** Index 0..2^20-1. Default 0. */
  index?: number;
  /** VLAN 0..4095. Default 0. */
  vlan?: number;
  /** COS 0..7. Default 0. */
  cos?: number;
  /** En 0..3. Default 3 (VLAN kept in the frame). */
  encapType?: number;
  /** T flag. Default false. */
  truncated?: boolean;
}

/** Fields for `emitErspanIII`. */
export interface ErspanIIIRepr {
  /** Session id 0..1023. */
  sessionId: number;
  /** Timestamp, 32 bits. Default 0. */
  timestamp?: number;
  /** VLAN 0..4095. Default 0. */
  vlan?: number;
  /** COS 0..7. Default 0. */
  cos?: number;
  /** BSO 0..3. Default 0. */
  bso?: number;
  /** T flag. Default false. */
  truncated?: boolean;
  /** SGT, 16 bits. Default 0. */
  sgt?: number;
  /** P flag. Default false. */
  p?: boolean;
  /** FT 0..31. Default 0 (Ethernet). */
  frameType?: number;
  /** HW ID 0..63. Default 0. */
  hwId?: number;
  /** D flag (egress). Default false. */
  direction?: boolean;
  /** Gra 0..3. Default 0. */
  granularity?: number;
  /** Platform-specific subheader (exactly 8 bytes) to append, setting O. */
  platform?: Uint8Array;
}

/** A fresh reusable `ErspanInfo` for the `into` argument of `parseErspan`. */
export function newErspanInfo(): ErspanInfo {
  return {
    type: 1,
    sessionId: -1,
    vlan: -1,
    cos: 0,
    encapType: 0,
    bso: 0,
    truncated: false,
    index: 0,
    timestamp: 0,
    sgt: 0,
    p: false,
    frameType: 0,
    hwId: 0,
    direction: false,
    granularity: 0,
    platformOffset: -1,
    platformId: 0,
    headerLength: 0,
    frameOffset: 0,
    frameLength: 0,
  };
}

/**
 * Parses the ERSPAN payload of a GRE packet, `buf[off, off + len)`, given the GRE protocol type and
 * whether GRE carried a sequence number (which tells type I from type II).
 *
 * @param into Optional result object to reuse, avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseErspan } from "./erspan.ts";
 * const e = fromHex("100a280500000007");
 * const h = parseErspan(0x88be, true, e, 0, e.length); // h.type === 2, h.sessionId === 5, h.vlan === 10
 * ```
 */
export function parseErspan(
  greProtocol: number,
  greHasSequence: boolean,
  buf: Uint8Array,
  off: number,
  len: number,
  into?: ErspanInfo,
): ErspanInfo | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  let type: 1 | 2 | 3;
  if (greProtocol === GRE_PROTO_ERSPAN) type = greHasSequence ? 2 : 1;
  else if (greProtocol === GRE_PROTO_ERSPAN_III) type = 3;
  else return new CodecError(`Bad GRE protocol "0x${greProtocol.toString(16)}": not ERSPAN`);
  const out = into ?? newErspanInfo();
  reset(out);
  out.type = type;
  if (type === 1) {
    out.frameOffset = off;
    out.frameLength = len;
    return out;
  }
  const base = type === 2 ? ERSPAN_II_LENGTH : ERSPAN_III_LENGTH;
  if (len < base) return new CodecError(`Truncated ERSPAN type ${type} header "${len}" bytes: need ${base}`);
  const w0 = readU16(buf, off + ERSPAN_VER_VLAN);
  const w1 = readU16(buf, off + ERSPAN_COS_SESSION);
  const version = w0 >>> 12;
  const want = type === 2 ? ERSPAN_II_VERSION : ERSPAN_III_VERSION;
  if (version !== want) {
    return new CodecError(`Bad ERSPAN version "${version}": type ${type} needs version ${want}`);
  }
  out.vlan = w0 & 0x0fff;
  out.cos = w1 >>> 13;
  out.truncated = (w1 & 0x0400) !== 0;
  out.sessionId = w1 & 0x03ff;
  let hl = base;
  if (type === 2) {
    out.encapType = (w1 >>> 11) & 3;
    out.index = readU32(buf, off + ERSPAN_II_INDEX) & 0xfffff;
  } else {
    out.bso = (w1 >>> 11) & 3;
    out.timestamp = readU32(buf, off + ERSPAN_III_TIMESTAMP);
    out.sgt = readU16(buf, off + ERSPAN_III_SGT);
    const f = readU16(buf, off + ERSPAN_III_FLAGS);
    out.p = (f & 0x8000) !== 0;
    out.frameType = (f >>> 10) & 0x1f;
    out.hwId = (f >>> 4) & 0x3f;
    out.direction = (f & 0x08) !== 0;
    out.granularity = (f >>> 1) & 3;
    if (f & 1) {
      if (len < base + ERSPAN_PLATFORM_LENGTH) {
        return new CodecError(`Truncated ERSPAN platform subheader "${len}" bytes: need 20`);
      }
      out.platformOffset = off + base;
      out.platformId = buf[off + base] >>> 2;
      hl += ERSPAN_PLATFORM_LENGTH;
    }
  }
  out.headerLength = hl;
  out.frameOffset = off + hl;
  out.frameLength = len - hl;
  return out;
}

function reset(o: ErspanInfo): void {
  o.sessionId = -1;
  o.vlan = -1;
  o.cos = 0;
  o.encapType = 0;
  o.bso = 0;
  o.truncated = false;
  o.index = 0;
  o.timestamp = 0;
  o.sgt = 0;
  o.p = false;
  o.frameType = 0;
  o.hwId = 0;
  o.direction = false;
  o.granularity = 0;
  o.platformOffset = -1;
  o.platformId = 0;
  o.headerLength = 0;
}

function checkInt(name: string, v: number, max: number): CodecError | undefined {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    return new CodecError(`Bad ERSPAN ${name} "${v}": must be 0..${max}`);
  }
  return undefined;
}

/**
 * Writes an 8-byte ERSPAN type II header at `off` (send it in GRE 0x88be with a sequence number).
 * Returns 8 or a `CodecError` for an out-of-range field.
 *
 * @example
 * ```ts
 * import { emitErspanII } from "./erspan.ts";
 * const b = new Uint8Array(8);
 * emitErspanII(b, 0, { sessionId: 5, vlan: 10, index: 7, encapType: 1 }); // 8, b = 10 0a 08 05 00 00 00 07
 * ```
 */
export function emitErspanII(buf: Uint8Array, off: number, repr: ErspanIIRepr): number | CodecError {
  const vlan = repr.vlan ?? 0;
  const cos = repr.cos ?? 0;
  const en = repr.encapType ?? 3;
  const index = repr.index ?? 0;
  const bad = checkInt("session id", repr.sessionId, ERSPAN_SESSION_MAX) ?? checkInt("VLAN", vlan, 4095) ??
    checkInt("COS", cos, 7) ?? checkInt("En", en, 3) ?? checkInt("index", index, 0xfffff);
  if (bad) return bad;
  if (!inRange(buf, off, ERSPAN_II_LENGTH)) {
    return new CodecError("Buffer too small for ERSPAN II header: need 8");
  }
  writeU16(buf, off + ERSPAN_VER_VLAN, (ERSPAN_II_VERSION << 12) | vlan);
  writeU16(
    buf,
    off + ERSPAN_COS_SESSION,
    (cos << 13) | (en << 11) | (repr.truncated ? 0x400 : 0) | repr.sessionId,
  );
  writeU32(buf, off + ERSPAN_II_INDEX, index);
  return ERSPAN_II_LENGTH;
}

/**
 * Writes a 12-byte ERSPAN type III header at `off`, plus the 8-byte platform subheader when `platform`
 * is given (send it in GRE 0x22eb). Returns 12 or 20, or a `CodecError` for an out-of-range field.
 *
 * @example
 * ```ts
 * import { emitErspanIII } from "./erspan.ts";
 * const b = new Uint8Array(12);
 * emitErspanIII(b, 0, { sessionId: 7, vlan: 20, timestamp: 0x12345678, sgt: 0x1234 }); // 12
 * ```
 */
export function emitErspanIII(buf: Uint8Array, off: number, repr: ErspanIIIRepr): number | CodecError {
  const vlan = repr.vlan ?? 0;
  const cos = repr.cos ?? 0;
  const bso = repr.bso ?? 0;
  const ts = repr.timestamp ?? 0;
  const sgt = repr.sgt ?? 0;
  const ft = repr.frameType ?? 0;
  const hw = repr.hwId ?? 0;
  const gra = repr.granularity ?? 0;
  const bad = checkInt("session id", repr.sessionId, ERSPAN_SESSION_MAX) ?? checkInt("VLAN", vlan, 4095) ??
    checkInt("COS", cos, 7) ?? checkInt("BSO", bso, 3) ?? checkInt("timestamp", ts, 0xffffffff) ??
    checkInt("SGT", sgt, 0xffff) ?? checkInt("FT", ft, 31) ?? checkInt("HW ID", hw, 63) ??
    checkInt("Gra", gra, 3);
  if (bad) return bad;
  if (repr.platform !== undefined && repr.platform.length !== ERSPAN_PLATFORM_LENGTH) {
    return new CodecError(`Bad ERSPAN platform subheader "${repr.platform.length}" bytes: must be 8`);
  }
  const hl = ERSPAN_III_LENGTH + (repr.platform ? ERSPAN_PLATFORM_LENGTH : 0);
  if (!inRange(buf, off, hl)) return new CodecError(`Buffer too small for ERSPAN III header: need ${hl}`);
  writeU16(buf, off + ERSPAN_VER_VLAN, (ERSPAN_III_VERSION << 12) | vlan);
  writeU16(
    buf,
    off + ERSPAN_COS_SESSION,
    (cos << 13) | (bso << 11) | (repr.truncated ? 0x400 : 0) | repr.sessionId,
  );
  writeU32(buf, off + ERSPAN_III_TIMESTAMP, ts);
  writeU16(buf, off + ERSPAN_III_SGT, sgt);
  writeU16(
    buf,
    off + ERSPAN_III_FLAGS,
    (repr.p ? 0x8000 : 0) | (ft << 10) | (hw << 4) | (repr.direction ? 8 : 0) | (gra << 1) |
      (repr.platform ? 1 : 0),
  );
  if (repr.platform) buf.set(repr.platform, off + ERSPAN_III_LENGTH);
  return hl;
}
