/**
 * The fluxcap 3.2 command line, parsed verbatim the way its getopt did (`-cr` is `-c r`, `-rx` is
 * `-r x`, `-tx` is `-t x`, `-io` is `-i o`; `-i eth1` names an interface), plus readable long names.
 * Pure: returns a {@link Args} or throws {@link UsageError}; the caller prints.
 *
 * @module
 */

/** A command-line mistake: printed as one line, exit status 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The mode chosen with `-cr`, `-rx`, `-tx`, `-io` (or a subcommand). */
export type Mode = "create" | "rx" | "tx" | "watch" | "demo" | "help" | "version";

/** Everything the command line said, as typed (values are validated by each mode). */
export interface Args {
  mode: Mode;
  rings: string[];
  /** -i IF */
  iface?: string;
  /** -s: ring size with -cr, snap length otherwise */
  size?: string;
  keep: boolean;
  verbose: number;
  vlan?: string;
  stripVlan: boolean;
  filter?: string;
  sample?: string;
  trim?: string;
  encap?: string;
  key?: string;
  txRing: boolean;
  qdiscBypass: boolean;
  frameSize?: string;
  blocks?: string;
  blockSize?: string;
  fromOldest: boolean;
  json: boolean;
  once: boolean;
  metrics?: string;
  write?: string;
  read?: string;
  pace: boolean;
  loop?: string;
  rotateSeconds?: string;
  rotateMegabytes?: string;
  /** --format pcap|pcapng */
  format?: string;
  /** -W N: keep at most N rotated files */
  maxFiles?: string;
  /** --max-disk SIZE */
  maxDisk?: string;
  /** -z CMD: run after each file is complete */
  postRotate?: string;
  /** --file-mode MODE (octal) */
  fileMode?: string;
  vxlanPort?: string;
  fragment: boolean;
  seconds?: string;
  /** Options given, by their long name (`vlan`, `write`, …), for the applicability check. */
  given: string[];
}

interface Spec {
  short?: string;
  long: string;
  arg: boolean;
  key: keyof Args | "c" | "r" | "t" | "io";
}

const SPECS: Spec[] = [
  { short: "c", long: "c", arg: true, key: "c" },
  { short: "r", long: "r", arg: true, key: "r" },
  { short: "t", long: "t", arg: true, key: "t" },
  { short: "i", long: "interface", arg: true, key: "iface" },
  { short: "s", long: "size", arg: true, key: "size" },
  { long: "snaplen", arg: true, key: "size" },
  { short: "k", long: "keep", arg: false, key: "keep" },
  { short: "v", long: "verbose", arg: false, key: "verbose" },
  { short: "V", long: "vlan", arg: true, key: "vlan" },
  { short: "Q", long: "strip-vlan", arg: false, key: "stripVlan" },
  { short: "f", long: "filter", arg: true, key: "filter" },
  { short: "d", long: "sample", arg: true, key: "sample" },
  { short: "D", long: "trim", arg: true, key: "trim" },
  { short: "E", long: "encap", arg: true, key: "encap" },
  { short: "K", long: "key", arg: true, key: "key" },
  { short: "R", long: "tx-ring", arg: false, key: "txRing" },
  { short: "q", long: "qdisc-bypass", arg: false, key: "qdiscBypass" },
  { short: "Z", long: "frame-size", arg: true, key: "frameSize" },
  { short: "B", long: "blocks", arg: true, key: "blocks" },
  { short: "S", long: "block-size", arg: true, key: "blockSize" },
  { short: "w", long: "write", arg: true, key: "write" },
  { short: "G", long: "rotate-seconds", arg: true, key: "rotateSeconds" },
  { short: "C", long: "rotate-megabytes", arg: true, key: "rotateMegabytes" },
  { short: "W", long: "max-files", arg: true, key: "maxFiles" },
  { short: "z", long: "post-rotate", arg: true, key: "postRotate" },
  { long: "max-disk", arg: true, key: "maxDisk" },
  { long: "format", arg: true, key: "format" },
  { long: "file-mode", arg: true, key: "fileMode" },
  { short: "h", long: "help", arg: false, key: "mode" },
  { long: "from-oldest", arg: false, key: "fromOldest" },
  { long: "json", arg: false, key: "json" },
  { long: "once", arg: false, key: "once" },
  { long: "metrics", arg: true, key: "metrics" },
  { long: "read", arg: true, key: "read" },
  { long: "pace", arg: false, key: "pace" },
  { long: "loop", arg: true, key: "loop" },
  { long: "vxlan-port", arg: true, key: "vxlanPort" },
  { long: "fragment", arg: false, key: "fragment" },
  { long: "seconds", arg: true, key: "seconds" },
  { long: "create", arg: false, key: "c" },
  { long: "receive", arg: false, key: "r" },
  { long: "transmit", arg: false, key: "t" },
  { long: "watch", arg: false, key: "io" },
  { long: "version", arg: false, key: "mode" },
];

