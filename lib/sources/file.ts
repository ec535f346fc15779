/**
 * Capture-file replay (`-rx --read FILE`): pcap or pcapng read in 1 MiB chunks with blocking reads,
 * as fast as possible or at the recorded pace (`--pace`), `--loop N` times. Each later pass shifts the
 * timestamps by the file's span, so a looped replay keeps time moving forward. A corrupt or truncated
 * file ends the replay with a one-line error after the good frames before the damage. See
 * `lib/modes/PCAP.md`.
 *
 * @module
 */
import { CaptureReader, CodecError } from "../codec/mod.ts";
import { FluxError } from "../errors.ts";
import { CaptureSource, describeLinkType } from "../io/pcapfile.ts";
import { DropReason } from "../ring/reasons.ts";
import { type Ingest, type KernelStats, type Source, SOURCE_DONE } from "./source.ts";

/** Settings of a replay. */
export interface FileSourceConfig {
  kind: "file";
  /** The file, or `-` for stdin. */
  file: string;
  /** Replay at the recorded inter-frame gaps. */
  pace: boolean;
  /** Passes over the file; 0 = until stopped. */
  loops: number;
  /** Say what was replayed at the end. */
  verbose?: boolean;
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
  #first = true;
  #pass = 0;
  /** Frames handed to the ring. */
  #written = 0;
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
    if (this.#first) {
      this.#first = false;
      const lt = classicLinkType(chunk.subarray(0, got));
      if (lt !== undefined && lt !== 1) throw this.#notEthernet(lt);
    }
    this.#reader.push(chunk.subarray(0, got));
    const before = this.#written;
    for (;;) {
      const rec = this.#reader.next();
      if (rec === undefined) break;
      if (rec instanceof CodecError) throw this.#fail(rec);
      if (rec.linkType !== 1) throw this.#notEthernet(rec.linkType);
      this.#frames++;
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
      if (this.#cfg.pace && !this.#pace(sec, nsec, nap)) return SOURCE_DONE;
      const caplen = rec.caplen;
      if (caplen < ETH_HLEN) {
        into.drop(DropReason.malformed);
        continue;
      }
      into.frame(rec.buffer, rec.dataOffset, caplen, Math.max(rec.origLen, caplen), sec >>> 0, nsec, 0, 0);
      this.#written++;
    }
    return this.#written - before;
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

  summary(): string | null {
    if (!this.#cfg.verbose) return null;
    return `fluxcap -rx: ${this.#written} frames from "${this.#cfg.file}" (${this.#pass} passes)`;
  }

  #fail(err: CodecError): FluxError {
    const reason = err.reason.replace(/^./, (c) => c.toLowerCase());
    return new FluxError(`Cannot read capture "${this.#cfg.file}": ${reason} (after ${this.#frames} frames)`);
  }

  #notEthernet(linkType: number): FluxError {
    return new FluxError(
      `Cannot read capture "${this.#cfg.file}": link type ${describeLinkType(linkType)} is not Ethernet`,
    );
  }

  close(): void {
    this.#src.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The link type in a classic pcap header at the start of `b` (either byte order), else undefined. */
function classicLinkType(b: Uint8Array): number | undefined {
  if (b.length < 24) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const be = dv.getUint32(0, false);
  const le = dv.getUint32(0, true);
  const magics = [0xa1b2c3d4, 0xa1b23c4d];
  if (magics.includes(be) && dv.getUint16(4, false) === 2) return dv.getUint32(20, false) & 0x03ffffff;
  if (magics.includes(le) && dv.getUint16(4, true) === 2) return dv.getUint32(20, true) & 0x03ffffff;
  return undefined;
}
