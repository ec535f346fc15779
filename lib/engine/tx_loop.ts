/**
 * The transmit loop, the same for every sink: ring batch → frame operations → sink → one count per
 * frame. Frames read = sent + dropped by reason + lost to overwrite, exactly.
 *
 * A batch is described in place by the ring reader; each kept frame is staged with the sink as the
 * cut the frame pipeline made (head, inserted tag, tail). A frame goes out whole and as it was written,
 * or not at all and counted as lost (never torn, never both):
 * - Before the sink's flush the reader checks that the writer has not reclaimed the batch meanwhile
 *   (`secure()`): a sink that copies frames at staging holds good copies once that check passes, and a
 *   batch that fails it is discarded and counted as lost, never written.
 * - A zero-copy sink reads the frames during its flush, while the writer goes on (it never waits): its
 *   batches are copied out of the ring as they are read (`pollInto`, one streaming copy of the batch's
 *   span, cheaper than parsing the ring in place), checked, and sent from the copy.
 *
 * @module
 */
import { addressable, errnoName, errnoText } from "../../ffi/mod.ts";
import { FramePipeline } from "../ops/mod.ts";
import { DropReason, RingReader } from "../ring/mod.ts";
import {
  type FrameCut,
  openSink,
  Outcome,
  OutputClosed,
  type Sink,
  type SinkCounters,
  Staged,
} from "../sinks/mod.ts";
import type { TxJob } from "./jobs.ts";
import { dedupWatch, type LoopContext, nap, stopping, throttle, WARN_EVERY_MS } from "./kit.ts";

/** Where a zero-copy sink's batches are copied to (or a record of the largest frame twice, if more). */
const COPY_BUFFER = 1 << 20;

/** The cut of a frame sent as it is (no frame operation): one segment. */
class WholeFrame implements FrameCut {
  headLen = 0;
  tagLen = 0;
  tailOff = 0;
  tailLen = 0;
}

/** Runs a transmit job until the stop flag is set (or the output closes, as stdout's reader may). */
export function runTx(job: TxJob, ctx: LoopContext): void {
  const log = (message: string) => ctx.post({ type: "warn", message });
  let reader: RingReader | null = null;
  let kernelDrops0 = 0;
  const counters = (): SinkCounters | undefined =>
    reader === null ? undefined : {
      received: reader.framesRead + reader.framesLost,
      lost: reader.framesLost,
      dropped: reader.framesDropped,
      kernelDrops: reader.kernelDrops - kernelDrops0,
    };
  let sink: Sink;
  try {
    sink = openSink(job.sink, { log, counters, reader: () => reader ?? undefined });
  } catch (e) {
    if (e instanceof OutputClosed) return; // stdout's reader went away before anything was written
    throw e;
  }
  try {
    reader = RingReader.open(
      job.ring,
      { desc: sink.desc, kind: sink.readerKind, fromOldest: job.fromOldest },
      job.ring,
    );
    kernelDrops0 = reader.kernelDrops;
    send(job, ctx, sink, reader);
  } catch (e) {
    if (!(e instanceof OutputClosed)) throw e;
  } finally {
    ctx.post({ type: "closing" });
    try {
      sink.close(); // what it still holds goes out, with the reader's last counters
    } finally {
      if (reader !== null) {
        const unsent = sink.unsent ?? 0; // counted sent, then a write failed: send errors after all
        if (unsent > 0) {
          reader.addSent(-unsent);
          reader.addDrop(DropReason.send_error, unsent);
        }
        reader.close();
      }
    }
  }
  const last = sink.summary();
  if (last !== null) log(last);
}

