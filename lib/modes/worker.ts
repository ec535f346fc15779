/**
 * Worker entry: receives a job from {@link runWorker} and runs its loop. User-facing errors are posted
 * back as one line; anything else is a bug and keeps its stack.
 *
 * @module
 */
import type { LoopMessage } from "./host.ts";

/** Context every loop receives. */
export interface LoopContext {
  /** Index 0 becomes 1 when the loop must stop. */
  stop: Int32Array;
  post: (m: LoopMessage) => void;
}

/** True once the main thread asked the loop to stop. */
export function stopping(ctx: LoopContext): boolean {
  return Atomics.load(ctx.stop, 0) !== 0;
}

/** Sleeps up to `ms`, waking early when asked to stop. */
export function nap(ctx: LoopContext, ms: number): void {
  Atomics.wait(ctx.stop, 0, 0, ms);
}

const LOOPS: Record<string, () => Promise<{ run: (job: any, ctx: LoopContext) => void | Promise<void> }>> = {
  "rx-nic": () => import("./rx_nic.ts"),
  "tx-nic": () => import("./tx_nic.ts"),
  "rx-tunnel": () => import("./tunnel_rx_loop.ts"),
  "tx-tunnel": () => import("./tunnel_tx_loop.ts"),
  "rx-pcap": () => import("./pcap_rx_loop.ts"),
  "tx-pcap": () => import("./pcap_tx_loop.ts"),
};

self.onmessage = async (ev: MessageEvent<{ job: { kind: string }; stop: Int32Array }>) => {
  const { job, stop } = ev.data;
  const post = (m: LoopMessage) => self.postMessage(m);
  const ctx: LoopContext = { stop, post };
  try {
    const load = LOOPS[job.kind];
    if (!load) throw new Error(`unknown loop ${job.kind}`);
    const mod = await load();
    await mod.run(job, ctx);
    post({ type: "done" });
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    if (["SysError", "RingError", "FluxError", "UsageError"].includes(name)) {
      post({ type: "error", message: (e as Error).message });
    } else {
      post({ type: "error", message: `fluxcap: internal error: ${e instanceof Error ? e.stack : e}` });
    }
  }
};
