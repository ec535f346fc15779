/**
 * The rate search of the replication benchmark: rates go up a ladder (×2 per step, then the generator's
 * unpaced maximum) until the first failing step, then the gap is halved geometrically. A failing step is
 * tried once more (this VM is shared and a scheduling hiccup of a few milliseconds overflows a
 * 1000-frame backlog), after other users' load settles, and the better of the two counts.
 *
 * @module
 */
import { pct } from "./common.ts";
import { waitQuiet } from "./cpu.ts";
import type { FwdSlot } from "./peers/mod.ts";
import { type Ctx, runTrial, type Trial, trialLine } from "./trial.ts";
import { quiesce } from "./topology.ts";

/** A trial at `target`; a failure is tried once more (after the path drained) and the better kept. */
async function tryRate(
  ctx: Ctx,
  slot: FwdSlot | null,
  len: number,
  target: number,
  retry: boolean,
): Promise<Trial> {
  const labels = slot?.cur.procs.map((p) => p.label) ?? [];
  await quiesce(ctx.t);
  let tr = await runTrial(ctx, slot, len, target);
  ctx.log(`    ${tr.pass ? "pass" : "FAIL"} ${trialLine(tr, labels)}`);
  if (!tr.pass && retry) {
    if (tr.cpu.foreign >= 0.2 && ctx.quietBudgetMs > 0) {
      const t0 = performance.now();
      const ours = [ctx.gen.pid, ...(slot?.cur.procs.map((p) => p.pid) ?? [])];
      const load = await waitQuiet(Math.min(5000, ctx.quietBudgetMs), ours);
      ctx.quietBudgetMs -= performance.now() - t0;
      ctx.log(`    (other users' load was ${pct(tr.cpu.foreign)}, ${tr.cpu.foreignTop}; now ${pct(load)})`);
    }
    await quiesce(ctx.t);
    const again = await runTrial(ctx, slot, len, target);
    ctx.log(`    ${again.pass ? "pass" : "FAIL"} (retry) ${trialLine(again, labels)}`);
    if (again.pass || (!tr.pass && again.loss < tr.loss)) tr = again;
  }
  return tr;
}

/** The best passing and the first failing trial of a search. */
export interface SweepResult {
  best: Trial | null;
  fail: Trial | null;
  trials: number;
}

/** Searches the highest rate `slot` forwards with under 0.1% loss at `len` bytes. */
export async function sweep(
  ctx: Ctx,
  slot: FwdSlot | null,
  len: number,
  ladder: number[],
  bisect: number,
  retry: boolean,
): Promise<SweepResult> {
  let best: Trial | null = null, fail: Trial | null = null, trials = 0;
  for (const rate of ladder) {
    const tr = await tryRate(ctx, slot, len, rate, retry);
    trials++;
    if (tr.pass) {
      best = tr;
      if (rate === 0) break;
    } else {
      fail = tr;
      break;
    }
  }
  if (best === null && fail !== null && fail.target === ladder[0]) {
    // Fails at the bottom step: look below it.
    for (const rate of [ladder[0] / 2, ladder[0] / 4]) {
      const tr = await tryRate(ctx, slot, len, rate, retry);
      trials++;
      if (tr.pass) {
        best = tr;
        break;
      }
      fail = tr;
    }
  }
  if (best !== null && fail !== null) {
    let lo = best.offeredPps, hi = fail.target || fail.offeredPps;
    for (let i = 0; i < bisect && hi / lo > 1.12; i++) {
      const mid = Math.round(Math.sqrt(lo * hi));
      const tr = await tryRate(ctx, slot, len, mid, retry);
      trials++;
      if (tr.pass) {
        best = tr;
        lo = tr.offeredPps;
      } else {
        fail = tr;
        hi = mid;
      }
    }
  }
  return { best, fail, trials };
}
