/**
 * Drain benchmark: how fast `fluxcap -tx -i IF --from-oldest` empties a full ring onto a NIC (a veth),
 * against the ceiling of a minimal AF_PACKET sender (`drain_send.ts`) sending the same frames from one
 * plain buffer through the same kind of socket, in the same run, at 64 and 1514 bytes; with and without
 * `-q` (PACKET_QDISC_BYPASS, for fluxcap and for the ceiling alike).
 *
 * The ring is filled with N frames and its writer closed (the capture stopped) before the transmitter
 * starts; it is sized so that the frames fill it (the usual state of a ring whose capture ran for a
 * while). Every sender is timed the same way, from the receiver's side: the veth's packet counter is
 * sampled about every millisecond (through `/proc/PID/net/dev` of a process in the receiving
 * namespace), and the rate is the frames counted between the first sample that moved and the one that
 * reached N, over the time between them: process start-up, ring attach and exit are outside it.
 * Senders are pinned to CPU 0. The receiving namespace's work runs inline on the sender's CPU (no RPS):
 * with RPS to the other CPU, every frame that finds the remote backlog idle costs the sender an IPI,
 * which on this VM is a VM exit (30–45% of the sender's time) and makes rates swing ±40% from run to
 * run; `--rps` measures that way anyway. Rounds alternate the senders (and their order); the table
 * gives medians and the spread, and "refused" the send attempts the receiver's full backlog refused.
 *
 * `deno run -A bench/drain.ts [--rounds=N] [--base=DIR] [--rps]` runs it alone (root); `--base` also
 * drains with the fluxcap checkout in DIR (its `cli.ts`), interleaved, for before/after comparisons.
 *
 * @module
 */
import { Lab, labAvailable } from "../lib/lab/mod.ts";
import { createRing, RingFile, RingWriter, snapshot } from "../lib/ring/mod.ts";
import { recordSize } from "../lib/ring/layout.ts";
import { fluxcapCommand } from "../tests/helpers.ts";
import { drainFrames } from "./drain_send.ts";
import { median } from "./replicate/common.ts";

const SEND = new URL("./drain_send.ts", import.meta.url).pathname;
const MAC_B = "02:fc:00:00:00:0b";
const DRAIN_TIMEOUT_MS = 60_000;

