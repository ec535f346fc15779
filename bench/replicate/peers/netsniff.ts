/**
 * netsniff-ng as a forwarder: one `netsniff-ng --in in0 --out outN` per output, as is or with `-k 1000`
 * (its TX ring flushed every 1 ms instead of every 10 µs).
 *
 * @module
 */
import type { Topo } from "../topology.ts";
import { type Forwarder, perOutput } from "./common.ts";

/** Starts netsniff-ng (`tool` "netsniff-ng" or "netsniff-ng -k 1000") replicating in0 to `fanout` outputs. */
export function startNetsniff(
  t: Topo,
  tool: "netsniff-ng" | "netsniff-ng -k 1000",
  fanout: number,
): Promise<Forwarder> {
  // -A: leave the host's socket-memory sysctls alone; -Q: leave IRQ affinity alone; -S: its default ring
  // size cannot be allocated on a veth here ("Cannot allocate RX_RING!").
  const k = tool === "netsniff-ng -k 1000" ? ["-k", "1000"] : [];
  return perOutput(
    tool,
    fanout,
    (o) =>
      t.lab.spawn(t.fx, ["netsniff-ng", "--in", "in0", "--out", o, "-s", "-A", "-Q", "-S", "64MiB", ...k]),
    (p) => p.waitFor("Running!", { stream: "stdout", timeoutMs: 10_000 }),
  );
}
