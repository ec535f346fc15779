/**
 * A buffered pcap or pcapng writer for `-tx -w` that rotates by time (`-G`) and size (`-C`), never
 * shows a half-written rotated file, never writes through a symlink (`names.ts`), and keeps what `-W` /
 * `--max-disk` allow (`retention.ts`), running `-z` on each finished file (`postrotate.ts`).
 *
 * No FFI: plain Deno file APIs, used from the Worker that runs the loop (all calls block that thread only).
 *
 * @module
 */
import {
  emitPcapHeader,
  PCAP_DEFAULT_SNAPLEN,
  PCAP_GLOBAL_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  setPcapRecordHeader,
} from "../../codec/pcap.ts";
import {
  emitPcapngInterface,
  emitPcapngSectionHeader,
  emitPcapngStatistics,
  PCAPNG_EPB_HEADER_LENGTH,
  pcapngInterfaceLength,
  pcapngSectionHeaderLength,
  pcapngStatisticsLength,
  type PcapngStatisticsRepr,
  setPcapngPacketBlock,
} from "../../codec/pcapng.ts";
import { type CodecError, isError } from "../../codec/error.ts";
import { FluxError, fsErrorText } from "../../errors.ts";
import { VERSION } from "../../version.ts";
import type { SinkCounters } from "../sink.ts";
import { PostRotate } from "./postrotate.ts";
import { COMPRESSED_SUFFIXES, Retention } from "./retention.ts";
import {
  type CaptureFileFormat,
  createCaptureFile,
  DEFAULT_FILE_MODE,
  exists,
  expandPattern,
  PART_SUFFIX,
  type PcapTarget,
  withCounter,
} from "./names.ts";

/** One megabyte for `-C`, as tcpdump counts it (10^6 bytes). */
export const MEGABYTE = 1_000_000;

/** Pending bytes that trigger a write. */
export const FLUSH_BYTES = 1 << 20;

/** Longest time frames wait in the buffer before they are written, ms. */
export const FLUSH_MS = 100;

/** Raised when stdout's reader went away (`| head`): the writer ends quietly. */
export class OutputClosed extends Error {
  constructor() {
    super("Output closed");
    this.name = "OutputClosed";
  }
}

/**
 * Counters of one source (interface) for the pcapng statistics block, cumulative since the output
 * started (as dumpcap writes them at the end of each file of a ring buffer). Mapping, in the block:
 * `received` → `isb_ifrecv`, `kernelDrops` → `isb_ifdrop`, `lost` → `isb_osdrop`; `isb_usrdeliv` is the
 * frames this output wrote; and an `opt_comment` spells all of them out, with `dropped`, which pcapng has
 * no option for.
 */
export type CaptureCounters = SinkCounters;

/** A source of the output, written as a pcapng interface description block. */
export interface CaptureInterfaceInfo {
  /** `if_name`, e.g. the ring's name. */
  name?: string;
  /** `if_description`. */
  description?: string;
}

/** Options for {@linkcode PcapOutput}. */
export interface PcapOutputOptions {
  /** Where to write (see {@linkcode resolveTarget}). */
  target: PcapTarget;
  /** `-G`: start a new file after this many seconds. */
  rotateSeconds?: number;
  /** `-C`: start a new file before one would exceed this many bytes. */
  rotateBytes?: number;
  /** Snap length written in the file header (default 262144). */
  snaplen?: number;
  /** Clock for file names and statistics times (default `new Date()`); tests pass their own. */
  now?: () => Date;
  /** Called with the final name each time a file is complete (rotated or closed). */
  onFile?: (name: string) => void;
  /** Classic pcap (default) or pcapng. */
  format?: CaptureFileFormat;
  /** pcapng: the sources, one interface block each (default one, unnamed); `finish` names them by index. */
  interfaces?: CaptureInterfaceInfo[];
  /** pcapng `shb_userappl` (default `fluxcap VERSION`). */
  application?: string;
  /** pcapng: counters of interface `iface` for the statistics block written at the end of each file. */
  statistics?: (iface: number) => CaptureCounters | undefined;
  /** Mode of created files (default 0600; the process umask applies, as for any file). */
  fileMode?: number;
  /** `-W`: keep at most this many files (needs rotation). See `retention.ts`. */
  maxFiles?: number;
  /** `--max-disk`: keep the output's files within this many bytes (needs rotation). */
  maxBytes?: number;
  /** `-z`: argv of a command run with each complete file's name appended. See `postrotate.ts`. */
  postRotate?: string[];
  /** Log clean `-z` exits too, not only failures. */
  verbose?: boolean;
  /** Called with the name of each file `-W` / `--max-disk` deleted. */
  onDelete?: (name: string) => void;
  /** One-line warnings (a classic pcap time beyond 2106, `-z` failures, a file that cannot be deleted). */
  log?: (message: string) => void;
}

