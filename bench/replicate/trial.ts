/**
 * One trial of the replication benchmark: the generator sends at a target rate for a fixed time while
 * the interface counters, the CPU counters and (for fluxcap) the ring's counters are read before and
 * after; loss = 1 − delivered ÷ offered for the worst sensor, where offered counts every frame the
 * generator handed to the kernel (frames the tap port's receive backlog refused are offered and lost).
 *
 * @module
 */
import { type CpuUse, cpuUse, sampleCpu } from "./cpu.ts";
import type { GenClient } from "./gen_client.ts";
import { type FwdSlot, ringSnap } from "./peers/mod.ts";
import { counters, type Topo } from "./topology.ts";
import { fmtRate, pct, sleep } from "./common.ts";

/** Most loss a passing trial may have. */
export const LOSS_LIMIT = 0.001;

/** What one trial measured. */
export interface Trial {
  target: number;
  len: number;
  /** Frames handed to the kernel (accepted + refused at the tap port). */
  offered: number;
  offeredPps: number;
  /** Refused by the tap port's receive backlog (the generator's ENOBUFS). */
  refused: number;
  delivered: number[];
  loss: number;
  /** Entered in0 but never sent out of outN (worst output): lost inside the forwarder. */
  lostInTool: number;
  /** Send attempts on outN that the sensor side's backlog refused (ENOBUFS; fluxcap retries them). */
  egressRefused: number;
  cpu: CpuUse;
  /** ns of forwarder-process CPU per frame delivered (all outputs). */
  procNsPerFrame: number;
  ringNote: string;
  died: string | null;
  pass: boolean;
}

/** What every trial of a run shares. */
export interface Ctx {
  t: Topo;
  gen: GenClient;
  ms: number;
  drainMs: number;
  log: (s: string) => void;
  /** What is left of the time the run may spend waiting for other users' load to settle. */
  quietBudgetMs: number;
}

/** Runs one trial at `target` frames a second (0 = unpaced) of `len`-byte frames through `slot` (null: no forwarder). */
export async function runTrial(ctx: Ctx, slot: FwdSlot | null, len: number, target: number): Promise<Trial> {
  if (slot) await slot.ensure(ctx.log);
  const fwd = slot?.cur ?? null;
  const fanout = fwd?.fanout ?? 0;
  const pids = fwd?.procs.map((p) => p.pid) ?? [];
  const r0 = fwd?.ring ? ringSnap(fwd.ring) : null;
  const c0 = await counters(ctx.t);
  const a = sampleCpu(pids, ctx.gen.pid);
  const g = await ctx.gen.trial({ len, pps: target, ms: ctx.ms });
  const b = sampleCpu(pids, ctx.gen.pid);
  await sleep(ctx.drainMs);
  const c1 = await counters(ctx.t);
  const r1 = fwd?.ring ? ringSnap(fwd.ring) : null;
  const died = fwd?.dead() ?? null;
  const cpu = cpuUse(a, b);
  const offered = g.sent + g.refused + g.errors;
  const delivered = c1.sensorRx.slice(0, fanout).map((v, i) => v - c0.sensorRx[i]);
  const worst = fanout === 0 ? c1.in0Rx - c0.in0Rx : Math.min(...delivered);
  const loss = offered > 0 ? Math.max(0, 1 - worst / offered) : 1;
  const in0 = c1.in0Rx - c0.in0Rx;
  let lostInTool = 0, egressRefused = 0;
  for (let i = 0; i < fanout; i++) {
    lostInTool = Math.max(lostInTool, in0 - (c1.outTx[i] - c0.outTx[i]));
    egressRefused = Math.max(egressRefused, c1.outDrop[i] - c0.outDrop[i]);
  }
  const fwdSec = cpu.procs.reduce((s, p) => s + p.total, 0) * cpu.seconds;
  const sumDelivered = delivered.reduce((s, v) => s + v, 0);
  let ringNote = "";
  if (r0 && r1) {
    const kd = r1.kernelDrops - r0.kernelDrops;
    const rd = r1.readers.map((r) => {
      const o = r0.readers.find((x) => x.slot === r.slot);
      const drops = Object.values(r.drops).reduce((s, v) => s + v, 0) -
        (o ? Object.values(o.drops).reduce((s, v) => s + v, 0) : 0);
      return `${r.framesLost - (o?.framesLost ?? 0)}/${drops}`;
    });
    ringNote = `ring: rx socket drops ${kd}, per reader lapped/send-dropped ${rd.join(" ")}`;
  }
  return {
    target,
    len,
    offered,
    offeredPps: (offered / g.ms) * 1000,
    refused: g.refused + g.errors,
    delivered,
    loss,
    lostInTool: Math.max(0, lostInTool),
    egressRefused: Math.max(0, egressRefused),
    cpu,
    procNsPerFrame: sumDelivered > 0 ? (fwdSec * 1e9) / sumDelivered : NaN,
    ringNote,
    died,
    pass: loss < LOSS_LIMIT && died === null,
  };
}

/** The forwarder processes' CPU use, labelled. */
export function procText(c: CpuUse, labels: string[]): string {
  return c.procs.map((p, i) =>
    `${labels[i] ?? i} ${pct(p.total)} (u${pct(p.user)} s${pct(p.sys)}, top thread ${pct(p.top)})`
  ).join(", ");
}

/** One trial as a log line. */
export function trialLine(tr: Trial, labels: string[]): string {
  const c = tr.cpu;
  return `${tr.target ? fmtRate(tr.target) : "max"} → offered ${fmtRate(tr.offeredPps)}pps, loss ${
    (tr.loss * 100).toFixed(3)
  }% [refused at in0 ${tr.refused}, lost in tool ${tr.lostInTool}, egress ENOBUFS ${tr.egressRefused}] busy ${
    c.busy.map(pct).join("/")
  } (si ${c.softirq.map(pct).join("/")}) fwd ${procText(c, labels) || "-"}; gen ${pct(c.gen)}, kthreads ${
    pct(c.kthreads)
  }, other users ${pct(c.foreign)}${c.foreign >= 0.1 ? ` (${c.foreignTop})` : ""}${
    tr.ringNote ? "; " + tr.ringNote : ""
  }${tr.died ? "; " + tr.died : ""}`;
}
