/**
 * Capture files: a streaming reader of classic pcap (microsecond magic 0xa1b2c3d4 and nanosecond magic
 * 0xa1b23c4d, either byte order) and pcapng (SHB in either byte order, IDB with `if_tsresol` and
 * `if_tsoffset`, EPB, SPB and the obsolete packet block; other blocks skipped), plus a classic pcap
 * writer (nanosecond magic, little-endian). The pcapng writer is `pcapng.ts`.
 *
 * The reader yields records that point into the bytes it was given; on truncation or corruption it
 * stops with a `CodecError` naming the byte offset, after every good record before it.
 *
 * @module
 */

import { inRange } from "./bytes.ts";
import { CodecError } from "./error.ts";

/** Link type of Ethernet (DLT_EN10MB). */
export const LINKTYPE_ETHERNET = 1;
/** Classic pcap magic with microsecond timestamps. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
/** Classic pcap magic with nanosecond timestamps. */
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
/** Length of the classic pcap global header. */
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
/** Length of a classic pcap record header. */
export const PCAP_RECORD_HEADER_LENGTH = 16;
/** Snap length written by default, and the least record length the reader accepts as a bound. */
export const PCAP_DEFAULT_SNAPLEN = 262144;
/** pcapng Section Header Block type. */
export const PCAPNG_SHB = 0x0a0d0d0a;
/** pcapng Interface Description Block type. */
export const PCAPNG_IDB = 0x00000001;
/** pcapng obsolete Packet Block type. */
export const PCAPNG_PB = 0x00000002;
/** pcapng Simple Packet Block type. */
export const PCAPNG_SPB = 0x00000003;
/** pcapng Enhanced Packet Block type. */
export const PCAPNG_EPB = 0x00000006;
/** pcapng byte-order magic in the SHB. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** pcapng IDB option code of `if_tsresol`. */
export const PCAPNG_OPT_IF_TSRESOL = 9;
/** pcapng IDB option code of `if_tsoffset`. */
export const PCAPNG_OPT_IF_TSOFFSET = 14;
/** Largest pcapng block the reader accepts. */
export const PCAPNG_MAX_BLOCK_LENGTH = 16 * 1024 * 1024;

/** One captured packet. Its bytes are `buffer[dataOffset, dataOffset + caplen)`. */
export interface CaptureRecord {
  /** Link type of the interface (1 for Ethernet). */
  linkType: number;
  /**
   * Timestamp, whole seconds since the epoch. A pcapng simple packet block has none: see `hasTime`.
   */
  tsSec: number;
  /** Timestamp, nanoseconds within the second. */
  tsNsec: number;
  /** Bytes captured. */
  caplen: number;
  /** Length of the packet on the wire. */
  origLen: number;
  /** Offset of the packet bytes in `buffer`. */
  dataOffset: number;
  /**
   * The array `dataOffset` indexes: the caller's own array when the record lies within one chunk (always,
   * for a whole-file input), else a reader-owned copy. Valid until the next `push`.
   */
  buffer: Uint8Array;
  /** Byte offset of the record (pcap) or block (pcapng) from the start of the stream. */
  recordOffset: number;
  /** pcapng interface id (0 for classic pcap). */
  interfaceId: number;
  /**
   * False for a pcapng simple packet block, which carries no timestamp: its `tsSec`/`tsNsec` are then
   * those of the previous record of the stream that had one (0 when none did). A replay gives such a
   * frame its predecessor's time (or the replay's start) and never lets it drive pacing or looping.
   */
  hasTime: boolean;
}

/** An interface of the capture: the classic pcap header, or a pcapng interface description block. */
export interface CaptureInterface {
  /** Link type (1 for Ethernet). */
  linkType: number;
  /** Snap length the file declares (0: none). */
  snaplen: number;
}

/** Capture format detected from the magic number. */
export type CaptureFormat = "pcap" | "pcapng";

