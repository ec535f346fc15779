/**
 * The command that runs fluxcap itself, for the supervisor's children: the compiled executable alone,
 * or `deno run -A cli.ts` when running from source.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/**
 * `[program, ...leading args]` that start this same fluxcap.
 *
 * @example
 * ```ts
 * import { selfCommand } from "./program.ts";
 * const [cmd, ...pre] = selfCommand();
 * new Deno.Command(cmd, { args: [...pre, "-h"] });
 * ```
 */
export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", fileURLToPath(new URL("../../cli.ts", import.meta.url))];
}

/** A command line as a user would type it (words with spaces or quotes quoted). */
export function shellWords(argv: string[]): string {
  return argv.map((w) => /^[A-Za-z0-9_.,:/@%+=-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`).join(
    " ",
  );
}
