/**
 * The benchmark's side of the generator process (`gen.ts`): starts it inside a lab namespace, sends one
 * trial at a time over its stdin and reads the answer line, with a timeout.
 *
 * @module
 */
import type { GenCommand, GenResult } from "./gen.ts";

const GEN = new URL("./gen.ts", import.meta.url).pathname;

/** A running generator process. */
export class GenClient {
  /** Process id of the generator itself (`ip netns exec` execs it). */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.pid = child.pid; // `ip netns exec` execs the command: this is the generator itself
    this.#writer = child.stdin.getWriter();
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Starts the generator on `ifname` inside `ns` and waits for its `ready`. */
  static async start(ns: string, ifname: string): Promise<GenClient> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", GEN, ifname],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const g = new GenClient(child);
    const first = await g.#line(30_000);
    if (first !== "ready") throw new Error(`Generator did not start: "${first}"`);
    return g;
  }

  async #line(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.#buf.indexOf("\n");
      if (i >= 0) {
        const l = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        return l.trim();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const left = deadline - performance.now();
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<null>((res) => timer = setTimeout(() => res(null), Math.max(0, left))),
      ]);
      clearTimeout(timer);
      if (r === null) {
        this.kill();
        throw new Error(`Generator gave no answer in ${timeoutMs} ms`);
      }
      if (r.done) throw new Error("Generator exited");
      this.#buf += r.value;
    }
  }

  /** Runs one trial and returns the generator's answer. */
  async trial(cmd: GenCommand): Promise<GenResult> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    const res = JSON.parse(await this.#line(cmd.ms + 15_000));
    if (res.error) throw new Error(`Generator: ${res.error}`);
    return res as GenResult;
  }

  /** Kills the generator (SIGKILL). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }

  /** Closes its stdin so it exits; kills it after 3 s. */
  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), 3000)),
    ]);
    clearTimeout(timer);
    if (!done) {
      this.kill();
      await this.#child.status;
    }
    await this.#reader.cancel().catch(() => {});
  }
}
