/**
 * Replication benchmark: the highest offered rate each forwarder replicates 1→1 and 1→2 with under
 * 0.1% loss, at 64- and 1514-byte frames, and the CPU time it spends per forwarded frame — fluxcap
 * (`-rx` + one `-tx` per output through a 256 MiB ring), `netsniff-ng --in A --out B` (as is, and with
 * `-k 1000`), `daemonlogger -i A -o B`, and the kernel's `tc … action mirred` as the ceiling.
 * `deno run -A bench/replicate.ts [--quick] [--tools=mirred,fluxcap]` runs it alone (root; ~5 min, quick
 * ~1 min); the markdown goes to stdout, the trial log to stderr.
 *
 * One lab topology for the whole run, RPS set on every veth:
 *
 * ```
 * gen [g0] ──── [in0] fx [out1] ──── [s1] s1
 *                        [out2] ──── [s2] s2
 * ```
 *
 * A generator process (`bench/gen.ts`) in `gen` sends prebuilt frames at a paced rate; delivered =
 * the rise of `rx_packets` of each sensor's veth; loss = 1 − delivered / offered, for the worst
 * sensor, where offered counts every frame the generator handed to the kernel (frames the tap port's
 * receive backlog refused are offered and lost). Rates go up a ladder (×2 per step, then the
 * generator's unpaced maximum) until the first failing step, then the gap is halved geometrically.
 * A failing step is tried once more (this VM is shared and a scheduling hiccup of a few milliseconds
 * overflows a 1000-frame backlog), and the better of the two counts.
 *
 * CPU: per trial, the forwarder processes' utime+stime (all threads), the generator's, and every
 * CPU's busy and softirq time from `/proc/stat`; "other" is whatever else ran on the machine.
 *
 * @module
 */
import { Lab, type LabProcess } from "../lib/lab/mod.ts";
import { RingFile, type RingSnapshot, snapshot } from "../lib/ring/mod.ts";
import type { GenCommand, GenResult } from "./gen.ts";

const GEN = new URL("./gen.ts", import.meta.url).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const LOSS_LIMIT = 0.001;
/** Ticks per second of /proc/stat and /proc/PID/stat. */
const HZ = 100;

/** The forwarders compared; "netsniff-ng -k 1000" flushes its TX ring every 1 ms instead of every 10 µs. */
export type ToolName =
  | "mirred"
  | "fluxcap"
  | "fluxcap -q"
  | "netsniff-ng"
  | "netsniff-ng -k 1000"
  | "daemonlogger";
const TOOLS: ToolName[] = [
  "mirred",
  "fluxcap",
  "fluxcap -q",
  "netsniff-ng",
  "netsniff-ng -k 1000",
  "daemonlogger",
];

