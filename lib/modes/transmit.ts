/**
 * `fluxcap -tx -i IF RING`: send a ring out of a NIC (also `-tx -E …` tunnels and `-tx -w FILE`).
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import { ifIndex } from "../io/netdev.ts";
import { checkRing, oneRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { intOption, noOps, opsFromArgs } from "./options.ts";
import type { TxNicJob } from "./tx_nic.ts";

/** Runs the transmit mode; resolves to the exit status. */
export async function runTransmit(a: Args, log: (s: string) => void): Promise<number> {
  const ring = oneRing(a.rings, "-tx");
  const ops = opsFromArgs(a, "tx");
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new FluxError(`Invalid --seconds "${a.seconds}"`);
  if (a.encap !== undefined) {
    const { runTunnelTransmit } = await import("./tunnel_tx.ts");
    return runTunnelTransmit(a, ring, ops, log);
  }
  if (a.write !== undefined) {
    const { runPcapTransmit } = await import("./pcap_tx.ts");
    return runPcapTransmit(a, ring, ops, log);
  }
  if (a.iface === undefined) {
    throw new UsageError("-tx needs an interface (-i <eth>), a tunnel (-E) or -w <file>");
  }
  const frameSize = a.frameSize === undefined
    ? undefined
    : intOption(a.frameSize, "frame size (-Z)", 64, 1 << 20);
  checkRing(ring);
  ifIndex(a.iface);
  const job: TxNicJob = {
    kind: "tx-nic",
    iface: a.iface,
    ring,
    ops,
    passthrough: noOps(ops),
    txRing: a.txRing,
    qdiscBypass: a.qdiscBypass,
    fromOldest: a.fromOldest,
    frameSize,
  };
  if (a.verbose) {
    log(
      `fluxcap -tx: sending ring "${ring}" on "${a.iface}" with ${a.txRing ? "PACKET_TX_RING" : "sendmmsg"}` +
        `${a.qdiscBypass ? ", qdisc bypass" : ""}; frame operations: ${JSON.stringify(ops)}`,
    );
  }
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "tx", log) : undefined,
  });
}
