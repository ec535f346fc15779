/**
 * Capture files on disk for `-tx -w` and `-rx --read`: file naming (a directory, a strftime subset,
 * collision counters), a buffered pcap or pcapng writer that rotates by time (`-G`) and size (`-C`),
 * never shows a half-written rotated file, never writes through a symlink, and keeps what `-W` /
 * `--max-disk` allow (`retention.ts`), running `-z` on each finished file (`postrotate.ts`); and a
 * synchronous chunked file source.
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
} from "../codec/pcap.ts";
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
} from "../codec/pcapng.ts";
import { type CodecError, isError } from "../codec/error.ts";
import { FluxError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { PostRotate } from "./postrotate.ts";
import { Retention } from "./retention.ts";

/** Conversion characters of the file name pattern. */
export const PATTERN_CONVERSIONS = "YmdHMSs%";

/** One megabyte for `-C`, as tcpdump counts it (10^6 bytes). */
export const MEGABYTE = 1_000_000;

/** Pending bytes that trigger a write. */
export const FLUSH_BYTES = 1 << 20;

/** Longest time frames wait in the buffer before they are written, ms. */
export const FLUSH_MS = 100;

/** Suffix of a rotated file while it is being written. */
export const PART_SUFFIX = ".part";

/** Mode of the capture files fluxcap creates, unless `--file-mode` says otherwise (the umask applies). */
export const DEFAULT_FILE_MODE = 0o600;

/** Capture file formats fluxcap writes. */
export type CaptureFileFormat = "pcap" | "pcapng";

/**
 * The format to write: `explicit` (`--format`) when given, else pcapng for a name ending in `.pcapng`
 * (also `.pcapng` followed by a strftime pattern's characters, e.g. `x-%s.pcapng`), else classic pcap.
 * Throws a one-line `FluxError` for an unknown format name.
 *
 * @example
 * ```ts
 * import { chooseFormat } from "./pcapfile.ts";
 * console.assert(chooseFormat("/cap/x-%s.pcapng") === "pcapng");
 * console.assert(chooseFormat("-", "pcapng") === "pcapng");
 * ```
 */
export function chooseFormat(path: string, explicit?: string): CaptureFileFormat {
  if (explicit !== undefined) {
    const f = explicit.trim().toLowerCase();
    if (f === "pcap" || f === "pcapng") return f;
    throw new FluxError(`Invalid capture format "${explicit}": pcap or pcapng`);
  }
  return /\.pcapng$/i.test(path) ? "pcapng" : "pcap";
}

/**
 * Parses a file mode given in octal (`0640`, `640`, `0o640`). Returns the mode or a one-line message.
 * Only permission bits are accepted (no setuid, setgid or sticky bit).
 *
 * @example
 * ```ts
 * import { parseFileMode } from "./pcapfile.ts";
 * console.assert(parseFileMode("0640") === 0o640);
 * ```
 */
