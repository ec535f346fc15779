/**
 * The pcap writer loop (`-tx -w PATH RING`), run in a Worker: ring batch → frame operations → staging
 * buffer → one `write` per flush (at least every 100 ms, or per MiB), rotated by `-G`/`-C`. Frames the
 * writer lapped while they were being copied are taken back out of the buffer and counted as lost by
 * the ring; every other frame not written is counted under its reason.
 *
 * @module
 */
import { OutputClosed, type PcapFileOptions, PcapOutput, type PcapTarget } from "../io/pcapfile.ts";
import { FramePipeline, type OpsConfig, VlanAction } from "../ops/mod.ts";
import { ReaderKind, RingReader } from "../ring/mod.ts";
import { type LoopContext, stopping } from "./worker.ts";

/** Job description posted by `runPcapTransmit`. */
export interface TxPcapJob {
  kind: "tx-pcap";
  /** `-w` as given (for the reader's description). */
  path: string;
  target: PcapTarget;
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  fromOldest: boolean;
  rotateSeconds?: number;
  rotateBytes?: number;
  /** Format, file mode, retention, -z, interface names (see `PcapFileOptions`). */
  output?: PcapFileOptions;
  verbose: boolean;
}

/** Runs until the stop flag is set (or stdout's reader goes away). */
export function run(job: TxPcapJob, ctx: LoopContext): void {
  const reader = RingReader.open(
    job.ring,
    { desc: `tx file ${job.path}`, kind: ReaderKind.file, fromOldest: job.fromOldest },
    job.ring,
  );
  let out: PcapOutput;
  try {
    out = new PcapOutput({
      target: job.target,
      rotateSeconds: job.rotateSeconds,
      rotateBytes: job.rotateBytes,
      snaplen: job.ops.snaplen,
      ...job.output,
      verbose: job.verbose,
      log: (m) => ctx.post({ type: "warn", message: `fluxcap -tx: ${m}` }),
      onDelete: job.verbose
        ? (name) => ctx.post({ type: "warn", message: `fluxcap -tx: deleted "${name}"` })
        : undefined,
      onFile: job.verbose
        ? (name) => ctx.post({ type: "warn", message: `fluxcap -tx: wrote "${name}"` })
        : undefined,
    });
    out.open();
  } catch (e) {
    reader.close();
    if (e instanceof OutputClosed) return;
    throw e;
  }
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "tx");
  const passthrough = job.passthrough;
  const verdict = new Int8Array(reader.maxBatch); // -1 staged, else drop reason
  let framesOut = 0;
  try {
    while (!stopping(ctx)) {
      out.tick(performance.now());
      const n = reader.poll();
      if (n === 0) {
        reader.flush();
        const now = performance.now();
        const due = Math.min(out.flushDueIn(now), out.rotateDueIn(now), 100);
        if (due > 0) reader.wait(Math.ceil(due));
        continue;
      }
      const data = reader.data;
      const mark = out.mark;
      let staged = 0;
      for (let i = 0; i < n; i++) {
        const off = reader.offs[i];
        const len = reader.lens[i];
        const wire = reader.wires[i];
        if (passthrough) {
          const at = out.reserve(len);
          out.buffer.set(data.subarray(off, off + len), at);
          out.finish(len, wire, reader.secs[i], reader.nsecs[i]);
        } else {
          const v = pipe.decide(data, off, len);
          if (v < 0) {
            verdict[i] = -1 - v;
            continue;
          }
          const at = out.reserve(v);
          pipe.emit(data, off, out.buffer, at);
          const a = pipe.vlanAction;
          const grow = a === VlanAction.insert ? 4 : a === VlanAction.strip ? -4 : 0;
          out.finish(v, Math.max(v, wire + grow), reader.secs[i], reader.nsecs[i]);
        }
        verdict[i] = -1;
        staged++;
      }
      const bad = reader.release(); // records [0, bad) were overwritten while copied: take them back out
      if (bad > 0) {
        let stagedBad = 0;
        for (let i = 0; i < bad; i++) if (verdict[i] === -1) stagedBad++;
        out.dropRecords(mark, stagedBad);
        staged -= stagedBad;
      }
      for (let i = bad; i < n; i++) if (verdict[i] >= 0) reader.addDrop(verdict[i]);
      reader.addSent(staged);
      framesOut += staged;
      reader.flush();
    }
  } catch (e) {
    if (!(e instanceof OutputClosed)) {
      try {
        out.close(); // keep what was written before the error
      } catch { /* the first error is the one to report */ }
      reader.close();
      throw e;
    }
  }
  try {
    out.close();
  } catch (e) {
    if (!(e instanceof OutputClosed)) {
      reader.close();
      throw e;
    }
  }
  reader.close();
  if (job.verbose) {
    ctx.post({ type: "warn", message: `fluxcap -tx: ${framesOut} frames written to ${job.path}` });
  }
}
