/**
 * The command line turned into typed, validated settings, once: numbers and enums that the modes can
 * trust. Every check of a value's form and range lives here; what depends on the host (does the
 * interface exist, does the host name resolve, is the ring valid) is checked by the mode as it starts.
 * A configuration file (`fluxcap run`) feeds the same settings through the same command-line words.
 *
 * @module
 */
import { compileFilter, LibpcapMissing } from "../../ffi/libpcap.ts";
import { isUserError, UsageError } from "../errors.ts";
import {
  type BalanceMode,
  compileExpression,
  type OpsConfig,
  parseVlanFilter,
  validateOps,
  vlanOnly,
} from "../ops/mod.ts";
import { parseSize, ringSizeProblem } from "../ring/mod.ts";
import {
  chooseFormat,
  MAX_GROUP_MEMBERS,
  type NicSinkConfig,
  parseFileMode,
  type PcapFileOptions,
  splitCommand,
  TX_RING_DEFAULTS,
} from "../sinks/mod.ts";
import { checkKernelRing, KERNEL_RING_DEFAULTS, type KernelRingOptions } from "../sources/mod.ts";
import { parseListen } from "../watch/metrics.ts";
import { type Args, parseArgs } from "./args.ts";
import { parseEncapSpec, parseKey, parsePort, type TunnelKind, VXLAN_PORT } from "./encap.ts";

/** Settings every long-running mode shares. */
export interface RunSettings {
  /** `-v` count. */
  verbose: number;
  /** `--seconds`: stop after this many seconds. */
  seconds?: number;
  /** `--metrics [addr:]port` as typed (validated when the server starts). */
  metrics?: string;
}

/** Where `-rx` reads frames from. */
export type SourceSettings =
  | { kind: "nic"; iface: string; frameSize?: number; blocks?: number; blockSizeLog2?: number }
  | {
    kind: "tunnel";
    tunnel: TunnelKind;
    /** Local address to bind, as typed. */
    local?: string;
    iface?: string;
    key?: number;
    port: number;
  }
  | { kind: "file"; file: string; pace: boolean; loops: number };

/** A NIC output of `-tx -i`: what the NIC sinks take, as they take it. */
export type NicSinkSettings = NicSinkConfig;

/** A tunnel output of `-tx -E`. */
export interface TunnelSinkSettings {
  /** The kind of output. */
  kind: "tunnel";
  /** The encapsulation. */
  tunnel: "gre" | "gretap" | "vxlan";
  /** Destination as typed (a name or an address). */
  host: string;
  /** `-K`: GRE key or VXLAN VNI. */
  key?: number;
  /** VXLAN UDP port. */
  port: number;
  /** `--fragment`: VXLAN may be fragmented. */
  fragment: boolean;
}

/** Where `-tx` sends frames. */
export type SinkSettings =
  | NicSinkSettings
  | TunnelSinkSettings
  | {
    /** An output group: `-i eth2,eth3,eth4` or `-E gretap:host1,host2`, each frame to one member. */
    kind: "group";
    /** The members, in the order given. */
    members: NicSinkSettings[] | TunnelSinkSettings[];
    /** `--balance` (default `flows`). */
    balance: BalanceMode;
    /** `--all`: every frame to every member instead (replication in one process). */
    all: boolean;
    /** The group as typed (`eth2,eth3,eth4`, `gretap:198.18.7.1,198.18.7.2`). */
    name: string;
  }
  | {
    kind: "file";
    path: string;
    rotateSeconds?: number;
    rotateBytes?: number;
    /** Format, retention (-W, --max-disk), -z and --file-mode, validated. */
    output: PcapFileOptions;
  };

/** `-cr`. */
export interface CreateSettings {
  /** The mode. */
  mode: "create";
  /** The rings' paths. */
  rings: string[];
  /** `-s`: the ring size in bytes. */
  size: number;
  /** `-k`: keep a valid existing ring. */
  keep: boolean;
  /** `--force`: recreate rings even while processes use them. */
  force: boolean;
  /** `-v` count. */
  verbose: number;
}

