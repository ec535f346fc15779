/**
 * The tunnel receive loop (`-rx -E …`), run in a Worker: `poll` (≤ 100 ms) → `recvmmsg` batches →
 * each packet decapsulated on its own (a bad one is counted and skipped, the rest of its batch kept) →
 * frame operations → ring, one commit per batch, each record stamped with its packet's kernel receive
 * time. The sockets' kernel drop counts go into the ring ten times a second, as with `-rx -i`.
 *
 * @module
 */
import { Decapsulator } from "../io/tunnel_decap.ts";
import { TunnelReceiver } from "../io/tunnel_rx.ts";
import { FramePipeline, VlanAction } from "../ops/mod.ts";
import { DropReason, RingWriter } from "../ring/mod.ts";
import { type LoopContext, stopping } from "./worker.ts";
import type { TunnelRxJob } from "./tunnel_rx.ts";

/** Batches read from one socket before the stop flag is checked again. */
const BATCHES_PER_TURN = 16;
/** Kernel drop counts go into the ring this often (ms). */
const STATS_MS = 100;

/** Runs until the stop flag is set. */
export function run(job: TunnelRxJob, ctx: LoopContext): void {
  const rx = new TunnelReceiver({
    kind: job.tunnel,
    local: job.local,
    iface: job.iface,
    port: job.port,
    rcvbuf: job.rcvbuf,
  });
  let writer: RingWriter;
  try {
    writer = RingWriter.open(job.ring, { desc: job.desc }, job.ring);
  } catch (e) {
    rx.close();
    throw e;
  }
  ctx.post({ type: "ready" });
  const decap = new Decapsulator(job.tunnel, job.key);
  const pipe = new FramePipeline(job.ops, "rx");
  const passthrough = job.passthrough;
  const kernelStats = () => {
    const k = rx.kernelStats();
    writer.addKernelStats(k.drops, k.packets);
  };
  let nextStats = performance.now() + STATS_MS;
  try {
    while (!stopping(ctx)) {
      const now = performance.now();
      if (now >= nextStats) {
        kernelStats();
        nextStats = nextStats + STATS_MS > now ? nextStats + STATS_MS : now + STATS_MS;
      }
      if (rx.wait(Math.min(STATS_MS, Math.ceil(nextStats - now))) === 0) {
        writer.commit();
        continue;
      }
      for (let s = 0; s < rx.sockets.length; s++) {
        if (!rx.readable(s)) continue;
        const ipHeader = rx.sockets[s].ipHeader;
        for (let turn = 0; turn < BATCHES_PER_TURN; turn++) {
          const n = rx.recv(s);
          if (n === 0) break;
          const buf = rx.buf;
          const secs = rx.secs;
          const nsecs = rx.nsecs;
          for (let i = 0; i < n; i++) {
            if (rx.truncated[i]) {
              writer.addDrop(DropReason.oversize);
              continue;
            }
            const len = decap.decap(buf, rx.offs[i], rx.lens[i], ipHeader);
            if (len < 0) {
              writer.addDrop(-1 - len);
              continue;
            }
            const at0 = decap.frameOff;
            if (passthrough) {
              const at = writer.reserve(len);
              if (at < 0) writer.addDrop(DropReason.oversize);
              else {
                writer.data.set(buf.subarray(at0, at0 + len), at);
                writer.finish(len, len, secs[i], nsecs[i]);
              }
            } else {
              const at = writer.reserve(len + 4);
              if (at < 0) writer.addDrop(DropReason.oversize);
              else {
                const out = pipe.applyRx(buf, at0, len, writer.data, at);
                if (out < 0) {
                  writer.cancel();
                  writer.addDrop(-1 - out);
                } else {
                  const g = pipe.vlanAction === VlanAction.insert
                    ? 4
                    : pipe.vlanAction === VlanAction.strip
                    ? -4
                    : 0;
                  writer.finish(out, Math.max(out, len + g), secs[i], nsecs[i]);
                }
              }
            }
          }
          writer.commit();
          if (n < rx.batch) break;
        }
      }
    }
  } finally {
    kernelStats();
    writer.commit();
    rx.close();
    writer.close();
  }
}
