/**
 * The kernel's `tc … action mirred` on in0's ingress: the ceiling the other forwarders are measured
 * against (no process, no copy to user space).
 *
 * @module
 */
import type { Topo } from "../topology.ts";
import { type Forwarder, outputs } from "./common.ts";

/** Mirrors in0 to the outputs with an ingress filter that matches every frame. */
export async function startMirred(t: Topo, fanout: number): Promise<Forwarder> {
  const actions = outputs(fanout).flatMap((o) => ["action", "mirred", "egress", "mirror", "dev", o]);
  // This kernel has no matchall classifier: u32 matching zero bits of the first word matches all.
  const match = ["protocol", "all", "u32", "match", "u32", "0", "0"];
  for (
    const cmd of [
      ["tc", "qdisc", "add", "dev", "in0", "ingress"],
      ["tc", "filter", "add", "dev", "in0", "parent", "ffff:", ...match, ...actions],
    ]
  ) {
    const r = await t.lab.run(t.fx, cmd);
    if (r.code !== 0) throw new Error(`"${cmd.join(" ")}" failed: ${r.stderr.trim()}`);
  }
  return {
    tool: "mirred",
    fanout,
    procs: [],
    dead: () => null,
    stop: async () => {
      const r = await t.lab.run(t.fx, ["tc", "qdisc", "del", "dev", "in0", "ingress"]);
      return r.code === 0 ? "" : r.stderr.trim();
    },
  };
}
