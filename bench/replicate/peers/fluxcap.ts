/**
 * fluxcap as a forwarder: `-rx -i in0` into a 256 MiB ring on /dev/shm and one `-tx -i outN` per
 * output (with `-q` for the "fluxcap -q" variant), started once both have attached to the ring; or,
 * for the "fluxcap 1tx" prototype, one `multi_tx.ts` process for all outputs.
 *
 * @module
 */
import type { LabProcess } from "../../../lib/lab/mod.ts";
import { type RingSnapshot, snapshotOf } from "../../../lib/ring/mod.ts";
import { fluxcapCommand } from "../../../tests/helpers.ts";
import { sleep } from "../common.ts";

const MULTI_TX = new URL("../multi_tx.ts", import.meta.url).pathname;
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
  tool: "fluxcap" | "fluxcap -q" | "fluxcap 1tx",
  fanout: number,
): Promise<Forwarder> {
  const outs = outputs(fanout);
  const lab = t.lab;
  const txFlags = tool === "fluxcap -q" ? ["-q"] : [];
  const multi = tool === "fluxcap 1tx";
  const dir = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-bench-" });
  const ring = `${dir}/ring`;
  const fx = fluxcapCommand();
  const env = { NO_COLOR: "1" };
  const ps: LabProcess[] = [];
  const labels = [
    "rx",
    ...(multi ? [`tx${outs.map((_, i) => i + 1).join("+")}`] : outs.map((_, i) => `tx${i + 1}`)),
  ];
  try {
    const cr = await lab.run(t.fx, [...fx, "-cr", "-s", "256m", ring], { env });
    if (cr.code !== 0) throw new Error(`fluxcap -cr failed: ${cr.stderr.trim()}`);
    ps.push(lab.spawn(t.fx, [...fx, "-rx", "-i", "in0", ring], { env }));
    if (multi) ps.push(lab.spawn(t.fx, [Deno.execPath(), "run", "-A", MULTI_TX, ring, ...outs], { env }));
    else for (const o of outs) ps.push(lab.spawn(t.fx, [...fx, "-tx", "-i", o, ...txFlags, ring], { env }));
    const deadline = performance.now() + 30_000;
    for (;;) {
      const s = ringSnap(ring);
      if (s?.writer?.alive && s.readers.length >= (multi ? 1 : outs.length)) break;
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
