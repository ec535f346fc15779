/**
 * The fluxcap 3.2 command line, parsed verbatim the way its getopt did (`-cr` is `-c r`, `-rx` is
 * `-r x`, `-tx` is `-t x`, `-io` is `-i o`; `-i eth1` names an interface), plus readable long names.
 * Pure: returns the words as typed ({@link Args}) or throws {@link UsageError}; `settings.ts` turns
 * them into typed, validated settings.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** The mode chosen with `-cr`, `-rx`, `-tx`, `-io` (or a subcommand). */
export type Mode = "create" | "rx" | "tx" | "watch" | "demo" | "help" | "version";

/** Everything the command line said, as typed (values are validated in `settings.ts`). */
export interface Args {
  mode: Mode;
  rings: string[];
  /** -i IF (the last one given) */
  iface?: string;
  /** Every -i IF given, in order (`-tx -i eth2 -i eth3` replicates to both). */
  ifaces: string[];
  /** -s: ring size with -cr, snap length otherwise */
  size?: string;
  keep: boolean;
  /** --force: recreate rings even while in use */
  force: boolean;
  verbose: number;
  vlan?: string;
  stripVlan: boolean;
  filter?: string;
  /** --dedup MS */
  dedup?: string;
  /** --balance flows|addresses (output groups) */
  balance?: string;
  /** --all: an output group replicates every frame to every member */
  all: boolean;
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
  /**
   * One line for each fluxcap 3.2 option given where it does nothing, which 3.2 accepted silently:
   * ignored (its value cleared) with this warning, so a 3.2 script still starts.
   */
  ignored: string[];
}

/** Option names of {@link Args} that hold a value as typed. */
type ValueKey = {
  [K in keyof Args]-?: Args[K] extends string | undefined ? (K extends "mode" ? never : K) : never;
}[keyof Args];
/** Option names of {@link Args} that are flags. */
type FlagKey = { [K in keyof Args]-?: Args[K] extends boolean ? K : never }[keyof Args];

/** One option: a value, a flag, or one of the mode letters / words. */
type Spec =
  & { short?: string; long: string }
  & (
    | { kind: "value"; key: ValueKey }
    | { kind: "flag"; key: FlagKey }
    | { kind: "verbose" }
    | { kind: "mode"; key: "c" | "r" | "t"; arg: boolean }
    | { kind: "watch" }
    | { kind: "help" }
    | { kind: "version" }
  );

const v = (long: string, key: ValueKey, short?: string): Spec => ({ short, long, kind: "value", key });
const f = (long: string, key: FlagKey, short?: string): Spec => ({ short, long, kind: "flag", key });