/** Options of {@link benchReplicate}. */
export interface ReplicateOptions {
  /** Smoke test: fewer rates, shorter trials, no bisection. */
  quick?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Only these tools (default: all). */
  tools?: ToolName[];
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function fmtRate(pps: number): string {
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(2)} M`;
  return `${Math.round(pps / 1e3)} k`;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting

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

interface CpuSample {
  stat: number[][];
  procs: { total: [number, number] | null; threads: Map<number, number> }[];
  gen: [number, number] | null;
  tasks: Map<number, Task>;
  t: number;
}

function sampleCpu(fwd: number[], gen: number): CpuSample {
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
interface CpuUse {
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

function cpuUse(a: CpuSample, b: CpuSample): CpuUse {
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
function softnetProcessed(): number[] {
  return Deno.readTextFileSync("/proc/net/softnet_stat").trim().split("\n").map((l) =>
    parseInt(l.trim().split(/\s+/)[0], 16)
  );
}

// ---------------------------------------------------------------------------------------------------
// The generator process

class GenClient {
  readonly pid: number;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.pid = child.pid; // `ip netns exec` execs the command: this is the generator itself
    this.#writer = child.stdin.getWriter();
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  static async start(ns: string, ifname: string): Promise<GenClient> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", GEN, ifname],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const g = new GenClient(child);
    const first = await g.#line(30_000);
    if (first !== "ready") throw new Error(`Generator did not start: "${first}"`);
    return g;
  }

  async #line(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.#buf.indexOf("\n");
      if (i >= 0) {
        const l = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        return l.trim();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const left = deadline - performance.now();
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<null>((res) => timer = setTimeout(() => res(null), Math.max(0, left))),
      ]);
      clearTimeout(timer);
      if (r === null) {
        this.kill();
        throw new Error(`Generator gave no answer in ${timeoutMs} ms`);
      }
      if (r.done) throw new Error("Generator exited");
      this.#buf += r.value;
    }
  }

  async trial(cmd: GenCommand): Promise<GenResult> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    const res = JSON.parse(await this.#line(cmd.ms + 15_000));
    if (res.error) throw new Error(`Generator: ${res.error}`);
    return res as GenResult;
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }

  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), 3000)),
    ]);
    clearTimeout(timer);
    if (!done) {
      this.kill();
      await this.#child.status;
    }
    await this.#reader.cancel().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------
// Topology and counters

interface Topo {
  lab: Lab;
  gen: string;
  fx: string;
  s1: string;
  s2: string;
}

async function topology(lab: Lab): Promise<Topo> {
  const gen = await lab.ns("gen"), fx = await lab.ns("fx"), s1 = await lab.ns("s1"), s2 = await lab.ns("s2");
  // in0 gets an address only because daemonlogger refuses an interface without one.
  await lab.veth(
    { ns: gen, name: "g0", mac: "02:66:78:00:10:01" },
    { ns: fx, name: "in0", mac: "02:66:78:00:10:02", ip: "198.18.0.1/30" },
  );
  await lab.veth({ ns: fx, name: "out1", mac: "02:66:78:00:11:01" }, {
    ns: s1,
    name: "s1",
    mac: "02:66:78:00:11:02",
  });
  await lab.veth({ ns: fx, name: "out2", mac: "02:66:78:00:12:01" }, {
    ns: s2,
    name: "s2",
    mac: "02:66:78:00:12:02",
  });
  for (
    const [ns, ifs] of [[gen, ["g0"]], [fx, ["in0", "out1", "out2"]], [s1, ["s1"]], [s2, ["s2"]]] as const
  ) {
    for (const i of ifs) {
      const r = await lab.run(ns, ["sh", "-c", `echo 3 > /sys/class/net/${i}/queues/rx-0/rps_cpus`]);
      if (r.code !== 0) throw new Error(`Cannot set RPS on "${i}": ${r.stderr.trim()}`);
    }
  }
  return { lab, gen, fx, s1, s2 };
}

interface Counters {
  in0Rx: number;
  outTx: number[];
  outDrop: number[];
  sensorRx: number[];
}

async function stats(lab: Lab, ns: string, files: string[]): Promise<number[]> {
  const r = await lab.run(ns, ["cat", ...files.map((f) => `/sys/class/net/${f}`)], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`Cannot read counters in "${ns}": ${r.stderr.trim()}`);
  return r.stdout.trim().split(/\s+/).map(Number);
}

async function counters(t: Topo): Promise<Counters> {
  const [fx, s1, s2] = await Promise.all([
    stats(t.lab, t.fx, [
      "in0/statistics/rx_packets",
      "out1/statistics/tx_packets",
      "out2/statistics/tx_packets",
      "out1/statistics/tx_dropped",
      "out2/statistics/tx_dropped",
    ]),
    stats(t.lab, t.s1, ["s1/statistics/rx_packets"]),
    stats(t.lab, t.s2, ["s2/statistics/rx_packets"]),
  ]);
  return { in0Rx: fx[0], outTx: [fx[1], fx[2]], outDrop: [fx[3], fx[4]], sensorRx: [s1[0], s2[0]] };
}

/** Waits until the sensors' counters stop moving (bounded), so a trial starts from an idle path. */
async function quiesce(t: Topo): Promise<void> {
  let last = "";
  const deadline = performance.now() + 3000;
  while (performance.now() < deadline) {
    const c = await counters(t);
    const key = c.sensorRx.join(",");
    if (key === last) return;
    last = key;
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------
// Forwarders

interface Forwarder {
  tool: ToolName;
  fanout: number;
  /** Processes whose CPU counts (label, pid). */
  procs: { label: string; pid: number }[];
  /** Ring path (fluxcap only). */
  ring?: string;
  /** Why a forwarder process has exited, or null while all run. */
  dead(): string | null;
  stop(): Promise<string>;
}

function lastLine(s: string): string {
  const lines = s.trim().split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.slice(-1)[0] ?? "";
}

function deadOf(ps: LabProcess[], labels: string[]): () => string | null {
  return () => {
    const i = ps.findIndex((p) => p.exited);
    if (i < 0) return null;
    const p = ps[i];
    return `${labels[i]} exited: ${lastLine(p.stderr) || lastLine(p.stdout) || "(no message)"}`;
  };
}

async function stopAll(ps: LabProcess[]): Promise<string> {
  const notes: string[] = [];
  for (const p of ps) {
    const r = await p.stop("SIGINT", 3000);
    if (r.code !== 0) notes.push(`${p.cmd.slice(0, 3).join(" ")} exited ${r.code}: ${lastLine(r.stderr)}`);
  }
  return notes.join("; ");
}

async function startForwarder(t: Topo, tool: ToolName, fanout: number): Promise<Forwarder> {
  const outs = fanout === 1 ? ["out1"] : ["out1", "out2"];
  const lab = t.lab;
  if (tool === "mirred") {
    const actions = outs.flatMap((o) => ["action", "mirred", "egress", "mirror", "dev", o]);
    // This kernel has no matchall classifier: u32 matching zero bits of the first word matches all.
    const match = ["protocol", "all", "u32", "match", "u32", "0", "0"];
    for (
      const cmd of [
        ["tc", "qdisc", "add", "dev", "in0", "ingress"],
        ["tc", "filter", "add", "dev", "in0", "parent", "ffff:", ...match, ...actions],
      ]
    ) {
      const r = await lab.run(t.fx, cmd);
      if (r.code !== 0) throw new Error(`"${cmd.join(" ")}" failed: ${r.stderr.trim()}`);
    }
    return {
      tool,
      fanout,
      procs: [],
      dead: () => null,
      stop: async () => {
        const r = await lab.run(t.fx, ["tc", "qdisc", "del", "dev", "in0", "ingress"]);
        return r.code === 0 ? "" : r.stderr.trim();
      },
    };
  }
  if (tool.startsWith("fluxcap")) {
    const txFlags = tool === "fluxcap" ? [] : [tool.split(" ")[1]];
    const dir = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-bench-" });
    const ring = `${dir}/ring`;
    const fx = [Deno.execPath(), "run", "-A", CLI];
    const env = { NO_COLOR: "1" };
    const ps: LabProcess[] = [];
    const labels = ["rx", ...outs.map((_, i) => `tx${i + 1}`)];
    try {
      const cr = await lab.run(t.fx, [...fx, "-cr", "-s", "256m", ring], { env });
      if (cr.code !== 0) throw new Error(`fluxcap -cr failed: ${cr.stderr.trim()}`);
      ps.push(lab.spawn(t.fx, [...fx, "-rx", "-i", "in0", ring], { env }));
      for (const o of outs) ps.push(lab.spawn(t.fx, [...fx, "-tx", "-i", o, ...txFlags, ring], { env }));
      const deadline = performance.now() + 30_000;
      for (;;) {
        const s = ringSnap(ring);
        if (s?.writer?.alive && s.readers.length >= outs.length) break;
        const why = deadOf(ps, labels)();
        if (why) throw new Error(`fluxcap ${why}`);
        if (performance.now() > deadline) throw new Error("fluxcap did not attach to the ring in 30 s");
        await sleep(50);
      }
    } catch (e) {
      await stopAll(ps);
      Deno.removeSync(dir, { recursive: true });
      throw e;
    }
    return {
      tool,
      fanout,
      ring,
      procs: ps.map((p, i) => ({ label: labels[i], pid: p.pid })),
      dead: deadOf(ps, labels),
      stop: async () => {
        try {
          return await stopAll(ps);
        } finally {
          Deno.removeSync(dir, { recursive: true });
        }
      },
    };
  }
  const ps: LabProcess[] = [];
  const labels = outs.map((_, i) => `#${i + 1}`);
  try {
    for (const [i, o] of outs.entries()) {
      if (tool.startsWith("netsniff-ng")) {
        // -A: leave the host's socket-memory sysctls alone; -Q: leave IRQ affinity alone; -S: its
        // default ring size cannot be allocated on a veth here ("Cannot allocate RX_RING!").
        const k = tool === "netsniff-ng -k 1000" ? ["-k", "1000"] : [];
        const p = lab.spawn(t.fx, [
          "netsniff-ng",
          "--in",
          "in0",
          "--out",
          o,
          "-s",
          "-A",
          "-Q",
          "-S",
          "64MiB",
          ...k,
        ]);
        ps.push(p);
        await p.waitFor("Running!", { stream: "stdout", timeoutMs: 10_000 });
      } else {
        const p = lab.spawn(t.fx, ["daemonlogger", "-i", "in0", "-o", o, "-P", lab.dir, "-p", `dl${i}.pid`]);
        ps.push(p);
        await p.waitFor("sniffing on interface", { stream: "stderr", timeoutMs: 10_000 });
      }
    }
    await sleep(500);
    const why = deadOf(ps, labels)();
    if (why) throw new Error(`${tool} ${why}`);
  } catch (e) {
    await stopAll(ps);
    throw e;
  }
  return {
    tool,
    fanout,
    procs: ps.map((p, i) => ({ label: labels[i], pid: p.pid })),
    dead: deadOf(ps, labels),
    stop: () => stopAll(ps),
  };
}

