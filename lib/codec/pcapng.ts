/**
 * A pcapng writer (little-endian, version 1.0): section header block (SHB), interface description block
 * (IDB, always `if_tsresol` 9: nanoseconds), enhanced packet block (EPB, 64-bit timestamp and original
 * length) and interface statistics block (ISB). The reader of both formats is `pcap.ts`.
 *
 * Two ways to write a packet: `emitPcapngPacket` (checked, copies the bytes: for tests and tools), and
 * `setPcapngPacketBlock` for a writer that stages records in its own buffer: copy the frame to
 * `off + PCAPNG_EPB_HEADER_LENGTH`, then call it to write the header, padding and trailing length around
 * it (no object, no allocation per frame).
 *
 * Field positions and option codes follow draft-ietf-opsawg-pcapng; every block is a multiple of 4
 * bytes, options are padded to 4 and end with `opt_endofopt`.
 *
 * @module
 */

import { inRange } from "./bytes.ts";
import { CodecError } from "./error.ts";
import {
  LINKTYPE_ETHERNET,
  PCAP_DEFAULT_SNAPLEN,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_EPB,
  PCAPNG_IDB,
  PCAPNG_OPT_IF_TSRESOL,
  PCAPNG_SHB,
} from "./pcap.ts";

/** pcapng Interface Statistics Block type. */
export const PCAPNG_ISB = 0x00000005;
/** Option code ending an option list. */
export const PCAPNG_OPT_ENDOFOPT = 0;
/** `opt_comment`: UTF-8 text, in any block. */
export const PCAPNG_OPT_COMMENT = 1;
/** SHB `shb_hardware`. */
export const PCAPNG_OPT_SHB_HARDWARE = 2;
/** SHB `shb_os`. */
export const PCAPNG_OPT_SHB_OS = 3;
/** SHB `shb_userappl`. */
export const PCAPNG_OPT_SHB_USERAPPL = 4;
/** IDB `if_name`. */
export const PCAPNG_OPT_IF_NAME = 2;
/** IDB `if_description`. */
export const PCAPNG_OPT_IF_DESCRIPTION = 3;
/** ISB `isb_starttime`. */
export const PCAPNG_OPT_ISB_STARTTIME = 2;
/** ISB `isb_endtime`. */
export const PCAPNG_OPT_ISB_ENDTIME = 3;
/** ISB `isb_ifrecv`. */
export const PCAPNG_OPT_ISB_IFRECV = 4;
/** ISB `isb_ifdrop`. */
export const PCAPNG_OPT_ISB_IFDROP = 5;
/** ISB `isb_filteraccept`. */
export const PCAPNG_OPT_ISB_FILTERACCEPT = 6;
/** ISB `isb_osdrop`. */
export const PCAPNG_OPT_ISB_OSDROP = 7;
/** ISB `isb_usrdeliv`. */
export const PCAPNG_OPT_ISB_USRDELIV = 8;
/** `if_tsresol` value the writer uses: 10^-9 s. */
export const PCAPNG_TSRESOL_NANOSECONDS = 9;
/** Bytes of an EPB before the packet data (type, length, interface, timestamp, lengths). */
export const PCAPNG_EPB_HEADER_LENGTH = 28;
/** Longest text option the writer accepts (bytes of UTF-8). */
export const PCAPNG_MAX_TEXT_OPTION = 4096;

const enc = new TextEncoder();

/** Options of the section header block. Text options are written when given and not empty. */
export interface PcapngSectionOptions {
  /** `shb_userappl`: the writing application, e.g. `fluxcap 0.1.0`. */
  userAppl?: string;
  /** `shb_os`, e.g. `Linux 6.1.0`. */
  os?: string;
  /** `shb_hardware`, e.g. `x86_64`. */
  hardware?: string;
  /** `opt_comment`. */
  comment?: string;
}

/** Options of an interface description block (the timestamp resolution is always nanoseconds). */
export interface PcapngInterfaceOptions {
  /** Default 1 (Ethernet). 16 bits. */
  linkType?: number;
  /** Default 262144; 0 means none. */
  snaplen?: number;
  /** `if_name`. */
  name?: string;
  /** `if_description`. */
  description?: string;
}

