/**
 * What every forwarder of the replication benchmark looks like to the trials ({@linkcode Forwarder}),
 * and the helpers of the peers that run as processes.
 *
 * @module
 */
import type { LabProcess } from "../../../lib/lab/mod.ts";
import { lastLine, sleep } from "../common.ts";

/**
 * The forwarders compared; "netsniff-ng -k 1000" flushes its TX ring every 1 ms instead of every 10 µs;
 * "fluxcap 1tx" is a prototype (1→2 only): one transmit process for both outputs (`multi_tx.ts`).
 */
export type ToolName =
  | "mirred"
  | "fluxcap"
  | "fluxcap -q"
  | "fluxcap 1tx"
  | "netsniff-ng"
  | "netsniff-ng -k 1000"
  | "daemonlogger";

/** A forwarder replicating in0 to out1 (and out2) in the `fx` namespace. */
export interface Forwarder {
  tool: ToolName;
  fanout: number;
  /** Processes whose CPU counts (label, pid). */
  procs: { label: string; pid: number }[];
  /** Ring path (fluxcap only). */
  ring?: string;
  /** Why a forwarder process has exited, or null while all run. */
  dead(): string | null;
  /** Stops it; returns notes on processes that did not exit cleanly ("" when all did). */
  stop(): Promise<string>;
}

/** The output interfaces of a fanout. */
export function outputs(fanout: number): string[] {
  return fanout === 1 ? ["out1"] : ["out1", "out2"];
}

/** A `dead()` for processes `ps` labelled `labels`: the first that exited, with its last words. */
export function deadOf(ps: LabProcess[], labels: string[]): () => string | null {
  return () => {
    const i = ps.findIndex((p) => p.exited);
    if (i < 0) return null;
    const p = ps[i];
    return `${labels[i]} exited: ${lastLine(p.stderr) || lastLine(p.stdout) || "(no message)"}`;
  };
}

/** Stops every process (SIGINT, SIGKILL after 3 s); returns notes on those that exited non-zero. */
export async function stopAll(ps: LabProcess[]): Promise<string> {
  const notes: string[] = [];
  for (const p of ps) {
    const r = await p.stop("SIGINT", 3000);
    if (r.code !== 0) notes.push(`${p.cmd.slice(0, 3).join(" ")} exited ${r.code}: ${lastLine(r.stderr)}`);
  }
  return notes.join("; ");
}

/**
 * A forwarder made of one process per output (netsniff-ng, daemonlogger): spawns each, waits until it
 * is `ready`, and checks after half a second that none has died; stops them all on failure.
 */
export async function perOutput(
  tool: ToolName,
  fanout: number,
  spawn: (out: string, i: number) => LabProcess,
  ready: (p: LabProcess) => Promise<void>,
): Promise<Forwarder> {
  const outs = outputs(fanout);
  const ps: LabProcess[] = [];
  const labels = outs.map((_, i) => `#${i + 1}`);
  try {
    for (const [i, o] of outs.entries()) {
      const p = spawn(o, i);
      ps.push(p);
      await ready(p);
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
