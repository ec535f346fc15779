/**
 * CPU per frame at a fixed rate, forwarders started in turn (interleaved rounds): what each costs while
 * all of them keep up, which the highest-rate search cannot tell on a machine whose CPUs are shared
 * (the search's figure moves with other users' load and the hypervisor's steal; a process's own
 * utime+stime does not count stolen time). Used for the 1→2 question of issue 15: one transmit
 * process per output ("fluxcap") against one for both ("fluxcap 1tx", the `multi_tx.ts` prototype).
 *
 * @module
 */
import { fmtRate, median } from "./common.ts";
import { FwdSlot, type ToolName } from "./peers/mod.ts";
import { type Ctx, runTrial, trialLine } from "./trial.ts";
import { quiesce } from "./topology.ts";

/** Traffic at the trial's rate before each trial (ms). */
const WARM_MS = 2500;

/** One forwarder's figures at the fixed rate. */
export interface FixedRow {
  tool: ToolName;
  len: number;
  rate: number;
  /** ns of CPU per frame delivered (all outputs): transmit processes only, and all forwarder processes. */
  txNs: number[];
  allNs: number[];
  loss: number[];
}

/**
 * Runs `rounds` trials of `ms` at `rate` for each tool (a fresh forwarder per trial, tools alternating
 * and their order reversed every other round) and returns the CPU each spent per delivered frame.
 */
export async function fixedRate(
  ctx: Ctx,
  tools: ToolName[],
  fanout: number,
  len: number,
  rate: number,
  rounds: number,
): Promise<FixedRow[]> {
  const rows: FixedRow[] = tools.map((tool) => ({ tool, len, rate, txNs: [], allNs: [], loss: [] }));
  for (let round = 0; round < rounds; round++) {
    const order = tools.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const slot = await FwdSlot.start(ctx.t, tools[i], fanout);
      try {
        // warm-up at the same rate, long enough that the JIT has compiled the loops (a fresh process
        // spends tens of milliseconds of its compiler threads' time on that, inside a short trial)
        await ctx.gen.trial({ len, pps: rate, ms: WARM_MS });
        await quiesce(ctx.t);
        const tr = await runTrial(ctx, slot, len, rate);
        const labels = slot.cur.procs.map((p) => p.label);
        ctx.log(`    ${tools[i]} 1→${fanout} ${len} B round ${round + 1}: ${trialLine(tr, labels)}`);
        const frames = tr.delivered.reduce((s, v) => s + v, 0);
        const sec = (k: number) => tr.cpu.procs[k].total * tr.cpu.seconds;
        const tx = labels.reduce((s, l, k) => s + (l.startsWith("tx") ? sec(k) : 0), 0);
        rows[i].txNs.push((tx * 1e9) / frames);
        rows[i].allNs.push(tr.procNsPerFrame);
        rows[i].loss.push(tr.loss);
      } finally {
        await slot.cur.stop();
      }
    }
  }
  return rows;
}

/** The rows as a markdown table. */
export function renderFixed(rows: FixedRow[], fanout: number, ms: number): string {
  const ns = (xs: number[]) =>
    `${Math.round(median(xs))} ns (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
  const out = [
    `CPU per delivered frame at a fixed rate, 1→${fanout}, ${
      rows[0]?.txNs.length ?? 0
    } alternating ${ms} ms ` +
    `trials each (median, spread):`,
    "",
    "| frame | rate | forwarder | transmit processes | all forwarder processes | worst loss |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.len} B | ${fmtRate(r.rate)}pps | ${r.tool} | ${ns(r.txNs)} | ${ns(r.allNs)} | ${
        (Math.max(...r.loss) * 100).toFixed(2)
      }% |`,
    );
  }
  return out.join("\n");
}