function send(job: TxJob, ctx: LoopContext, sink: Sink, reader: RingReader): void {
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "tx");
  if (job.ops.vlan !== undefined) sink.setTag(pipe.tagBytes);
  const passthrough = pipe.passthrough;
  const whole = new WholeFrame();
  const cut: FrameCut = passthrough ? whole : pipe;
  const batch = Math.min(sink.maxBatch, reader.maxBatch);
  const verdict = new Int8Array(batch); // -1 staged, else the drop reason
  // where a zero-copy sink's batches are copied to as they are read
  const copy = sink.zeroCopy ? addressable(Math.max(COPY_BUFFER, reader.minCopySize)) : null;
  const data = copy === null ? reader.data : copy.bytes;
  const base = copy === null ? reader.dataAddr : copy.addr;
  const warn = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  const warnError = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  const warnOversize = (len: number) => warn(() => sink.oversizeText(len));
  const dedupCheck = dedupWatch(pipe.dedup, ctx.post);
  let nextTick = 0;
  while (!stopping(ctx)) {
    let now = performance.now();
    if (now >= nextTick) {
      reader.checkSize();
      dedupCheck();
      sink.tick(now);
      now = performance.now();
      nextTick = now + Math.min(1000, sink.dueIn(now));
    }
    const n = copy === null ? reader.poll(batch) : reader.pollInto(copy.bytes, batch);
    if (n === 0) {
      reader.flush();
      reader.wait(Math.max(1, Math.min(100, Math.ceil(nextTick - now))));
      continue;
    }
    // A private copy cannot change once taken: check it before any of it is staged, since a sink may
    // send while staging (a tunnel whose message arena fills sends what it holds).
    if (copy !== null && !reader.secure()) {
      settle(reader, sink.status, sink.tags, 0, verdict, 0, reader.lens, warnOversize); // all lost
      continue;
    }
    const offs = reader.offs;
    const lens = reader.lens;
    for (let i = 0; i < n; i++) {
      const off = offs[i];
      const len = lens[i];
      let wire = reader.wires[i];
      if (passthrough) {
        whole.headLen = len;
      } else {
        const v = pipe.decide(data, off, len, wire, reader.secs[i], reader.nsecs[i]);
        if (v < 0) {
          verdict[i] = -1 - v;
          continue;
        }
        wire = pipe.wireLen(wire);
      }
      const r = sink.stage(data, base, off, cut, wire, reader.secs[i], reader.nsecs[i], i);
      if (r === Staged.staged) verdict[i] = -1;
      else if (r === Staged.oversize) {
        verdict[i] = DropReason.oversize;
        warnOversize(cut.headLen + cut.tagLen + cut.tailLen);
      } else verdict[i] = DropReason.malformed;
    }
    // overwritten while staged (copy sinks read the ring while staging): counted as lost by release()
    if (copy === null && !reader.secure()) sink.discard();
    const staged = sink.staged;
    const res = sink.flush();
    if (sink.dueIn(now) <= 0) nextTick = 0; // e.g. a megabyte of capture file to write: at once
    settle(reader, sink.status, sink.tags, staged, verdict, n, lens, warnOversize);
    if (res.errors > 0) {
      warnError(() =>
        `Cannot send ${sink.what}: ${errnoText(res.lastErrno)} (${errnoName(res.lastErrno)}); ` +
        `frames counted as send errors, still running`
      );
      if (res.backoff) nap(ctx, 20);
    }
  }
}

/**
 * Ends the reader's batch of `n` records and counts them: staged frames by their outcome, the others
 * by the drop reason in `verdict[i]` (-1 = staged). A batch the writer reclaimed before it was secured
 * is counted as lost by `release()` and nothing else.
 */
function settle(
  reader: RingReader,
  status: Uint8Array,
  tags: Uint32Array,
  staged: number,
  verdict: Int8Array,
  n: number,
  lens: Uint32Array,
  onOversize: (len: number) => void,
): void {
  const lost = reader.release(false);
  if (lost > 0) {
    reader.flush();
    return;
  }
  let ok = 0;
  for (let j = 0; j < staged; j++) {
    const st = status[j];
    if (st === Outcome.sent) ok++;
    else if (st === Outcome.oversize) {
      reader.addDrop(DropReason.oversize);
      onOversize(lens[tags[j]]);
    } else reader.addDrop(DropReason.send_error);
  }
  for (let i = 0; i < n; i++) if (verdict[i] >= 0) reader.addDrop(verdict[i]);
  reader.addSent(ok);
  reader.flush();
}