/** A forwarder that is restarted when one of its processes died (netsniff-ng exits under load). */
class FwdSlot {
  cur: Forwarder;
  restarts = 0;
  #t: Topo;
  private constructor(t: Topo, cur: Forwarder) {
    this.#t = t;
    this.cur = cur;
  }
  static async start(t: Topo, tool: ToolName, fanout: number): Promise<FwdSlot> {
    return new FwdSlot(t, await startForwarder(t, tool, fanout));
  }
  async ensure(log: (s: string) => void): Promise<void> {
    if (this.cur.dead() === null) return;
    await this.cur.stop();
    this.cur = await startForwarder(this.#t, this.cur.tool, this.cur.fanout);
    this.restarts++;
    log(`    (restarted ${this.cur.tool})`);
  }
}

function ringSnap(path: string): RingSnapshot | null {
  try {
    const r = RingFile.open(path);
    try {
      return snapshot(r);
    } finally {
      r.close();
    }
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// Trials

interface Trial {
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

interface Ctx {
  t: Topo;
  gen: GenClient;
  ms: number;
  drainMs: number;
  log: (s: string) => void;
  /** What is left of the time the run may spend waiting for other users' load to settle. */
  quietBudgetMs: number;
}

async function runTrial(ctx: Ctx, slot: FwdSlot | null, len: number, target: number): Promise<Trial> {
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
  const offered = g.sent + g.failed + g.errors;
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
    refused: g.failed + g.errors,
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

function procText(c: CpuUse, labels: string[]): string {
  return c.procs.map((p, i) =>
    `${labels[i] ?? i} ${pct(p.total)} (u${pct(p.user)} s${pct(p.sys)}, top thread ${pct(p.top)})`
  ).join(", ");
}

function trialLine(tr: Trial, labels: string[]): string {
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

/** Waits (bounded) until other users' processes take less than a fifth of a CPU. */
async function waitQuiet(maxMs: number, ours: number[]): Promise<number> {
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

/** A trial at `target`; a failure is tried once more (after the path drained) and the better kept. */
async function tryRate(ctx: Ctx, slot: FwdSlot | null, len: number, target: number, retry: boolean) {
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

interface SweepResult {
  best: Trial | null;
  fail: Trial | null;
  trials: number;
}

async function sweep(
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

// ---------------------------------------------------------------------------------------------------
// Judging which resource limited a figure

function limitedBy(r: SweepResult, rpsCpu: number, genCpu: number, labels: string[]): string {
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

// ---------------------------------------------------------------------------------------------------
// The benchmark

interface Row {
  len: number;
  fanout: number;
  tool: ToolName;
  res: SweepResult;
  limit: string;
  restarts: number;
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

  const installNotes: string[] = [];
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
    installNotes.push(`${bin} was installed with apt-get for this run.`);
  }

  const lab = await Lab.create("rep");
  const rows: Row[] = [];
  const baseline = new Map<number, Trial[]>();
  let rpsCpu = 0, genCpu = 1;
  let gen: GenClient | null = null;
  try {
    const t = await topology(lab);
    gen = await GenClient.start(t.gen, "g0");
    const ctx: Ctx = { t, gen, ms, drainMs: 100, log, quietBudgetMs: quick ? 0 : 20_000 };
    const load0 = await waitQuiet(quick ? 0 : 10_000, [gen.pid]);
    log(`other users' load at the start: ${pct(load0)} of a CPU`);

    // Which CPU does the receive work (RPS sends our single flow to one CPU)? Pin the generator to
    // another one, at a higher priority, so it keeps its pace while forwarders share the machine.
    const sn0 = softnetProcessed();
    await gen.trial({ len: 64, pps: 100_000, ms: 300 });
    const sn1 = softnetProcessed();
    const perCpu = sn1.map((v, i) => v - sn0[i]);
    rpsCpu = perCpu.indexOf(Math.max(...perCpu));
    genCpu = perCpu.length > 1 ? (rpsCpu === 0 ? 1 : 0) : 0;
    for (
      const cmd of [
        ["taskset", "-a", "-p", "-c", String(genCpu), String(gen.pid)],
        ["renice", "-n", "-10", "-p", String(gen.pid)],
      ]
    ) {
      const r = await lab.run(t.gen, cmd);
      if (r.code !== 0) log(`  (${cmd[0]} failed: ${r.stderr.trim()})`);
    }
    log(`receive softirq on CPU${rpsCpu} (softnet ${perCpu.join("/")}); generator on CPU${genCpu}, nice -10`);

    // The rig alone: what the tap port takes with no forwarder, and the CPU it costs.
    for (const len of sizes) {
      log(`baseline (no forwarder), ${len} B`);
      await gen.trial({ len, pps: 100_000, ms: 300 }); // warm-up
      const base: Trial[] = [];
      for (const rate of quick ? [100_000, 400_000, 0] : [100_000, 200_000, 400_000, 800_000, 0]) {
        await quiesce(t);
        const tr = await runTrial(ctx, null, len, rate);
        log(`    ${tr.pass ? "pass" : "FAIL"} ${trialLine(tr, [])}`);
        base.push(tr);
      }
      baseline.set(len, base);
    }

    for (const fanout of [1, 2]) {
      for (const tool of tools) {
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
  } finally {
    await gen?.close();
    await lab.close();
  }
  const secs = (performance.now() - started) / 1000;
  return render(rows, baseline, { quick, ms, rpsCpu, genCpu, secs, installNotes });
}

function render(
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
      `threads per frame delivered at that rate (1→2 counts both copies); it excludes the softirq work the ` +
      `forwarding causes, which is why mirred has no figure: this kernel has no IRQ time accounting, so ` +
      `softirq time in /proc/stat is tick-sampled and, with NO_HZ idle, under-counted; and whole-machine ` +
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

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const only = Deno.args.find((a) => a.startsWith("--tools="))?.slice(8).split(",") as ToolName[] | undefined;
  console.log(await benchReplicate({ quick, tools: only }));
}
