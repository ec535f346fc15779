/**
 * daemonlogger as a forwarder: one `daemonlogger -i in0 -o outN` per output.
 *
 * @module
 */
import type { Topo } from "../topology.ts";
import { type Forwarder, perOutput } from "./common.ts";

/** Starts daemonlogger replicating in0 to `fanout` outputs. */
export function startDaemonlogger(t: Topo, fanout: number): Promise<Forwarder> {
  return perOutput(
    "daemonlogger",
    fanout,
    (o, i) => t.lab.spawn(t.fx, ["daemonlogger", "-i", "in0", "-o", o, "-P", t.lab.dir, "-p", `dl${i}.pid`]),
    (p) => p.waitFor("sniffing on interface", { stream: "stderr", timeoutMs: 10_000 }),
  );
}
