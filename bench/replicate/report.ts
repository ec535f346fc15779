/**
 * The replication benchmark's report: a log line per trial, the judgement of which resource limited
 * each figure, and the markdown table with its notes.
 *
 * @module
 */
import { fmtRate, pct } from "./common.ts";
import type { ToolName } from "./peers/mod.ts";
import type { SweepResult } from "./search.ts";
import { procText, type Trial } from "./trial.ts";

/** One figure of the table: a forwarder at one frame size and fanout. */
export interface Row {
  len: number;
  fanout: number;
  tool: ToolName;
  res: SweepResult;
  limit: string;
  restarts: number;
}

/** Which resource limited a search, judged from its first failing (or last passing) trial. */
export function limitedBy(r: SweepResult, rpsCpu: number, genCpu: number, labels: string[]): string {
  const { best, fail } = r;
  if (fail === null) {
    if (best === null) return "no result";
    const c = best.cpu;
    const busy = c.busy.map((b, i) => `CPU${i} ${pct(b)}`).join(", ");
    if (c.gen >= 0.85) {
      return `the generator: its unpaced maximum passed (generator ${
        pct(c.gen)
      } of CPU${genCpu}; ${busy}) — ` +
        `a lower bound`;
    }
    return `CPU: the unpaced generator passed but got only ${pct(c.gen)} of CPU${genCpu}, which it shares ` +
      `with the forwarder (${busy}; ${procText(c, labels) || "kernel only"}) — a lower bound`;
  }
  const f = fail;
  const c = f.cpu;
  const lost = Math.max(1, f.offered * f.loss);
  const parts: string[] = [];
  const busy = c.busy.map((b, i) => `CPU${i} ${pct(b)}`).join(", ");
  const topMax = Math.max(0, ...c.procs.map((p) => p.top));
  if (f.died) {
    parts.push(`the forwarder died (${f.died})`);
  } else if (f.refused >= 0.5 * lost) {
    parts.push(
      `kernel receive on CPU${rpsCpu} (the RPS CPU): the tap port's backlog overflowed (${f.refused} of ` +
        `${Math.round(lost)} lost frames); ${busy}`,
    );
  } else if (topMax >= 0.9) {
    parts.push(`a forwarder thread is CPU-bound: ${procText(c, labels)}; ${busy}`);
  } else if (c.busy.every((b) => b >= 0.9)) {
    parts.push(`both CPUs saturated (${busy}; ${procText(c, labels) || "kernel only"})`);
  } else {
    parts.push(`falls behind with CPU left (${busy}; ${procText(c, labels) || "kernel only"})`);
  }
  if (f.target !== 0 && f.offeredPps < 0.95 * f.target) {
    parts.push(`generator short of its target (${fmtRate(f.offeredPps)} of ${fmtRate(f.target)}pps)`);
  }
  if (f.egressRefused > 0) parts.push(`sensor-side backlog refused ${f.egressRefused} send attempts`);
  if (c.foreign >= 0.2) {
    parts.push(`other users' processes took ${pct(c.foreign)} of a CPU (busiest ${c.foreignTop})`);
  }
  if (f.ringNote) parts.push(f.ringNote);
  return `fails at ${fmtRate(f.offeredPps)}pps (${(f.loss * 100).toFixed(2)}% lost): ${parts.join("; ")}`;
}