interface Iface extends CaptureInterface {
  /** Timestamp units per second when converted with numbers (see `setTimestamp`), else 0. */
  units: number;
  /** Nanoseconds per unit for a decimal resolution of at most 10^9 (else 0). */
  nsPerUnit: number;
  unitsBig: bigint;
  tsOffset: number;
}

/**
 * A streaming reader of pcap and pcapng. Feed chunks with `push`, pull records with `next` until it
 * returns `undefined` (needs more bytes), and call `end` after the last chunk to learn whether the
 * stream stopped mid-record. Never throws. Most callers want `readCapture` instead.
 *
 * @example
 * ```ts
 * import { CaptureReader } from "./pcap.ts";
 * import { isError } from "./error.ts";
 * const chunks: Uint8Array[] = [new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1])];
 * const r = new CaptureReader();
 * for (const c of chunks) {
 *   r.push(c);
 *   for (let rec = r.next(); rec !== undefined && !isError(rec); rec = r.next()) console.log(rec.caplen);
 * }
 * const err = r.end();
 * ```
 */
export class CaptureReader {
  #buf: Uint8Array = new Uint8Array(0);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  /** Stream offset of `#buf[0]`. */
  #base = 0;
  #format: CaptureFormat | undefined;
  #little = false;
  #nano = false;
  #snaplen = 0;
  #linkType = 0;
  #ifaces: Iface[] = [];
  #error: CodecError | undefined;
  /** Time of the last record that had one, for simple packet blocks. */
  #lastSec = 0;
  #lastNsec = 0;

  /** The format, once the magic number has been read. */
  get format(): CaptureFormat | undefined {
    return this.#format;
  }

