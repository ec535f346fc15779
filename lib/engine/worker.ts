/**
 * The worker entry: receives one job from {@link runWorker} and runs its loop. User-facing errors are
 * posted back as one line; anything else is a bug and keeps its stack. Imported only as a Worker.
 *
 * @module
 */
import { isUserError } from "../errors.ts";
import type { Job } from "./jobs.ts";
import type { LoopContext, LoopMessage } from "./kit.ts";
import { runRx } from "./rx_loop.ts";
import { runTx } from "./tx_loop.ts";

self.onmessage = (ev: MessageEvent<{ job: Job; stop: Int32Array }>) => {
  const { job, stop } = ev.data;
  const ctx: LoopContext = { stop, post: (m: LoopMessage) => self.postMessage(m) };
  try {
    if (job.side === "rx") runRx(job, ctx);
    else runTx(job, ctx);
    ctx.post({ type: "done" });
  } catch (e) {
    if (isUserError(e)) ctx.post({ type: "error", message: e.message, exitCode: e.exitCode });
    else {
      const text = e instanceof Error ? e.stack ?? e.message : String(e);
      ctx.post({ type: "error", message: `fluxcap: internal error: ${text}`, exitCode: 1 });
    }
  }
};
