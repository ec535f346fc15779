/**
 * fluxcap command line: parses the fluxcap 3.2 flags (and long names) and dispatches to a mode.
 * Errors are printed as one line on stderr with exit status 1; never a stack trace.
 *
 * @module
 */
import { parseArgs, USAGE, UsageError } from "./lib/args.ts";
import { runCreate } from "./lib/modes/create.ts";
import { RingError } from "./lib/ring/mod.ts";
import { SysError } from "./ffi/mod.ts";

export const VERSION = "0.1.0";

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
  const a = parseArgs(argv);
  switch (a.mode) {
    case "help":
      if (argv.length === 0) {
        console.error(USAGE);
        return 1;
      }
      console.log(USAGE);
      return 0;
    case "version":
      console.log(`fluxcap ${VERSION} (Deno ${Deno.version.deno})`);
      return 0;
    case "create":
      return runCreate(a, log);
    case "rx": {
      const { runReceive } = await import("./lib/modes/receive.ts");
      return await withMetrics(a.metrics, a.rings, () => runReceive(a, log));
    }
    case "tx": {
      const { runTransmit } = await import("./lib/modes/transmit.ts");
      return await withMetrics(a.metrics, a.rings, () => runTransmit(a, log));
    }
    case "watch": {
      const { runWatch } = await import("./lib/modes/watch.ts");
      return await runWatch(a, log);
    }
    case "demo": {
      const { runDemo } = await import("./lib/modes/demo.ts");
      return await runDemo(a, log);
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

/** Turns an error into the one line a user sees, or null for a bug (which keeps its stack). */
export function userMessage(e: unknown): string | null {
  if (e instanceof UsageError || e instanceof RingError || e instanceof SysError) return e.message;
  if (e instanceof Error && e.name === "FluxError") return e.message;
  return null;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const msg = userMessage(e);
    if (msg === null) throw e;
    console.error(msg);
    code = 1;
  }
  Deno.exit(code);
}