  /** Byte offset in the stream of the next unread byte. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /**
   * The link type as soon as a header declares one: a classic pcap's, from its global header (so an
   * empty file has one); a pcapng's, from interface 0 of the current section. `undefined` before that.
   * Known once `next` has returned after the header's bytes were pushed, however they were chunked.
   */
  get linkType(): number | undefined {
    if (this.#format === "pcap") return this.#linkType;
    return this.#ifaces[0]?.linkType;
  }

  /**
   * The interfaces described so far: classic pcap, the one of its header; pcapng, those of the current
   * section (a new section header starts a new list), in interface-id order.
   */
  get interfaces(): readonly CaptureInterface[] {
    if (this.#format === "pcap") return [{ linkType: this.#linkType, snaplen: this.#snaplen }];
    return this.#ifaces.map((i) => ({ linkType: i.linkType, snaplen: i.snaplen }));
  }

  /** Appends a chunk. Records returned earlier may point into memory this reuses: use them first. */
  push(chunk: Uint8Array): void {
    const left = this.#buf.length - this.#pos;
    if (left === 0) {
      this.#base += this.#buf.length;
      this.#buf = chunk;
    } else if (chunk.length > 0) {
      const merged = new Uint8Array(left + chunk.length);
      merged.set(this.#buf.subarray(this.#pos));
      merged.set(chunk, left);
      this.#base += this.#pos;
      this.#buf = merged;
    } else {
      return;
    }
    this.#pos = 0;
    this.#dv = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /**
   * Call after the last chunk: returns the error that stopped the reader, or an error when bytes of an
   * incomplete header or record remain, or `undefined` if the stream ended cleanly.
   */
  end(): CodecError | undefined {
    if (this.#error) return this.#error;
    const left = this.#buf.length - this.#pos;
    // A 0-byte file is an empty capture (as Wireshark reads it), not a truncated one.
    if (this.#format === undefined && this.offset === 0 && left === 0) return undefined;
    if (this.#format === undefined) {
      return this.#fail(`Truncated capture header at byte ${this.offset}: ${left} bytes, not pcap or pcapng`);
    }
    if (left > 0) {
      return this.#fail(`Truncated ${this.#format} record at byte ${this.offset}: ${left} bytes left`);
    }
    return undefined;
  }

  /**
   * Returns the next record; `undefined` when more bytes are needed; a `CodecError` (the same one on every
   * later call) once the stream is found corrupt.
   */
  next(): CaptureRecord | CodecError | undefined {
    if (this.#error) return this.#error;
    if (this.#format === undefined && !this.#detect()) return this.#error;
    if (this.#format === "pcap") return this.#nextPcap();
    return this.#nextPcapng();
  }

  #fail(reason: string): CodecError {
    this.#error = new CodecError(reason);
    return this.#error;
  }

  #u16(p: number): number {
    return this.#dv.getUint16(p, this.#little);
  }

  #u32(p: number): number {
    return this.#dv.getUint32(p, this.#little);
  }

  /** Reads the magic and, for pcap, the global header. False when more bytes are needed or on error. */
  #detect(): boolean {
    const left = this.#buf.length - this.#pos;
    if (left < 4) return false;
    const magic = this.#dv.getUint32(this.#pos, false);
    if (magic === PCAPNG_SHB) {
      this.#format = "pcapng";
      return true;
    }
    const le = this.#dv.getUint32(this.#pos, true);
    if (magic === PCAP_MAGIC_USEC || magic === PCAP_MAGIC_NSEC) this.#little = false;
    else if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) this.#little = true;
    else {
      this.#fail(`Bad capture magic "0x${magic.toString(16).padStart(8, "0")}" at byte ${this.offset}`);
      return false;
    }
    if (left < PCAP_GLOBAL_HEADER_LENGTH) return false;
    const p = this.#pos;
    this.#nano = this.#u32(p) === PCAP_MAGIC_NSEC;
    const major = this.#u16(p + 4);
    if (major !== 2) {
      this.#fail(`Bad pcap version "${major}.${this.#u16(p + 6)}" at byte ${this.offset + 4}: expected 2.4`);
      return false;
    }
    this.#snaplen = this.#u32(p + 16);
    this.#linkType = this.#u32(p + 20) & 0x03ffffff;
    this.#pos += PCAP_GLOBAL_HEADER_LENGTH;
    this.#format = "pcap";
    return true;
  }

  #nextPcap(): CaptureRecord | CodecError | undefined {
    const p = this.#pos;
    if (this.#buf.length - p < PCAP_RECORD_HEADER_LENGTH) return undefined;
    const caplen = this.#u32(p + 8);
    const limit = Math.max(this.#snaplen, PCAP_DEFAULT_SNAPLEN);
    if (caplen > limit) {
      return this.#fail(`Corrupt pcap record at byte ${this.offset}: caplen "${caplen}" exceeds ${limit}`);
    }
    if (this.#buf.length - p < PCAP_RECORD_HEADER_LENGTH + caplen) return undefined;
    // A fraction of a second or more (seen from buggy writers) is carried into the seconds.
    const frac = this.#u32(p + 4);
    const nsec = this.#nano ? frac : frac * 1000;
    const carry = nsec >= 1e9 ? Math.floor(nsec / 1e9) : 0;
    const rec: CaptureRecord = {
      linkType: this.#linkType,
      tsSec: this.#u32(p) + carry,
      tsNsec: nsec - carry * 1e9,
      hasTime: true,
      caplen,
      origLen: this.#u32(p + 12),
      dataOffset: p + PCAP_RECORD_HEADER_LENGTH,
      buffer: this.#buf,
      recordOffset: this.offset,
      interfaceId: 0,
    };
    this.#pos += PCAP_RECORD_HEADER_LENGTH + caplen;
    return rec;
  }

  #nextPcapng(): CaptureRecord | CodecError | undefined {
    for (;;) {
      const p = this.#pos;
      const left = this.#buf.length - p;
      if (left < 12) return undefined;
      const at = this.offset;
      const type = this.#dv.getUint32(p, false);
      if (type === PCAPNG_SHB) {
        const bom = this.#dv.getUint32(p + 8, false);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.#little = false;
        else if (bom === 0x4d3c2b1a) this.#little = true;
        else return this.#fail(`Bad pcapng byte-order magic "0x${bom.toString(16)}" at byte ${at + 8}`);
      }
      const blockType = this.#u32(p);
      const len = this.#u32(p + 4);
      if (len < 12 || len % 4 !== 0 || len > PCAPNG_MAX_BLOCK_LENGTH) {
        return this.#fail(`Corrupt pcapng block at byte ${at}: bad length "${len}"`);
      }
      if (left < len) return undefined;
      if (this.#u32(p + len - 4) !== len) {
        return this.#fail(`Corrupt pcapng block at byte ${at}: trailing length differs from "${len}"`);
      }
      let rec: CaptureRecord | CodecError | undefined;
      if (blockType === PCAPNG_SHB) {
        if (len < 28) {
          return this.#fail(`Corrupt pcapng section header at byte ${at}: length "${len}" under 28`);
        }
        // libpcap and Wireshark read versions 1.0 and 1.2 (written by some tools for 1.0 files) only.
        const major = this.#u16(p + 12);
        const minor = this.#u16(p + 14);
        if (major !== 1 || (minor !== 0 && minor !== 2)) {
          return this.#fail(
            `Unsupported pcapng version "${major}.${minor}" at byte ${at + 12}: expected 1.0`,
          );
        }
        this.#ifaces = [];
      } else if (blockType === PCAPNG_IDB) {
        const err = this.#idb(p, len, at);
        if (err) return err;
      } else if (blockType === PCAPNG_EPB || blockType === PCAPNG_PB) {
        rec = this.#epb(p, len, at, blockType === PCAPNG_PB);
      } else if (blockType === PCAPNG_SPB) {
        rec = this.#spb(p, len, at);
      }
      if (rec instanceof CodecError) return rec;
      this.#pos += len;
      if (rec) return rec;
    }
  }

  #idb(p: number, len: number, at: number): CodecError | undefined {
    if (len < 20) return this.#fail(`Corrupt pcapng interface block at byte ${at}: length "${len}" under 20`);
    const iface: Iface = {
      linkType: this.#u16(p + 8),
      snaplen: this.#u32(p + 12),
      units: 1e6,
      nsPerUnit: 1000,
      unitsBig: 1_000_000n,
      tsOffset: 0,
    };
    const end = p + len - 4;
    let o = p + 16;
    while (o + 4 <= end) {
      const code = this.#u16(o);
      const olen = this.#u16(o + 2);
      if (code === 0) break;
      if (o + 4 + olen > end) {
        return this.#fail(
          `Corrupt pcapng option "${code}" at byte ${this.#base + o}: length "${olen}" overruns`,
        );
      }
      if (code === PCAPNG_OPT_IF_TSRESOL && olen >= 1) {
        const v = this.#buf[o + 4];
        const binary = (v & 0x80) !== 0;
        const exp = v & 0x7f;
        iface.unitsBig = binary ? 1n << BigInt(exp) : 10n ** BigInt(exp);
        // Numbers when every step is exact: 10^k (k <= 9) multiplies up to ns; 2^k (k <= 23) keeps
        // (fraction * 10^9) under 2^53.
        const exact = binary ? exp <= 23 : exp <= 9;
        iface.units = exact ? Number(iface.unitsBig) : 0;
        iface.nsPerUnit = exact && !binary ? 10 ** (9 - exp) : 0;
      } else if (code === PCAPNG_OPT_IF_TSOFFSET && olen >= 8) {
        const hi = this.#dv.getInt32(o + 4 + (this.#little ? 4 : 0), this.#little);
        const lo = this.#u32(o + 4 + (this.#little ? 0 : 4));
        iface.tsOffset = hi * 4294967296 + lo;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    this.#ifaces.push(iface);
    return undefined;
  }

  #epb(p: number, len: number, at: number, obsolete: boolean): CaptureRecord | CodecError {
    if (len < 32) return this.#fail(`Corrupt pcapng packet block at byte ${at}: length "${len}" under 32`);
    const id = obsolete ? this.#u16(p + 8) : this.#u32(p + 8);
    const iface = this.#ifaces[id];
    if (iface === undefined) {
      return this.#fail(`Corrupt pcapng packet block at byte ${at}: unknown interface "${id}"`);
    }
    const caplen = this.#u32(p + 20);
    if (caplen > len - 32) {
      return this.#fail(`Corrupt pcapng packet block at byte ${at}: caplen "${caplen}" exceeds the block`);
    }
    const rec: CaptureRecord = {
      linkType: iface.linkType,
      tsSec: 0,
      tsNsec: 0,
      hasTime: true,
      caplen,
      origLen: this.#u32(p + 24),
      dataOffset: p + 28,
      buffer: this.#buf,
      recordOffset: at,
      interfaceId: id,
    };
    setTimestamp(rec, iface, this.#u32(p + 12), this.#u32(p + 16));
    this.#lastSec = rec.tsSec;
    this.#lastNsec = rec.tsNsec;
    return rec;
  }

  #spb(p: number, len: number, at: number): CaptureRecord | CodecError {
    if (len < 16) {
      return this.#fail(`Corrupt pcapng simple packet block at byte ${at}: length "${len}" under 16`);
    }
    const iface = this.#ifaces[0];
    if (iface === undefined) {
      return this.#fail(`Corrupt pcapng simple packet block at byte ${at}: no interface 0`);
    }
    const origLen = this.#u32(p + 8);
    let caplen = Math.min(origLen, len - 16);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    return {
      linkType: iface.linkType,
      tsSec: this.#lastSec,
      tsNsec: this.#lastNsec,
      hasTime: false,
      caplen,
      origLen,
      dataOffset: p + 12,
      buffer: this.#buf,
      recordOffset: at,
      interfaceId: 0,
    };
  }
}

/**
 * Converts a 64-bit timestamp `hi:lo` in the interface's units to seconds and nanoseconds (rounded down,
 * as Wireshark does). For the usual resolutions (10^-k up to ns, 2^-k up to 2^-23), by long division in
 * base 2^16 on numbers: every intermediate stays below 2^53 (the quotient too, for any time before
 * the year 2^53 / units), and no BigInt is allocated per record (nanosecond files are the common case).
 * Other resolutions take the BigInt path.
 */
function setTimestamp(rec: CaptureRecord, iface: Iface, hi: number, lo: number): void {
  const u = iface.units;
  if (u === 0) {
    const t = (BigInt(hi) << 32n) | BigInt(lo);
    const sec = t / iface.unitsBig;
    const frac = t % iface.unitsBig;
    rec.tsSec = Number(sec) + iface.tsOffset;
    rec.tsNsec = Number((frac * 1_000_000_000n) / iface.unitsBig);
    return;
  }
  // Long division of the four 16-bit digits of hi:lo by u, unrolled (no array per record).
  let cur = hi >>> 16;
  let q = Math.floor(cur / u);
  let r = cur - q * u;
  cur = r * 65536 + (hi & 0xffff);
  let d = Math.floor(cur / u);
  r = cur - d * u;
  q = q * 65536 + d;
  cur = r * 65536 + (lo >>> 16);
  d = Math.floor(cur / u);
  r = cur - d * u;
  q = q * 65536 + d;
  cur = r * 65536 + (lo & 0xffff);
  d = Math.floor(cur / u);
  r = cur - d * u;
  q = q * 65536 + d;
  rec.tsSec = q + iface.tsOffset;
  if (iface.nsPerUnit !== 0) rec.tsNsec = r * iface.nsPerUnit;
  else {
    const x = r * 1e9; // < 2^53: u <= 2^23
    let ns = Math.floor(x / u);
    if (ns * u > x) ns--; // the division may round up across an integer
    rec.tsNsec = ns;
  }
}

/**
 * Reads every record of a pcap or pcapng capture given whole or as chunks. Yields records in order; on
 * truncation or corruption, yields one final `CodecError` naming the byte offset, then stops.
 *
 * @example
 * ```ts
 * import { emitPcapHeader, readCapture } from "./pcap.ts";
 * import { isError } from "./error.ts";
 * const file = new Uint8Array(24);
 * emitPcapHeader(file, 0);
 * for (const r of readCapture(file)) {
 *   if (isError(r)) console.error(r.reason);
 *   else console.log(r.tsSec, r.caplen, file.subarray(r.dataOffset, r.dataOffset + r.caplen));
 * }
 * ```
 */
export function* readCapture(
  input: Uint8Array | Iterable<Uint8Array>,
): Generator<CaptureRecord | CodecError> {
  const reader = new CaptureReader();
  const chunks = input instanceof Uint8Array ? [input] : input;
  for (const chunk of chunks) {
    reader.push(chunk);
    if (yield* pending(reader)) return;
  }
  const err = reader.end();
  if (err) yield err;
}

/**
 * Like `readCapture` over an async stream of chunks (a `ReadableStream<Uint8Array>` is one).
 *
 * @example
 * ```ts
 * import { readCaptureAsync } from "./pcap.ts";
 * const stream = ReadableStream.from([new Uint8Array(24)]);
 * for await (const r of readCaptureAsync(stream)) console.log(r);
 * ```
 */
export async function* readCaptureAsync(
  input: AsyncIterable<Uint8Array>,
): AsyncGenerator<CaptureRecord | CodecError> {
  const reader = new CaptureReader();
  for await (const chunk of input) {
    reader.push(chunk);
    if (yield* pending(reader)) return;
  }
  const err = reader.end();
  if (err) yield err;
}

/** Yields the records `reader` holds complete; returns true after an error (nothing follows it). */
function* pending(reader: CaptureReader): Generator<CaptureRecord | CodecError, boolean> {
  for (;;) {
    const r = reader.next();
    if (r === undefined) return false;
    yield r;
    if (r instanceof CodecError) return true;
  }
}

function writeU32LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v;
  buf[off + 1] = v >>> 8;
  buf[off + 2] = v >>> 16;
  buf[off + 3] = v >>> 24;
}

function writeU16LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v;
  buf[off + 1] = v >>> 8;
}

function checkU32(name: string, v: number): CodecError | undefined {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    return new CodecError(`Bad pcap ${name} "${v}": must be 32 bits`);
  }
  return undefined;
}

