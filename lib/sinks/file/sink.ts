/**
 * Capture files (`-tx -w PATH`) as a sink: frames are copied into the writer's staging buffer as they
 * are staged, written with one `write` per flush (at least every 100 ms, or per MiB), rotated by
 * `-G`/`-C` and kept by `-W`/`--max-disk`. A batch the ring writer reclaimed while it was being copied
 * is taken back out before anything of it is written. See `lib/modes/PCAP.md`.
 *
 * @module
 */
import { FluxError } from "../../errors.ts";
import { ReaderKind } from "../../ring/mod.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, type SinkEnv, Staged } from "../sink.ts";
import { OutputClosed, type PcapFileOptions, PcapOutput } from "./output.ts";
import type { PcapTarget } from "./names.ts";

/** Settings of a capture-file output. */
export interface FileSinkConfig {
  /** The kind of sink. */
  kind: "file";
  /** `-w` as given (for messages). */
  path: string;
  /** Where it writes, resolved. */
  target: PcapTarget;
  /** `-G`. */
  rotateSeconds?: number;
  /** `-C`, in bytes. */
  rotateBytes?: number;
  /** Snap length for the file header (`-s`). */
  snaplen?: number;
  /** Format, retention, `-z`, file mode, pcapng interface names. */
  output: PcapFileOptions;
  /** Log each finished or deleted file and a summary at the end. */
  verbose?: boolean;
}

const NO_ERRORS: FlushResult = { errors: 0, lastErrno: 0, backoff: false };

/** Capture files as a sink. */
export class FileSink implements Sink {
  readonly what: string;
  readonly desc: string;
  readonly readerKind: number = ReaderKind.file;
  readonly zeroCopy = false;
  readonly maxBatch = 1024;
  readonly status: Uint8Array = new Uint8Array(this.maxBatch); // always `sent`: a copy cannot fail
  readonly tags: Uint32Array = new Uint32Array(this.maxBatch);
  readonly #out: PcapOutput;
  readonly #cfg: FileSinkConfig;
  #tag = new Uint8Array(4);
  #n = 0;
  #mark = 0;
  #written = 0;

  constructor(cfg: FileSinkConfig, env: SinkEnv) {
    this.#cfg = cfg;
    this.what = `to "${cfg.path}"`;
    this.desc = `tx file ${cfg.path}`;
    const say = (m: string) => env.log(`fluxcap -tx: ${m}`);
    this.#out = new PcapOutput({
      target: cfg.target,
      rotateSeconds: cfg.rotateSeconds,
      rotateBytes: cfg.rotateBytes,
      snaplen: cfg.snaplen,
      ...cfg.output,
      verbose: cfg.verbose,
      log: say,
      statistics: () => env.counters(),
      onDelete: cfg.verbose ? (name) => say(`deleted "${name}"`) : undefined,
      onFile: cfg.verbose ? (name) => say(`wrote "${name}"`) : undefined,
    });
    this.#out.open();
  }

  get staged(): number {
    return this.#n;
  }

  setTag(tag: Uint8Array): void {
    this.#tag.set(tag.subarray(0, 4));
  }

  stage(
    buf: Uint8Array,
    _addr: number,
    off: number,
    cut: FrameCut,
    wire: number,
    sec: number,
    nsec: number,
    tag: number,
  ): number {
    const out = this.#out;
    if (this.#n === 0) this.#mark = out.mark;
    const len = cut.headLen + cut.tagLen + cut.tailLen;
    let d = out.reserve(len);
    const dst = out.buffer;
    dst.set(buf.subarray(off, off + cut.headLen), d);
    d += cut.headLen;
    if (cut.tagLen > 0) {
      for (let i = 0; i < cut.tagLen; i++) dst[d + i] = this.#tag[i];
      d += cut.tagLen;
    }
    if (cut.tailLen > 0) dst.set(buf.subarray(off + cut.tailOff, off + cut.tailOff + cut.tailLen), d);
    out.finish(len, wire, sec, nsec);
    this.tags[this.#n++] = tag;
    return Staged.staged;
  }

  discard(): void {
    this.#out.dropRecords(this.#mark, this.#n);
    this.#n = 0;
  }

  flush(): FlushResult {
    this.status.fill(Outcome.sent, 0, this.#n);
    this.#written += this.#n;
    this.#n = 0;
    return NO_ERRORS;
  }

  tick(now: number): void {
    try {
      this.#out.tick(now);
    } catch (e) {
      throw this.#failure(e);
    }
  }

  get unsent(): number {
    return this.#out.unwritten;
  }

  /** A failed write, with what it cost: the frames already counted sent that are not in the file. */
  #failure(e: unknown): unknown {
    if (!(e instanceof FluxError)) return e;
    const lost = this.#out.unwritten;
    return new FluxError(
      `${e.message}; ${this.#written - lost} frames written, ${lost} not written (counted as send errors)`,
    );
  }

  dueIn(now: number): number {
    return Math.min(this.#out.flushDueIn(now), this.#out.rotateDueIn(now), 100);
  }

  oversizeText(len: number): string {
    return `Frame of ${len} bytes cannot be written ${this.what}`;
  }

  summary(): string | null {
    const n = this.#written - this.#out.unwritten;
    return this.#cfg.verbose ? `fluxcap -tx: ${n} frames written to ${this.#cfg.path}` : null;
  }

  close(): void {
    if (this.#n > 0) this.discard(); // a batch the loop left unfinished was never counted: not written
    try {
      this.#out.close();
    } catch (e) {
      if (!(e instanceof OutputClosed)) throw this.#failure(e);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
