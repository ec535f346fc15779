/**
 * Ethernet II frames with IEEE 802.1Q (0x8100) and 802.1ad (0x88a8) VLAN tags, including QinQ stacks.
 *
 * Parsing returns offsets into the caller's buffer, never copies. Tag helpers rewrite a frame in place.
 *
 * @module
 */

import { inRange, readU16, writeU16, writeU32 } from "./bytes.ts";
import { CodecError } from "./error.ts";

/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of ARP. */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of IPv6. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** EtherType of Transparent Ethernet Bridging (GRETAP payload). */
export const ETHERTYPE_TEB = 0x6558;
/** EtherType (GRE protocol type) of ERSPAN types I and II. */
export const ETHERTYPE_ERSPAN = 0x88be;
/** EtherType (GRE protocol type) of ERSPAN type III. */
export const ETHERTYPE_ERSPAN_III = 0x22eb;
/** TPID of an IEEE 802.1Q customer VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;
/** TPID of an IEEE 802.1ad service VLAN tag (QinQ outer tag). */
export const ETHERTYPE_QINQ = 0x88a8;
/** TPID of pre-standard QinQ outer tags (Cisco, Juniper), still seen on taps. */
export const ETHERTYPE_QINQ_9100 = 0x9100;

/** Offset of the destination MAC address in an Ethernet header. */
export const ETH_DST = 0;
/** Offset of the source MAC address in an Ethernet header. */
export const ETH_SRC = 6;
/** Offset of the first EtherType / TPID field in an Ethernet header. */
export const ETH_TYPE = 12;
/** Length of an untagged Ethernet II header. */
export const ETH_HEADER_LENGTH = 14;
/** Length of one VLAN tag (TPID + TCI). */
export const VLAN_TAG_LENGTH = 4;
/** Offset of the TCI within a VLAN tag. */
export const VLAN_TCI = 2;
/** Largest VLAN id that may be emitted (4095 is reserved by 802.1Q but still representable). */
export const VLAN_ID_MAX = 4095;
/** Most VLAN tags `parseEthernet` will walk before giving up. */
export const MAX_VLAN_TAGS = 8;

/** One decoded VLAN tag. */
export interface VlanTag {
  /** Tag protocol identifier: 0x8100 or 0x88a8. */
  tpid: number;
  /** Priority code point, 0..7. */
  pcp: number;
  /** Drop eligible indicator (formerly CFI). */
  dei: boolean;
  /** VLAN id, 0..4095. */
  vid: number;
}

/** What `parseEthernet` found: offsets into the input buffer plus the decoded tags. */
export interface EthernetInfo {
  /** Offset of the destination MAC. */
  dstOffset: number;
  /** Offset of the source MAC. */
  srcOffset: number;
  /** Number of VLAN tags, outermost first in `tags`. */
  tagCount: number;
  /** Decoded tags; only the first `tagCount` entries are meaningful (entries are reused by `into`). */
  tags: VlanTag[];
  /** The EtherType after all tags (unknown values are kept as numbers). */
  etherType: number;
  /** Offset of the inner EtherType field. */
  etherTypeOffset: number;
  /** Offset of the payload after the last tag and the EtherType. */
  payloadOffset: number;
  /** Bytes from `payloadOffset` to the end of the given range. */
  payloadLength: number;
}

/** Fields for `emitEthernet`. */
export interface EthernetRepr {
  /** Destination MAC, 6 bytes. */
  dst: Uint8Array;
  /** Source MAC, 6 bytes. */
  src: Uint8Array;
  /** VLAN tags, outermost first (may be empty). `tpid` defaults to 0x8100, `pcp` to 0, `dei` to false. */
  tags?: readonly Partial<VlanTag>[];
  /** EtherType of the payload. */
  etherType: number;
}

/**
 * True for the TPIDs fluxcap treats as VLAN tags everywhere (parsing, frame operations, flow hashing):
 * 0x8100 (802.1Q), 0x88a8 (802.1ad) and 0x9100 (pre-standard QinQ). The one TPID list.
 */
export function isVlanTpid(etherType: number): boolean {
  return etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_9100;
}

