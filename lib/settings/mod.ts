/**
 * The command line: fluxcap 3.2's flags verbatim (plus long names), turned into typed, validated
 * settings in one place.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./mod.ts";
 * const s = parseCommandLine(["-cr", "-s", "100m", "cisco", "dell"]);
 * // s.mode === "create", s.size === 104857600
 * ```
 * @module
 */
export { OPTION_NAMES, parseArgs } from "./args.ts";
export type { Args, Mode } from "./args.ts";
export { parseEncapSpec, parseKey, parsePort, VXLAN_PORT } from "./encap.ts";
export type { EncapSpec, TunnelKind } from "./encap.ts";
export { intOption, parseCommandLine } from "./settings.ts";
export type {
  CreateSettings,
  DemoSettings,
  NicSinkSettings,
  ReceiveSettings,
  RunSettings,
  Settings,
  SinkSettings,
  SourceSettings,
  TransmitSettings,
  TunnelSinkSettings,
  WatchSettings,
} from "./settings.ts";
export { USAGE } from "./usage.ts";