/** Options for `emitPcapHeader`. */
export interface PcapHeaderOptions {
  /** Default 262144. */
  snaplen?: number;
  /** Default 1 (Ethernet). */
  linkType?: number;
  /** Nanosecond magic (default true) or microsecond. */
  nanosecond?: boolean;
}

/** Fields for `emitPcapRecordHeader`. */
export interface PcapRecordRepr {
  /** Seconds since the epoch. */
  tsSec: number;
  /** Nanoseconds within the second, 0..999999999. */
  tsNsec: number;
  /** Bytes captured (that will follow). */
  caplen: number;
  /** Length on the wire. Default `caplen`. */
  origLen?: number;
  /** Whether the file uses the nanosecond magic (default true); else microseconds are written. */
  nanosecond?: boolean;
}

/**
 * Writes a little-endian classic pcap global header (version 2.4) at `off`. Returns 24 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapHeader } from "./pcap.ts";
 * const b = new Uint8Array(24);
 * emitPcapHeader(b, 0, { snaplen: 65535 }); // 24, b starts 4d 3c b2 a1 02 00 04 00
 * ```
 */
export function emitPcapHeader(
  buf: Uint8Array,
  off: number,
  opts: PcapHeaderOptions = {},
): number | CodecError {
  const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
  const linkType = opts.linkType ?? LINKTYPE_ETHERNET;
  const bad = checkU32("snaplen", snaplen) ?? checkU32("link type", linkType);
  if (bad) return bad;
  if (!inRange(buf, off, PCAP_GLOBAL_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for pcap header: need 24");
  }
  writeU32LE(buf, off, opts.nanosecond === false ? PCAP_MAGIC_USEC : PCAP_MAGIC_NSEC);
  writeU16LE(buf, off + 4, 2);
  writeU16LE(buf, off + 6, 4);
  writeU32LE(buf, off + 8, 0);
  writeU32LE(buf, off + 12, 0);
  writeU32LE(buf, off + 16, snaplen);
  writeU32LE(buf, off + 20, linkType);
  return PCAP_GLOBAL_HEADER_LENGTH;
}

/**
 * Writes a little-endian classic pcap record header at `off`. Returns 16 or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapRecordHeader } from "./pcap.ts";
 * const b = new Uint8Array(16);
 * emitPcapRecordHeader(b, 0, { tsSec: 1, tsNsec: 500, caplen: 60, origLen: 60 }); // 16
 * ```
 */
export function emitPcapRecordHeader(buf: Uint8Array, off: number, rec: PcapRecordRepr): number | CodecError {
  const origLen = rec.origLen ?? rec.caplen;
  const bad = checkU32("timestamp seconds", rec.tsSec) ?? checkU32("caplen", rec.caplen) ??
    checkU32("original length", origLen);
  if (bad) return bad;
  if (!Number.isInteger(rec.tsNsec) || rec.tsNsec < 0 || rec.tsNsec > 999_999_999) {
    return new CodecError(`Bad pcap timestamp nanoseconds "${rec.tsNsec}": must be 0..999999999`);
  }
  if (!inRange(buf, off, PCAP_RECORD_HEADER_LENGTH)) {
    return new CodecError("Buffer too small for pcap record: need 16");
  }
  writeU32LE(buf, off, rec.tsSec);
  writeU32LE(buf, off + 4, rec.nanosecond === false ? Math.floor(rec.tsNsec / 1000) : rec.tsNsec);
  writeU32LE(buf, off + 8, rec.caplen);
  writeU32LE(buf, off + 12, origLen);
  return PCAP_RECORD_HEADER_LENGTH;
}

/**
 * Writes a little-endian classic pcap record header in place at `off` (nanosecond file), for a writer
 * that formats records in its own buffer (positional arguments: called once per frame, no object).
 * Classic pcap holds seconds in 32 bits: returns false when `tsSec` does not fit (0..2^32-1), after
 * writing its low 32 bits, so the caller can warn once (pcapng holds such times). No bounds check: `dv`
 * must hold 16 bytes at `off`.
 *
 * @example
 * ```ts
 * import { setPcapRecordHeader } from "./pcap.ts";
 * const b = new Uint8Array(16);
 * const fits = setPcapRecordHeader(new DataView(b.buffer), 0, 60, 60, 1700000000, 5); // true
 * ```
 */
export function setPcapRecordHeader(
  dv: DataView,
  off: number,
  caplen: number,
  origLen: number,
  tsSec: number,
  tsNsec: number,
): boolean {
  dv.setUint32(off, tsSec >>> 0, true);
  dv.setUint32(off + 4, tsNsec >>> 0, true);
  dv.setUint32(off + 8, caplen >>> 0, true);
  dv.setUint32(off + 12, origLen >>> 0, true);
  return tsSec >= 0 && tsSec <= 0xffffffff;
}

/** Names of common non-Ethernet link types, for the refusal message. */
const LINK_TYPE_NAMES: Record<number, string> = {
  0: "BSD loopback",
  6: "IEEE 802.5 Token Ring",
  9: "PPP",
  12: "raw IP",
  101: "raw IP",
  104: "Cisco HDLC",
  105: "IEEE 802.11",
  108: "OpenBSD loopback",
  113: "Linux cooked",
  127: "IEEE 802.11 radiotap",
  147: "user 0",
  192: "PPI",
  195: "IEEE 802.15.4",
  220: "USB Linux mmapped",
  228: "raw IPv4",
  229: "raw IPv6",
  249: "netlink",
  276: "Linux cooked v2",
};

/**
 * Describes a link type for messages: `113 (Linux cooked)`, or just the number when unknown.
 *
 * @example
 * ```ts
 * import { describeLinkType } from "./pcap.ts";
 * console.assert(describeLinkType(113) === "113 (Linux cooked)");
 * ```
 */
export function describeLinkType(linkType: number): string {
  const name = LINK_TYPE_NAMES[linkType];
  return name === undefined ? `${linkType}` : `${linkType} (${name})`;
}