/** The options of {@linkcode PcapOutput} a mode passes through its job (plain data, no functions). */
export type PcapFileOptions = Pick<
  PcapOutputOptions,
  "format" | "fileMode" | "maxFiles" | "maxBytes" | "postRotate" | "interfaces" | "application"
>;

function hostOs(): string {
  const os = Deno.build.os === "linux" ? "Linux" : Deno.build.os;
  try {
    return `${os} ${Deno.osRelease()}`;
  } catch {
    return os; // no --allow-sys
  }
}

/**
 * A buffered capture file writer: classic pcap (nanosecond magic, little-endian, Ethernet) or pcapng
 * (section header naming fluxcap, one interface block per source with `if_tsresol` 9, enhanced packet
 * blocks, a statistics block per source at the end of each file). Records are staged in a memory buffer
 * and formatted there in place (`reserve` → copy the frame's bytes → `finish`), written with one `write`
 * per flush, split across files by `-C`, and files are closed by `-G`. Rotated files are written as
 * `NAME.part` and renamed to `NAME` once complete, so a file that has its final name is never
 * half-written. Files are created with mode 0600 and never through a symlink
 * ({@linkcode createCaptureFile}). With `-W` / `--max-disk` the oldest files are deleted, and `-z` runs a
 * command on each complete file.
 *
 * @example
 * ```ts ignore
 * import { PcapOutput, resolveTarget } from "./pcapfile.ts";
 * const out = new PcapOutput({ target: resolveTarget("/tmp/x.pcapng", "r"), format: "pcapng" });
 * out.open();
 * const at = out.reserve(60);
 * out.buffer.fill(0, at, at + 60);
 * out.finish(60, 60, 1700000000, 5);
 * out.close();
 * ```
 */
export class PcapOutput {
  readonly target: PcapTarget;
  readonly rotating: boolean;
  readonly format: CaptureFileFormat;
  #rotateMs: number;
  #rotateBytes: number;
  #now: () => Date;
  #onFile?: (name: string) => void;
  #log: (message: string) => void;
  #fileMode: number;
  #ng: boolean;
  /** Bytes before a record's data: 16 (pcap record header) or 28 (EPB header). */
  #recHeader: number;
  /** Bytes at the start of every file: the pcap global header, or SHB + IDBs. */
  #fileHeader: Uint8Array;
  /** Bytes the end of a file may take (pcapng statistics blocks), kept free under `-C`. */
  #trailerMax = 0;
  #interfaces: CaptureInterfaceInfo[];
  #statistics?: (iface: number) => CaptureCounters | undefined;
  #startedAt: Date | null = null;
  /** Frames written out per interface (pcapng, for `isb_usrdeliv`). */
  #written: number[];
  #retention: Retention | null = null;
  #post: PostRotate | null = null;
  #buf = new Uint8Array(FLUSH_BYTES * 4);
  #dv = new DataView(this.#buf.buffer);
  #len = 0;
  #pendingSince = 0;
  #pendingOff = -1;
  #file: Deno.FsFile | null = null;
  #name = "";
  #writing = "";
  #size = 0;
  #openedAt = 0;
  #closed = false;
  /** The last rotated file's name before its counter, and the counter (see `#chooseName`). */
  #lastBase = "";
  #lastCounter = 0;
  /** A write failed: nothing more is written (see `unwritten`). */
  #failed = false;
  /** Staged bytes before this offset are written (while a flush runs, and after it failed). */
  #done = 0;
  /** Files completed so far. */
  filesDone = 0;
  /** Records whose seconds classic pcap could not hold (written modulo 2^32). */
  timeWraps = 0;

