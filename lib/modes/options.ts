/**
 * Turning command-line values into validated settings, with one-line errors that name the value.
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { type OpsConfig, parseVlanFilter, validateOps } from "../ops/mod.ts";
import { parseSize } from "../ring/mod.ts";

/** Parses an integer option; throws `Invalid <what> "<text>": …`. */
export function intOption(text: string, what: string, min: number, max: number): number {
  if (!/^-?[0-9]+$/.test(text.trim())) throw new UsageError(`Invalid ${what} "${text}": not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`Invalid ${what} "${text}": must be ${min}..${max}`);
  return n;
}

/** The frame operations (-V -Q -f -d -s -D) of `a` for one side, validated. */
export function opsFromArgs(a: Args, side: "rx" | "tx"): OpsConfig {
  const cfg: OpsConfig = {};
  if (a.vlan !== undefined) {
    if (!/^[0-9]+$/.test(a.vlan.trim())) {
      throw new UsageError(`Invalid VLAN id "${a.vlan}": not a whole number`);
    }
    cfg.vlan = Number(a.vlan);
  }
  if (a.stripVlan) {
    if (side === "tx") throw new UsageError("-Q (strip VLAN tags) applies on receive (-rx), not on -tx");
    cfg.stripVlan = true;
  }
  if (a.filter !== undefined) {
    const v = parseVlanFilter(a.filter);
    if (v instanceof Error) throw new UsageError(v.message);
    cfg.filterVlan = v;
  }
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

/** True when `cfg` changes nothing. */
export function noOps(cfg: OpsConfig): boolean {
  return cfg.vlan === undefined && !cfg.stripVlan && cfg.filterVlan === undefined &&
    (cfg.keepPercent === undefined || cfg.keepPercent >= 100) && !cfg.snaplen && !cfg.trimTail;
}
