/**
 * The one adapter between the service configuration and the command line's own validation: a pipeline
 * of the configuration is valid exactly when the `fluxcap -rx …` / `fluxcap -tx …` command line it
 * turns into would be accepted. Everything in `lib/service` validates pipelines through
 * {@linkcode validatePipelineArgv} and nothing else.
 *
 * What it checks is what the command line checks before it touches the system: the option syntax,
 * which options apply, and every value (`parseCommandLine`), plus the capture-file name pattern. It
 * does not look for interfaces, resolve host names, or open rings: those are runtime conditions (a NIC
 * may come back later) that the pipeline's process reports itself.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { resolveTarget } from "../sinks/mod.ts";
import { parseCommandLine } from "../settings/mod.ts";

/**
 * Validates a pipeline's command line (without the program name) as `fluxcap` would before starting:
 * returns when it would start, throws the command line's own one-line error otherwise.
 *
 * @example
 * ```ts
 * import { validatePipelineArgv } from "./validate.ts";
 * validatePipelineArgv(["-rx", "-i", "eth1", "-V", "100", "/ram/cisco"]); // fine
 * try {
 *   validatePipelineArgv(["-tx", "-i", "eth2", "-V", "5000", "/ram/cisco"]);
 * } catch (e) {
 *   // VLAN id "5000" is out of range 1..4094
 * }
 * ```
 */
export function validatePipelineArgv(argv: string[]): void {
  const s = parseCommandLine(argv);
  // A configuration is new: what a 3.2 command line may carry unused, it must not.
  if (s.warnings?.length) throw new UsageError(s.warnings[0].replace(": ignored (as fluxcap 3.2 did)", ""));
  if (s.mode !== "rx" && s.mode !== "tx") {
    throw new UsageError(`A pipeline is a -rx or -tx command line, not ${s.mode}`);
  }
  if (s.mode === "tx" && s.sink.kind === "file") {
    try {
      resolveTarget(s.sink.path, s.ring);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
}
