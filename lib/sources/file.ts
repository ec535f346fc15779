/**
 * Capture-file replay (`-rx --read FILE`): pcap or pcapng read in 1 MiB chunks with blocking reads,
 * as fast as possible or at the recorded pace (`--pace`), `--loop N` times. Each later pass shifts the
 * timestamps by the file's span, so a looped replay keeps time moving forward. A frame without a
 * timestamp (a pcapng simple packet block) takes its predecessor's time, or the replay's start, and
 * never drives pacing or looping. A corrupt or truncated file ends the replay with a one-line error
 * after the good frames before the damage. Every replay ends with one line: frames read, written and
 * skipped by reason. See `lib/modes/PCAP.md`.
 *
 * @module
 */
import { CaptureReader, CodecError, describeLinkType } from "../codec/mod.ts";
import { FluxError } from "../errors.ts";
import { DROP_REASONS, DropReason } from "../ring/reasons.ts";
import { CaptureSource } from "./capture_file.ts";
import { type Ingest, type KernelStats, type Source, SOURCE_DONE } from "./source.ts";

/** Settings of a replay. */
export interface FileSourceConfig {
  /** The kind of source. */
  kind: "file";
  /** The file, or `-` for stdin. */
  file: string;
  /** Replay at the recorded inter-frame gaps. */
  pace: boolean;
  /** Passes over the file; 0 = until stopped. */
  loops: number;
  /** Snap length of the frame operations (`-s`), for the hint about oversize frames. */
  snaplen?: number;
}

const CHUNK = 1 << 20;
/** Gaps shorter than this (ms) are not slept: the frames go out in the same batch. */
const MIN_SLEEP_MS = 0.05;
/** Longest single sleep, so the stop flag is seen promptly. */
const MAX_SLEEP_MS = 200;
/** Ethernet header length: shorter records are malformed. */
const ETH_HLEN = 14;

/** A capture file as a source. */
export class FileSource implements Source {
  readonly desc: string;
  readonly #cfg: FileSourceConfig;
  readonly #src: CaptureSource;
  // Two read buffers, used in turn: the capture reader may still hold the previous one (see read()).
  readonly #chunks = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  #turn = 0;
  #reader = new CaptureReader();
  #pass = 0;
  /** Frames handed to the ring. */
  #written = 0;
  /** Records read, over all passes. */
  #read = 0;
  /** Records skipped, by drop reason, and the number (1-based, in the file) of the first one. */
  #skipped = new Float64Array(DROP_REASONS.length);
  #firstSkipped = 0;
  /** Time of the last timestamped record (for records without one), or the replay's start. */
  #lastSec: number;
  #lastNsec: number;
  /** Records of the current pass. */
  #frames = 0;
  // Time base: nanoseconds relative to the first record of the first pass.
  #sec0 = -1;
  #nsec0 = 0;
  #firstNs = 0;
  #lastNs = 0;
  #records = 0; // records of the first pass
  #periodNs = 0; // shift of the timestamps of each later pass
  #shiftSec = 0;
  #shiftNsec = 0;
  #prevNs = 0; // (shifted) time of the previous frame, for --pace
  #dueMs = 0; // wall time (performance.now) when the previous frame was due
  #done = false;

  constructor(cfg: FileSourceConfig) {
    this.#cfg = cfg;
    this.#src = new CaptureSource(cfg.file);
    this.desc = `rx file ${cfg.file}`;
    const now = Date.now();
    this.#lastSec = Math.floor(now / 1000);
    this.#lastNsec = (now % 1000) * 1_000_000;
  }