/** Fields of an enhanced packet block for `emitPcapngPacket`. */
export interface PcapngPacketRepr {
  /** Index of the interface in its section (default 0). */
  interfaceId?: number;
  /** Seconds since the epoch (any value below 2^64 ns: pcapng has no 2106 limit). */
  tsSec: number;
  /** Nanoseconds within the second, 0..999999999. */
  tsNsec: number;
  /** The captured bytes. */
  data: Uint8Array;
  /** Length on the wire (default `data.length`); kept as given, even below `data.length`. */
  origLen?: number;
}

/**
 * Fields of an interface statistics block, by their pcapng names. Counters are written when given
 * (integers 0..2^53-1). The block's own timestamp is `tsSec`/`tsNsec`.
 */
export interface PcapngStatisticsRepr {
  /** Interface the counters belong to (default 0). */
  interfaceId?: number;
  /** When the counters were read (the block's timestamp). */
  tsSec: number;
  tsNsec: number;
  /** `isb_starttime`: when counting started, [seconds, nanoseconds]. */
  startTime?: readonly [number, number];
  /** `isb_endtime`: when counting ended, [seconds, nanoseconds]. */
  endTime?: readonly [number, number];
  /** `isb_ifrecv`: packets received from the interface. */
  ifRecv?: number;
  /** `isb_ifdrop`: packets the interface dropped for lack of resources. */
  ifDrop?: number;
  /** `isb_filteraccept`: packets accepted by the filter. */
  filterAccept?: number;
  /** `isb_osdrop`: packets the capture system dropped. */
  osDrop?: number;
  /** `isb_usrdeliv`: packets delivered to the user (written). */
  usrDeliv?: number;
  /** `opt_comment`. */
  comment?: string;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function textOption(code: number, text: string | undefined): [number, Uint8Array] | undefined {
  if (text === undefined || text === "") return undefined;
  return [code, enc.encode(text)];
}

function optionsLength(opts: [number, Uint8Array][]): number {
  if (opts.length === 0) return 0;
  return opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 4); // + opt_endofopt
}

function checkOptions(opts: [number, Uint8Array][]): CodecError | undefined {
  for (const [code, v] of opts) {
    if (v.length > PCAPNG_MAX_TEXT_OPTION) {
      return new CodecError(
        `Bad pcapng option "${code}": ${v.length} bytes, at most ${PCAPNG_MAX_TEXT_OPTION}`,
      );
    }
  }
  return undefined;
}

function writeOptions(dv: DataView, buf: Uint8Array, off: number, opts: [number, Uint8Array][]): number {
  if (opts.length === 0) return off;
  for (const [code, v] of opts) {
    dv.setUint16(off, code, true);
    dv.setUint16(off + 2, v.length, true);
    buf.set(v, off + 4);
    buf.fill(0, off + 4 + v.length, off + 4 + pad4(v.length));
    off += 4 + pad4(v.length);
  }
  dv.setUint32(off, PCAPNG_OPT_ENDOFOPT, true); // code 0, length 0
  return off + 4;
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkUint(name: string, v: number, max: number): CodecError | undefined {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    return new CodecError(`Bad pcapng ${name} "${v}": must be an integer 0..${max}`);
  }
  return undefined;
}

function checkTime(name: string, sec: number, nsec: number): CodecError | undefined {
  if (!Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) {
    return new CodecError(`Bad pcapng ${name} nanoseconds "${nsec}": must be 0..999999999`);
  }
  // 2^64 ns is 18446744073.709551616 s.
  if (!Number.isInteger(sec) || sec < 0 || sec > 18_446_744_072) {
    return new CodecError(`Bad pcapng ${name} seconds "${sec}": must fit 64 bits of nanoseconds`);
  }
  return undefined;
}

/**
 * Writes `sec * 10^9 + nsec` as a pcapng 64-bit timestamp (upper 32 bits, then lower 32 bits, each
 * little-endian) at `off`. Exact without BigInt: `sec` is split in 16-bit halves so that every product
 * stays below 2^53.
 */