/** A fresh, reusable `EthernetInfo` to pass as `into` on hot paths. */
export function newEthernetInfo(): EthernetInfo {
  return {
    dstOffset: 0,
    srcOffset: 0,
    tagCount: 0,
    tags: [],
    etherType: 0,
    etherTypeOffset: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
}

/**
 * Parses the Ethernet header and any stack of VLAN tags in `buf[off, off + len)`.
 *
 * @param into Optional result object to reuse (its `tags` entries are overwritten), avoiding allocation.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { parseEthernet } from "./ethernet.ts";
 * const f = fromHex("ffffffffffff 001122334455 8100 2064 0800 45");
 * const e = parseEthernet(f, 0, f.length);
 * // e.tagCount === 1, e.tags[0].vid === 100, e.tags[0].pcp === 1, e.etherType === 0x0800
 * ```
 */
export function parseEthernet(
  buf: Uint8Array,
  off: number,
  len: number,
  into?: EthernetInfo,
): EthernetInfo | CodecError {
  if (!inRange(buf, off, len)) return new CodecError(`Bad range "${off}+${len}": outside the buffer`);
  if (len < ETH_HEADER_LENGTH) return new CodecError(`Truncated Ethernet header "${len}" bytes: need 14`);
  const out = into ?? newEthernetInfo();
  let pos = off + ETH_TYPE;
  const end = off + len;
  let type = readU16(buf, pos);
  let count = 0;
  while (isVlanTpid(type)) {
    if (count === MAX_VLAN_TAGS) return new CodecError(`Too many VLAN tags: more than ${MAX_VLAN_TAGS}`);
    if (pos + VLAN_TAG_LENGTH + 2 > end) {
      return new CodecError(`Truncated VLAN tag at offset "${pos - off}": frame is ${len} bytes`);
    }
    const tci = readU16(buf, pos + VLAN_TCI);
    let tag = out.tags[count];
    if (tag === undefined) {
      tag = { tpid: 0, pcp: 0, dei: false, vid: 0 };
      out.tags[count] = tag;
    }
    tag.tpid = type;
    tag.pcp = tci >>> 13;
    tag.dei = (tci & 0x1000) !== 0;
    tag.vid = tci & 0x0fff;
    count++;
    pos += VLAN_TAG_LENGTH;
    type = readU16(buf, pos);
  }
  if (into === undefined) out.tags.length = count;
  out.dstOffset = off + ETH_DST;
  out.srcOffset = off + ETH_SRC;
  out.tagCount = count;
  out.etherType = type;
  out.etherTypeOffset = pos;
  out.payloadOffset = pos + 2;
  out.payloadLength = end - pos - 2;
  return out;
}

/**
 * Encodes a VLAN tag's TCI (PCP, DEI, VID), or returns a `CodecError` when a field is out of range.
 *
 * @example
 * ```ts
 * import { vlanTci } from "./ethernet.ts";
 * vlanTci({ vid: 100, pcp: 1 }); // 0x2064
 * ```
 */
export function vlanTci(tag: Partial<VlanTag>): number | CodecError {
  const vid = tag.vid ?? 0;
  const pcp = tag.pcp ?? 0;
  if (!Number.isInteger(vid) || vid < 0 || vid > VLAN_ID_MAX) {
    return new CodecError(`Bad VLAN id "${vid}": must be 0..4095`);
  }
  if (!Number.isInteger(pcp) || pcp < 0 || pcp > 7) {
    return new CodecError(`Bad VLAN PCP "${pcp}": must be 0..7`);
  }
  return (pcp << 13) | (tag.dei ? 0x1000 : 0) | vid;
}

/** The tag's 4 bytes as one big-endian word (TPID, then TCI), or why the tag is invalid. */
function tagWord(tag: Partial<VlanTag>): number | CodecError {
  const tci = vlanTci(tag);
  if (tci instanceof CodecError) return tci;
  const tpid = tag.tpid ?? ETHERTYPE_VLAN;
  const bad = checkTpid(tpid);
  if (bad) return bad;
  return (tpid * 0x10000 + tci) >>> 0;
}

function checkTpid(tpid: number): CodecError | undefined {
  if (!Number.isInteger(tpid) || tpid < 0 || tpid > 0xffff) {
    return new CodecError(`Bad VLAN TPID "${tpid}": must be a 16-bit number`);
  }
  return undefined;
}

/**
 * Writes an Ethernet header (MACs, tags, EtherType) at `off`; returns bytes written or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitEthernet } from "./ethernet.ts";
 * const b = new Uint8Array(18);
 * const mac = new Uint8Array(6);
 * emitEthernet(b, 0, { dst: mac, src: mac, tags: [{ vid: 10 }], etherType: 0x0800 }); // 18
 * ```
 */
export function emitEthernet(buf: Uint8Array, off: number, repr: EthernetRepr): number | CodecError {
  const tags = repr.tags ?? [];
  const need = ETH_HEADER_LENGTH + VLAN_TAG_LENGTH * tags.length;
  if (!inRange(buf, off, need)) {
    return new CodecError(`Buffer too small for Ethernet header: need ${need} bytes`);
  }
  if (repr.dst.length !== 6 || repr.src.length !== 6) {
    return new CodecError("Bad MAC address: must be 6 bytes");
  }
  if (!Number.isInteger(repr.etherType) || repr.etherType < 0 || repr.etherType > 0xffff) {
    return new CodecError(`Bad EtherType "${repr.etherType}": must be a 16-bit number`);
  }
  const tcis: number[] = [];
  for (const tag of tags) {
    const tci = vlanTci(tag);
    if (tci instanceof CodecError) return tci;
    const bad = checkTpid(tag.tpid ?? ETHERTYPE_VLAN);
    if (bad) return bad;
    tcis.push(tci);
  }
  buf.set(repr.dst, off + ETH_DST);
  buf.set(repr.src, off + ETH_SRC);
  let pos = off + ETH_TYPE;
  for (let i = 0; i < tags.length; i++) {
    writeU16(buf, pos, tags[i].tpid ?? ETHERTYPE_VLAN);
    writeU16(buf, pos + VLAN_TCI, tcis[i]);
    pos += VLAN_TAG_LENGTH;
  }
  writeU16(buf, pos, repr.etherType);
  return need;
}

/**
 * Sets the EtherType of the untagged Ethernet header at `off`. Writes that field only and checks
 * nothing: it patches a header the caller emitted (`emitEthernet`) into a template.
 *
 * @example
 * ```ts
 * import { setEtherType } from "./ethernet.ts";
 * const h = new Uint8Array(14);
 * setEtherType(h, 0, 0x86dd); // h[12] === 0x86, h[13] === 0xdd
 * ```
 */
export function setEtherType(buf: Uint8Array, off: number, etherType: number): void {
  writeU16(buf, off + ETH_TYPE, etherType);
}

/**
 * Writes one 4-byte VLAN tag (TPID then TCI) at `off`; returns 4 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitVlanTag } from "./ethernet.ts";
 * const b = new Uint8Array(4);
 * emitVlanTag(b, 0, { tpid: 0x88a8, vid: 200 }); // b = 88 a8 00 c8
 * ```
 */
export function emitVlanTag(buf: Uint8Array, off: number, tag: Partial<VlanTag>): number | CodecError {
  if (!inRange(buf, off, VLAN_TAG_LENGTH)) {
    return new CodecError("Buffer too small for VLAN tag: need 4 bytes");
  }
  const word = tagWord(tag);
  if (word instanceof CodecError) return word;
  writeU32(buf, off, word);
  return VLAN_TAG_LENGTH;
}

/**
 * Inserts a VLAN tag right after the MACs, shifting the rest of the frame 4 bytes to the right.
 * Needs `buf.length >= off + len + 4`. Returns the new frame length (`len + 4`) or a `CodecError`.
 * See `pushVlanTag` for the cheaper variant that uses headroom before the frame.
 *
 * @example
 * ```ts
 * import { insertVlanTag } from "./ethernet.ts";
 * const b = new Uint8Array(64 + 4);
 * insertVlanTag(b, 0, 64, { vid: 7 }); // 68
 * ```
 */
export function insertVlanTag(
  buf: Uint8Array,
  off: number,
  len: number,
  tag: Partial<VlanTag>,
): number | CodecError {
  if (!inRange(buf, off, len) || len < ETH_HEADER_LENGTH) {
    return new CodecError(`Cannot insert VLAN tag: frame "${off}+${len}" is not a valid Ethernet range`);
  }
  if (off + len + VLAN_TAG_LENGTH > buf.length) {
    return new CodecError("Cannot insert VLAN tag: no room for 4 more bytes after the frame");
  }
  const word = tagWord(tag);
  if (word instanceof CodecError) return word;
  buf.copyWithin(off + ETH_TYPE + VLAN_TAG_LENGTH, off + ETH_TYPE, off + len);
  writeU32(buf, off + ETH_TYPE, word);
  return len + VLAN_TAG_LENGTH;
}

/**
 * Inserts a VLAN tag using 4 bytes of headroom before the frame: only the 12 MAC bytes move.
 * Needs `off >= 4`. Returns the new frame start (`off - 4`; the length grows by 4) or a `CodecError`.
 *
 * @example
 * ```ts
 * import { pushVlanTag } from "./ethernet.ts";
 * const b = new Uint8Array(4 + 64); // frame at offset 4
 * pushVlanTag(b, 4, 64, { vid: 7 }); // 0: the tagged frame is b[0, 68)
 * ```
 */
export function pushVlanTag(
  buf: Uint8Array,
  off: number,
  len: number,
  tag: Partial<VlanTag>,
): number | CodecError {
  if (!inRange(buf, off, len) || len < ETH_HEADER_LENGTH) {
    return new CodecError(`Cannot push VLAN tag: frame "${off}+${len}" is not a valid Ethernet range`);
  }
  if (off < VLAN_TAG_LENGTH) {
    return new CodecError(`Cannot push VLAN tag: headroom "${off}" is under 4 bytes`);
  }
  const word = tagWord(tag);
  if (word instanceof CodecError) return word;
  const start = off - VLAN_TAG_LENGTH;
  buf.copyWithin(start, off, off + ETH_TYPE);
  writeU32(buf, start + ETH_TYPE, word);
  return start;
}

/**
 * Removes the outer VLAN tag, shifting the rest of the frame 4 bytes to the left.
 * Returns the new frame length (`len - 4`) or a `CodecError` if the frame is untagged or too short.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { stripVlanTag } from "./ethernet.ts";
 * const f = fromHex("ffffffffffff 001122334455 8100 0064 0800");
 * stripVlanTag(f, 0, f.length); // 14
 * ```
 */
export function stripVlanTag(buf: Uint8Array, off: number, len: number): number | CodecError {
  const bad = checkTagged(buf, off, len);
  if (bad) return bad;
  buf.copyWithin(off + ETH_TYPE, off + ETH_TYPE + VLAN_TAG_LENGTH, off + len);
  return len - VLAN_TAG_LENGTH;
}

/**
 * Removes the outer VLAN tag by moving the 12 MAC bytes 4 bytes to the right (cheapest form).
 * Returns the new frame start (`off + 4`; the length shrinks by 4) or a `CodecError`.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { popVlanTag } from "./ethernet.ts";
 * const f = fromHex("ffffffffffff 001122334455 8100 0064 0800");
 * popVlanTag(f, 0, f.length); // 4: the untagged frame is f[4, 18)
 * ```
 */
export function popVlanTag(buf: Uint8Array, off: number, len: number): number | CodecError {
  const bad = checkTagged(buf, off, len);
  if (bad) return bad;
  buf.copyWithin(off + VLAN_TAG_LENGTH, off, off + ETH_TYPE);
  return off + VLAN_TAG_LENGTH;
}

function checkTagged(buf: Uint8Array, off: number, len: number): CodecError | undefined {
  if (!inRange(buf, off, len) || len < ETH_HEADER_LENGTH + VLAN_TAG_LENGTH) {
    return new CodecError(`Cannot strip VLAN tag: frame "${off}+${len}" is too short or out of range`);
  }
  const tpid = readU16(buf, off + ETH_TYPE);
  if (!isVlanTpid(tpid)) {
    return new CodecError(
      `Cannot strip VLAN tag: EtherType "0x${tpid.toString(16).padStart(4, "0")}" is no tag`,
    );
  }
  return undefined;
}

/**
 * Reads the outer VLAN id: 0..4095, or `-1` when the frame is untagged or too short to hold a tag.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { outerVlanId } from "./ethernet.ts";
 * const f = fromHex("ffffffffffff 001122334455 88a8 00c8 8100 0064 0800");
 * outerVlanId(f, 0, f.length); // 200
 * ```
 */
export function outerVlanId(buf: Uint8Array, off: number, len: number): number {
  if (!inRange(buf, off, len) || len < ETH_HEADER_LENGTH + VLAN_TAG_LENGTH) return -1;
  if (!isVlanTpid(readU16(buf, off + ETH_TYPE))) return -1;
  return readU16(buf, off + ETH_TYPE + VLAN_TCI) & 0x0fff;
}

/**
 * Rewrites the VLAN id of the outer tag in place, keeping PCP and DEI. Returns 0 on success.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { setOuterVlanId } from "./ethernet.ts";
 * const f = fromHex("ffffffffffff 001122334455 8100 2064 0800");
 * setOuterVlanId(f, 0, f.length, 5); // 0, TCI is now 0x2005
 * ```
 */
export function setOuterVlanId(buf: Uint8Array, off: number, len: number, vid: number): number | CodecError {
  if (!Number.isInteger(vid) || vid < 0 || vid > VLAN_ID_MAX) {
    return new CodecError(`Bad VLAN id "${vid}": must be 0..4095`);
  }
  const bad = checkTagged(buf, off, len);
  if (bad) return bad;
  const p = off + ETH_TYPE + VLAN_TCI;
  writeU16(buf, p, (readU16(buf, p) & 0xf000) | vid);
  return 0;
}
