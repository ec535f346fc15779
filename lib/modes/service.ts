/**
 * The service subcommands: `fluxcap run CONFIG`, `fluxcap check CONFIG`,
 * `fluxcap status [--json] [--seconds N] CONFIG | RING…`. Exit status 2 for a configuration or
 * command-line error, 1 for a runtime failure; `status` exits 0/1/2 as monitoring plug-ins do.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { ConfigError, loadConfig } from "../service/config.ts";
import { stderrLogger } from "../service/log.ts";
import { Notifier } from "../service/notify.ts";
import { parseListen } from "../watch/metrics.ts";
import { shellWords } from "../service/program.ts";
import { exists } from "../sinks/mod.ts";

/** Exit status of a configuration or command-line error. */
export const EXIT_CONFIG = 2;

/** The subcommands' usage. */
export const SERVICE_USAGE = `usage:
  fluxcap run [--metrics [addr:]port] CONFIG   run every ring and pipeline of CONFIG, supervised
  fluxcap check CONFIG                         validate CONFIG (exit 0, or 2 with every error)
  fluxcap status [--json] [--seconds N] CONFIG | RING ...
                                               health: exit 0 ok, 1 warning, 2 critical
`;

/** A mistake on the service subcommands' command line (exit status 2); "help" asks for the usage. */
class ServiceUsage extends UsageError {}

/** Splits `argv` (after the subcommand) into options with values, switches and operands. */
function parse(
  argv: string[],
  withValue: string[],
  switches: string[],
): { opts: Map<string, string>; flags: Set<string>; rest: string[] } {
  const opts = new Map<string, string>();
  const flags = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-h" || a === "--help") throw new ServiceUsage("help");
    if (a.startsWith("-") && a !== "-") {
      const eq = a.indexOf("=");
      const name = (eq < 0 ? a : a.slice(0, eq)).replace(/^--?/, "");
      if (withValue.includes(name)) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new ServiceUsage(`Option "--${name}" needs a value`);
        opts.set(name, v);
      } else if (switches.includes(name) && eq < 0) flags.add(name);
      else throw new ServiceUsage(`Unknown option "${a}"`);
    } else rest.push(a);
  }
  return { opts, flags, rest };
}

/** Runs `fluxcap run|check|status …` (`argv[0]` is the subcommand); resolves to the exit status. */
export async function runService(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  try {
    if (sub === "check") return check(args);
    if (sub === "run") return await run(args);
    if (sub === "status") return await status(args);
    throw new ServiceUsage(`Unknown subcommand "${sub}"`);
  } catch (e) {
    if (e instanceof ServiceUsage) {
      if (e.message === "help") {
        console.log(SERVICE_USAGE.trimEnd());
        return 0;
      }
      console.error(`fluxcap ${sub}: ${e.message}\n${SERVICE_USAGE.trimEnd()}`);
      return EXIT_CONFIG;
    }
    if (e instanceof ConfigError) {
      for (const p of e.problems) console.error(p);
      return EXIT_CONFIG;
    }
    throw e;
  }
}

function oneConfig(rest: string[], sub: string): string {
  if (rest.length !== 1) {
    throw new ServiceUsage(`fluxcap ${sub} takes one configuration file, got ${rest.length}`);
  }
  return rest[0];
}

function check(args: string[]): number {
  const { rest } = parse(args, [], []);
  const cfg = loadConfig(oneConfig(rest, "check"));
  console.log(
    `${cfg.file}: OK: ${cfg.rings.length} ring(s), ${cfg.pipelines.length} pipeline(s)` +
      (cfg.pipelines.length
        ? `:\n${cfg.pipelines.map((p) => `  ${p.name}: fluxcap ${shellWords(p.argv)}`).join("\n")}`
        : ""),
  );
  return 0;
}

async function run(args: string[]): Promise<number> {
  const { opts, rest } = parse(args, ["metrics"], []);
  const metrics = opts.get("metrics");
  if (metrics !== undefined) {
    try {
      parseListen(metrics);
    } catch (e) {
      throw new ServiceUsage((e as Error).message);
    }
  }
  const cfg = loadConfig(oneConfig(rest, "run"));
  const log = stderrLogger();
  const notifier = Notifier.fromEnv(log);
  const { Supervisor } = await import("../service/supervisor.ts");
  try {
    return await new Supervisor(cfg, { metrics, log, notifier }).run();
  } finally {
    notifier?.close();
  }
}

async function status(args: string[]): Promise<number> {
  const { opts, flags, rest } = parse(args, ["seconds"], ["json"]);
  const secText = opts.get("seconds") ?? "1";
  const seconds = Number(secText);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(secText) || !(seconds >= 0.1 && seconds <= 10)) {
    throw new ServiceUsage(`Invalid --seconds "${secText}": the window, 0.1 to 10 seconds`);
  }
  if (rest.length === 0) throw new ServiceUsage("fluxcap status needs a configuration file or rings");
  const { formatReport, looksLikeRing, statusOfConfig, statusOfRings } = await import("../service/status.ts");
  // One name is a configuration unless it is a ring, or names no file and does not look like YAML (a
  // ring that is missing is then reported as one, CRITICAL, as a monitoring plug-in expects).
  const missing = rest.length === 1 && !exists(rest[0]) && !/\.ya?ml$/i.test(rest[0]);
  const asConfig = rest.length === 1 && !looksLikeRing(rest[0]) && !missing;
  const report = asConfig
    ? await statusOfConfig(loadConfig(rest[0]), seconds)
    : await statusOfRings(rest, seconds);
  console.log(flags.has("json") ? JSON.stringify(report) : formatReport(report));
  return report.level;
}