/** Options of {@link benchDrain}. */
export interface DrainOptions {
  /** Rounds per frame size (default 5). */
  rounds?: number;
  /** A second fluxcap checkout to drain with, interleaved (its directory, holding `cli.ts`). */
  base?: string;
  /** Frames per size (default 2 M at 64 B, 600 k at 1514 B: rings of 176 and 926 MB). */
  counts?: Record<number, number>;
  /** RPS the receiving veth to the other CPU instead of receiving inline (see the module doc). */
  rps?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** A sender's command and how it is shown. */
interface Sender {
  label: string;
  cmd: (len: number, count: number, ring: string) => string[];
  /** Checks the ring afterwards (fluxcap): every frame sent, none dropped. */
  fluxcap: boolean;
  /** Index of the ceiling it is compared with (itself for a ceiling). */
  ceiling: number;
}

/**
 * Counters of `ifname` from `/proc/PID/net/dev` of a process in the interface's namespace: receive
 * bytes, packets, errs, drop, fifo, frame, compressed, multicast, then transmit bytes, packets, errs,
 * drop…
 */
function devCounters(pid: number, ifname: string): number[] {
  const text = Deno.readTextFileSync(`/proc/${pid}/net/dev`);
  const at = text.indexOf(` ${ifname}:`);
  if (at < 0) throw new Error(`No interface "${ifname}" in /proc/${pid}/net/dev`);
  return text.slice(at + ifname.length + 2, text.indexOf("\n", at)).trim().split(/\s+/).map(Number);
}
const RX_PACKETS = 1;
const TX_DROPPED = 11;

/** What one drain measured. */
interface Drain {
  pps: number;
  /** Send attempts the receiver's full backlog refused (the sender's ENOBUFS). */
  refused: number;
  note: string;
}

/** One drain: starts `cmd`, samples the receiver until `count` frames arrived. */
async function timeDrain(
  lab: Lab,
  ns: string,
  cmd: string[],
  count: number,
  probe: { rx: () => number; refused: () => number },
  beforeStop: () => string,
): Promise<Drain> {
  const base = probe.rx();
  const refused0 = probe.refused();
  const p = lab.spawn(ns, cmd, { timeoutMs: DRAIN_TIMEOUT_MS + 10_000 });
  try {
    let t0 = 0, r0 = 0, t1 = 0, last = base;
    const end = performance.now() + DRAIN_TIMEOUT_MS;
    while (performance.now() < end) {
      const r = probe.rx();
      const now = performance.now();
      if (t0 === 0 && r > base) [t0, r0] = [now, r];
      last = r;
      if (r - base >= count) {
        t1 = now;
        break;
      }
      if (p.exited && probe.rx() === r) break; // it ended short of `count`
      await new Promise((res) => setTimeout(res, 1));
    }
    if (t1 === 0 || t1 === t0) {
      throw new Error(
        `"${cmd.join(" ")}" delivered ${last - base} of ${count} frames: ${p.stderr.trim().slice(-300)}`,
      );
    }
    return {
      pps: (base + count - r0) / ((t1 - t0) / 1000),
      refused: probe.refused() - refused0,
      note: beforeStop(),
    };
  } finally {
    await p.stop("SIGINT");
  }
}

/** Fills a new ring at `path` with `count` frames of `len` bytes (sized to be just full). */
function fill(path: string, len: number, count: number): void {
  const bytes = count * recordSize(len);
  createRing(path, { size: Math.ceil((bytes + (1 << 20)) / (1 << 20)) << 20 });
  const frames = drainFrames(len);
  const w = RingWriter.open(path, { desc: "bench" });
  try {
    for (let i = 0; i < count; i++) w.write(frames[i % frames.length], 0, len, len, 0, 0);
    w.commit();
  } finally {
    w.close();
  }
}

/** "" when the fluxcap reader of `ring` sent all `count` frames, else what it counted. */
function readerCheck(ring: string, count: number): string {
  const r = RingFile.open(ring);
  try {
    const x = snapshot(r).readers[0];
    if (!x) return "(no reader attached)";
    const dropped = Object.values(x.drops).reduce((a, b) => a + b, 0);
    return x.framesSent === count && dropped === 0 && x.framesLost === 0
      ? ""
      : `(sent ${x.framesSent} of ${count}, dropped ${dropped}, lost ${x.framesLost})`;
  } finally {
    r.close();
  }
}

const k = (pps: number) => pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : `${(pps / 1e3).toFixed(0)} k`;

/** Runs the drain benchmark; returns markdown. */
export async function benchDrain(opts: DrainOptions = {}): Promise<string> {
  const why = await labAvailable(["ip", "taskset"]);
  if (why) return `Drain benchmark skipped: ${why}\n`;
  const log = opts.log ?? ((s: string) => console.error(s));
  const rounds = opts.rounds ?? 5;
  const counts = opts.counts ?? { 64: 2_000_000, 1514: 600_000 };
  const lab = await Lab.create("drain");
  const out: string[] = [];
  try {
    const a = await lab.ns("a");
    const b = await lab.ns("b");
    await lab.veth({ ns: a, name: "va", mtu: 1600 }, { ns: b, name: "vb", mac: MAC_B, mtu: 1600 });
    const pinned = navigator.hardwareConcurrency >= 2;
    const pin = pinned ? ["taskset", "-c", "0"] : [];
    const rps = opts.rps ? (pinned ? 2 : 1) : 0;
    const r = await lab.run(b, ["sh", "-c", `echo ${rps} > /sys/class/net/vb/queues/rx-0/rps_cpus`]);
    if (r.code !== 0) throw new Error(`Cannot set RPS on vb: ${r.stderr.trim()}`);
    // a process in each namespace, through whose /proc entry the veth's counters are read: frames
    // received, and send attempts the full backlog refused
    const watchA = lab.spawn(a, ["sleep", "3600"]);
    const watchB = lab.spawn(b, ["sleep", "3600"]);
    const probe = {
      rx: () => devCounters(watchB.pid, "vb")[RX_PACKETS],
      refused: () => devCounters(watchA.pid, "va")[TX_DROPPED],
    };
    const deno = Deno.execPath();
    const ceiling = (q: string[]) => (len: number, count: number) => [
      ...pin,
      deno,
      "run",
      "-A",
      SEND,
      "va",
      String(len),
      String(count),
      ...q,
    ];
    const tx = (cli: string[], q: string[]) => (_l: number, _c: number, ring: string) => [
      ...pin,
      ...cli,
      "-tx",
      "-i",
      "va",
      ...q,
      "--from-oldest",
      ring,
    ];
    const senders: Sender[] = [
      { label: "ceiling: sendmmsg from one buffer", cmd: ceiling([]), fluxcap: false, ceiling: 0 },
      { label: "fluxcap -tx", cmd: tx(fluxcapCommand(), []), fluxcap: true, ceiling: 0 },
      { label: "ceiling, qdisc bypass", cmd: ceiling(["-q"]), fluxcap: false, ceiling: 2 },
      { label: "fluxcap -tx -q", cmd: tx(fluxcapCommand(), ["-q"]), fluxcap: true, ceiling: 2 },
    ];
    if (opts.base) {
      const cli = [deno, "run", "-A", `${opts.base.replace(/\/$/, "")}/cli.ts`];
      senders.push({ label: `fluxcap -tx (${opts.base})`, cmd: tx(cli, []), fluxcap: true, ceiling: 0 });
    }
    const rows: string[] = [];
    for (const len of [64, 1514]) {
      const count = counts[len];
      const ring = `${lab.dir}/ring${len}`;
      fill(ring, len, count);
      const runs: Drain[][] = senders.map(() => []);
      for (let round = 0; round < rounds; round++) {
        const order = senders.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) {
          const s = senders[i];
          const check = () => s.fluxcap ? readerCheck(ring, count) : "";
          const m = await timeDrain(lab, a, s.cmd(len, count, ring), count, probe, check);
          if (m.note) throw new Error(`${s.label} did not send every frame: ${m.note}`);
          runs[i].push(m);
          log(`drain ${len} B round ${round + 1}: ${s.label} ${k(m.pps)}pps, ${m.refused} refused`);
        }
      }
      Deno.removeSync(ring);
      for (const [i, s] of senders.entries()) {
        const pps = runs[i].map((m) => m.pps);
        const c = runs[s.ceiling].map((m) => m.pps);
        const ratio = s.ceiling === i ? "1×" : `${(median(pps) / median(c)).toFixed(2)}×`;
        const perRound = s.ceiling === i ? "-" : `${median(pps.map((v, j) => v / c[j])).toFixed(2)}×`;
        rows.push(
          `| ${len} B | ${count} | ${s.label} | ${k(median(pps))} | ${k(Math.min(...pps))}–${
            k(Math.max(...pps))
          } | ${ratio} | ${perRound} | ${median(runs[i].map((m) => m.refused))} |`,
        );
      }
    }
    await watchA.stop("SIGKILL");
    await watchB.stop("SIGKILL");
    out.push(
      `Drain: a full ring of N frames (capture stopped) sent by \`fluxcap -tx -i va --from-oldest\`, against ` +
        `a minimal sendmmsg sender sending the same frames from one plain buffer through the same kind of ` +
        `socket (the ceiling); frames/s at the receiver, first frame to last; median of ${rounds} alternating ` +
        `rounds${pinned ? ", senders on CPU 0" : ""}; ${
          opts.rps ? "receiving work on the other CPU (RPS)" : "receiving work inline on the sender's CPU"
        }`,
      "",
      "| frame | N | sender | median | spread | × its ceiling (medians) | median of per-round ratios | refused |",
      "|---|---|---|---|---|---|---|---|",
      ...rows,
      "",
    );
  } finally {
    await lab.close();
  }
  return out.join("\n");
}

if (import.meta.main) {
  const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const rounds = arg("rounds");
  console.log(
    await benchDrain({
      rounds: rounds ? Number(rounds) : undefined,
      base: arg("base"),
      rps: Deno.args.includes("--rps"),
    }),
  );
}