/** The markdown report of a run. */
export function render(
  rows: Row[],
  baseline: Map<number, Trial[]>,
  info: { quick: boolean; ms: number; rpsCpu: number; genCpu: number; secs: number; installNotes: string[] },
): string {
  const out: string[] = [];
  const rate = (r: Row) => r.res.best?.offeredPps ?? 0;
  const ns = (v: number) => Number.isFinite(v) ? `${Math.round(v)} ns` : "n/a";
  out.push(
    "| frame | fanout | forwarder | highest rate, < 0.1% loss | × mirred | Gbit/s | CPU/frame, forwarder processes | CPUs busy there | other users |",
    "|---|---|---|---|---|---|---|---|---|",
  );
  for (const r of rows) {
    const m = rows.find((x) => x.len === r.len && x.fanout === r.fanout && x.tool === "mirred");
    const best = r.res.best;
    const ratio = m && rate(m) > 0 && best ? (rate(r) / rate(m)).toFixed(2) : "n/a";
    const atMax = best && r.res.fail === null;
    const figure = best
      ? `${atMax ? "≥ " : ""}${fmtRate(rate(r))}pps`
      : `< ${fmtRate(r.res.fail?.offeredPps ?? 0)}pps`;
    const gbps = best ? ((rate(r) * r.len * 8) / 1e9).toFixed(2) : "-";
    let proc = "-";
    if (r.tool === "mirred") proc = "n/a (kernel)";
    else if (best) {
      const u = best.cpu.procs.reduce((s, p) => s + p.user, 0);
      const tot = best.cpu.procs.reduce((s, p) => s + p.total, 0);
      proc = `${ns(best.procNsPerFrame)} (${tot > 0 ? pct(u / tot) : "-"} user)`;
    }
    const busy = best ? best.cpu.busy.map(pct).join(" / ") : "-";
    const other = best ? pct(best.cpu.foreign) : "-";
    out.push(
      `| ${r.len} B | 1→${r.fanout} | ${r.tool} | ${figure} | ${ratio} | ${gbps} | ${proc} | ${busy} | ${other} |`,
    );
  }
  out.push("");
  out.push("What limited each figure (evidence from the first failing trial, or the last passing one):");
  out.push("");
  for (const r of rows) {
    const re = r.restarts > 0 ? ` (restarted ${r.restarts}× after dying)` : "";
    out.push(`- ${r.len} B 1→${r.fanout} ${r.tool}${re}: ${r.limit}`);
  }
  out.push("");
  out.push("The rig alone (generator → tap port, no forwarder; loss = refused by the tap port's backlog):");
  out.push("");
  for (const [len, trials] of baseline) {
    const parts = trials.map((tr) =>
      `${tr.target ? fmtRate(tr.target) : "max"} → ${fmtRate(tr.offeredPps)}pps ${
        (tr.loss * 100).toFixed(2)
      }% ` +
      `(CPUs ${tr.cpu.busy.map(pct).join(" / ")}, generator ${pct(tr.cpu.gen)})`
    );
    out.push(`- ${len} B: ${parts.join("; ")}`);
  }
  out.push("");
  for (const len of [64, 1514]) {
    const get = (tool: ToolName) => rows.find((x) => x.len === len && x.fanout === 1 && x.tool === tool);
    const fx = get("fluxcap"), mi = get("mirred");
    if (!fx || !mi || rate(mi) === 0) continue;
    const ratio = rate(fx) / rate(mi);
    const others = rows.filter((x) =>
      x.len === len && x.fanout === 1 && (x.tool.startsWith("netsniff-ng") || x.tool === "daemonlogger")
    );
    const show = (o: Row) =>
      o.res.best ? `${fmtRate(rate(o))}pps` : `< ${fmtRate(o.res.fail?.offeredPps ?? 0)}pps`;
    // Figures within ±10% are a tie at this resolution.
    const verdict = (o: Row) =>
      rate(o) === 0 || rate(fx) > 1.1 * rate(o)
        ? "ahead of"
        : rate(fx) >= rate(o) / 1.1
        ? "level with"
        : "behind";
    out.push(
      `Target, ${len} B 1→1: fluxcap ${ratio.toFixed(2)}× mirred (${
        ratio >= 0.9 ? "meets" : "misses"
      } 0.9×); ` +
        others.map((o) => `${verdict(o)} ${o.tool} (${show(o)})`).join(", ") + ".",
    );
  }
  out.push("");
  out.push(
    `Method: ${info.ms} ms trials${
      info.quick ? " (quick mode: 3 rate steps, no retries, no bisection)" : ""
    }; ` +
      `frames of exactly 64/1514 bytes as handed to the kernel (no FCS), EtherType 0x88b5, one flow. RPS 3 on ` +
      `every veth: the one flow hashes to CPU${info.rpsCpu}, so all receive softirq runs there; the generator ` +
      `is pinned to CPU${info.genCpu} at nice -10, forwarders float over both CPUs. Loss = 1 − delivered ÷ ` +
      `offered for the worst sensor, frames refused by the tap port's backlog included; a failing step is ` +
      `retried once (after other users' load settles, up to 5 s). Rates step ×2, then the gap is halved ` +
      `geometrically twice (±10–20%); "≥" = the generator's unpaced maximum passed, so the figure is the ` +
      `rig's limit, not the forwarder's. "CPU/frame, forwarder processes" = utime+stime of all their ` +
      `threads per frame delivered at that rate (1→2 counts both copies); this kernel has no IRQ time ` +
      `accounting, so it includes whatever softirq work (any interface's receive) ran while those threads ` +
      `were interrupted — about half of a transmit thread's time in perf — and none of the rest, which is ` +
      `why mirred has no figure; softirq time in /proc/stat is tick-sampled and, with NO_HZ idle, under-counted; and whole-machine ` +
      `busy time is polluted by other sessions on this shared 2-CPU VM ("other users" = their CPU during ` +
      `that trial, in CPUs). "CPUs busy" is exact (from idle time). netsniff-ng runs as ` +
      `\`--in in0 --out outN -s -A -Q -S 64MiB\` (its default ring cannot be allocated on a veth; -A/-Q keep ` +
      `it off host sysctls and IRQ affinity); "-k 1000" flushes its TX ring every 1 ms instead of every 10 µs. ` +
      `daemonlogger runs as \`-i in0 -o outN\`; 1→2 runs two instances of each. Run took ` +
      `${Math.round(info.secs)} s.`,
  );
  for (const n of info.installNotes) out.push(n);
  return out.join("\n");
}