const SPECS: Spec[] = [
  { short: "c", long: "c", kind: "mode", key: "c", arg: true },
  { short: "r", long: "r", kind: "mode", key: "r", arg: true },
  { short: "t", long: "t", kind: "mode", key: "t", arg: true },
  v("interface", "iface", "i"),
  v("size", "size", "s"),
  v("snaplen", "size"),
  f("keep", "keep", "k"),
  f("force", "force"),
  { short: "v", long: "verbose", kind: "verbose" },
  v("vlan", "vlan", "V"),
  f("strip-vlan", "stripVlan", "Q"),
  v("filter", "filter", "f"),
  v("dedup", "dedup"),
  v("balance", "balance"),
  f("all", "all"),
  v("sample", "sample", "d"),
  v("trim", "trim", "D"),
  v("encap", "encap", "E"),
  v("key", "key", "K"),
  f("tx-ring", "txRing", "R"),
  f("qdisc-bypass", "qdiscBypass", "q"),
  v("frame-size", "frameSize", "Z"),
  v("blocks", "blocks", "B"),
  v("block-size", "blockSize", "S"),
  v("write", "write", "w"),
  v("rotate-seconds", "rotateSeconds", "G"),
  v("rotate-megabytes", "rotateMegabytes", "C"),
  v("max-files", "maxFiles", "W"),
  v("post-rotate", "postRotate", "z"),
  v("max-disk", "maxDisk"),
  v("format", "format"),
  v("file-mode", "fileMode"),
  { short: "h", long: "help", kind: "help" },
  f("from-oldest", "fromOldest"),
  f("json", "json"),
  f("once", "once"),
  v("metrics", "metrics"),
  v("read", "read"),
  f("pace", "pace"),
  v("loop", "loop"),
  v("vxlan-port", "vxlanPort"),
  f("fragment", "fragment"),
  v("seconds", "seconds"),
  { long: "create", kind: "mode", key: "c", arg: false },
  { long: "receive", kind: "mode", key: "r", arg: false },
  { long: "transmit", kind: "mode", key: "t", arg: false },
  { long: "watch", kind: "watch" },
  { long: "version", kind: "version" },
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
    ifaces: [],
    force: false,
    all: false,
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
    ignored: [],
  };
  let mode: Mode | null = null;
  let help = false;
  const setMode = (m: Mode, spelled: string) => {
    if (mode !== null && mode !== m) {
      throw new UsageError(`Conflicting modes: ${spelled} given after ${modeSpelling(mode)}`);
    }
    mode = m;
  };
  const given = (long: string) => {
    if (!a.given.includes(long)) a.given.push(long);
  };
  const apply = (spec: Spec, value: string | undefined, spelled: string) => {
    switch (spec.kind) {
      case "mode": {
        const want = MODE_LETTERS[spec.key];
        if (value !== undefined && value !== want.letter) {
          throw new UsageError(`Unknown mode "-${spec.key}${value}" (modes are -cr, -rx, -tx, -io)`);
        }
        setMode(want.mode, spelled);
        return;
      }
      case "watch":
        setMode("watch", spelled);
        return;
      case "help":
        help = true;
        return;
      case "version":
        setMode("version", spelled);
        return;
      case "verbose":
        a.verbose++;
        return;
      case "flag":
        a[spec.key] = true;
        given(spec.long);
        return;
      case "value":
        if (spec.key === "iface" && value === "o") {
          setMode("watch", "-io");
          return;
        }
        if (spec.key === "iface" && value !== undefined) a.ifaces.push(value);
        a[spec.key] = value;
        given(spec.key === "size" ? "size" : spec.long);
        return;
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
      if (!spec) throw new UsageError(`Unknown option "--${name}"${suggest(name)} (see fluxcap -h)`);
      let value: string | undefined;
      if (takesValue(spec)) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i < argv.length) value = argv[i++];
        else throw new UsageError(`Option "--${name}" needs a value`);
      } else if (eq >= 0) throw new UsageError(`Option "--${name}" takes no value`);
      apply(spec, value, `--${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 3) {
      // A long name written with one dash (`-help`, `-dedup 10`) would read as a bundle of letters.
      const name = arg.slice(1);
      if (name === "help") { // 3.2's getopt took it as -h
        help = true;
        continue;
      }
      if (SPECS.some((s) => s.long === name && s.kind !== "mode")) {
        throw new UsageError(`Unknown option "${arg}" (did you mean "--${name}"?)`);
      }
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const spec = SPECS.find((s) => s.short === ch);
        if (!spec) throw new UsageError(`Unknown option "-${ch}"${suggestShort(ch)} (see fluxcap -h)`);
        if (takesValue(spec)) {
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
  if (help) {
    a.mode = "help"; // -h anywhere, even after a mode, asks for help
    return a;
  }
  if (mode === null && argv.length > 0) {
    throw new UsageError("No mode given: use -cr, -rx, -tx or -io (see fluxcap -h)");
  }
  a.mode = mode ?? "help";
  checkApplicable(a);
  return a;
}

/** Every option's long name (`--vlan`), and short letter where it has one: for the help text's test. */
export const OPTION_NAMES: readonly { short?: string; long: string }[] = SPECS
  .filter((s) => s.long.length > 1)
  .map((s) => ({ short: s.short, long: s.long }));

/** ` (did you mean "--vlan"?)` for the long option nearest to `name`, or "" when none is near. */
function suggest(name: string): string {
  let best = "";
  let bestD = Infinity;
  for (const s of SPECS) {
    if (s.long.length < 2) continue;
    const d = s.long.startsWith(name) && name.length >= 3 ? 0 : distance(name, s.long);
    if (d < bestD) [best, bestD] = [s.long, d];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean "--${best}"?)` : "";
}

