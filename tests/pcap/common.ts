/**
 * Helpers of the capture-file tests: filling rings directly, reading them back, running fluxcap and
 * the reference tools (tcpdump, tshark, editcap), building pcap files with chosen timestamps.
 * @module
 */
import { fluxcapCommand } from "../helpers.ts";
import { makeFrame, type VlanSpec } from "../lab.ts";
import { RingFile, RingReader, RingWriter, snapshot } from "../../lib/ring/mod.ts";
import type { RingSnapshot } from "../../lib/ring/mod.ts";

/** A frame with its capture time and wire length, as stored in a ring. */
export interface TimedFrame {
  data: Uint8Array;
  sec: number;
  nsec: number;
  wire: number;
}

/** `count` test frames of 60..1514 bytes (some 802.1Q VLAN 5, some QinQ), distinct ns timestamps. */
export function timedFrames(count: number, opts: { seqBase?: number; minLen?: number } = {}): TimedFrame[] {
  const out: TimedFrame[] = [];
  const base = opts.seqBase ?? 0;
  const min = opts.minLen ?? 60;
  for (let i = 0; i < count; i++) {
    const seq = base + i;
    const len = min + ((i * 149) % (1514 - min + 1));
    const k = i % 5;
    const vlan: VlanSpec | VlanSpec[] | undefined = k === 1
      ? { tpid: 0x8100, vid: 5 }
      : k === 3
      ? [{ tpid: 0x88a8, vid: 30 }, { tpid: 0x8100, vid: 40 }]
      : undefined;
    const data = makeFrame({ len, seq, vlan });
    out.push({
      data,
      sec: 1_700_000_000 + Math.floor(seq / 3),
      nsec: (seq * 987_654_321 + 1) % 1_000_000_000,
      wire: len + (i % 7 === 0 ? 100 : 0), // some frames were already cut when captured
    });
  }
  return out;
}

/** Appends frames to a ring through the ring library (the test plays the rx side). */
export function fillRing(path: string, frames: TimedFrame[]): void {
  const w = RingWriter.open(path, { desc: "test" });
  try {
    for (const f of frames) {
      if (!w.write(f.data, 0, f.data.length, f.wire, f.sec, f.nsec)) {
        throw new Error("frame too big for ring");
      }
    }
    w.commit();
  } finally {
    w.close();
  }
}

/** Every frame the ring still holds, oldest first. */
export function readRing(path: string): TimedFrame[] {
  const r = RingReader.open(path, { fromOldest: true, desc: "test" });
  const out: TimedFrame[] = [];
  try {
    for (;;) {
      const n = r.poll();
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        out.push({
          data: r.data.slice(r.offs[i], r.offs[i] + r.lens[i]),
          sec: r.secs[i],
          nsec: r.nsecs[i],
          wire: r.wires[i],
        });
      }
      if (r.release() !== 0) throw new Error("ring overwritten while reading it back");
    }
  } finally {
    r.close();
  }
  return out;
}

/** A snapshot of the ring's counters. */
export function snap(path: string): RingSnapshot {
  const r = RingFile.open(path);
  try {
    return snapshot(r);
  } finally {
    r.close();
  }
}

/** Polls `pred` every 20 ms until it holds; throws after `timeoutMs` quoting `what`. */
export async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A running fluxcap with piped output. */
export interface Running {
  child: Deno.ChildProcess;
  /** Resolves with exit code and stderr once it ends (stdout is left to the caller when `stdout`). */
  done: Promise<{ code: number; stderr: string; stdout: Uint8Array }>;
}

/**
 * Starts fluxcap; stdout is collected unless `pipeStdout` (then the caller reads `child.stdout`). `stdin`
 * is written and closed; with `pipeStdin` the caller writes `child.stdin` itself.
 */