  constructor(opts: PcapOutputOptions) {
    this.target = opts.target;
    this.#rotateMs = (opts.rotateSeconds ?? 0) * 1000;
    this.#rotateBytes = opts.rotateBytes ?? 0;
    this.rotating = this.#rotateMs > 0 || this.#rotateBytes > 0;
    if (this.rotating && opts.target.kind === "stdout") {
      throw new FluxError("-G and -C rotate files: they cannot be used with -w - (stdout)");
    }
    const files = opts.target.kind === "files" ? opts.target : null;
    if ((opts.maxFiles !== undefined || opts.maxBytes !== undefined) && (!this.rotating || files === null)) {
      throw new FluxError("-W and --max-disk keep rotated files: they need -G or -C");
    }
    if (opts.postRotate !== undefined && files === null) {
      throw new FluxError("-z runs a command on each file: it cannot be used with -w - (stdout)");
    }
    const snaplen = opts.snaplen || PCAP_DEFAULT_SNAPLEN;
    this.#now = opts.now ?? (() => new Date());
    this.#onFile = opts.onFile;
    this.#log = opts.log ?? ((m) => console.error(m));
    this.#fileMode = opts.fileMode ?? DEFAULT_FILE_MODE;
    this.format = opts.format ?? "pcap";
    this.#ng = this.format === "pcapng";
    this.#recHeader = this.#ng ? PCAPNG_EPB_HEADER_LENGTH : PCAP_RECORD_HEADER_LENGTH;
    this.#interfaces = opts.interfaces?.length ? opts.interfaces : [{}];
    this.#statistics = opts.statistics;
    this.#written = this.#interfaces.map(() => 0);
    if (this.#ng) {
      const shb = {
        userAppl: opts.application ?? `fluxcap ${VERSION}`,
        os: hostOs(),
        hardware: Deno.build.arch,
      };
      const idbs = this.#interfaces.map((i) => ({ ...i, snaplen }));
      const len = pcapngSectionHeaderLength(shb) + idbs.reduce((n, i) => n + pcapngInterfaceLength(i), 0);
      this.#fileHeader = new Uint8Array(len);
      let o = 0;
      const step = (n: number | CodecError) => {
        if (isError(n)) throw new FluxError(`Cannot write pcapng header: ${n.reason}`);
        o += n;
      };
      step(emitPcapngSectionHeader(this.#fileHeader, o, shb));
      for (const idb of idbs) step(emitPcapngInterface(this.#fileHeader, o, idb));
      const most = Number.MAX_SAFE_INTEGER;
      this.#trailerMax = this.#interfaces.length *
        pcapngStatisticsLength(
          this.#statisticsRepr(
            0,
            { received: most, kernelDrops: most, lost: most, dropped: most },
            new Date(0),
            most,
          ),
        );
    } else {
      this.#fileHeader = new Uint8Array(PCAP_GLOBAL_HEADER_LENGTH);
      emitPcapHeader(this.#fileHeader, 0, { snaplen });
    }
    if (files !== null && (opts.maxFiles !== undefined || opts.maxBytes !== undefined)) {
      this.#retention = new Retention({
        template: files.template,
        maxFiles: opts.maxFiles,
        maxBytes: opts.maxBytes,
        reserveBytes: this.#rotateBytes,
        busy: (name) => this.#post?.busy(name) ?? false,
        onDelete: opts.onDelete,
        log: this.#log,
      });
    }
    if (files !== null && opts.postRotate !== undefined) {
      this.#post = new PostRotate({ argv: opts.postRotate, log: this.#log, verbose: opts.verbose });
    }
  }

  /** The staging buffer (write frame bytes at the offset `reserve` returns). May change at `reserve`. */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** Bytes staged and not yet written. */
  get pending(): number {
    return this.#len;
  }

  /** Offset in the staging buffer where the next record will start (mark a batch with it). */
  get mark(): number {
    return this.#len;
  }

  /** Name of the file being written ("" for stdout or before the first file). */
  get current(): string {
    return this.#writing;
  }

  /** Opens the first output now (so a bad path fails at start, as tcpdump does). */
  open(): void {
    this.#startedAt ??= this.#now();
    if (this.target.kind === "stdout") {
      this.#writeOut(this.#fileHeader);
      return;
    }
    this.#openNext();
  }

  /** Starts a record of up to `maxLen` bytes; returns the buffer offset to copy its bytes to. */
  reserve(maxLen: number): number {
    const need = this.#len + this.#recHeader + maxLen + 8; // + pcapng padding and trailing length
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
      this.#dv = new DataView(grown.buffer);
    }
    this.#pendingOff = this.#len;
    return this.#len + this.#recHeader;
  }

  /**
   * Completes the record started by `reserve`: stored length, original length (kept as given, even
   * below the stored length), time, and (pcapng) the index of its source in `interfaces`.
   */
  finish(caplen: number, origLen: number, sec: number, nsec: number, iface = 0): void {
    const o = this.#pendingOff;
    this.#pendingOff = -1;
    let len: number;
    if (this.#ng) len = setPcapngPacketBlock(this.#dv, o, iface, caplen, origLen, sec, nsec);
    else {
      len = PCAP_RECORD_HEADER_LENGTH + caplen;
      if (!setPcapRecordHeader(this.#dv, o, caplen, origLen, sec, nsec) && this.timeWraps++ === 0) {
        this.#log(
          `Timestamp ${sec} s is past 2106-02-07 06:28:16 UTC: classic pcap holds 32-bit seconds, so it is ` +
            `written modulo 2^32 (this and later ones); write pcapng (-w FILE.pcapng) to keep such times`,
        );
      }
    }
    if (this.#len === 0) this.#pendingSince = performance.now();
    this.#len = o + len;
  }

  /** Length of the staged record at `p`. */
  #recordLength(p: number): number {
    return this.#ng
      ? this.#dv.getUint32(p + 4, true)
      : PCAP_RECORD_HEADER_LENGTH + this.#dv.getUint32(p + 8, true);
  }

  /** Removes the first `count` records staged at or after `mark` (frames overwritten while copied). */
  dropRecords(mark: number, count: number): void {
    let p = mark;
    for (let k = 0; k < count && p < this.#len; k++) p += this.#recordLength(p);
    if (p === mark) return;
    this.#buf.copyWithin(mark, p, this.#len);
    this.#len -= p - mark;
  }

  /** Milliseconds until the staged records must be written (Infinity when nothing is staged). */
  flushDueIn(now: number): number {
    if (this.#len === 0) return Infinity;
    if (this.#len >= FLUSH_BYTES) return 0;
    return Math.max(0, this.#pendingSince + FLUSH_MS - now);
  }

  /** Milliseconds until the current file must be closed by `-G` (Infinity without one). */
  rotateDueIn(now: number): number {
    if (this.#rotateMs === 0 || this.#file === null) return Infinity;
    return Math.max(0, this.#openedAt + this.#rotateMs - now);
  }

  /**
   * Housekeeping between batches: closes the current file when its `-G` time is up (writing what is
   * staged into it first), writes staged records when they are big or old enough, and logs the `-z`
   * commands that ended.
   */
  tick(now: number): void {
    if (this.rotateDueIn(now) === 0) {
      this.flush();
      this.#finishFile();
    } else if (this.flushDueIn(now) === 0) this.flush();
    // A file whose -z command just ended may now be deleted (-W / --max-disk wait for busy files).
    if (this.#post !== null && this.#post.poll() > 0) this.#retention?.enforce();
  }

  /**
   * Records staged and not written whole after a write failed (0 before). The file then ends at the
   * last whole record; nothing more is written to it, and `close()` completes it as it is.
   */
  get unwritten(): number {
    return this.#failed ? this.#countRecords(this.#done, this.#len) : 0;
  }

  #countRecords(from: number, to: number): number {
    let k = 0;
    for (let p = from; p < to; p += this.#recordLength(p)) k++;
    return k;
  }

  /** Writes every staged record now, opening and rotating files as needed. */
  flush(): void {
    if (this.#failed) return;
    try {
      this.#flush();
    } catch (e) {
      this.#failed = true;
      throw e;
    }
  }

  #flush(): void {
    const end = this.#len;
    if (end === 0) return;
    this.#done = 0;
    if (this.target.kind === "stdout") {
      this.#writeRecords(0, end);
      this.#len = 0;
      return;
    }
    const headerLen = this.#fileHeader.length;
    let off = 0;
    while (off < end) {
      if (this.#file === null) this.#openNext();
      let stop = end;
      if (this.#rotateBytes > 0 && this.#size + (end - off) + this.#trailerMax > this.#rotateBytes) {
        // Whole records that still fit; at least one in an empty file (a record may exceed -C alone).
        let p = off;
        let size = this.#size;
        while (p < end) {
          const rl = this.#recordLength(p);
          if (size + rl + this.#trailerMax > this.#rotateBytes && size > headerLen) break;
          size += rl;
          p += rl;
        }
        stop = p;
      }
      if (stop > off) this.#writeRecords(off, stop);
      off = stop;
      if (off < end) this.#finishFile();
    }
    this.#len = 0;
    this.#done = 0;
  }

  /**
   * Writes the staged records in `[from, to)`. When the write fails part-way, the file is cut back to
   * its last whole record (a reader never meets a torn one) and `#done` marks the first record not
   * written.
   */
  #writeRecords(from: number, to: number): void {
    const at = this.#size;
    try {
      this.#writeOut(this.#buf.subarray(from, to));
    } catch (e) {
      let p = from;
      while (p < to && p + this.#recordLength(p) - from <= this.#size - at) p += this.#recordLength(p);
      this.#countWritten(from, p);
      this.#done = p;
      if (this.#file !== null && this.#size !== at + (p - from)) {
        this.#size = at + (p - from);
        try {
          this.#file.truncateSync(this.#size);
        } catch { /* the failure already reported is the one that matters */ }
      }
      throw e;
    }
    this.#countWritten(from, to);
    this.#done = to;
  }

  /** Writes what is staged and completes the current file; lets `-z` commands end. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      try {
        this.#finishFile();
        if (this.target.kind === "stdout" && this.#ng && !this.#failed) this.#writeOut(this.#trailer());
      } finally {
        this.#post?.close();
        this.#retention?.enforce(true); // files that were busy with -z until now
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #countWritten(from: number, to: number): void {
    if (!this.#ng) return;
    for (let p = from; p < to; p += this.#dv.getUint32(p + 4, true)) {
      const iface = this.#dv.getUint32(p + 8, true);
      if (iface < this.#written.length) this.#written[iface]++;
    }
  }

  #statisticsRepr(
    iface: number,
    c: CaptureCounters | undefined,
    at: Date,
    written = this.#written[iface],
  ): PcapngStatisticsRepr {
    const ms = at.getTime();
    const sec = Math.floor(ms / 1000);
    const nsec = (ms - sec * 1000) * 1_000_000;
    const start = (this.#startedAt ?? at).getTime();
    const ssec = Math.floor(start / 1000);
    const repr: PcapngStatisticsRepr = {
      interfaceId: iface,
      tsSec: sec,
      tsNsec: nsec,
      startTime: [ssec, (start - ssec * 1000) * 1_000_000],
      endTime: [sec, nsec],
      usrDeliv: written,
    };
    if (c !== undefined) {
      repr.ifRecv = c.received;
      repr.ifDrop = c.kernelDrops;
      repr.osDrop = c.lost;
      repr.comment = `fluxcap: ${c.received} received, ${c.kernelDrops} kernel drops, ${c.lost} lost to ` +
        `overwrite, ${c.dropped} dropped by fluxcap, ${written} written`;
    }
    return repr;
  }

  /** The statistics blocks that end a pcapng file. */
  #trailer(): Uint8Array {
    const at = this.#now();
    const reprs = this.#interfaces.map((_, i) => this.#statisticsRepr(i, this.#statistics?.(i), at));
    const out = new Uint8Array(reprs.reduce((n, r) => n + pcapngStatisticsLength(r), 0));
    let o = 0;
    for (const r of reprs) {
      const n = emitPcapngStatistics(out, o, r);
      if (isError(n)) throw new FluxError(`Cannot write pcapng statistics: ${n.reason}`);
      o += n;
    }
    return out;
  }

  #chooseName(): string {
    const t = this.target as { kind: "files"; template: string };
    const base = expandPattern(t.template, this.#now());
    if (!this.rotating) return base;
    // A rotated series never overwrites nor reuses a name: one on disk (or being written, or compressed
    // by a -z command: x.pcap.gz) gets a counter, and the counter of a base name only goes up in a run
    // (after `-z gzip` took x.pcap away, the next file of the same second is x-1.pcap, not x.pcap again).
    const from = base === this.#lastBase ? this.#lastCounter + 1 : 0;
    for (let n = from;; n++) {
      const name = n === 0 ? base : withCounter(base, n);
      if (exists(name) || exists(name + PART_SUFFIX) || COMPRESSED_SUFFIXES.some((z) => exists(name + z))) {
        continue;
      }
      this.#lastBase = base;
      this.#lastCounter = n;
      return name;
    }
  }

  #openNext(): void {
    const name = this.#chooseName();
    const writing = this.rotating ? name + PART_SUFFIX : name;
    this.#file = createCaptureFile(writing, this.#fileMode, !this.rotating);
    this.#name = name;
    this.#writing = writing;
    this.#size = 0;
    this.#openedAt = performance.now();
    try {
      this.#writeOut(this.#fileHeader);
    } catch (e) {
      // A file without a whole header holds nothing: it goes (no reader would open it).
      this.#file.close();
      this.#file = null;
      try {
        Deno.removeSync(writing);
      } catch { /* the failure already reported is the one that matters */ }
      throw e;
    }
  }

  #finishFile(): void {
    const f = this.#file;
    if (f === null) return;
    let trailerFailed: unknown = null;
    try {
      const at = this.#size;
      try {
        if (this.#ng && !this.#failed) this.#writeOut(this.#trailer());
      } catch (e) {
        // The statistics block is optional: a file without it (cut back to its last whole block) is
        // complete, so it is still finished and renamed; the failure is reported after that.
        trailerFailed = e;
        this.#failed = true;
        try {
          f.truncateSync(at);
        } catch { /* the failure already reported is the one that matters */ }
      }
    } finally {
      this.#file = null;
      f.close();
    }
    if (this.#writing !== this.#name) {
      try {
        Deno.renameSync(this.#writing, this.#name);
      } catch (e) {
        throw new FluxError(`Cannot rename "${this.#writing}" to "${this.#name}": ${fsErrorText(e)}`);
      }
    }
    this.#writing = "";
    this.filesDone++;
    this.#onFile?.(this.#name);
    this.#post?.run(this.#name);
    this.#retention?.add(this.#name, this.#closed);
    if (trailerFailed !== null) throw trailerFailed;
  }

  #writeOut(bytes: Uint8Array): void {
    let off = 0;
    const stdout = this.target.kind === "stdout";
    while (off < bytes.length) {
      let n: number;
      try {
        n = stdout ? Deno.stdout.writeSync(bytes.subarray(off)) : this.#file!.writeSync(bytes.subarray(off));
      } catch (e) {
        if (stdout && e instanceof Deno.errors.BrokenPipe) throw new OutputClosed();
        throw new FluxError(`Cannot write capture file "${stdout ? "-" : this.#name}": ${fsErrorText(e)}`);
      }
      off += n;
      this.#size += n;
    }
  }
}
