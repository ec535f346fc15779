/**
 * fluxcap as a forwarder: `-rx -i in0` into a 256 MiB ring on /dev/shm and one `-tx -i outN` per
 * output (with `-q` for the "fluxcap -q" variant), started once both have attached to the ring.
 *
 * @module
 */
import type { LabProcess } from "../../../lib/lab/mod.ts";
import { type RingSnapshot, snapshotOf } from "../../../lib/ring/mod.ts";
import { fluxcapCommand } from "../../../tests/helpers.ts";
import { sleep } from "../common.ts";
import type { Topo } from "../topology.ts";
import { deadOf, type Forwarder, outputs, stopAll } from "./common.ts";

/** The ring's counters, or null when it cannot be opened (not created yet, say). */
export function ringSnap(path: string): RingSnapshot | null {
  try {
    return snapshotOf(path);
  } catch {
    return null;
  }
}

/** Starts fluxcap (`tool` "fluxcap" or "fluxcap -q") replicating in0 to `fanout` outputs. */
export async function startFluxcap(
  t: Topo,
  tool: "fluxcap" | "fluxcap -q",
  fanout: number,
): Promise<Forwarder> {
  const outs = outputs(fanout);
  const lab = t.lab;
  const txFlags = tool === "fluxcap" ? [] : [tool.split(" ")[1]];
  const dir = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-bench-" });
  const ring = `${dir}/ring`;
  const fx = fluxcapCommand();
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