export function parseFileMode(text: string): number | string {
  const m = /^(?:0o?)?([0-7]{1,4})$/i.exec(text.trim());
  if (!m) return `Invalid file mode "${text}": an octal mode such as 0600 or 0640`;
  const mode = parseInt(m[1], 8);
  if (mode > 0o777) return `Invalid file mode "${text}": permission bits only (at most 0777)`;
  if ((mode & 0o600) !== 0o600) {
    return `Invalid file mode "${text}": the owner must be able to read and write (0600)`;
  }
  return mode;
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
 * import { describeLinkType } from "./pcapfile.ts";
 * console.assert(describeLinkType(113) === "113 (Linux cooked)");
 * ```
 */
export function describeLinkType(linkType: number): string {
  const name = LINK_TYPE_NAMES[linkType];
  return name === undefined ? `${linkType}` : `${linkType} (${name})`;
}

/**
 * Checks a file name pattern: `%` must be followed by one of `Y m d H M S s %`. Returns an error message
 * or null.
 *
 * @example
 * ```ts
 * import { checkPattern } from "./pcapfile.ts";
 * console.assert(checkPattern("/cap/x-%Y%m%d.pcap") === null);
 * console.assert(checkPattern("x-%a.pcap") !== null);
 * ```
 */
export function checkPattern(pattern: string): string | null {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== "%") continue;
    const c = pattern[i + 1];
    if (c === undefined || !PATTERN_CONVERSIONS.includes(c)) {
      const what = c === undefined ? "a lone % at the end" : `"%${c}"`;
      return `Invalid file name pattern "${pattern}": unsupported ${what} (supported: %Y %m %d %H %M %S %s %%)`;
    }
    i++;
  }
  return null;
}

/** True when `pattern` holds a conversion other than `%%`. */
export function hasConversion(pattern: string): boolean {
  return /%[YmdHMSs]/.test(pattern.replaceAll("%%", ""));
}

/**
 * Expands the strftime subset `%Y %m %d %H %M %S` (local time, as tcpdump), `%s` (seconds since the
 * epoch) and `%%`. Unknown conversions are left as they are (see {@linkcode checkPattern}).
 *
 * @example
 * ```ts
 * import { expandPattern } from "./pcapfile.ts";
 * const name = expandPattern("r-%Y%m%d-%H%M%S.pcap", new Date(2024, 0, 2, 3, 4, 5));
 * console.assert(name === "r-20240102-030405.pcap");
 * ```
 */
export function expandPattern(pattern: string, at: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return pattern.replace(/%([YmdHMSs%])/g, (_m, c: string) => {
    switch (c) {
      case "Y":
        return String(at.getFullYear()).padStart(4, "0");
      case "m":
        return p2(at.getMonth() + 1);
      case "d":
        return p2(at.getDate());
      case "H":
        return p2(at.getHours());
      case "M":
        return p2(at.getMinutes());
      case "S":
        return p2(at.getSeconds());
      case "s":
        return String(Math.floor(at.getTime() / 1000));
      default:
        return "%";
    }
  });
}

/** `name` with `-n` inserted before its extension (`a/x.pcap` → `a/x-2.pcap`; `a/x` → `a/x-2`). */
export function withCounter(name: string, n: number): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  if (dot > slash + 1) return `${name.slice(0, dot)}-${n}${name.slice(dot)}`;
  return `${name}-${n}`;
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || "ring";
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Where `-w PATH` writes: stdout, or files named by a template. */
export type PcapTarget = { kind: "stdout" } | { kind: "files"; template: string };

/**
 * Resolves `-w PATH` for ring `ring`: `-` is stdout; an existing directory (or a path ending in `/`)
 * becomes `PATH/RING-%Y%m%d-%H%M%S.pcap` (`.pcapng` when `format` is pcapng); anything else is the file
 * name or pattern itself. Throws an Error with a one-line message on a bad pattern.
 *
 * @example
 * ```ts
 * import { resolveTarget } from "./pcapfile.ts";
 * console.assert(resolveTarget("-", "cisco").kind === "stdout");
 * ```
 */
export function resolveTarget(path: string, ring: string, format: CaptureFileFormat = "pcap"): PcapTarget {
  if (path === "-") return { kind: "stdout" };
  if (path === "") throw new FluxError('Invalid capture file name "": empty');
  let template = path;
  if (path.endsWith("/") || isDirectory(path)) {
    template = `${path.replace(/\/+$/, "") || ""}/${
      basename(ring).replaceAll("%", "%%")
    }-%Y%m%d-%H%M%S.${format}`;
  }
  const bad = checkPattern(template);
  if (bad) throw new FluxError(bad);
  return { kind: "files", template };
}

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
export interface CaptureCounters {
  /** Frames the ring offered this output: read plus lost. */
  received: number;
  /** Frames the capture socket's kernel dropped before they reached the ring. */
  kernelDrops: number;
  /** Frames overwritten in the ring before this output read them. */
  lost: number;
  /** Frames fluxcap dropped on the way (filter, sampling, malformed…). */
  dropped: number;
}

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

/**
 * Opens `path` for a new capture file, never through a symlink:
 * - absent: created with O_CREAT|O_EXCL (`createNew`), which fails on any existing name, a symlink
 *   included (POSIX: O_EXCL never follows the last component), with `mode` (the umask applies);
 * - a symlink: refused;
 * - a regular file: removed, then created as above (so a hard link to another file is not written
 *   through either) when `replace`, else refused;
 * - a FIFO, character device or socket (`wireshark -k -i FIFO`): opened for writing as it is, and checked
 *   to be the same file (device and inode) as the one looked at.
 * Throws a one-line `FluxError`.
 */
export function createCaptureFile(path: string, mode: number, replace: boolean): Deno.FsFile {
  const fail = (why: string) => new FluxError(`Cannot create capture file "${path}": ${why}`);
  let st: Deno.FileInfo | null = null;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fail(fsReason(e));
  }
  if (st !== null) {
    if (st.isSymlink) throw fail("it is a symbolic link (fluxcap never writes through one)");
    if (st.isDirectory) throw fail("is a directory");
    if (st.isFile) {
      if (!replace) throw fail("it already exists");
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw fail(fsReason(e));
      }
    } else {
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(path, { write: true });
      } catch (e) {
        throw fail(fsReason(e));
      }
      const now = f.statSync();
      if (now.dev !== st.dev || now.ino !== st.ino) {
        f.close();
        throw fail("it was replaced while being opened");
      }
      return f;
    }
  }
  try {
    return Deno.openSync(path, { write: true, createNew: true, mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw fail("it appeared while being created");
    throw fail(fsReason(e));
  }
}

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
    // A file whose -z command just ended may now be deleted (-W / --max-disk skip busy files).
    if (this.#post !== null && this.#post.poll() > 0) this.#retention?.enforce();
  }

  /** Writes every staged record now, opening and rotating files as needed. */
  flush(): void {
    const end = this.#len;
    if (end === 0) return;
    if (this.target.kind === "stdout") {
      this.#len = 0;
      this.#writeOut(this.#buf.subarray(0, end));
      this.#countWritten(0, end);
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
      if (stop > off) {
        this.#writeOut(this.#buf.subarray(off, stop));
        this.#countWritten(off, stop);
      }
      off = stop;
      if (off < end) this.#finishFile();
    }
    this.#len = 0;
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
        if (this.target.kind === "stdout" && this.#ng) this.#writeOut(this.#trailer());
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
    // A rotated series never overwrites: a name already on disk (or being written) gets a counter.
    for (let n = 0;; n++) {
      const name = n === 0 ? base : withCounter(base, n);
      if (exists(name) || exists(name + PART_SUFFIX)) continue;
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
    this.#writeOut(this.#fileHeader);
  }

  #finishFile(): void {
    const f = this.#file;
    if (f === null) return;
    try {
      if (this.#ng) this.#writeOut(this.#trailer());
    } finally {
      this.#file = null;
      f.close();
    }
    if (this.#writing !== this.#name) {
      try {
        Deno.renameSync(this.#writing, this.#name);
      } catch (e) {
        throw new FluxError(`Cannot rename "${this.#writing}" to "${this.#name}": ${fsReason(e)}`);
      }
    }
    this.#writing = "";
    this.filesDone++;
    this.#onFile?.(this.#name);
    this.#post?.run(this.#name);
    this.#retention?.add(this.#name, this.#closed);
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
        throw new FluxError(`Cannot write capture file "${stdout ? "-" : this.#writing}": ${fsReason(e)}`);
      }
      off += n;
    }
    this.#size += bytes.length;
  }
}

function fsReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/ \(os error \d+\).*$/, "").replace(/^./, (c) => c.toLowerCase());
}

/** A capture file (or stdin for `-`) read in chunks with blocking reads. */
export class CaptureSource {
  readonly name: string;
  #file: Deno.FsFile | null;
  #stdin: boolean;

  /** Opens `path` (`-` is stdin). Throws a one-line Error when it cannot be opened. */
  constructor(path: string) {
    this.name = path;
    this.#stdin = path === "-";
    this.#file = null;
    if (this.#stdin) return;
    try {
      if (Deno.statSync(path).isDirectory) throw new Deno.errors.IsADirectory();
      this.#file = Deno.openSync(path, { read: true });
    } catch (e) {
      throw new FluxError(`Cannot read capture "${path}": ${fsReason(e)}`);
    }
  }

  /** True when the source can be read again from the start (`--loop`). */
  get seekable(): boolean {
    return !this.#stdin;
  }

  /** Reads into `buf`; returns the number of bytes, or 0 at the end. */
  read(buf: Uint8Array): number {
    try {
      if (!this.#stdin && this.#file === null) return 0;
      const n = this.#stdin ? Deno.stdin.readSync(buf) : this.#file!.readSync(buf);
      return n ?? 0;
    } catch (e) {
      throw new FluxError(`Cannot read capture "${this.name}": ${fsReason(e)}`);
    }
  }

  /** Goes back to the start of the file. */
  rewind(): void {
    this.#file?.seekSync(0, Deno.SeekMode.Start);
  }

  /** Closes the file. Safe to call twice. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
