/**
 * Shared helpers for tests: temporary ring directories and running the CLI as a user would.
 * @module
 */

/** Path of the CLI under test: `FLUXCAP_BIN` (a compiled binary) or `deno run -A cli.ts`. */
export function fluxcapCommand(): string[] {
  const bin = Deno.env.get("FLUXCAP_BIN");
  if (bin) return [bin];
  return [Deno.execPath(), "run", "-A", new URL("../cli.ts", import.meta.url).pathname];
}

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs fluxcap with `args` in `cwd`, bounded by `timeoutMs`. */
export async function fluxcap(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [cmd, ...pre] = fluxcapCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Temporary directory path that the caller removes with `rmrf`. */
export function makeRingDir(): string {
  return Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-test-" });
}

/** Removes a directory tree, ignoring a missing one. */
export function rmrf(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* already gone */ }
}
