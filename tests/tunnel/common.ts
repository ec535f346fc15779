/**
 * Shared setup of the tunnel tests: two lab namespaces joined by a veth pair (IPv4 and IPv6), rings
 * filled and read from the test process, fluxcap started inside a namespace.
 * @module
 */
import { Lab, labAvailable, type LabProcess } from "../lab.ts";
import { fluxcapCommand } from "../helpers.ts";
import {
  createRing,
  RingFile,
  RingReader,
  type RingSnapshot,
  RingWriter,
  snapshot,
} from "../../lib/ring/mod.ts";

export const reason = await labAvailable(["ip", "tcpdump", "tshark", "tcpreplay"]);
if (reason) console.log(`tunnel tests skipped: ${reason}`);

/** A lab test: skipped with the printed reason when the lab cannot run here. */
export function labTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: reason !== null, fn, sanitizeResources: false, sanitizeOps: false });
}

export const A4 = "198.18.1.1";
export const B4 = "198.18.1.2";
export const A6 = "2001:db8:1::1";
export const B6 = "2001:db8:1::2";
export const MAC_A = "02:fc:00:00:00:0a";
export const MAC_B = "02:fc:00:00:00:0b";

/** Two namespaces `a` (va) and `b` (vb) on one veth pair. */
export interface Pair {
  lab: Lab;
  a: string;
  b: string;
  dir: string;
}

/** Builds the pair; `mtu` applies to both ends, `v6` adds IPv6 addresses. */
export async function pair(tag: string, opts: { mtu?: number; v6?: boolean } = {}): Promise<Pair> {
  const lab = await Lab.create(tag);
  try {
    const a = await lab.ns("a");
    const b = await lab.ns("b");
    await lab.veth(
      { ns: a, name: "va", mac: MAC_A, mtu: opts.mtu, ip: opts.v6 ? [`${A4}/24`, `${A6}/64`] : `${A4}/24` },
      { ns: b, name: "vb", mac: MAC_B, mtu: opts.mtu, ip: opts.v6 ? [`${B4}/24`, `${B6}/64`] : `${B4}/24` },
    );
    const dir = `${lab.dir}/rings`;
    Deno.mkdirSync(dir);
    return { lab, a, b, dir };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

/** Runs a command in `ns`, throwing with its output when it fails. */
export async function must(lab: Lab, ns: string, cmd: string[]): Promise<string> {
  const r = await lab.run(ns, cmd, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`"${cmd.join(" ")}" failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Creates a ring at `path` and writes `frames` into it. */
export function fillRing(path: string, frames: Uint8Array[], size = 8 << 20): void {
  createRing(path, { size });
  const w = RingWriter.open(path, { desc: "test" });
  try {
    for (const f of frames) w.write(f, 0, f.length);
    w.commit();
  } finally {
    w.close();
  }
}

/** Creates an empty ring. */
export function emptyRing(path: string, size = 8 << 20): void {
  createRing(path, { size });
}

/** Every frame in the ring, oldest first (copies). */
export function readRing(path: string): Uint8Array[] {
  const r = RingReader.open(path, { fromOldest: true, desc: "test" });
  const out: Uint8Array[] = [];
  try {
    for (let guard = 0; guard < 100_000; guard++) {
      const n = r.poll();
      if (n === 0) break;
      for (let i = 0; i < n; i++) out.push(r.data.slice(r.offs[i], r.offs[i] + r.lens[i]));
      r.release();
    }
  } finally {
    r.close();
  }
  return out;
}

/** The ring's counters now. */
export function snap(path: string): RingSnapshot {
  const r = RingFile.open(path);
  try {
    return snapshot(r);
  } finally {
    r.close();
  }
}

/** Starts fluxcap in `ns`. */
export function fluxcapIn(lab: Lab, ns: string, args: string[]): LabProcess {
  return lab.spawn(ns, [...fluxcapCommand(), ...args], { env: { NO_COLOR: "1" } });
}

/** Polls `cond` every 25 ms until it holds, bounded by `ms`; returns whether it held. */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

/** Waits until the ring has a live writer (a receiver is listening): throws with its output if not. */
export async function writerUp(path: string, p: LabProcess): Promise<void> {
  const ok = await until(() => snap(path).writer?.alive === true || p.exited, 20_000);
  if (!ok || p.exited) throw new Error(`receiver did not start: ${p.stderr.trim()}`);
}

/** Waits until the (only) reader of the ring accounted for `n` frames (sent or dropped). */
export async function accounted(path: string, n: number, p: LabProcess): Promise<RingSnapshot> {
  let s = snap(path);
  await until(() => {
    s = snap(path);
    const r = s.readers[0];
    if (!r) return p.exited;
    const dropped = Object.values(r.drops).reduce((x, y) => x + y, 0);
    return r.framesSent + dropped + r.framesLost >= n || p.exited;
  }, 20_000);
  if (p.exited) throw new Error(`sender exited: ${p.stderr.trim()}`);
  return s;
}

/** Reads `file` with tshark in `ns`: the `fields` of each packet matching `filter`. */
export async function tshark(
  lab: Lab,
  ns: string,
  file: string,
  filter: string,
  fields: string[],
): Promise<string[][]> {
  const args = ["tshark", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=|"];
  for (const f of fields) args.push("-e", f);
  const r = await lab.run(ns, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("|"));
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Asserts `got` equals `want` frame for frame, byte for byte, in order. */
export function assertFrames(got: Uint8Array[], want: Uint8Array[], what: string): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: got ${got.length} frames, want ${want.length}`);
  }
  for (let i = 0; i < want.length; i++) {
    if (hex(got[i]) !== hex(want[i])) {
      throw new Error(
        `${what}: frame ${i} differs:\n got  ${hex(got[i]).slice(0, 120)}\n want ${
          hex(want[i]).slice(0, 120)
        }`,
      );
    }
  }
}

/** Like {@link assertFrames} but in any order (the kernel may reorder packets of different flows). */
export function assertSameFrames(got: Uint8Array[], want: Uint8Array[], what: string): void {
  const key = (a: Uint8Array[]) =>
    a.map((f) => ({ f, h: hex(f) })).sort((x, y) => (x.h < y.h ? -1 : 1)).map((x) => x.f);
  assertFrames(key(got), key(want), what);
}
