/**
 * fluxcap's version, from `deno.json` (one place): written into pcapng section headers and printed by
 * `--version`.
 *
 * @module
 */
import meta from "../deno.json" with { type: "json" };

/** The version of this fluxcap, e.g. `0.1.0`. */
export const VERSION: string = meta.version;