const MODE_LETTERS: Record<string, { letter: string; mode: Mode }> = {
  c: { letter: "r", mode: "create" },
  r: { letter: "x", mode: "rx" },
  t: { letter: "x", mode: "tx" },
};

/**
 * Parses argv (without the program name).
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const a = parseArgs(["-cr", "-s", "100m", "cisco", "dell"]);
 * // a.mode === "create", a.size === "100m", a.rings = ["cisco", "dell"]
 * ```
 */
export function parseArgs(argv: string[]): Args {
  const a: Args = {
    mode: "help",
    rings: [],
    keep: false,
    verbose: 0,
    stripVlan: false,
    txRing: false,
    qdiscBypass: false,
    fromOldest: false,
    json: false,
    once: false,
    pace: false,
    fragment: false,
    given: [],
  };
  let mode: Mode | null = null;
  const setMode = (m: Mode, spelled: string) => {
    if (mode !== null && mode !== m) {
      throw new UsageError(`Conflicting modes: ${spelled} given after ${modeSpelling(mode)}`);
    }
    mode = m;
  };
  const apply = (spec: Spec, value: string | undefined, spelled: string) => {
    switch (spec.key) {
      case "c":
      case "r":
      case "t": {
        const want = MODE_LETTERS[spec.key];
        if (value !== undefined && value !== want.letter) {
          throw new UsageError(`Unknown mode "-${spec.key}${value}" (modes are -cr, -rx, -tx, -io)`);
        }
        setMode(want.mode, spelled);
        return;
      }
      case "io":
        setMode("watch", spelled);
        return;
      case "iface":
        if (value === "o") setMode("watch", "-io");
        else {
          a.iface = value;
          if (!a.given.includes("interface")) a.given.push("interface");
        }
        return;
      case "mode":
        if (spec.long === "version") setMode("version", spelled);
        else mode = "help";
        return;
      case "verbose":
        a.verbose++;
        return;
      case "size":
        a.size = value;
        if (!a.given.includes("size")) a.given.push("size");
        return;
      default:
        (a as unknown as Record<string, unknown>)[spec.key] = spec.arg ? value : true;
        if (!a.given.includes(spec.long)) a.given.push(spec.long);
    }
  };

  let i = 0;
  while (i < argv.length) {
    const arg = argv[i++];
    if (arg === "--") {
      a.rings.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = SPECS.find((s) => s.long === name && (s.short === undefined || name.length > 1));
      if (!spec) throw new UsageError(`Unknown option "--${name}" (see fluxcap -h)`);
      let value: string | undefined;
      if (spec.arg) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i < argv.length) value = argv[i++];
        else throw new UsageError(`Option "--${name}" needs a value`);
      } else if (eq >= 0) throw new UsageError(`Option "--${name}" takes no value`);
      apply(spec, value, `--${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const spec = SPECS.find((s) => s.short === ch);
        if (!spec) throw new UsageError(`Unknown option "-${ch}" (see fluxcap -h)`);
        if (spec.arg) {
          let value: string;
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i < argv.length) value = argv[i++];
          else throw new UsageError(`Option "-${ch}" needs a value`);
          apply(spec, value, `-${ch}${value}`);
          break;
        }
        apply(spec, undefined, `-${ch}`);
      }
      continue;
    }
    if (mode === null && a.rings.length === 0 && arg === "demo") {
      mode = "demo";
      continue;
    }
    a.rings.push(arg);
  }
  if (mode === null && argv.length > 0) {
    throw new UsageError("No mode given: use -cr, -rx, -tx or -io (see fluxcap -h)");
  }
  a.mode = mode ?? "help";
  checkApplicable(a);
  return a;
}

/** Short spelling of an option for messages. */
function spell(long: string): string {
  const s = SPECS.find((x) => x.long === long);
  return s?.short ? `-${s.short}` : `--${long}`;
}

const COMMON_OPS = ["vlan", "filter", "sample", "size", "trim", "verbose", "metrics", "seconds"];
/** Which options each mode (and transmit/receive target) takes. */
const APPLICABLE: Record<string, string[]> = {
  "create": ["size", "keep", "verbose"],
  "rx nic": [...COMMON_OPS, "interface", "strip-vlan", "frame-size", "blocks", "block-size"],
  "rx tunnel": [...COMMON_OPS, "interface", "strip-vlan", "encap", "key"],
  "rx file": [...COMMON_OPS, "strip-vlan", "read", "pace", "loop"],
  "tx nic": [...COMMON_OPS, "interface", "tx-ring", "qdisc-bypass", "frame-size", "from-oldest"],
  "tx tunnel": [...COMMON_OPS, "encap", "key", "vxlan-port", "fragment", "from-oldest"],
  "tx file": [
    ...COMMON_OPS,
    "write",
    "rotate-seconds",
    "rotate-megabytes",
    "from-oldest",
    "format",
    "max-files",
    "max-disk",
    "post-rotate",
    "file-mode",
  ],
  "watch": ["json", "once", "metrics", "seconds", "verbose"],
  "demo": ["seconds", "json", "verbose"],
  "help": [],
  "version": [],
};

const MODE_TEXT: Record<string, string> = {
  "create": "-cr (create rings)",
  "rx nic": "-rx -i (capture from a NIC)",
  "rx tunnel": "-rx -E (receive a tunnel)",
  "rx file": "-rx --read (replay a capture file)",
  "tx nic": "-tx -i (send on a NIC)",
  "tx tunnel": "-tx -E (send into a tunnel)",
  "tx file": "-tx -w (write capture files)",
  "watch": "-io (watch)",
  "demo": "demo",
};

/**
 * Refuses options that do nothing in the chosen mode (a silently ignored `-w` or `--read` would leave
 * a user believing a file is written or replayed), and validates `--seconds`.
 */
function checkApplicable(a: Args): void {
  if (a.seconds !== undefined) {
    const n = Number(a.seconds);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(a.seconds.trim()) || !(n > 0)) {
      throw new UsageError(`Invalid --seconds "${a.seconds}": expected a number of seconds greater than 0`);
    }
    if (n > 315_360_000) {
      throw new UsageError(`Invalid --seconds "${a.seconds}": at most 315360000 (10 years)`);
    }
  }
  let key: string = a.mode;
  if (a.mode === "rx" || a.mode === "tx") {
    const targets = [
      a.encap !== undefined ? "-E" : "",
      a.mode === "rx" && a.read !== undefined ? "--read" : "",
      a.mode === "tx" && a.write !== undefined ? "-w" : "",
    ].filter((t) => t !== "");
    if (targets.length > 1) throw new UsageError(`Options ${targets.join(" and ")} cannot be combined`);
    const target = a.encap !== undefined
      ? "tunnel"
      : (a.mode === "rx" ? a.read : a.write) !== undefined
      ? "file"
      : "nic";
    key = `${a.mode} ${target}`;
    if (a.mode === "tx" && target !== "nic" && a.iface !== undefined) {
      throw new UsageError(`Option -i cannot be combined with ${targets[0]} on -tx`);
    }
  }
  if (key === "help" || key === "version") return;
  const allowed = APPLICABLE[key] ?? [];
  for (const g of a.given) {
    if (!allowed.includes(g)) throw new UsageError(`Option ${spell(g)} does not apply to ${MODE_TEXT[key]}`);
  }
}

function modeSpelling(m: Mode): string {
  return {
    create: "-cr",
    rx: "-rx",
    tx: "-tx",
    watch: "-io",
    demo: "demo",
    help: "-h",
    version: "--version",
  }[m];
}

/** The usage text, in the spirit of fluxcap 3.2's. */
export const USAGE = `fluxcap: a network tap replication and aggregation tool

usage: fluxcap -cr|-rx|-tx|-io [options] <ring> ...

 create rings:    -cr -s <size> <ring> ...      (<size> may have k/m/g/t suffix)
 receive:         -rx -i <eth> <ring>           (capture from a NIC into a ring)
 transmit:        -tx -i <eth> <ring>           (send a ring out of a NIC)
 watch:           -io <ring> ...                (rates and drops, live)
 demo:            demo                          (a lab of network namespaces)

encapsulation:
    -tx -E gretap:<host> <ring>    (GRETAP: keeps the MACs; preferred)
    -tx -E gre:<host>    <ring>    (GRE: the Ethernet header is dropped)
    -tx -E vxlan:<host>  <ring>    (VXLAN to UDP 4789; --vxlan-port to change)
    -rx -E gretap[:<local-ip>] [-i <eth>] <ring>
    -rx -E gre|vxlan[:<local-ip>[:<port>]]|erspan <ring>
    -K <key>         GRE key or VXLAN VNI / ERSPAN session (integer or dotted quad) [rx/tx]
    --fragment       allow IP fragmentation of VXLAN packets [tx]

capture files:
    -tx -w <path>    write the ring to pcap (- for stdout; -G <sec>, -C <MB> rotate)
                     (a name ending in .pcapng, or --format pcapng, writes pcapng)
    -W <n>           with -G/-C: keep the n newest files, delete older ones
    --max-disk <size>   with -G/-C: delete the oldest files to stay under size (k/m/g/t)
    -z <cmd>         run cmd FILE after each file is complete (no shell), e.g. -z gzip
    --file-mode <mode>  mode of created files (octal, default 0600)
    -rx --read <file> [--pace] [--loop <n>]   replay pcap/pcapng into the ring

other options:
    -V <vlan>        tag with VLAN (rx: insert or replace; tx: insert) 1..4094 [rx/tx]
    -Q               strip the VLAN tag [rx]
    -f 'vlan <n>'    keep only frames tagged VLAN n [rx/tx]
    -d <percent>     keep about that percent of frames, at random (0..100) [rx/tx]
    -s <length>      truncate frames to length (snaplen) [rx/tx]
    -D <n>           trim n bytes from the end of each frame [rx/tx]
    -q               bypass the qdisc layer [tx]
    -R               use PACKET_TX_RING instead of sendmmsg [tx]
    -k               keep an existing valid ring [cr]
    -v               verbose
    --from-oldest    start reading at the oldest frame, not the live edge [tx]
    --json           JSON lines instead of the terminal view [io]
    --once           one snapshot, then exit [io]
    --metrics [addr:]port   Prometheus /metrics [rx/tx/io]
    -h               this help

 kernel ring buffer options [rx]
    -Z <frame-size>  (max frame size, e.g. 2048)
    -B <num-blocks>  (number of blocks comprising ring, e.g. 64)
    -S <block-size>  (block size, log2; e.g. 22 = 4mb)
`;
