/**
 * The pipeline keys of a service configuration: the command line's long option names, with the short
 * spelling a pipeline's command line uses, and which section (captures or outputs) takes each.
 *
 * @module
 */

/** A section of the configuration that declares pipelines. */
export type Section = "captures" | "outputs";

/** One option a pipeline may carry. */
export interface PipelineOption {
  /** The key in the file: the command line's long option name. */
  long: string;
  /** The one-letter spelling, when there is one (used in the command line the pipeline runs). */
  short?: string;
  /** True for a switch (`strip-vlan: true`), false for an option with a value (`vlan: 100`). */
  flag: boolean;
  /** Sections that take it. */
  sections: readonly Section[];
}

const BOTH: readonly Section[] = ["captures", "outputs"];
const RX: readonly Section[] = ["captures"];
const TX: readonly Section[] = ["outputs"];

/** Every pipeline option, in the order `fluxcap -h` lists them. */
export const PIPELINE_OPTIONS: readonly PipelineOption[] = [
  { long: "interface", short: "i", flag: false, sections: BOTH },
  { long: "encap", short: "E", flag: false, sections: BOTH },
  { long: "key", short: "K", flag: false, sections: BOTH },
  { long: "read", flag: false, sections: RX },
  { long: "pace", flag: true, sections: RX },
  { long: "loop", flag: false, sections: RX },
  { long: "write", short: "w", flag: false, sections: TX },
  { long: "rotate-seconds", short: "G", flag: false, sections: TX },
  { long: "rotate-megabytes", short: "C", flag: false, sections: TX },
  { long: "max-files", short: "W", flag: false, sections: TX },
  { long: "max-disk", flag: false, sections: TX },
  { long: "post-rotate", short: "z", flag: false, sections: TX },
  { long: "format", flag: false, sections: TX },
  { long: "file-mode", flag: false, sections: TX },
  { long: "vlan", short: "V", flag: false, sections: BOTH },
  { long: "strip-vlan", short: "Q", flag: true, sections: RX },
  { long: "filter", short: "f", flag: false, sections: BOTH },
  { long: "dedup", flag: false, sections: BOTH },
  { long: "balance", flag: false, sections: TX },
  { long: "all", flag: true, sections: TX },
  { long: "sample", short: "d", flag: false, sections: BOTH },
  { long: "snaplen", short: "s", flag: false, sections: BOTH },
  { long: "trim", short: "D", flag: false, sections: BOTH },
  { long: "frame-size", short: "Z", flag: false, sections: BOTH },
  { long: "blocks", short: "B", flag: false, sections: BOTH }, // on outputs, with tx-ring
  { long: "block-size", short: "S", flag: false, sections: BOTH },
  { long: "qdisc-bypass", short: "q", flag: true, sections: TX },
  { long: "tx-ring", short: "R", flag: true, sections: TX },
  { long: "from-oldest", flag: true, sections: TX },
  { long: "vxlan-port", flag: false, sections: TX },
  { long: "fragment", flag: true, sections: TX },
  { long: "verbose", short: "v", flag: true, sections: BOTH },
];

/** Keys that choose what a pipeline captures from or sends to. */
export const TARGET_KEYS: Record<Section, readonly string[]> = {
  captures: ["interface", "encap", "read"],
  outputs: ["interface", "encap", "write"],
};

/** The option named `long` that `section` takes, or undefined. */
export function pipelineOption(section: Section, long: string): PipelineOption | undefined {
  return PIPELINE_OPTIONS.find((o) => o.long === long && o.sections.includes(section));
}

/** Keys `section` takes besides `ring`, for messages. */
export function sectionKeys(section: Section): string[] {
  return ["ring", ...PIPELINE_OPTIONS.filter((o) => o.sections.includes(section)).map((o) => o.long)];
}

/** A hint for a key that is not one: the long name of a short option, or of a near miss. */
export function keyHint(section: Section, key: string): string {
  const short = PIPELINE_OPTIONS.find((o) => o.short === key.replace(/^-/, ""));
  if (short) return `; the file uses long names: "${short.long}"`;
  const bare = key.replace(/^-+/, "").toLowerCase().replaceAll("_", "-");
  if (bare !== key && pipelineOption(section, bare)) return `; did you mean "${bare}"?`;
  if (key === "size") return '; the truncation length is "snaplen" (a ring\'s size goes under rings)';
  const other: Section = section === "captures" ? "outputs" : "captures";
  if (pipelineOption(other, bare)) return ` (it applies to ${other})`;
  return "";
}
