/**
 * `fluxcap -tx -w PATH RING`: write a ring to pcap files (or stdout with `-w -`), rotated by `-G` and
 * `-C` as tcpdump does. See `PCAP.md` beside this file for the naming and flushing rules.
 *
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import {
  chooseFormat,
  MEGABYTE,
  parseFileMode,
  type PcapFileOptions,
  resolveTarget,
} from "../io/pcapfile.ts";
import { splitCommand } from "../io/postrotate.ts";
import { parseSize } from "../ring/mod.ts";
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
  const output: PcapFileOptions = {};
  try {
    output.format = chooseFormat(path, a.format);
    target = resolveTarget(path, ring, output.format);
    if (a.postRotate !== undefined) output.postRotate = splitCommand(a.postRotate);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (a.maxFiles !== undefined) output.maxFiles = intOption(a.maxFiles, "file count (-W)", 1, 1_000_000);
  if (a.maxDisk !== undefined) {
    const n = parseSize(a.maxDisk, "disk limit (--max-disk)");
    if (n instanceof Error) throw new UsageError(n.message);
    output.maxBytes = n;
  }
  if ((a.maxFiles !== undefined || a.maxDisk !== undefined) && !rotateSeconds && !rotateBytes) {
    throw new UsageError("-W and --max-disk keep rotated files: they need -G or -C");
  }
  if (output.maxBytes !== undefined && rotateBytes !== undefined && output.maxBytes < 2 * rotateBytes) {
    throw new UsageError(
      `Invalid disk limit (--max-disk) "${a.maxDisk}": must hold two -C files (the last one and the one ` +
        `being written), at least ${2 * rotateBytes} bytes`,
    );
  }
  if (a.fileMode !== undefined) {
    const m = parseFileMode(a.fileMode);
    if (typeof m === "string") throw new UsageError(m);
    output.fileMode = m;
  }
  if (path === "-" && (a.postRotate !== undefined || a.fileMode !== undefined)) {
    throw new UsageError("-z and --file-mode apply to files: they cannot be used with -w - (stdout)");
  }
  output.interfaces = [{
    name: ring.slice(ring.lastIndexOf("/") + 1) || ring,
    description: `fluxcap ring ${ring}`,
  }];
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
    output,
    verbose: a.verbose > 0,
  };
  if (a.verbose) {
    const where = target.kind === "stdout" ? "stdout" : `"${target.template}"`;
    const rot = [
      rotateSeconds !== undefined ? `every ${rotateSeconds} s` : "",
      rotateBytes !== undefined ? `every ${rotateBytes} bytes` : "",
    ].filter((s) => s).join(" or ");
    const keep = [
      output.maxFiles !== undefined ? `the ${output.maxFiles} newest files` : "",
      output.maxBytes !== undefined ? `at most ${output.maxBytes} bytes` : "",
    ].filter((s) => s).join(" and ");
    log(
      `fluxcap -tx: writing ring "${ring}" to ${where} as ${output.format}` +
        `${rot ? `, new file ${rot}` : ""}${keep ? `, keeping ${keep}` : ""}` +
        `${output.postRotate ? `, then running ${JSON.stringify(output.postRotate.join(" "))}` : ""}; ` +
        `frame operations: ${JSON.stringify(ops)}`,
    );
  }
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "tx", log) : undefined,
  });
}
