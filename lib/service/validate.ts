/**
 * The one adapter between the service configuration and the command line's own validation: a pipeline
 * of the configuration is valid exactly when the `fluxcap -rx …` / `fluxcap -tx …` command line it
 * turns into would be accepted. Everything in `lib/service` validates pipelines through
 * {@linkcode validatePipelineArgv} and nothing else, so when the command line's parser changes, this
 * file is the only one to follow it.
 *
 * What it checks is what the modes check before they touch the system: the option syntax and which
 * options apply (`parseArgs`), and every value (frame operations, kernel ring geometry, tunnel, key,
 * port, capture-file options). It does not look for interfaces, resolve host names, or open rings:
 * those are runtime conditions (a NIC may come back later) that the pipeline's process reports itself.
 *
 * @module
 */
import { parseArgs, UsageError } from "../args.ts";
import { checkKernelRing, KERNEL_RING_DEFAULTS } from "../io/capture.ts";
import { MEGABYTE, resolveTarget } from "../io/pcapfile.ts";
import { parseEncapSpec, parseKey, parsePort } from "../io/tunnel.ts";
import { oneRing } from "../modes/common.ts";
import { intOption, opsFromArgs } from "../modes/options.ts";

/**
 * Validates a pipeline's command line (without the program name) as `fluxcap` would before starting:
 * returns when it would start, throws the command line's own one-line error otherwise.
 *
 * @example
 * ```ts
 * import { validatePipelineArgv } from "./validate.ts";
 * validatePipelineArgv(["-rx", "-i", "eth1", "-V", "100", "/ram/cisco"]); // fine
 * validatePipelineArgv(["-tx", "-i", "eth2", "-V", "5000", "/ram/cisco"]); // throws: out of range
 * ```
 */
export function validatePipelineArgv(argv: string[]): void {
  const a = parseArgs(argv);
  if (a.mode !== "rx" && a.mode !== "tx") {
    throw new UsageError(`A pipeline is a -rx or -tx command line, not ${a.mode}`);
  }
  const side = a.mode;
  const ring = oneRing(a.rings, `-${side}`);
  opsFromArgs(a, side);
  if (a.encap !== undefined) {
    const spec = parseEncapSpec(a.encap, side);
    if (a.vxlanPort !== undefined && spec.kind !== "vxlan") {
      throw new UsageError(`--vxlan-port applies to -E vxlan, not -E ${spec.kind}`);
    }
    if (side === "rx" && a.fragment) {
      throw new UsageError("--fragment applies to -tx -E vxlan; received packets are reassembled");
    }
    if (side === "tx") {
      if (a.iface !== undefined) {
        throw new UsageError(
          `-tx -E sends by the routing table; -i "${a.iface}" is not used (route the peer over it instead)`,
        );
      }
      if (a.fragment && spec.kind !== "vxlan") {
        throw new UsageError(`--fragment applies to -E vxlan; GRE and GRETAP packets are always fragmented`);
      }
    }
    if (a.vxlanPort !== undefined) parsePort(a.vxlanPort, "--vxlan-port");
    if (a.key !== undefined) parseKey(a.key, spec.kind);
    return;
  }
  if (side === "rx" && a.read !== undefined) {
    if (a.read === "") throw new UsageError('Invalid capture file name "": empty');
    if (a.iface !== undefined) throw new UsageError("-rx takes either -i <eth> or --read <file>, not both");
    const loops = a.loop === undefined ? 1 : intOption(a.loop, "loop count (--loop)", 0, 2 ** 31);
    if (a.read === "-" && loops !== 1) {
      throw new UsageError("--loop needs a file it can read again, not - (stdin)");
    }
    return;
  }
  if (side === "tx" && a.write !== undefined) {
    if (a.rotateSeconds !== undefined) intOption(a.rotateSeconds, "rotation interval (-G)", 1, 365 * 86400);
    if (a.rotateMegabytes !== undefined) {
      const t = a.rotateMegabytes.trim();
      const mb = Number(t);
      if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || !(mb > 0) || mb > 1e6 || !(mb * MEGABYTE >= 1)) {
        throw new UsageError(
          `Invalid file size (-C) "${a.rotateMegabytes}": a number of megabytes (10^6 bytes) above 0`,
        );
      }
    }
    if (a.write === "-" && (a.rotateSeconds !== undefined || a.rotateMegabytes !== undefined)) {
      throw new UsageError("-G and -C rotate files: they cannot be used with -w - (stdout)");
    }
    try {
      resolveTarget(a.write, ring);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (a.iface !== undefined) throw new UsageError("-tx takes either -i <eth> or -w <path>, not both");
    return;
  }
  if (a.iface === undefined) {
    throw new UsageError(
      side === "rx"
        ? "-rx needs an interface (-i <eth>), a tunnel (-E) or --read <file>"
        : "-tx needs an interface (-i <eth>), a tunnel (-E) or -w <file>",
    );
  }
  if (a.iface === "") throw new UsageError('Invalid interface name "": empty');
  if (side === "tx") {
    if (a.frameSize !== undefined) intOption(a.frameSize, "frame size (-Z)", 64, 1 << 20);
    return;
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
}