function setTime64(dv: DataView, off: number, sec: number, nsec: number): void {
  const secHi = Math.floor(sec / 65536);
  const a = (sec - secHi * 65536) * 1e9 + nsec; // < 2^46 + 2^30
  const b = secHi * 1e9; // < 2^48 for sec < 2^34
  const bHi = Math.floor(b / 65536);
  const x = (b - bHi * 65536) * 65536 + a; // the low 48 bits' worth, < 2^48
  const xHi = Math.floor(x / 4294967296);
  dv.setUint32(off, bHi + xHi, true);
  dv.setUint32(off + 4, x - xHi * 4294967296, true);
}

function setU64(dv: DataView, off: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  dv.setUint32(off, v - hi * 4294967296, true);
  dv.setUint32(off + 4, hi, true);
}

function sectionOptions(opts: PcapngSectionOptions): [number, Uint8Array][] {
  return [
    textOption(PCAPNG_OPT_COMMENT, opts.comment),
    textOption(PCAPNG_OPT_SHB_HARDWARE, opts.hardware),
    textOption(PCAPNG_OPT_SHB_OS, opts.os),
    textOption(PCAPNG_OPT_SHB_USERAPPL, opts.userAppl),
  ].filter((o) => o !== undefined);
}

/** Length in bytes of the section header block `emitPcapngSectionHeader` writes for `opts`. */
export function pcapngSectionHeaderLength(opts: PcapngSectionOptions = {}): number {
  return 28 + optionsLength(sectionOptions(opts));
}

/**
 * Writes a little-endian section header block (version 1.0, section length unknown) at `off`. Returns
 * its length or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapngSectionHeader, pcapngSectionHeaderLength } from "./pcapng.ts";
 * const opts = { userAppl: "fluxcap 0.1.0" };
 * const b = new Uint8Array(pcapngSectionHeaderLength(opts));
 * emitPcapngSectionHeader(b, 0, opts); // b starts 0a 0d 0d 0a
 * ```
 */
export function emitPcapngSectionHeader(
  buf: Uint8Array,
  off: number,
  opts: PcapngSectionOptions = {},
): number | CodecError {
  const options = sectionOptions(opts);
  const bad = checkOptions(options);
  if (bad) return bad;
  const len = 28 + optionsLength(options);
  if (!inRange(buf, off, len)) {
    return new CodecError(`Buffer too small for pcapng section header: need ${len}`);
  }
  const dv = viewOf(buf);
  dv.setUint32(off, PCAPNG_SHB, true);
  dv.setUint32(off + 4, len, true);
  dv.setUint32(off + 8, PCAPNG_BYTE_ORDER_MAGIC, true);
  dv.setUint16(off + 12, 1, true);
  dv.setUint16(off + 14, 0, true);
  dv.setInt32(off + 16, -1, true); // section length -1: not given (64 bits of ones)
  dv.setInt32(off + 20, -1, true);
  writeOptions(dv, buf, off + 24, options);
  dv.setUint32(off + len - 4, len, true);
  return len;
}

function interfaceOptions(opts: PcapngInterfaceOptions): [number, Uint8Array][] {
  return [
    textOption(PCAPNG_OPT_IF_NAME, opts.name),
    textOption(PCAPNG_OPT_IF_DESCRIPTION, opts.description),
    [PCAPNG_OPT_IF_TSRESOL, new Uint8Array([PCAPNG_TSRESOL_NANOSECONDS])] as [number, Uint8Array],
  ].filter((o) => o !== undefined);
}

/** Length in bytes of the interface description block `emitPcapngInterface` writes for `opts`. */
export function pcapngInterfaceLength(opts: PcapngInterfaceOptions = {}): number {
  return 20 + optionsLength(interfaceOptions(opts));
}

/**
 * Writes a little-endian interface description block with `if_tsresol` 9 (nanoseconds) at `off`.
 * Returns its length or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapngInterface, pcapngInterfaceLength } from "./pcapng.ts";
 * const opts = { name: "cisco", snaplen: 65535 };
 * const b = new Uint8Array(pcapngInterfaceLength(opts));
 * emitPcapngInterface(b, 0, opts); // b starts 01 00 00 00
 * ```
 */
