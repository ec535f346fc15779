/**
 * `fluxcap -tx -w PATH RING`: write a ring to pcap files (or stdout with `-w -`), rotated by `-G` and
 * `-C` as tcpdump does. See `PCAP.md` beside this file for the naming and flushing rules.
 *
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import { MEGABYTE, resolveTarget } from "../io/pcapfile.ts";
import type { OpsConfig } from "../ops/mod.ts";
import { MAGIC } from "../ring/layout.ts";
import { checkRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { intOption, noOps } from "./options.ts";
import type { TxPcapJob } from "./pcap_tx_loop.ts";

/** True if `path` is an existing file that starts with a fluxcap ring's magic. */
function isRingFile(path: string): boolean {
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const head = new Uint8Array(MAGIC.length);
      const n = f.readSync(head) ?? 0;
      return n === MAGIC.length && head.every((b, i) => b === MAGIC[i]);
    } finally {
      f.close();
    }
  } catch {
    return false; // missing or unreadable: the writer reports it
  }
}

/** Runs the mode; resolves to the exit status. */
export async function runPcapTransmit(
  a: Args,
  ring: string,
  ops: OpsConfig,
  log: (s: string) => void,
): Promise<number> {
  const path = a.write!;
  const rotateSeconds = a.rotateSeconds === undefined
    ? undefined
    : intOption(a.rotateSeconds, "rotation interval (-G)", 1, 365 * 86400);
  let rotateBytes: number | undefined;
  if (a.rotateMegabytes !== undefined) {
    const t = a.rotateMegabytes.trim();
    const mb = Number(t);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || !(mb > 0) || mb > 1e6) {
      throw new UsageError(
        `Invalid file size (-C) "${a.rotateMegabytes}": a number of megabytes (10^6 bytes) above 0`,
      );
    }
    rotateBytes = Math.max(Math.round(mb * MEGABYTE), 1);
  }
  if (path === "-" && (rotateSeconds !== undefined || rotateBytes !== undefined)) {
    throw new UsageError("-G and -C rotate files: they cannot be used with -w - (stdout)");
  }
  let target;
  try {
    target = resolveTarget(path, ring);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (a.iface !== undefined) throw new UsageError("-tx takes either -i <eth> or -w <path>, not both");
  if (path !== "-" && isRingFile(path)) {
    throw new UsageError(
      `Cannot write capture file "${path}": it is a fluxcap ring, and writing would destroy it`,
    );
  }
  checkRing(ring);
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new FluxError(`Invalid --seconds "${a.seconds}"`);
  const job: TxPcapJob = {
    kind: "tx-pcap",
    path,
    target,
    ring,
    ops,
    passthrough: noOps(ops),
    fromOldest: a.fromOldest,
    rotateSeconds,
    rotateBytes,
    verbose: a.verbose > 0,
  };
  if (a.verbose) {
    const where = target.kind === "stdout" ? "stdout" : `"${target.template}"`;
    const rot = [
      rotateSeconds !== undefined ? `every ${rotateSeconds} s` : "",
      rotateBytes !== undefined ? `every ${rotateBytes} bytes` : "",
    ].filter((s) => s).join(" or ");
    log(
      `fluxcap -tx: writing ring "${ring}" to ${where}${rot ? `, new file ${rot}` : ""}; ` +
        `frame operations: ${JSON.stringify(ops)}`,
    );
  }
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "tx", log) : undefined,
  });
}