/** `-rx`. */
export interface ReceiveSettings extends RunSettings {
  /** The mode. */
  mode: "rx";
  /** The ring written. */
  ring: string;
  /** The frame operations, on the way in. */
  ops: OpsConfig;
  /** Where frames come from. */
  source: SourceSettings;
}

/** `-tx`. */
export interface TransmitSettings extends RunSettings {
  /** The mode. */
  mode: "tx";
  /** The ring read. */
  ring: string;
  /** The frame operations, on the way out. */
  ops: OpsConfig;
  /** Where frames go. */
  sink: SinkSettings;
  /** `--from-oldest`: start at the oldest frame, not the live edge. */
  fromOldest: boolean;
}

/** `-io`. */
export interface WatchSettings extends RunSettings {
  /** The mode. */
  mode: "watch";
  /** The rings watched. */
  rings: string[];
  /** `--json`. */
  json: boolean;
  /** `--once`. */
  once: boolean;
}

/** `fluxcap demo`. */
export interface DemoSettings {
  /** The mode. */
  mode: "demo";
  /** Words after `demo` (the lab's own generator is `demo generate …`). */
  words: string[];
  /** `--seconds`. */
  seconds?: number;
  /** `--json`. */
  json: boolean;
  /** `-v` count. */
  verbose: number;
}

/** Everything a command line can ask for. */
export type Settings =
  | { mode: "help"; /** True when no argument at all was given (usage on stderr, exit 1). */ bare: boolean }
  | { mode: "version" }
  | CreateSettings
  | ReceiveSettings
  | TransmitSettings
  | WatchSettings
  | DemoSettings;

/**
 * Parses and validates a command line (without the program name). Throws {@link UsageError} with a
 * one-line message naming the value.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./settings.ts";
 * const s = parseCommandLine(["-tx", "-i", "eth2", "-V", "100", "cisco"]);
 * // s.mode === "tx", s.sink.kind === "nic", s.ops.vlan === 100
 * ```
 */
export function parseCommandLine(argv: string[]): Settings & { warnings?: string[] } {
  const a = parseArgs(argv);
  const s = settingsOf(a, argv.length === 0);
  return a.ignored.length > 0 ? { ...s, warnings: a.ignored } : s;
}

function settingsOf(a: Args, bare: boolean): Settings {
  switch (a.mode) {
    case "help":
      return { mode: "help", bare };
    case "version":
      return { mode: "version" };
    case "create":
      return createSettings(a);
    case "rx":
      return receiveSettings(a);
    case "tx":
      return transmitSettings(a);
    case "watch":
      return { mode: "watch", rings: a.rings, json: a.json, once: a.once, ...runSettings(a) };
    case "demo":
      return { mode: "demo", words: a.rings, json: a.json, verbose: a.verbose, seconds: seconds(a) };
  }
}

