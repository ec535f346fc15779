/**
 * Replication benchmark: the highest offered rate each forwarder replicates 1→1 and 1→2 with under
 * 0.1% loss, at 64- and 1514-byte frames, and the CPU time it spends per forwarded frame — fluxcap
 * (`-rx` + one `-tx` per output through a 256 MiB ring), `netsniff-ng --in A --out B` (as is, and with
 * `-k 1000`), `daemonlogger -i A -o B`, and the kernel's `tc … action mirred` as the ceiling.
 * `deno run -A bench/replicate/mod.ts [--quick] [--tools=mirred,fluxcap]` runs it alone (root; ~5 min,
 * quick ~1 min); the markdown goes to stdout, the trial log to stderr.
 *
 * The parts: `topology.ts` (the lab: gen → fx → two sensors), `gen.ts` and `gen_client.ts` (the paced
 * generator process and its client), `peers/` (one file per forwarder), `trial.ts` (one trial and its
 * counters), `cpu.ts` (CPU accounting), `search.ts` (the rate search), `report.ts` (judgement and table).
 *
 * @module
 */
import { Lab } from "../../lib/lab/mod.ts";
import { pct } from "./common.ts";
import { softnetProcessed, waitQuiet } from "./cpu.ts";
import { GenClient } from "./gen_client.ts";
import { FwdSlot, type ToolName, TOOLS } from "./peers/mod.ts";
import { limitedBy, render, type Row } from "./report.ts";
import { sweep } from "./search.ts";
import { type Ctx, runTrial, type Trial, trialLine } from "./trial.ts";
import { fixedRate, type FixedRow, renderFixed } from "./fixed.ts";
import { quiesce, type Topo, topology } from "./topology.ts";

export type { ToolName } from "./peers/mod.ts";

/** The fixed rate of the 1→2 transmit CPU comparison (frames/s). */
const FIXED_RATE = 100_000;

/** Options of {@link benchReplicate}. */
export interface ReplicateOptions {
  /** Smoke test: fewer rates, shorter trials, no bisection. */
  quick?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Only these tools (default: all). */
  tools?: ToolName[];
}

