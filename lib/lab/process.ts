/**
 * Commands and long-running processes of the lab: {@linkcode runCommand} runs one to completion with a
 * SIGKILL timeout; {@linkcode LabProcess} wraps a running child, collects its output as it arrives and
 * stops it with a grace period. The lab runs both through `ip netns exec` in its own namespaces.
 *
 * @module
 */

/** Outcome of a finished command. */
export interface RunResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
}

/** Options of `Lab.run` and `Lab.spawn`. */
export interface RunOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s for `run`, none for `spawn`. */
  timeoutMs?: number;
  /** Bytes fed to stdin (stdin is closed afterwards). */
  stdin?: Uint8Array;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: (s: string) => void): Promise<void> {
  const dec = new TextDecoder();
  for await (const chunk of stream) sink(dec.decode(chunk, { stream: true }));
  sink(dec.decode());
}

/** A long-running child inside a lab namespace; output is collected as it arrives. */
export class LabProcess {
  /** Process id (of the command itself: `ip netns exec` execs it). */
  readonly pid: number;
  /** The command line. */
  readonly cmd: readonly string[];
  /** Resolves when the process has exited and its output is fully read. */
  readonly done: Promise<RunResult>;
  #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #waiters = new Set<() => void>();

  /** @internal Use `Lab.spawn`. */
  constructor(child: Deno.ChildProcess, cmd: string[], stdin?: Uint8Array, timeoutMs?: number) {
    this.#child = child;
    this.pid = child.pid;
    this.cmd = cmd;
    const wake = () => {
      for (const w of this.#waiters) w();
    };
    const out = collect(child.stdout, (s) => {
      this.#stdout += s;
      wake();
    });
    const err = collect(child.stderr, (s) => {
      this.#stderr += s;
      wake();
    });
    const input = (async () => {
      const w = child.stdin.getWriter();
      try {
        if (stdin !== undefined) await w.write(stdin);
        await w.close();
      } catch {
        // the child may exit without reading
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) timer = setTimeout(() => this.#kill("SIGKILL"), timeoutMs);
    this.done = (async () => {
      const st = await child.status;
      if (timer !== undefined) clearTimeout(timer);
      await Promise.all([out, err, input]);
      this.#exited = true;
      wake();
      return { code: st.code, signal: st.signal, stdout: this.#stdout, stderr: this.#stderr };
    })();
  }

  /** Output so far. */
  get stdout(): string {
    return this.#stdout;
  }
  /** Error output so far. */
  get stderr(): string {
    return this.#stderr;
  }
  /** True once the process has exited and its output was read. */
  get exited(): boolean {
    return this.#exited;
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  /**
   * Waits until `pattern` appears in the chosen output; rejects when the process exits first or after
   * `timeoutMs` (default 5 s), quoting its output.
   */
  waitFor(
    pattern: RegExp | string,
    opts: { stream?: "stdout" | "stderr"; timeoutMs?: number } = {},
  ): Promise<void> {
    const { stream = "stderr", timeoutMs = 5000 } = opts;
    const test = () => {
      const text = stream === "stdout" ? this.#stdout : this.#stderr;
      return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    };
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (test()) finish();
        else if (this.#exited) {
          finish(
            new Error(
              `Process "${this.cmd.join(" ")}" exited before printing ${pattern}: ${this.#stderr.trim()}`,
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern} from "${this.cmd.join(" ")}"`),
          ),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Sends `signal` (default SIGTERM), waits for the exit, and sends SIGKILL if it has not exited after
   * `graceMs` (default 3 s). Safe to call after the process exited.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 3000): Promise<RunResult> {
    if (!this.#exited) this.#kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((r) => timer = setTimeout(r, graceMs));
    const first = await Promise.race([this.done, grace]);
    clearTimeout(timer);
    if (first === undefined) this.#kill("SIGKILL");
    return await this.done;
  }
}

/** Runs a command to completion with a SIGKILL timeout. */
export async function runCommand(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    try {
      await w.write(opts.stdin);
      await w.close();
    } catch {
      // the child may exit without reading
    }
  }
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  const stderr = dec.decode(out.stderr) + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : "");
  return { code: out.code, signal: out.signal, stdout: dec.decode(out.stdout), stderr };
}
