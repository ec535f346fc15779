/**
 * CPU accounting for the replication benchmark: per trial, the forwarder processes' utime+stime (all
 * threads), the generator's, every CPU's busy and softirq time from `/proc/stat`, and "other users"
 * (whatever else ran on this shared machine), plus a bounded wait for that load to settle.
 *
 * @module
 */
import { pct, sleep } from "./common.ts";

/** Ticks per second of /proc/stat and /proc/PID/stat. */
const HZ = 100;

/** Per CPU: [user, nice, system, idle, iowait, irq, softirq, steal] ticks. */
function readProcStat(): number[][] {
  return Deno.readTextFileSync("/proc/stat").split("\n").filter((l) => /^cpu\d+ /.test(l)).map((l) =>
    l.trim().split(/\s+/).slice(1, 9).map(Number)
  );
}

/** utime+stime ticks of every thread of `pid` (tid → ticks); empty when the process is gone. */
function threadTicks(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const s = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
        const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
        out.set(Number(e.name), Number(f[11]) + Number(f[12])); // fields 14, 15
      } catch { /* thread ended */ }
    }
  } catch { /* process ended */ }
  return out;
}

/** [user, system] ticks of a process (all threads), or null when it is gone. */
function processTicks(pid: number): [number, number] | null {
  try {
    const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return [Number(f[11]), Number(f[12])];
  } catch {
    return null;
  }
}

const PF_KTHREAD = 0x00200000;

interface Task {
  ticks: number;
  kthread: boolean;
  comm: string;
}

/** utime+stime ticks of every process but `exclude`, split into user-space processes and kernel threads. */
function allTasks(exclude: Set<number>): Map<number, Task> {
  const out = new Map<number, Task>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    if (exclude.has(pid)) continue;
    try {
      const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      out.set(pid, {
        ticks: Number(f[11]) + Number(f[12]),
        kthread: (Number(f[6]) & PF_KTHREAD) !== 0,
        comm,
      });
    } catch { /* gone */ }
  }
  return out;
}

/** CPU counters at one instant; two of them make a {@linkcode CpuUse}. */
export interface CpuSample {
  stat: number[][];
  procs: { total: [number, number] | null; threads: Map<number, number> }[];
  gen: [number, number] | null;
  tasks: Map<number, Task>;
  t: number;
}

/** Samples the counters of the forwarder processes `fwd`, the generator `gen` and the machine. */
export function sampleCpu(fwd: number[], gen: number): CpuSample {
  const t = performance.now();
  const exclude = new Set([Deno.pid, gen, ...fwd]);
  return {
    stat: readProcStat(),
    procs: fwd.map((p) => ({ total: processTicks(p), threads: threadTicks(p) })),
    gen: processTicks(gen),
    tasks: allTasks(exclude),
    t,
  };
}

/** CPU use over a window, as fractions of one CPU. */
export interface CpuUse {
  seconds: number;
  /** Per CPU: busy = not idle, iowait or stolen (idle time is measured exactly under NO_HZ). */
  busy: number[];
  /** Per CPU: softirq+irq, tick-sampled (no IRQ time accounting here: indicative only). */
  softirq: number[];
  steal: number;
  /** Per forwarder process: user, system, total and its busiest thread; alive at the end. */
  procs: { user: number; sys: number; total: number; top: number; alive: boolean }[];
  gen: number;
  /** Other user-space processes on the machine (other work on this shared VM). */
  foreign: number;
  /** The busiest of those, e.g. "deno[1234] 98%". */
  foreignTop: string;
  /** Kernel threads (ksoftirqd, kworkers). */
  kthreads: number;
}

/** CPU use between two samples. */
export function cpuUse(a: CpuSample, b: CpuSample): CpuUse {
  const seconds = (b.t - a.t) / 1000;
  const frac = (ticks: number) => ticks / HZ / seconds;
  const busy: number[] = [], softirq: number[] = [];
  let steal = 0;
  b.stat.forEach((c, i) => {
    const d = c.map((v, k) => v - (a.stat[i]?.[k] ?? v));
    busy.push(Math.max(0, Math.min(1, 1 - frac(d[3] + d[4] + d[7]))));
    softirq.push(frac(d[5] + d[6]));
    steal += frac(d[7]);
  });
  const procs = b.procs.map((p, i) => {
    let top = 0;
    for (const [tid, t] of p.threads) top = Math.max(top, t - (a.procs[i].threads.get(tid) ?? 0));
    const pa = a.procs[i].total ?? [0, 0];
    const pb = p.total ?? pa;
    const user = frac(pb[0] - pa[0]), sys = frac(pb[1] - pa[1]);
    return { user, sys, total: user + sys, top: frac(top), alive: p.total !== null };
  });
  const ga = a.gen ?? [0, 0], gb = b.gen ?? ga;
  const gen = frac(gb[0] + gb[1] - ga[0] - ga[1]);
  let foreign = 0, kthreads = 0, topTicks = 0, foreignTop = "";
  for (const [pid, t] of b.tasks) {
    const d = t.ticks - (a.tasks.get(pid)?.ticks ?? 0);
    if (d <= 0) continue;
    if (t.kthread) kthreads += d;
    else {
      foreign += d;
      if (d > topTicks) {
        topTicks = d;
        foreignTop = `${t.comm}[${pid}] ${pct(frac(d))}`;
      }
    }
  }
  return {
    seconds,
    busy,
    softirq,
    steal,
    procs,
    gen,
    foreign: frac(foreign),
    foreignTop,
    kthreads: frac(kthreads),
  };
}

/** Frames processed per CPU from /proc/net/softnet_stat (global, read only). */
export function softnetProcessed(): number[] {
  return Deno.readTextFileSync("/proc/net/softnet_stat").trim().split("\n").map((l) =>
    parseInt(l.trim().split(/\s+/)[0], 16)
  );
}

/** Waits (bounded) until other users' processes take less than a fifth of a CPU. */
export async function waitQuiet(maxMs: number, ours: number[]): Promise<number> {
  const exclude = new Set([Deno.pid, ...ours]);
  const deadline = performance.now() + maxMs;
  let load = 0;
  do {
    const a = allTasks(exclude);
    const t0 = performance.now();
    await sleep(250);
    const b = allTasks(exclude);
    let ticks = 0;
    for (const [pid, t] of b) if (!t.kthread) ticks += Math.max(0, t.ticks - (a.get(pid)?.ticks ?? 0));
    load = ticks / HZ / ((performance.now() - t0) / 1000);
  } while (load >= 0.2 && performance.now() < deadline);
  return load;
}
