/**
 * fluxcap command line: the fluxcap 3.2 flags (and long names) turned into settings, then the mode.
 * User-facing errors are printed as one line on stderr with their exit status; never a stack trace.
 *
 * @module
 */
import { isUserError } from "./lib/errors.ts";
import { runCreate } from "./lib/modes/create.ts";
import { parseCommandLine, USAGE } from "./lib/settings/mod.ts";
import { VERSION } from "./lib/version.ts";

export { VERSION };

function log(s: string): void {
  console.error(s);
}

/** Runs fluxcap with `argv`; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  // The service subcommands (one config file, supervised pipelines) have their own arguments.
  if (argv[0] === "run" || argv[0] === "check" || argv[0] === "status") {
    const { runService } = await import("./lib/modes/service.ts");
    return await runService(argv);
  }
  const s = parseCommandLine(argv);
  for (const w of s.warnings ?? []) log(`fluxcap: ${w}`);
  switch (s.mode) {
    case "help":
      if (s.bare) {
        console.error(USAGE);
        return 2;
      }
      console.log(USAGE);
      return 0;
    case "version":
      console.log(`fluxcap ${VERSION} (Deno ${Deno.version.deno})`);
      return 0;
    case "create":
      return runCreate(s, log);
    case "rx": {
      const { runReceive } = await import("./lib/modes/receive.ts");
      return await withMetrics(s.metrics, [s.ring], () => runReceive(s, log));
    }
    case "tx": {
      const { runTransmit } = await import("./lib/modes/transmit.ts");
      return await withMetrics(s.metrics, [s.ring], () => runTransmit(s, log));
    }
    case "watch": {
      const { runWatch } = await import("./lib/modes/watch.ts");
      return await runWatch(s, log);
    }
    case "demo": {
      const { runDemo } = await import("./lib/modes/demo.ts");
      return await runDemo(s, log);
    }
  }
}

/** Serves Prometheus `/metrics` for `rings` while `run` runs (when `--metrics` was given). */
async function withMetrics(
  spec: string | undefined,
  rings: string[],
  run: () => Promise<number>,
): Promise<number> {
  if (spec === undefined) return await run();
  const { startMetrics } = await import("./lib/watch/metrics.ts");
  const m = startMetrics(spec, rings);
  try {
    return await run();
  } finally {
    await m.close();
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (!isUserError(e)) throw e;
    console.error(e.message);
    code = e.exitCode;
  }
  Deno.exit(code);
}