/** The option of the other case (`-x` → `-X`), when there is one. */
function suggestShort(ch: string): string {
  const other = ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase();
  const s = SPECS.find((x) => x.short === other);
  return s ? ` (did you mean "-${other}", --${s.long}?)` : "";
}

/** Edit distance between two short strings (a swap of two neighbours counts one). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

function takesValue(spec: Spec): boolean {
  return spec.kind === "value" || (spec.kind === "mode" && spec.arg);
}

/** Short spelling of an option for messages. */
function spell(long: string): string {
  const s = SPECS.find((x) => x.long === long);
  return s?.short ? `-${s.short}` : `--${long}`;
}

const COMMON_OPS = ["vlan", "filter", "dedup", "sample", "size", "trim", "verbose", "metrics", "seconds"];
/** Which options each mode (and transmit/receive target) takes. */
const APPLICABLE: Record<string, string[]> = {
  "create": ["size", "keep", "force", "verbose"],
  "rx nic": [...COMMON_OPS, "interface", "strip-vlan", "frame-size", "blocks", "block-size"],
  "rx tunnel": [...COMMON_OPS, "interface", "strip-vlan", "encap", "key"],
  "rx file": [...COMMON_OPS, "strip-vlan", "read", "pace", "loop"],
  "tx nic": [
    ...COMMON_OPS,
    "interface",
    "tx-ring", // with -R, also -Z, -B and -S (the TX ring's geometry, as 3.2): see checkApplicable
    "qdisc-bypass",
    "from-oldest",
    "balance",
    "all",
  ],
  "tx tunnel": [...COMMON_OPS, "encap", "key", "vxlan-port", "fragment", "from-oldest", "balance", "all"],
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

/** fluxcap 3.2's options: accepted by 3.2 in every mode, ignored where they did nothing. */
const OPTIONS_32 = [
  "interface",
  "size",
  "keep",
  "vlan",
  "strip-vlan",
  "filter",
  "sample",
  "trim",
  "encap",
  "key",
  "tx-ring",
  "qdisc-bypass",
  "frame-size",
  "blocks",
  "block-size",
];
/** The modes fluxcap 3.2 had (`-w`, `--read` and the rest are new: no 3.2 script uses them). */
const MODES_32 = ["create", "rx nic", "rx tunnel", "tx nic", "tx tunnel", "watch"];

/**
 * Refuses options that do nothing in the chosen mode (a silently ignored `-w` or `--read` would leave
 * a user believing a file is written or replayed), except fluxcap 3.2's options in 3.2's modes: 3.2
 * accepted them everywhere, so they are ignored with a warning (`Args.ignored`) and a 3.2 script runs
 * unchanged. Validates `--seconds`.
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
    if (a.mode === "tx" && target === "file" && a.iface !== undefined) {
      throw new UsageError(`Option -i cannot be combined with ${targets[0]} on -tx`);
    }
  }
  if (key === "help" || key === "version") return;
  const allowed = [...(APPLICABLE[key] ?? [])];
  if (key === "tx nic" && a.txRing) allowed.push("frame-size", "blocks", "block-size");
  for (const g of a.given) {
    if (allowed.includes(g)) continue;
    if (!MODES_32.includes(key) || !OPTIONS_32.includes(g)) {
      throw new UsageError(`Option ${spell(g)} does not apply to ${MODE_TEXT[key]}`);
    }
    const where = key === "tx nic" && (g === "frame-size" || g === "blocks" || g === "block-size")
      ? `${MODE_TEXT[key]} without -R`
      : MODE_TEXT[key];
    a.ignored.push(`${spell(g)} does nothing with ${where}: ignored (as fluxcap 3.2 did)`);
    clearOption(a, g);
  }
}

/** Forgets option `long` (an ignored 3.2 option): its value as if it was never given. */
function clearOption(a: Args, long: string): void {
  const spec = SPECS.find((s) => s.long === long);
  if (spec?.kind === "value") a[spec.key] = undefined;
  else if (spec?.kind === "flag") a[spec.key] = false;
  if (long === "interface") a.ifaces = [];
  a.given = a.given.filter((g) => g !== long);
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