/** Parses an integer option; throws `Invalid <what> "<text>": …`. */
export function intOption(text: string, what: string, min: number, max: number): number {
  if (!/^-?[0-9]+$/.test(text.trim())) throw new UsageError(`Invalid ${what} "${text}": not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`Invalid ${what} "${text}": must be ${min}..${max}`);
  return n;
}

function seconds(a: Args): number | undefined {
  if (a.seconds === undefined) return undefined;
  const n = Number(a.seconds);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(a.seconds.trim()) || !(n > 0)) {
    throw new UsageError(`Invalid --seconds "${a.seconds}": expected a number of seconds greater than 0`);
  }
  if (n > 315_360_000) throw new UsageError(`Invalid --seconds "${a.seconds}": at most 315360000 (10 years)`);
  return n;
}

function runSettings(a: Args): RunSettings {
  if (a.metrics !== undefined) parseListen(a.metrics);
  return { verbose: a.verbose, seconds: seconds(a), metrics: a.metrics };
}

function createSettings(a: Args): CreateSettings {
  if (a.size === undefined) {
    throw new UsageError("Creating rings needs a size: fluxcap -cr -s <size> <ring> ...");
  }
  if (a.rings.length === 0) throw new UsageError("Creating rings needs at least one ring name");
  const size = parseSize(a.size, "ring size");
  if (size instanceof Error) throw new UsageError(size.message);
  const bad = ringSizeProblem(size); // a configuration error, as createRing words it
  if (bad !== null) throw new UsageError(`Cannot create ring "${a.rings[0]}": ${bad}`);
  return { mode: "create", rings: a.rings, size, keep: a.keep, force: a.force, verbose: a.verbose };
}

/** Exactly one ring name, or a usage error naming the mode. */
function oneRing(rings: string[], mode: string): string {
  if (rings.length === 0) throw new UsageError(`${mode} needs a ring: fluxcap ${mode} ... <ring>`);
  if (rings.length > 1) {
    throw new UsageError(
      `${mode} takes one ring, got ${rings.length} (${rings.join(", ")}); run one process per ring`,
    );
  }
  return rings[0];
}

function receiveSettings(a: Args): ReceiveSettings {
  const run = runSettings(a);
  const ring = oneRing(a.rings, "-rx");
  const ops = opsSettings(a, "rx");
  return { mode: "rx", ring, ops, source: sourceSettings(a), ...run };
}

/** The interface named by `-i`, refused when empty. */
function iface(a: Args): string | undefined {
  if (a.ifaces.includes("") || a.iface === "") {
    throw new UsageError('Invalid interface name "": empty (-i needs an interface)');
  }
  if (a.ifaces.length > 1 && a.mode !== "tx") {
    throw new UsageError(
      `-i given ${a.ifaces.length} times (${a.ifaces.map((i) => `"${i}"`).join(", ")}): ` +
        `-${a.mode} uses one interface (run one -rx per tap, each into its own ring)`,
    );
  }
  return a.iface;
}

/** `-tx -i eth2 -i eth3 RING`: every frame to every interface from one process (as `-i eth2,eth3 --all`). */
function repeatedIfaces(a: Args): SinkSettings | undefined {
  if (a.ifaces.length < 2) return undefined;
  const list = a.ifaces.join(", ");
  if (a.encap !== undefined || a.write !== undefined) {
    throw new UsageError(
      `-i given ${a.ifaces.length} times (${list}): repeated -i replicates to NICs, not with -E or -w`,
    );
  }
  const comma = a.ifaces.find((i) => i.includes(","));
  if (comma !== undefined) {
    throw new UsageError(`-i "${comma}" is a group: write one group (-i eth2,eth3) or repeat -i, not both`);
  }
  if (a.balance !== undefined) {
    throw new UsageError(
      "Repeated -i sends every frame to every interface: --balance does not apply (for balancing write -i eth2,eth3)",
    );
  }
  const name = a.ifaces.join(",");
  const members = groupList(name, a.ifaces.map((i) => `-i ${i}`).join(" ")).map((i) =>
    nicSettings({ ...a, iface: i })
  );
  return { kind: "group", members, balance: "flows", all: true, name };
}

function sourceSettings(a: Args): SourceSettings {
  iface(a);
  if (a.encap !== undefined) {
    const spec = parseEncapSpec(a.encap, "rx");
    if (a.vxlanPort !== undefined && spec.kind !== "vxlan") {
      throw new UsageError(`--vxlan-port applies to -E vxlan, not -E ${spec.kind}`);
    }
    if (a.fragment) {
      throw new UsageError("--fragment applies to -tx -E vxlan; received packets are reassembled");
    }
    const port = a.vxlanPort !== undefined ? parsePort(a.vxlanPort, "--vxlan-port") : spec.port ?? VXLAN_PORT;
    const key = a.key === undefined ? undefined : parseKey(a.key, spec.kind);
    return { kind: "tunnel", tunnel: spec.kind, local: spec.host, iface: a.iface, key, port };
  }
  if (a.read !== undefined) {
    const file = a.read;
    if (file === "") throw new UsageError('Invalid capture file name "": empty');
    if (a.iface !== undefined) throw new UsageError("-rx takes either -i <eth> or --read <file>, not both");
    const loops = a.loop === undefined ? 1 : intOption(a.loop, "loop count (--loop)", 0, 2 ** 31);
    if (file === "-" && loops !== 1) {
      throw new UsageError("--loop needs a file it can read again, not - (stdin)");
    }
    return { kind: "file", file, pace: a.pace, loops };
  }
  if (a.iface === undefined) {
    throw new UsageError("-rx needs an interface (-i <eth>), a tunnel (-E) or --read <file>");
  }
  if (a.iface.includes(",")) {
    throw new UsageError(
      `-rx captures one interface, not "${a.iface}" (output groups, -i eth2,eth3, are for -tx; ` +
        `capture each tap into its own ring)`,
    );
  }
  const frameSize = a.frameSize === undefined
    ? undefined
    : intOption(a.frameSize, "frame size (-Z)", 1, 1 << 30);
  return { kind: "nic", iface: a.iface, frameSize, ...ringGeometry(a, frameSize, KERNEL_RING_DEFAULTS) };
}

/** `-B`, `-S` with the frame size: a kernel ring's geometry, checked as 3.2 did (and as the kernel will). */
function ringGeometry(
  a: Args,
  frameSize: number | undefined,
  defaults: KernelRingOptions,
): { blocks?: number; blockSizeLog2?: number } {
  const blocks = a.blocks === undefined ? undefined : intOption(a.blocks, "number of blocks (-B)", 1, 65536);
  const blockSizeLog2 = a.blockSize === undefined
    ? undefined
    : intOption(a.blockSize, "block size (-S)", 1, 40);
  const bad = checkKernelRing({
    frameSize: frameSize ?? defaults.frameSize,
    blocks: blocks ?? defaults.blocks,
    blockSizeLog2: blockSizeLog2 ?? defaults.blockSizeLog2,
  });
  if (bad) throw new UsageError(bad);
  return { blocks, blockSizeLog2 };
}

function transmitSettings(a: Args): TransmitSettings {
  const run = runSettings(a);
  const ring = oneRing(a.rings, "-tx");
  const ops = opsSettings(a, "tx");
  return { mode: "tx", ring, ops, sink: sinkSettings(a), fromOldest: a.fromOldest, ...run };
}

/** The members of a comma-separated list (`eth2,eth3`), refusing empty and repeated ones. */
function groupList(text: string, what: string): string[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) {
    throw new UsageError(`Invalid output group "${what}": an empty member (members are separated by commas)`);
  }
  const twice = parts.find((p, i) => parts.indexOf(p) !== i);
  if (twice !== undefined) throw new UsageError(`Invalid output group "${what}": "${twice}" given twice`);
  if (parts.length > MAX_GROUP_MEMBERS) {
    throw new UsageError(
      `Invalid output group "${what}": ${parts.length} members, at most ${MAX_GROUP_MEMBERS}`,
    );
  }
  return parts;
}

function balanceMode(a: Args, group: boolean): BalanceMode {
  if (a.balance === undefined) return "flows";
  if (!group) {
    throw new UsageError(
      "--balance applies to output groups (-i eth2,eth3 or -E gretap:host1,host2), not to one output",
    );
  }
  const m = a.balance.trim().toLowerCase();
  if (m !== "flows" && m !== "addresses") {
    throw new UsageError(`Invalid --balance "${a.balance}": flows or addresses`);
  }
  return m;
}

/** `--all`, which needs a group and means replication, not balancing (so no `--balance` with it). */
function groupAll(a: Args, group: boolean): boolean {
  if (!a.all) return false;
  if (!group) {
    throw new UsageError(
      "--all applies to output groups (-i eth2,eth3 or -E gretap:host1,host2), not to one output",
    );
  }
  if (a.balance !== undefined) {
    throw new UsageError("--all sends every frame to every member: --balance does not apply with it");
  }
  return true;
}

function sinkSettings(a: Args): SinkSettings {
  iface(a);
  const repeated = repeatedIfaces(a);
  if (repeated !== undefined) return repeated;
  if (a.encap !== undefined && a.iface === undefined && a.encap.includes(",")) {
    // -E kind:host1,host2: a group of tunnels, each member parsed as -E kind:hostN
    const colon = a.encap.indexOf(":");
    const kind = colon < 0 ? a.encap : a.encap.slice(0, colon);
    const hosts = groupList(a.encap.slice(colon + 1), `-E ${a.encap}`);
    const members = hosts.map((h) => tunnelSettings({ ...a, encap: `${kind}:${h}` }));
    return { kind: "group", members, balance: balanceMode(a, true), all: groupAll(a, true), name: a.encap };
  }
  if (a.encap === undefined && a.write === undefined && a.iface !== undefined && a.iface.includes(",")) {
    const ifaces = groupList(a.iface, `-i ${a.iface}`);
    const members = ifaces.map((i) => nicSettings({ ...a, iface: i }));
    return { kind: "group", members, balance: balanceMode(a, true), all: groupAll(a, true), name: a.iface };
  }
  balanceMode(a, false);
  groupAll(a, false);
  if (a.encap !== undefined) return tunnelSettings(a);
  return nicOrFileSettings(a);
}

function tunnelSettings(a: Args): TunnelSinkSettings {
  const spec = parseEncapSpec(a.encap!, "tx");
  if (spec.kind === "erspan") throw new UsageError("ERSPAN is received only");
  if (a.vxlanPort !== undefined && spec.kind !== "vxlan") {
    throw new UsageError(`--vxlan-port applies to -E vxlan, not -E ${spec.kind}`);
  }
  if (a.fragment && spec.kind !== "vxlan") {
    throw new UsageError(`--fragment applies to -E vxlan; GRE and GRETAP packets are always fragmented`);
  }
  const port = a.vxlanPort !== undefined ? parsePort(a.vxlanPort, "--vxlan-port") : spec.port ?? VXLAN_PORT;
  const key = a.key === undefined ? undefined : parseKey(a.key, spec.kind);
  return { kind: "tunnel", tunnel: spec.kind, host: spec.host!, key, port, fragment: a.fragment };
}

function nicOrFileSettings(a: Args): SinkSettings {
  if (a.write !== undefined) {
    const path = a.write;
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
      rotateBytes = Math.max(Math.round(mb * 1e6), 1);
    }
    if (path === "-" && (rotateSeconds !== undefined || rotateBytes !== undefined)) {
      throw new UsageError("-G and -C rotate files: they cannot be used with -w - (stdout)");
    }
    if (path === "") throw new UsageError('Invalid capture file name "": empty');
    const output = fileOptions(a, path, rotateSeconds, rotateBytes);
    return { kind: "file", path, rotateSeconds, rotateBytes, output };
  }
  return nicSettings(a);
}

function nicSettings(a: Args): NicSinkSettings {
  if (a.iface === undefined) {
    throw new UsageError("-tx needs an interface (-i <eth>), a tunnel (-E) or -w <file>");
  }
  const frameSize = a.frameSize === undefined
    ? undefined
    : intOption(a.frameSize, "frame size (-Z)", 64, 1 << 20);
  const out: NicSinkSettings = {
    kind: "nic",
    iface: a.iface,
    txRing: a.txRing,
    qdiscBypass: a.qdiscBypass,
    frameSize,
  };
  if (a.txRing) Object.assign(out, ringGeometry(a, frameSize, TX_RING_DEFAULTS)); // -R's ring, as 3.2 took it
  return out;
}

/** `--format`, `-W`, `--max-disk`, `-z`, `--file-mode` of `-tx -w`, validated. */
function fileOptions(a: Args, path: string, rotateSeconds?: number, rotateBytes?: number): PcapFileOptions {
  const output: PcapFileOptions = {};
  try {
    output.format = chooseFormat(path, a.format);
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
  return output;
}

/** The frame operations (-V -Q -f -d -s -D) of `a` for one side, validated. */
function opsSettings(a: Args, side: "rx" | "tx"): OpsConfig {
  const cfg: OpsConfig = {};
  if (a.vlan !== undefined) {
    if (!/^[0-9]+$/.test(a.vlan.trim())) {
      throw new UsageError(`Invalid VLAN id "${a.vlan}": not a whole number`);
    }
    cfg.vlan = Number(a.vlan);
    // fluxcap 3.2's leniency is for its modes only (-w, --read are new: no 3.2 script uses them)
    const legacy = side === "rx" ? a.read === undefined : a.write === undefined;
    const range = cfg.vlan === 0 && legacy ? null : validateOps({ vlan: cfg.vlan }, side);
    if (range) throw new UsageError(range.message);
    if (legacy && cfg.vlan === 0) { // 3.2 took -V 0 as "no tag"
      a.ignored.push("-V 0 tags nothing: ignored (as fluxcap 3.2 did)");
      delete cfg.vlan;
    } else if (legacy && a.stripVlan && side === "rx") { // 3.2: -Q wins
      a.ignored.push(`-V ${a.vlan} does nothing with -Q (the tag is stripped): ignored (as fluxcap 3.2 did)`);
      delete cfg.vlan;
    }
  }
  if (a.stripVlan) {
    if (side === "tx") throw new UsageError("-Q (strip VLAN tags) applies on receive (-rx), not on -tx");
    cfg.stripVlan = true;
  }
  if (a.filter !== undefined) filterSettings(a.filter, cfg);
  if (a.dedup !== undefined) cfg.dedupMs = intOption(a.dedup, "dedup window (--dedup, ms)", 1, 1000);
  if (a.sample !== undefined) {
    if (!/^[0-9]+(\.[0-9]+)?$/.test(a.sample.trim())) {
      throw new UsageError(`Invalid sampling percentage "${a.sample}": a number from 0 to 100`);
    }
    cfg.keepPercent = Number(a.sample);
  }
  if (a.size !== undefined) {
    const n = parseSize(a.size, "snap length");
    if (n instanceof Error) throw new UsageError(n.message);
    if (n < 14) {
      throw new UsageError(`Invalid snap length "${a.size}": at least 14 bytes (an Ethernet header)`);
    }
    cfg.snaplen = n;
  }
  if (a.trim !== undefined) cfg.trimTail = intOption(a.trim, "trim length", 0, 65535);
  const bad = validateOps(cfg, side);
  if (bad) throw new UsageError(bad.message);
  return cfg;
}

/**
 * `-f EXPR`: `vlan n` alone keeps fluxcap 3.2's meaning (no library); any other expression is compiled
 * here, once, by libpcap (optimised, for Ethernet) and checked by translating it, so a bad expression
 * is a configuration error (exit 2) before anything starts. A missing libpcap is a runtime failure
 * (exit 1). An empty expression is refused: tcpdump would take it as "everything", which is more likely
 * an unset variable in a script than a wish.
 */
function filterSettings(expr: string, cfg: OpsConfig): void {
  if (expr.trim() === "") {
    throw new UsageError(`Invalid filter "${expr}": empty (-f needs an expression, e.g. -f 'not port 22')`);
  }
  const vid = vlanOnly(expr);
  if (vid !== undefined) {
    cfg.filterVlan = vid;
    return;
  }
  if (/^\s*vlan\s+[0-9]+\s*$/i.test(expr)) {
    const v = parseVlanFilter(expr); // vlan 4096 and above: 3.2's message
    throw new UsageError(v instanceof Error ? v.message : `Invalid filter "${expr}"`);
  }
  try {
    const c = compileExpression(expr, compileFilter);
    if (c.kind === "bpf") cfg.filter = { expr, program: c.program.map((i) => ({ ...i })) };
  } catch (e) {
    if (e instanceof LibpcapMissing || !isUserError(e)) throw e;
    throw new UsageError(e.message);
  }
}
