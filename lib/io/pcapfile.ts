/**
 * Capture files on disk for `-tx -w` and `-rx --read`: file naming (a directory, a strftime subset,
 * collision counters), a buffered pcap writer that rotates by time (`-G`) and size (`-C`) and never shows
 * a half-written rotated file, and a synchronous chunked file source.
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
} from "../codec/pcap.ts";
import { FluxError } from "../errors.ts";

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
 * becomes `PATH/RING-%Y%m%d-%H%M%S.pcap`; anything else is the file name or pattern itself. Throws an
 * Error with a one-line message on a bad pattern.
 *
 * @example
 * ```ts
 * import { resolveTarget } from "./pcapfile.ts";
 * console.assert(resolveTarget("-", "cisco").kind === "stdout");
 * ```
 */
export function resolveTarget(path: string, ring: string): PcapTarget {
  if (path === "-") return { kind: "stdout" };
  if (path === "") throw new FluxError('Invalid capture file name "": empty');
  let template = path;
  if (path.endsWith("/") || isDirectory(path)) {
    template = `${path.replace(/\/+$/, "") || ""}/${basename(ring).replaceAll("%", "%%")}-%Y%m%d-%H%M%S.pcap`;
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
  /** Clock for file names (default `new Date()`); tests pass their own. */
  now?: () => Date;
  /** Called with the final name each time a file is complete (rotated or closed). */
  onFile?: (name: string) => void;
}

/**
 * A buffered classic pcap writer (nanosecond magic, little-endian, Ethernet). Records are staged in a
 * memory buffer (`reserve` → copy bytes → `finish`), written with one `write` per flush, split across
 * files by `-C`, and files are closed by `-G`. Rotated files are written as `NAME.part` and renamed to
 * `NAME` once complete, so a file that has its final name is never half-written.
 *
 * @example
 * ```ts ignore
 * import { PcapOutput, resolveTarget } from "./pcapfile.ts";
 * const out = new PcapOutput({ target: resolveTarget("/tmp/x.pcap", "r") });
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
  #rotateMs: number;
  #rotateBytes: number;
  #snaplen: number;
  #now: () => Date;
  #onFile?: (name: string) => void;
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

  constructor(opts: PcapOutputOptions) {
    this.target = opts.target;
    this.#rotateMs = (opts.rotateSeconds ?? 0) * 1000;
    this.#rotateBytes = opts.rotateBytes ?? 0;
    this.rotating = this.#rotateMs > 0 || this.#rotateBytes > 0;
    if (this.rotating && opts.target.kind === "stdout") {
      throw new FluxError("-G and -C rotate files: they cannot be used with -w - (stdout)");
    }
    this.#snaplen = opts.snaplen || PCAP_DEFAULT_SNAPLEN;
    this.#now = opts.now ?? (() => new Date());
    this.#onFile = opts.onFile;
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
    if (this.target.kind === "stdout") {
      this.#writeOut(this.#header());
      return;
    }
    this.#openNext();
  }

  /** Starts a record of up to `maxLen` bytes; returns the buffer offset to copy its bytes to. */
  reserve(maxLen: number): number {
    const need = this.#len + PCAP_RECORD_HEADER_LENGTH + maxLen;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
      this.#dv = new DataView(grown.buffer);
    }
    this.#pendingOff = this.#len;
    return this.#len + PCAP_RECORD_HEADER_LENGTH;
  }

  /** Completes the record started by `reserve`: stored length, original length, time. */
  finish(caplen: number, origLen: number, sec: number, nsec: number): void {
    const o = this.#pendingOff;
    this.#pendingOff = -1;
    const dv = this.#dv;
    dv.setUint32(o, sec >>> 0, true);
    dv.setUint32(o + 4, nsec >>> 0, true);
    dv.setUint32(o + 8, caplen, true);
    dv.setUint32(o + 12, Math.max(origLen, caplen), true);
    if (this.#len === 0) this.#pendingSince = performance.now();
    this.#len = o + PCAP_RECORD_HEADER_LENGTH + caplen;
  }

  /** Removes the first `count` records staged at or after `mark` (frames overwritten while copied). */
  dropRecords(mark: number, count: number): void {
    let p = mark;
    for (let k = 0; k < count && p < this.#len; k++) {
      p += PCAP_RECORD_HEADER_LENGTH + this.#dv.getUint32(p + 8, true);
    }
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
   * staged into it first) and writes staged records when they are big or old enough.
   */
  tick(now: number): void {
    if (this.rotateDueIn(now) === 0) {
      this.flush();
      this.#finishFile();
    } else if (this.flushDueIn(now) === 0) this.flush();
  }

  /** Writes every staged record now, opening and rotating files as needed. */
  flush(): void {
    const end = this.#len;
    if (end === 0) return;
    if (this.target.kind === "stdout") {
      this.#len = 0;
      this.#writeOut(this.#buf.subarray(0, end));
      return;
    }
    let off = 0;
    while (off < end) {
      if (this.#file === null) this.#openNext();
      let stop = end;
      if (this.#rotateBytes > 0 && this.#size + (end - off) > this.#rotateBytes) {
        // Whole records that still fit; at least one in an empty file (a record may exceed -C alone).
        let p = off;
        let size = this.#size;
        while (p < end) {
          const rl = PCAP_RECORD_HEADER_LENGTH + this.#dv.getUint32(p + 8, true);
          if (size + rl > this.#rotateBytes && size > PCAP_GLOBAL_HEADER_LENGTH) break;
          size += rl;
          p += rl;
        }
        stop = p;
      }
      if (stop > off) this.#writeOut(this.#buf.subarray(off, stop));
      off = stop;
      if (off < end) this.#finishFile();
    }
    this.#len = 0;
  }

  /** Writes what is staged and completes the current file. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      this.#finishFile();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #header(): Uint8Array {
    const h = new Uint8Array(PCAP_GLOBAL_HEADER_LENGTH);
    emitPcapHeader(h, 0, { snaplen: this.#snaplen });
    return h;
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
    try {
      this.#file = Deno.openSync(writing, { write: true, create: true, truncate: true });
    } catch (e) {
      throw new FluxError(`Cannot create capture file "${writing}": ${fsReason(e)}`);
    }
    this.#name = name;
    this.#writing = writing;
    this.#size = 0;
    this.#openedAt = performance.now();
    this.#writeOut(this.#header());
  }

  #finishFile(): void {
    const f = this.#file;
    if (f === null) return;
    this.#file = null;
    f.close();
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