/** Installs netsniff-ng and daemonlogger with apt-get when a chosen tool needs them; returns notes. */
async function ensureTools(tools: ToolName[], log: (s: string) => void): Promise<string[]> {
  const notes: string[] = [];
  for (const bin of ["netsniff-ng", "daemonlogger"]) {
    if (!tools.some((t) => t.startsWith(bin))) continue;
    const found = async () =>
      (await new Deno.Command("sh", { args: ["-c", `command -v ${bin}`], stdout: "null" }).output()).code ===
        0;
    if (await found()) continue;
    log(`${bin} is missing: apt-get install -y ${bin}`);
    const r = await new Deno.Command("apt-get", {
      args: ["install", "-y", bin],
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (r.code !== 0 || !(await found())) {
      throw new Error(
        `Cannot install ${bin} (apt-get install -y ${bin}): ${new TextDecoder().decode(r.stderr)}`,
      );
    }
    notes.push(`${bin} was installed with apt-get for this run.`);
  }
  return notes;
}

/**
 * Finds the CPU that does the receive work (RPS sends the single flow to one CPU) and pins the generator
 * to another one, at a higher priority, so it keeps its pace while forwarders share the machine.
 */
async function placeGenerator(
  t: Topo,
  gen: GenClient,
  log: (s: string) => void,
): Promise<{ rpsCpu: number; genCpu: number }> {
  const sn0 = softnetProcessed();
  await gen.trial({ len: 64, pps: 100_000, ms: 300 });
  const sn1 = softnetProcessed();
  const perCpu = sn1.map((v, i) => v - sn0[i]);
  const rpsCpu = perCpu.indexOf(Math.max(...perCpu));
  const genCpu = perCpu.length > 1 ? (rpsCpu === 0 ? 1 : 0) : 0;
  for (
    const cmd of [
      ["taskset", "-a", "-p", "-c", String(genCpu), String(gen.pid)],
      ["renice", "-n", "-10", "-p", String(gen.pid)],
    ]
  ) {
    const r = await t.lab.run(t.gen, cmd);
    if (r.code !== 0) log(`  (${cmd[0]} failed: ${r.stderr.trim()})`);
  }
  log(`receive softirq on CPU${rpsCpu} (softnet ${perCpu.join("/")}); generator on CPU${genCpu}, nice -10`);
  return { rpsCpu, genCpu };
}

/** Runs the replication benchmark and returns markdown: a results table and notes. */
export async function benchReplicate(opts: ReplicateOptions = {}): Promise<string> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const quick = opts.quick ?? false;
  const tools = opts.tools ?? TOOLS;
  const ms = quick ? 400 : 1200;
  const ladder = quick ? [100_000, 400_000, 0] : [100_000, 200_000, 400_000, 800_000, 0];
  const bisect = quick ? 0 : 2;
  const sizes = [64, 1514];
  const started = performance.now();
  const installNotes = await ensureTools(tools, log);

  const lab = await Lab.create("rep");
  const rows: Row[] = [];
  const fixed: FixedRow[] = [];
  const fixedMs = 2000;
  const baseline = new Map<number, Trial[]>();
  let rpsCpu = 0, genCpu = 1;
  let gen: GenClient | null = null;
  try {
    const t = await topology(lab);
    gen = await GenClient.start(t.gen, "g0");
    const ctx: Ctx = { t, gen, ms, drainMs: 100, log, quietBudgetMs: quick ? 0 : 20_000 };
    const load0 = await waitQuiet(quick ? 0 : 10_000, [gen.pid]);
    log(`other users' load at the start: ${pct(load0)} of a CPU`);
    ({ rpsCpu, genCpu } = await placeGenerator(t, gen, log));

    // The rig alone: what the tap port takes with no forwarder, and the CPU it costs.
    for (const len of sizes) {
      log(`baseline (no forwarder), ${len} B`);
      await gen.trial({ len, pps: 100_000, ms: 300 }); // warm-up
      const base: Trial[] = [];
      for (const rate of ladder) {
        await quiesce(t);
        const tr = await runTrial(ctx, null, len, rate);
        log(`    ${tr.pass ? "pass" : "FAIL"} ${trialLine(tr, [])}`);
        base.push(tr);
      }
      baseline.set(len, base);
    }

    for (const fanout of [1, 2]) {
      for (const tool of tools) {
        if (tool === "fluxcap 1tx" && fanout === 1) continue; // the same as fluxcap
        log(`${tool} 1→${fanout}: starting`);
        const slot = await FwdSlot.start(t, tool, fanout);
        try {
          for (const len of sizes) {
            log(`  ${tool} 1→${fanout}, ${len} B`);
            await slot.ensure(log);
            await gen.trial({ len, pps: 100_000, ms: quick ? 200 : 500 }); // warm-up
            const restarts = slot.restarts;
            const res = await sweep(ctx, slot, len, ladder, bisect, !quick);
            const labels = slot.cur.procs.map((p) => p.label);
            rows.push({
              len,
              fanout,
              tool,
              res,
              limit: limitedBy(res, rpsCpu, genCpu, labels),
              restarts: slot.restarts - restarts,
            });
          }
        } finally {
          const note = await slot.cur.stop();
          if (note) log(`  ${tool} stop: ${note}`);
        }
      }
    }
    // 1→2: one transmit process per output against one for both, at a fixed rate all keep up with
    const pair: ToolName[] = ["fluxcap", "fluxcap 1tx"];
    if (pair.every((x) => tools.includes(x))) {
      log("1→2 transmit CPU at a fixed rate: one process per output, one for both");
      for (const len of sizes) {
        fixed.push(...await fixedRate({ ...ctx, ms: fixedMs }, pair, 2, len, FIXED_RATE, quick ? 2 : 4));
      }
    }
  } finally {
    await gen?.close();
    await lab.close();
  }
  const secs = (performance.now() - started) / 1000;
  const table = render(rows, baseline, { quick, ms, rpsCpu, genCpu, secs, installNotes });
  return fixed.length > 0 ? `${table}\n\n${renderFixed(fixed, 2, fixedMs)}` : table;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const only = Deno.args.find((a) => a.startsWith("--tools="))?.slice(8).split(",") as ToolName[] | undefined;
  console.log(await benchReplicate({ quick, tools: only }));
}