export function spawnFluxcap(
  args: string[],
  opts: { pipeStdout?: boolean; stdin?: Uint8Array; pipeStdin?: boolean } = {},
): Running {
  const [cmd, ...pre] = fluxcapCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: opts.stdin || opts.pipeStdin ? "piped" : "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (opts.stdin && !opts.pipeStdin) {
    const w = child.stdin.getWriter();
    w.write(opts.stdin).then(() => w.close()).catch(() => {});
  }
  const err = new Response(child.stderr).text();
  const out = opts.pipeStdout ? Promise.resolve(new Uint8Array(0)) : new Response(child.stdout).bytes();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 40_000);
  const done = (async () => {
    const st = await child.status;
    clearTimeout(timer);
    return { code: st.code, stderr: await err, stdout: await out };
  })();
  return { child, done };
}

/** Sends SIGINT and waits; asserts nothing. */
export async function interrupt(r: Running): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = performance.now();
  try {
    r.child.kill("SIGINT");
  } catch { /* already gone */ }
  const res = await r.done;
  return { code: res.code, stderr: res.stderr, ms: performance.now() - t0 };
}

/** Runs a tool to completion. */
export async function tool(
  cmd: string[],
  opts: { stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: opts.stdin ? "piped" : "null",
  }).spawn();
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** One record as tcpdump shows it with `-tt --nano -n -xx -v`. */
export interface DumpRecord {
  sec: number;
  nsec: number;
  caplen: number;
  hex: string;
}

/**
 * Parses `tcpdump -r FILE -n -tt --nano -xx` output: the first line of each packet starts with the
 * timestamp, the hex lines start with a tab and `0x`.
 */
export function parseTcpdump(text: string): DumpRecord[] {
  const out: DumpRecord[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+)\.(\d{9}) /.exec(line);
    if (m) {
      out.push({ sec: Number(m[1]), nsec: Number(m[2]), caplen: 0, hex: "" });
      continue;
    }
    const h = /^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (h && out.length > 0) {
      const last = out[out.length - 1];
      last.hex += h[1].replace(/\s+/g, "");
      last.caplen = last.hex.length / 2;
    }
  }
  return out;
}

/** Lowercase hex of bytes. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A classic pcap (nanosecond magic unless `micro`) of `frames` with their own times and wire lengths. */
export function pcapOf(frames: TimedFrame[], opts: { linkType?: number; micro?: boolean } = {}): Uint8Array {
  const total = 24 + frames.reduce((n, f) => n + 16 + f.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, opts.micro ? 0xa1b2c3d4 : 0xa1b23c4d, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 262144, true);
  dv.setUint32(20, opts.linkType ?? 1, true);
  let o = 24;
  for (const f of frames) {
    dv.setUint32(o, f.sec, true);
    dv.setUint32(o + 4, opts.micro ? Math.floor(f.nsec / 1000) : f.nsec, true);
    dv.setUint32(o + 8, f.data.length, true);
    dv.setUint32(o + 12, f.wire, true);
    out.set(f.data, o + 16);
    o += 16 + f.data.length;
  }
  return out;
}

/** True when every tool is on PATH. */
export async function haveTools(tools: string[]): Promise<string | null> {
  for (const t of tools) {
    try {
      const r = await tool(["sh", "-c", `command -v ${t}`]);
      if (r.code !== 0) return `Cannot find "${t}" on PATH`;
    } catch {
      return `Cannot run sh to look for "${t}"`;
    }
  }
  return null;
}

/**
 * `stderr` of a run without its replay summaries: every `-rx --read` ends with one line saying what it
 * read and wrote; a clean one (nothing skipped) is removed, anything else stays for the caller to see.
 */
export function quiet(stderr: string): string {
  return stderr.split("\n").filter((l) =>
    !/^fluxcap -rx: ".*": \d+ frames? read, \d+ written( in \d+ passes)?( \(stopped before the end of (the file|the last pass)\))?$/
      .test(l)
  )
    .join("\n");
}
