/**
 * Shared helpers of the packet-broker tests (filter expressions, output groups, duplicate removal):
 * fluxcap processes outside any namespace for file-only pipelines (no socket), rings written and read
 * from the test process, tcpdump as the reference for filter expressions.
 * @module
 */
import { fluxcapCommand } from "../helpers.ts";
import { RingReader, type RingSnapshot, RingWriter, snapshotOf } from "../../lib/ring/mod.ts";
import { indicesOfPcap } from "../ops/corpus.ts";

/** A fluxcap process started by {@linkcode startFluxcap}. */
export interface Proc {
  child: Deno.ChildProcess;
  pid: number;
  /** Resolves with the exit status and stderr once it ended. */
  done: Promise<{ code: number; stderr: string }>;
}

/** Starts fluxcap with `args` (file-only pipelines: no namespace needed), killed after `timeoutMs`. */
export function startFluxcap(args: string[], timeoutMs = 30_000): Proc {
  const [cmd, ...pre] = fluxcapCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  }, timeoutMs);
  const done = child.output().then((o) => {
    clearTimeout(timer);
    return { code: o.code, stderr: new TextDecoder().decode(o.stderr) };
  });
  return { child, pid: child.pid, done };
}

/** Runs `tasks` with at most `n` at a time; resolves with their results in order. */
export async function pool<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}

/** Polls `cond` every 20 ms until it holds or `ms` passed; returns whether it held. */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/** Every record of the ring, oldest first: bytes (copies), wire length and time stamp. */
export function ringRecords(path: string): { bytes: Uint8Array; wire: number; sec: number; nsec: number }[] {
  const r = RingReader.open(path, { fromOldest: true, desc: "test" });
  const out: { bytes: Uint8Array; wire: number; sec: number; nsec: number }[] = [];
  try {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const n = r.poll();
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        out.push({
          bytes: r.data.slice(r.offs[i], r.offs[i] + r.lens[i]),
          wire: r.wires[i],
          sec: r.secs[i],
          nsec: r.nsecs[i],
        });
      }
      r.release();
    }
  } finally {
    r.close();
  }
  return out;
}

/** Writes frames into an existing ring, with their wire lengths and time stamps. */
export function writeRing(
  path: string,
  frames: { bytes: Uint8Array; wire?: number; sec: number; nsec: number }[],
): void {
  const w = RingWriter.open(path, { desc: "test" });
  try {
    for (const f of frames) {
      if (!w.write(f.bytes, 0, f.bytes.length, f.wire ?? f.bytes.length, f.sec, f.nsec)) {
        throw new Error(`frame of ${f.bytes.length} bytes does not fit the ring`);
      }
    }
    w.commit();
  } finally {
    w.close();
  }
}

/** The frame indices `tcpdump -r FILE -w - EXPR` keeps (from the corpus's time stamps). */
export async function tcpdumpKeeps(file: string, expr: string): Promise<number[]> {
  const out = await new Deno.Command("tcpdump", {
    args: ["-r", file, "-w", "-", expr],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  if (out.code !== 0) throw new Error(`tcpdump failed on "${expr}": ${new TextDecoder().decode(out.stderr)}`);
  return indicesOfPcap(out.stdout);
}

/** The reader of process `pid` on the ring (not a group member), or undefined. */
export function readerOf(s: RingSnapshot, pid: number): RingSnapshot["readers"][number] | undefined {
  return s.readers.find((r) => r.pid === pid && r.kind !== "member");
}

/** Sum of a drop-count record. */
export function dropsTotal(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

/**
 * Waits until the reader of `pid` accounted for `n` frames (sent + dropped + lost), then stops the
 * process with SIGINT; returns the last snapshot of that reader (taken before the stop).
 */
export async function drainAndStop(
  ring: string,
  p: Proc,
  n: number,
  ms = 15_000,
): Promise<RingSnapshot["readers"][number]> {
  let last: RingSnapshot["readers"][number] | undefined;
  let exited = false;
  p.done.then(() => exited = true);
  await until(() => {
    if (exited) return true;
    last = readerOf(snapshotOf(ring), p.pid);
    return last !== undefined && last.framesSent + dropsTotal(last.drops) + last.framesLost >= n;
  }, ms);
  if (exited) throw new Error(`fluxcap ended early: ${(await p.done).stderr}`);
  try {
    p.child.kill("SIGINT");
  } catch { /* ended */ }
  const res = await p.done;
  if (res.code !== 0) throw new Error(`fluxcap exit ${res.code}: ${res.stderr}`);
  if (last === undefined) throw new Error(`no reader of pid ${p.pid} on ${ring}: ${res.stderr}`);
  return last;
}
