/**
 * The forwarders the replication benchmark compares, each in its own file, behind one
 * {@linkcode startForwarder}; and {@linkcode FwdSlot}, which restarts a forwarder that died.
 *
 * @module
 */
import type { Topo } from "../topology.ts";
import type { Forwarder, ToolName } from "./common.ts";
import { startDaemonlogger } from "./daemonlogger.ts";
import { startFluxcap } from "./fluxcap.ts";
import { startMirred } from "./mirred.ts";
import { startNetsniff } from "./netsniff.ts";

export type { Forwarder, ToolName } from "./common.ts";
export { ringSnap } from "./fluxcap.ts";

/** Every forwarder, in the order the benchmark runs them. */
export const TOOLS: ToolName[] = [
  "mirred",
  "fluxcap",
  "fluxcap -q",
  "fluxcap 1tx",
  "netsniff-ng",
  "netsniff-ng -k 1000",
  "daemonlogger",
];

/** Starts `tool` replicating in0 to `fanout` (1 or 2) outputs in the `fx` namespace. */
export function startForwarder(t: Topo, tool: ToolName, fanout: number): Promise<Forwarder> {
  switch (tool) {
    case "mirred":
      return startMirred(t, fanout);
    case "fluxcap":
    case "fluxcap -q":
    case "fluxcap 1tx":
      return startFluxcap(t, tool, fanout);
    case "netsniff-ng":
    case "netsniff-ng -k 1000":
      return startNetsniff(t, tool, fanout);
    case "daemonlogger":
      return startDaemonlogger(t, fanout);
  }
}

/** A forwarder that is restarted when one of its processes died (netsniff-ng exits under load). */
export class FwdSlot {
  /** The running forwarder. */
  cur: Forwarder;
  /** How often it was restarted. */
  restarts = 0;
  #t: Topo;
  private constructor(t: Topo, cur: Forwarder) {
    this.#t = t;
    this.cur = cur;
  }
  /** Starts `tool` in a slot. */
  static async start(t: Topo, tool: ToolName, fanout: number): Promise<FwdSlot> {
    return new FwdSlot(t, await startForwarder(t, tool, fanout));
  }
  /** Restarts the forwarder if one of its processes died. */
  async ensure(log: (s: string) => void): Promise<void> {
    if (this.cur.dead() === null) return;
    await this.cur.stop();
    this.cur = await startForwarder(this.#t, this.cur.tool, this.cur.fanout);
    this.restarts++;
    log(`    (restarted ${this.cur.tool})`);
  }
}