export function emitPcapngInterface(
  buf: Uint8Array,
  off: number,
  opts: PcapngInterfaceOptions = {},
): number | CodecError {
  const linkType = opts.linkType ?? LINKTYPE_ETHERNET;
  const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
  const options = interfaceOptions(opts);
  const bad = checkUint("link type", linkType, 0xffff) ?? checkUint("snaplen", snaplen, 0xffffffff) ??
    checkOptions(options);
  if (bad) return bad;
  const len = 20 + optionsLength(options);
  if (!inRange(buf, off, len)) {
    return new CodecError(`Buffer too small for pcapng interface block: need ${len}`);
  }
  const dv = viewOf(buf);
  dv.setUint32(off, PCAPNG_IDB, true);
  dv.setUint32(off + 4, len, true);
  dv.setUint16(off + 8, linkType, true);
  dv.setUint16(off + 10, 0, true);
  dv.setUint32(off + 12, snaplen, true);
  writeOptions(dv, buf, off + 16, options);
  dv.setUint32(off + len - 4, len, true);
  return len;
}

/** Length in bytes of an enhanced packet block (without options) holding `caplen` bytes. */
export function pcapngPacketBlockLength(caplen: number): number {
  return PCAPNG_EPB_HEADER_LENGTH + pad4(caplen) + 4;
}

/**
 * Completes an enhanced packet block in place: the `caplen` packet bytes must already be at
 * `off + PCAPNG_EPB_HEADER_LENGTH`; writes the header before them (ns timestamp from `tsSec`, `tsNsec`),
 * zero padding and the trailing length after them, and returns the block length
 * (`pcapngPacketBlockLength(caplen)`). For a writer's hot path: positional arguments, no checks (`dv`
 * must hold the block; `tsSec` below 2^34, `tsNsec` below 10^9, `origLen` kept as given).
 *
 * @example
 * ```ts
 * import { PCAPNG_EPB_HEADER_LENGTH, pcapngPacketBlockLength, setPcapngPacketBlock } from "./pcapng.ts";
 * const b = new Uint8Array(pcapngPacketBlockLength(60));
 * b.fill(0xab, PCAPNG_EPB_HEADER_LENGTH, PCAPNG_EPB_HEADER_LENGTH + 60); // the frame
 * setPcapngPacketBlock(new DataView(b.buffer), 0, 0, 60, 60, 1700000000, 5); // 92
 * ```
 */
export function setPcapngPacketBlock(
  dv: DataView,
  off: number,
  interfaceId: number,
  caplen: number,
  origLen: number,
  tsSec: number,
  tsNsec: number,
): number {
  const len = PCAPNG_EPB_HEADER_LENGTH + ((caplen + 3) & ~3) + 4;
  dv.setUint32(off, PCAPNG_EPB, true);
  dv.setUint32(off + 4, len, true);
  dv.setUint32(off + 8, interfaceId, true);
  setTime64(dv, off + 12, tsSec, tsNsec);
  dv.setUint32(off + 20, caplen, true);
  dv.setUint32(off + 24, origLen >>> 0, true);
  for (let p = off + PCAPNG_EPB_HEADER_LENGTH + caplen; p < off + len - 4; p++) dv.setUint8(p, 0);
  dv.setUint32(off + len - 4, len, true);
  return len;
}

/**
 * Writes an enhanced packet block (copying `rec.data`) at `off`, checking every field. Returns its
 * length or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapngPacket, pcapngPacketBlockLength } from "./pcapng.ts";
 * const data = new Uint8Array(60);
 * const b = new Uint8Array(pcapngPacketBlockLength(data.length));
 * emitPcapngPacket(b, 0, { tsSec: 1700000000, tsNsec: 5, data }); // 92
 * ```
 */
