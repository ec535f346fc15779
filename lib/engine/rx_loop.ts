/**
 * The receive loop, the same for every source: source → frame operations → ring. The source hands
 * frames to a {@linkcode RingIngest}, which puts each one into the ring (or counts why not); the loop
 * commits after every read, feeds the kernel's drop counters into the ring ten times a second, and
 * sleeps in the source's own wait when nothing is ready.
 *
 * @module
 */
import { FramePipeline, MAX_GROWTH } from "../ops/mod.ts";
import { DropReason, RingWriter } from "../ring/mod.ts";
import { type Ingest, openSource, type Source, SOURCE_DONE } from "../sources/mod.ts";
import type { RxJob } from "./jobs.ts";
import { dedupWatch, type LoopContext, nap, STATS_MS, stopping } from "./kit.ts";

/**
 * Puts frames into a ring: the "one frame into the ring" step of every source, written once.
 * Frames pass the frame pipeline on their way (or are copied as they are when it does nothing).
 */
export class RingIngest implements Ingest {
  readonly #w: RingWriter;
  readonly #pipe: FramePipeline;
  readonly #passthrough: boolean;
  /** Most bytes a frame can come out as (`-s`): what to reserve for a larger one. */
  readonly #maxOut: number;
  /** Frames written into the ring. */
  written = 0;

  constructor(writer: RingWriter, pipe: FramePipeline) {
    this.#w = writer;
    this.#pipe = pipe;
    this.#passthrough = pipe.passthrough;
    this.#maxOut = pipe.config.snaplen ? pipe.config.snaplen : Infinity;
  }

  frame(
    buf: Uint8Array,
    off: number,
    len: number,
    wire: number,
    sec: number,
    nsec: number,
    tpid: number,
    tci: number,
  ): number {
    const w = this.#w;
    if (this.#passthrough && tpid === 0) {
      const at = w.reserve(len);
      if (at < 0) return this.drop(DropReason.oversize);
      w.data.set(buf.subarray(off, off + len), at);
      w.finish(len, wire, sec, nsec);
      this.written++;
      return -1;
    }
    // room for the frame as it may come out: a tag more, or no more than the snap length
    const room = len + MAX_GROWTH;
    const at = w.reserve(room < this.#maxOut ? room : this.#maxOut);
    if (at < 0) return this.drop(DropReason.oversize); // larger than a ring record can hold
    const pipe = this.#pipe;
    const out = tpid === 0
      ? pipe.applyRx(buf, off, len, w.data, at, wire, sec, nsec)
      : pipe.applyRxVlan(buf, off, len, tpid, tci, w.data, at, wire, sec, nsec);
    if (out < 0) {
      w.cancel();
      return this.drop(-1 - out);
    }
    w.finish(out, pipe.wireLen(tpid === 0 ? wire : wire + 4), sec, nsec);
    this.written++;
    return -1;
  }

  drop(reason: number): number {
    this.#w.addDrop(reason);
    return reason;
  }

  commit(): void {
    this.#w.commit();
  }
}

/** Runs a capture job until the stop flag is set or the source ends. */
export function runRx(job: RxJob, ctx: LoopContext): void {
  // The source first, then the ring: once the ring shows a live writer, frames are being captured.
  using source: Source = openSource(job.source);
  using writer = RingWriter.open(job.ring, { desc: source.desc }, job.ring);
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "rx");
  const ingest = new RingIngest(writer, pipe);
  const dedupCheck = dedupWatch(pipe.dedup, ctx.post);
  const pause = (ms: number) => {
    ingest.commit();
    const go = nap(ctx, ms);
    if (ms >= 1) writer.checkSize(); // (a paced replay between two frames is idle too)
    return go;
  };
  const kernelStats = () => {
    const k = source.kernelStats();
    if (k === null) return;
    writer.addKernelStats(k.drops, k.packets);
    if (k.reassembly) writer.addDrop(DropReason.reassembly, k.reassembly);
  };
  let nextStats = 0;
  try {
    while (!stopping(ctx)) {
      const now = performance.now();
      if (now >= nextStats) {
        kernelStats();
        dedupCheck();
        source.tick(now);
        writer.reapSleepers();
        writer.checkSize();
        nextStats = now + STATS_MS;
      }
      const n = source.read(ingest, pause);
      writer.commit();
      if (n === SOURCE_DONE) break;
      if (n === 0) {
        source.wait(Math.max(1, Math.min(50, Math.ceil(nextStats - now))));
        writer.checkSize(); // idle is when a ring gets truncated: look before the next frame is written
      }
    }
  } finally {
    ctx.post({ type: "closing" });
    kernelStats();
    writer.commit();
  }
  const last = source.summary();
  if (last !== null) ctx.post({ type: "warn", message: last });
}
