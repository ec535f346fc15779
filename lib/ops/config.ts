/**
 * Configuration of the per-frame operations (fluxcap 3.2 flags `-V`, `-Q`, `-f 'vlan n'`, `-d`, `-s`,
 * `-D`, plus `-f EXPR` and `--dedup MS`) and its validation. Validation happens once, at configuration
 * time; the pipeline itself never fails on a frame.
 *
 * @module
 */
import type { BpfInsn } from "./bpf.ts";
import { validateDedupMs } from "./dedup.ts";

/** Frame operations for one direction, as given on the command line. All fields optional. */
export interface OpsConfig {
  /** `-V vid`: tag frames with this VLAN id (1..4094). rx: insert or replace the outer tag; tx: insert. */
  vlan?: number;
  /** `-Q`: strip the outer VLAN tag (802.1Q, 802.1ad or 0x9100), if any. */
  stripVlan?: boolean;
  /** `-f 'vlan n'`: keep only frames whose outer tag has VID n (0..4095); see {@linkcode parseVlanFilter}. */
  filterVlan?: number;
  /**
   * `-f EXPR` (any pcap-filter expression but `vlan n` alone): the expression as typed and the classic
   * BPF program libpcap compiled it into, in the main thread (plain objects: it travels in the job).
   * The pipeline translates it into JavaScript once and runs it on each frame as it was on the wire.
   */
  filter?: { expr: string; program: BpfInsn[] };
  /** `--dedup MS`: drop a frame identical to one kept in the last MS milliseconds (1..1000). */
  dedupMs?: number;
  /** `-d p`: keep about p percent of the frames (0..100, fractions allowed), at random. */
  keepPercent?: number;
  /** `-s n`: truncate frames to n bytes after all other operations; 0 or absent means no limit. */
  snaplen?: number;
  /** `-D n`: remove n bytes from the end of each frame, never cutting into the Ethernet header. */
  trimTail?: number;
  /** Seed of the sampling PRNG (any integer; for reproducible tests). Absent: seeded from Math.random. */
  seed?: number;
}

/** Which side of the ring the pipeline runs on: `rx` writes the ring, `tx` reads it. */
export type OpsSide = "rx" | "tx";

/** Lowest VLAN id accepted by `-V` (0 means "priority tag only", 4095 is reserved). */
export const VLAN_ID_MIN = 1;
/** Highest VLAN id accepted by `-V`. */
export const VLAN_ID_MAX = 4094;

/**
 * Parses a tcpdump-style VLAN filter as fluxcap 3.2 users type it: `vlan 100` (any amount of white
 * space, case-insensitive keyword). VID range 0..4095 (0 selects priority-tagged frames).
 *
 * @returns the VLAN id, or an Error with a message that quotes the expression.
 *
 * @example
 * ```ts
 * import { parseVlanFilter } from "./config.ts";
 * console.assert(parseVlanFilter("vlan 100") === 100);
 * console.assert(parseVlanFilter("host 1.2.3.4") instanceof Error);
 * ```
 */
export function parseVlanFilter(expr: string): number | Error {
  const text = String(expr).trim();
  const m = /^vlan\s+([0-9]+)$/i.exec(text);
  if (m === null) {
    if (/^vlan$/i.test(text)) {
      return new Error(`Cannot parse filter "${expr}": a VLAN id is required, e.g. 'vlan 100'`);
    }
    if (/^vlan\s+/i.test(text)) {
      return new Error(`Cannot parse filter "${expr}": the VLAN id must be a decimal number 0..4095`);
    }
    return new Error(`Cannot parse filter "${expr}": only 'vlan <id>' is supported`);
  }
  const vid = Number(m[1]);
  if (vid > 4095) {
    return new Error(`Cannot parse filter "${expr}": VLAN id "${m[1]}" is out of range 0..4095`);
  }
  return vid;
}

function isLength(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks a configuration. `side` adds the side-specific rules when given.
 *
 * Rules: `vlan` an integer 1..4094; `filterVlan` an integer 0..4095; `keepPercent` a number 0..100;
 * `snaplen` and `trimTail` non-negative integers; `seed` a finite number; `vlan` together with
 * `stripVlan` is rejected (ambiguous; on rx `-V` alone already replaces an existing tag).
 *
 * @returns null when valid, else an Error whose message quotes the offending value.
 *
 * @example
 * ```ts
 * import { validateOps } from "./config.ts";
 * console.assert(validateOps({ vlan: 100, snaplen: 128 }) === null);
 * console.assert(validateOps({ vlan: 5000 })?.message === 'VLAN id "5000" is out of range 1..4094');
 * ```
 */
export function validateOps(cfg: OpsConfig, side?: OpsSide): Error | null {
  if (cfg === null || typeof cfg !== "object") return new Error(`Invalid frame operations "${cfg}"`);
  const { vlan, stripVlan, filterVlan, filter, dedupMs, keepPercent, snaplen, trimTail, seed } = cfg;
  if (vlan !== undefined) {
    if (typeof vlan !== "number" || !Number.isInteger(vlan)) {
      return new Error(`VLAN id "${vlan}" is not an integer`);
    }
    if (vlan < VLAN_ID_MIN || vlan > VLAN_ID_MAX) {
      return new Error(`VLAN id "${vlan}" is out of range ${VLAN_ID_MIN}..${VLAN_ID_MAX}`);
    }
  }
  if (stripVlan !== undefined && typeof stripVlan !== "boolean") {
    return new Error(`Strip VLAN flag "${stripVlan}" is not a boolean`);
  }
  if (vlan !== undefined && stripVlan === true) {
    return new Error(
      `Cannot combine VLAN tagging "${vlan}" with VLAN stripping: -V already replaces the outer tag on rx`,
    );
  }
  if (filterVlan !== undefined) {
    if (
      typeof filterVlan !== "number" || !Number.isInteger(filterVlan) || filterVlan < 0 || filterVlan > 4095
    ) {
      return new Error(`VLAN filter id "${filterVlan}" is out of range 0..4095`);
    }
  }
  if (filter !== undefined) {
    if (
      filter === null || typeof filter !== "object" || typeof filter.expr !== "string" ||
      !Array.isArray(filter.program) || filter.program.length === 0
    ) {
      return new Error(`Filter "${filter?.expr}" has no compiled program`);
    }
    if (filterVlan !== undefined) {
      return new Error(`Cannot combine the VLAN filter "vlan ${filterVlan}" with filter "${filter.expr}"`);
    }
  }
  if (dedupMs !== undefined) {
    const bad = validateDedupMs(dedupMs);
    if (bad) return bad;
  }
  if (keepPercent !== undefined) {
    if (typeof keepPercent !== "number" || !(keepPercent >= 0 && keepPercent <= 100)) {
      return new Error(`Sampling percentage "${keepPercent}" is out of range 0..100`);
    }
  }
  if (snaplen !== undefined && !isLength(snaplen)) {
    return new Error(`Snap length "${snaplen}" is not a non-negative integer`);
  }
  if (trimTail !== undefined && !isLength(trimTail)) {
    return new Error(`Tail trim length "${trimTail}" is not a non-negative integer`);
  }
  if (seed !== undefined && (typeof seed !== "number" || !Number.isFinite(seed))) {
    return new Error(`Sampling seed "${seed}" is not a finite number`);
  }
  if (side !== undefined && side !== "rx" && side !== "tx") {
    return new Error(`Side "${side}" is not "rx" or "tx"`);
  }
  return null;
}