export function emitPcapngPacket(buf: Uint8Array, off: number, rec: PcapngPacketRepr): number | CodecError {
  const origLen = rec.origLen ?? rec.data.length;
  const bad = checkUint("interface id", rec.interfaceId ?? 0, 0xffffffff) ??
    checkUint("caplen", rec.data.length, 0xffffffff) ?? checkUint("original length", origLen, 0xffffffff) ??
    checkTime("timestamp", rec.tsSec, rec.tsNsec);
  if (bad) return bad;
  const len = pcapngPacketBlockLength(rec.data.length);
  if (!inRange(buf, off, len)) return new CodecError(`Buffer too small for pcapng packet block: need ${len}`);
  buf.set(rec.data, off + PCAPNG_EPB_HEADER_LENGTH);
  return setPcapngPacketBlock(
    viewOf(buf),
    off,
    rec.interfaceId ?? 0,
    rec.data.length,
    origLen,
    rec.tsSec,
    rec.tsNsec,
  );
}

const ISB_COUNTERS = [
  [PCAPNG_OPT_ISB_IFRECV, "ifRecv"],
  [PCAPNG_OPT_ISB_IFDROP, "ifDrop"],
  [PCAPNG_OPT_ISB_FILTERACCEPT, "filterAccept"],
  [PCAPNG_OPT_ISB_OSDROP, "osDrop"],
  [PCAPNG_OPT_ISB_USRDELIV, "usrDeliv"],
] as const;

function statisticsOptions(s: PcapngStatisticsRepr): [number, Uint8Array][] | CodecError {
  const out: [number, Uint8Array][] = [];
  const comment = textOption(PCAPNG_OPT_COMMENT, s.comment);
  if (comment) out.push(comment);
  for (
    const [code, name, t] of [[PCAPNG_OPT_ISB_STARTTIME, "start time", s.startTime], [
      PCAPNG_OPT_ISB_ENDTIME,
      "end time",
      s.endTime,
    ]] as const
  ) {
    if (t === undefined) continue;
    const bad = checkTime(name, t[0], t[1]);
    if (bad) return bad;
    const v = new Uint8Array(8);
    setTime64(viewOf(v), 0, t[0], t[1]);
    out.push([code, v]);
  }
  for (const [code, name] of ISB_COUNTERS) {
    const n = s[name];
    if (n === undefined) continue;
    const bad = checkUint(`statistics counter ${name}`, n, Number.MAX_SAFE_INTEGER);
    if (bad) return bad;
    const v = new Uint8Array(8);
    setU64(viewOf(v), 0, n);
    out.push([code, v]);
  }
  return out;
}

/** Length in bytes of the interface statistics block `emitPcapngStatistics` writes for `s`. */
export function pcapngStatisticsLength(s: PcapngStatisticsRepr): number {
  const options = statisticsOptions(s);
  return 24 + (options instanceof CodecError ? 0 : optionsLength(options));
}

/**
 * Writes a little-endian interface statistics block at `off`. Returns its length or a `CodecError`.
 *
 * @example
 * ```ts
 * import { emitPcapngStatistics, pcapngStatisticsLength } from "./pcapng.ts";
 * const s = { tsSec: 1700000000, tsNsec: 0, ifRecv: 10, ifDrop: 0, osDrop: 1, usrDeliv: 9 };
 * const b = new Uint8Array(pcapngStatisticsLength(s));
 * emitPcapngStatistics(b, 0, s); // b starts 05 00 00 00
 * ```
 */
export function emitPcapngStatistics(
  buf: Uint8Array,
  off: number,
  s: PcapngStatisticsRepr,
): number | CodecError {
  const options = statisticsOptions(s);
  if (options instanceof CodecError) return options;
  const bad = checkUint("interface id", s.interfaceId ?? 0, 0xffffffff) ?? checkOptions(options) ??
    checkTime("timestamp", s.tsSec, s.tsNsec);
  if (bad) return bad;
  const len = 24 + optionsLength(options);
  if (!inRange(buf, off, len)) {
    return new CodecError(`Buffer too small for pcapng statistics block: need ${len}`);
  }
  const dv = viewOf(buf);
  dv.setUint32(off, PCAPNG_ISB, true);
  dv.setUint32(off + 4, len, true);
  dv.setUint32(off + 8, s.interfaceId ?? 0, true);
  setTime64(dv, off + 12, s.tsSec, s.tsNsec);
  writeOptions(dv, buf, off + 20, options);
  dv.setUint32(off + len - 4, len, true);
  return len;
}
