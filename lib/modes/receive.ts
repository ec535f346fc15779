/**
 * `fluxcap -rx -i IF RING`: capture a NIC into a ring (also `-rx -E …` tunnels and `-rx --read FILE`).
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import { checkKernelRing, KERNEL_RING_DEFAULTS } from "../io/capture.ts";
import { ifIndex } from "../io/netdev.ts";
import { checkRing, oneRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { intOption, noOps, opsFromArgs } from "./options.ts";
import type { RxNicJob } from "./rx_nic.ts";

/** Runs the receive mode; resolves to the exit status. */
export async function runReceive(a: Args, log: (s: string) => void): Promise<number> {
  const ring = oneRing(a.rings, "-rx");
  const ops = opsFromArgs(a, "rx");
  if (a.encap !== undefined) {
    const { runTunnelReceive } = await import("./tunnel_rx.ts");
    return runTunnelReceive(a, ring, ops, log);
  }
  if (a.read !== undefined) {
    const { runPcapReceive } = await import("./pcap_rx.ts");
    return runPcapReceive(a, ring, ops, log);
  }
  if (a.iface === undefined) {
    throw new UsageError("-rx needs an interface (-i <eth>), a tunnel (-E) or --read <file>");
  }
  const frameSize = a.frameSize === undefined
    ? undefined
    : intOption(a.frameSize, "frame size (-Z)", 1, 1 << 30);
  const blocks = a.blocks === undefined ? undefined : intOption(a.blocks, "number of blocks (-B)", 1, 65536);
  const blockSizeLog2 = a.blockSize === undefined
    ? undefined
    : intOption(a.blockSize, "block size (-S)", 1, 40);
  const bad = checkKernelRing({
    frameSize: frameSize ?? KERNEL_RING_DEFAULTS.frameSize,
    blocks: blocks ?? KERNEL_RING_DEFAULTS.blocks,
    blockSizeLog2: blockSizeLog2 ?? KERNEL_RING_DEFAULTS.blockSizeLog2,
  });
  if (bad) throw new UsageError(bad);
  checkRing(ring);
  ifIndex(a.iface);
  const job: RxNicJob = {
    kind: "rx-nic",
    iface: a.iface,
    ring,
    ops,
    passthrough: noOps(ops),
    frameSize,
    blocks,
    blockSizeLog2,
  };
  if (a.verbose) {
    log(`fluxcap -rx: capturing "${a.iface}" into ring "${ring}"; frame operations: ${JSON.stringify(ops)}`);
  }
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new FluxError(`Invalid --seconds "${a.seconds}"`);
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "rx", log) : undefined,
  });
}