  /** Replays one chunk of the file; SOURCE_DONE after the last pass. */
  read(into: Ingest, nap: (ms: number) => boolean): number {
    if (this.#done) return SOURCE_DONE;
    // The reader keeps the chunk it was given as its buffer when nothing was left over, and copies its
    // unread tail out of it at the next push: so the next read must go to the other buffer.
    const chunk = this.#chunks[this.#turn];
    this.#turn ^= 1;
    const got = this.#src.read(chunk);
    if (got === 0) {
      const err = this.#reader.end();
      if (err) throw this.#fail(err);
      return this.#nextPass() ? 0 : SOURCE_DONE;
    }
    this.#reader.push(chunk.subarray(0, got));
    const before = this.#written;
    for (;;) {
      const rec = this.#reader.next();
      if (rec === undefined) break;
      if (rec instanceof CodecError) throw this.#fail(rec);
      if (rec.linkType !== 1) throw this.#notEthernet(rec.linkType);
      this.#frames++;
      this.#read++;
      if (!rec.hasTime) { // no timestamp: the last one seen (shifted), never a pacing or looping mark
        this.#put(into, rec.buffer, rec.dataOffset, rec.caplen, rec.origLen, this.#lastSec, this.#lastNsec);
        continue;
      }
      let sec = rec.tsSec;
      let nsec = rec.tsNsec;
      if (this.#sec0 < 0) {
        this.#sec0 = sec;
        this.#nsec0 = nsec;
      }
      if (this.#pass === 0) {
        const t = (sec - this.#sec0) * 1e9 + (nsec - this.#nsec0);
        if (this.#records === 0) this.#firstNs = this.#lastNs = t;
        else this.#lastNs = Math.max(this.#lastNs, t);
        this.#records++;
      } else {
        nsec += this.#shiftNsec;
        sec += this.#shiftSec;
        if (nsec >= 1e9) {
          nsec -= 1e9;
          sec++;
        }
      }
      if (this.#cfg.pace && !this.#pace(sec, nsec, nap)) { // stopped while it waited: not read after all
        this.#read--;
        this.#frames--;
        return SOURCE_DONE;
      }
      this.#lastSec = sec;
      this.#lastNsec = nsec;
      this.#put(into, rec.buffer, rec.dataOffset, rec.caplen, rec.origLen, sec, nsec);
    }
    // A header that declares a link type other than Ethernet is refused even before any record (an
    // empty file, or one read from stdin in pieces).
    const lt = this.#reader.format === "pcap" ? this.#reader.linkType : undefined;
    if (lt !== undefined && lt !== 1) throw this.#notEthernet(lt);
    return this.#written - before;
  }

  /** One record into the ring (its original length as the file has it), or counted as skipped. */
  #put(into: Ingest, buf: Uint8Array, off: number, caplen: number, orig: number, sec: number, nsec: number) {
    const r = caplen < ETH_HLEN
      ? into.drop(DropReason.malformed)
      : into.frame(buf, off, caplen, orig, sec, nsec, 0, 0);
    if (r < 0) {
      this.#written++;
      return;
    }
    this.#skipped[r]++;
    if (this.#firstSkipped === 0) this.#firstSkipped = this.#frames;
  }

  /** Sleeps until the frame at `sec.nsec` is due; false when the loop must stop. */
  #pace(sec: number, nsec: number, nap: (ms: number) => boolean): boolean {
    const t = (sec - this.#sec0) * 1e9 + (nsec - this.#nsec0);
    const now = performance.now();
    if (this.#dueMs === 0) this.#dueMs = now;
    else this.#dueMs += Math.max(0, t - this.#prevNs) / 1e6;
    this.#prevNs = t;
    for (let left = this.#dueMs - now; left > MIN_SLEEP_MS; left = this.#dueMs - performance.now()) {
      if (!nap(Math.min(left, MAX_SLEEP_MS))) return false;
    }
    return true;
  }

  /** Starts the next pass (true), or ends the replay (false). */
  #nextPass(): boolean {
    this.#pass++;
    const loops = this.#cfg.loops;
    if ((loops !== 0 && this.#pass >= loops) || !this.#src.seekable || this.#records === 0) {
      this.#done = true; // stdin, or nothing to repeat: one pass
      return false;
    }
    if (this.#pass === 1) {
      const span = this.#lastNs - this.#firstNs;
      const gap = this.#records > 1 ? span / (this.#records - 1) : 0;
      this.#periodNs = Math.round(span + Math.max(gap, 1000));
    }
    const shiftNs = this.#pass * this.#periodNs;
    this.#shiftSec = Math.floor(shiftNs / 1e9);
    this.#shiftNsec = shiftNs - this.#shiftSec * 1e9;
    this.#src.rewind();
    this.#reader = new CaptureReader();
    this.#frames = 0;
    return true;
  }

  wait(): void {}

  kernelStats(): KernelStats | null {
    return null;
  }

  tick(): void {}

  /** The line every replay ends with: read, written, skipped by reason, the first skipped, a hint. */
  summary(): string {
    const begun = this.#pass + (!this.#done && this.#frames > 0 ? 1 : 0); // a pass cut short counts
    const passes = begun > 1 ? ` in ${begun} passes` : "";
    const cut = this.#done ? "" : ` (stopped before the end of ${begun > 1 ? "the last pass" : "the file"})`;
    let line = `fluxcap -rx: "${this.#cfg.file}": ${
      frames(this.#read)
    } read, ${this.#written} written${passes}${cut}`;
    const parts: string[] = [];
    let total = 0;
    this.#skipped.forEach((n, r) => {
      if (n > 0) parts.push(`${n} ${DROP_REASONS[r]}`);
      total += n;
    });
    if (total === 0) return line;
    line += `, ${total} skipped (${parts.join(", ")}; the first is frame ${this.#firstSkipped})`;
    const hints: string[] = [];
    if (this.#skipped[DropReason.oversize] > 0 && !this.#cfg.snaplen) {
      hints.push(
        "frames larger than a ring record (BIG TCP or jumbo captures, up to 65535 bytes in all) are skipped: " +
          "-s 65000 keeps their first 65000 bytes",
      );
    }
    if (this.#skipped[DropReason.malformed] > 0) {
      hints.push(
        "malformed frames are shorter than an Ethernet header (14 bytes), or too short for the header " +
          "operation asked (a VLAN tag cut short where -V or -Q must change it)",
      );
    }
    return hints.length > 0 ? `${line}. Hint: ${hints.join("; ")}` : line;
  }

  #fail(err: CodecError): FluxError {
    const reason = err.reason.replace(/^./, (c) => c.toLowerCase());
    return new FluxError(
      `Cannot read capture "${this.#cfg.file}": ${reason} (after ${frames(this.#frames)})`,
    );
  }

  #notEthernet(linkType: number): FluxError {
    const after = this.#read > 0 ? ` (after ${frames(this.#frames)})` : "";
    return new FluxError(
      `Cannot read capture "${this.#cfg.file}": link type ${
        describeLinkType(linkType)
      } is not Ethernet${after}`,
    );
  }

  close(): void {
    this.#src.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** "1 frame", "2 frames". */
function frames(n: number): string {
  return `${n} frame${n === 1 ? "" : "s"}`;
}
