/**
 * Test frames: deterministic Ethernet frames of an exact length with a self-checking payload that is
 * found again behind any VLAN tag stack, so a test can tell which frame arrived and that it arrived
 * whole, whatever tags were pushed or popped on the way.
 *
 * @module
 */
import { emitEthernet, isError } from "../codec/mod.ts";
import { macBytes } from "./names.ts";

/** A VLAN tag for {@linkcode makeFrame}. */
export interface VlanSpec {
  /** 0x8100, 0x88a8, 0x9100… */
  tpid: number;
  /** 0..4095 */
  vid: number;
  /** 0..7 */
  pcp?: number;
}

/** EtherType of test frames (IEEE local experimental 1). */
export const TEST_ETHERTYPE = 0x88b5;
const TEST_MAGIC = 0x46584c42; // "FXLB"
const TEST_HDR = 16; // magic, seq, len, tags, reserved, checksum

function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/**
 * A deterministic test frame of exactly `len` bytes (60..65535): MACs (default 02:66:78:00:00:02 ←
 * 02:66:78:00:00:01), the given tags (outermost first), EtherType 0x88b5, then "FXLB", seq (u32),
 * len (u16), tag count (u8), 0, an FNV-1a checksum (u32) of the rest, and a seq-dependent pattern;
 * see {@linkcode parseTestFrame}.
 */
export function makeFrame(opts: {
  len: number;
  seq: number;
  vlan?: VlanSpec | VlanSpec[];
  src?: string;
  dst?: string;
}): Uint8Array {
  const tags = opts.vlan === undefined ? [] : Array.isArray(opts.vlan) ? opts.vlan : [opts.vlan];
  const min = Math.max(60, 14 + 4 * tags.length + TEST_HDR);
  if (!Number.isInteger(opts.len) || opts.len < min || opts.len > 65535) {
    throw new RangeError(`Frame length "${opts.len}" is out of range ${min}..65535`);
  }
  const f = new Uint8Array(opts.len);
  const dv = new DataView(f.buffer);
  const p = emitEthernet(f, 0, { // payload offset
    dst: new Uint8Array(macBytes(opts.dst ?? "02:66:78:00:00:02")),
    src: new Uint8Array(macBytes(opts.src ?? "02:66:78:00:00:01")),
    tags,
    etherType: TEST_ETHERTYPE,
  });
  if (isError(p)) throw new RangeError(`Cannot make a test frame: ${p.reason}`);
  dv.setUint32(p, TEST_MAGIC);
  dv.setUint32(p + 4, opts.seq >>> 0);
  dv.setUint16(p + 8, opts.len);
  f[p + 10] = tags.length;
  for (let i = p + TEST_HDR; i < opts.len; i++) f[i] = (opts.seq * 31 + (i - p) * 7) & 0xff;
  dv.setUint32(p + 12, fnv1a(f, p + TEST_HDR, opts.len));
  return f;
}

/**
 * Finds a {@linkcode makeFrame} payload in `frame` behind any tag stack (tags may have been added or
 * removed since) and checks its checksum; null when there is none or it is damaged or truncated.
 * `len` and `tags` are the values the frame was made with.
 */
export function parseTestFrame(frame: Uint8Array): { seq: number; len: number; tags: number } | null {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let o = 12; o + 2 + TEST_HDR <= frame.length && o <= 12 + 4 * 8; o += 4) {
    if (dv.getUint16(o) !== TEST_ETHERTYPE) continue;
    const p = o + 2;
    if (dv.getUint32(p) !== TEST_MAGIC) continue;
    const len = dv.getUint16(p + 8);
    const tags = frame[p + 10];
    const end = p + len - (14 + 4 * tags); // the payload keeps its length when tags are added or removed
    if (end < p + TEST_HDR || end > frame.length) return null;
    if (dv.getUint32(p + 12) !== fnv1a(frame, p + TEST_HDR, end)) return null;
    return { seq: dv.getUint32(p + 4), len, tags };
  }
  return null;
}
