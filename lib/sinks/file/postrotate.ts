/**
 * `-z CMD`: runs `CMD FILE` after each capture file is complete (as tcpdump's postrotate command), without
 * a shell, never blocking the writer and never stopping it.
 *
 * Why a helper Worker: the file writer's loop runs synchronously in its own Worker and sleeps with
 * `Atomics.wait`, so its event loop does not turn while it runs. A child spawned there would stay a
 * zombie, and its exit would go unseen, until the loop ended. The commands are therefore spawned and
 * awaited by a small Worker of their own (`postrotate_worker.ts`), whose event loop is always free.
 * Both directions go through shared memory, so neither side needs the writer's event loop: jobs are put
 * in slots the helper waits on (`Atomics.waitAsync`), exits come back in a mailbox the writer reads
 * between batches (`poll`). The helper is started with the output, because a Worker started from a
 * Worker takes about a second to come up; a job it has not taken by `close` (or when its slots are
 * full) is spawned by the writer itself, without waiting for its exit.
 *
 * Logged: a command that cannot be started, exits non-zero or is killed (always); a clean exit only when
 * `verbose`. At `close`, commands still running are waited for up to a bound, then left to finish on
 * their own (said to be still running).
 *
 * @module
 */

/** Words at the start of the shared area: ready flag (set by the helper), job sequence (for waits). */
const HEAD_WORDS = 2;
/** Job slots (writer → helper) and result slots (helper → writer). */
const SLOTS = 16;
/** Bytes per slot: state, job id, text length, then the text (UTF-8). */
const SLOT_BYTES = 4096;
const SLOT_HEADER = 12;
const TEXT_BYTES = SLOT_BYTES - SLOT_HEADER;
/** Slot states. */
const FREE = 0, FULL = 1, TAKEN = 2;

/** How long `close` waits for running commands by default (ms): within the host's 0.9 s stop budget. */
export const CLOSE_WAIT_MS = 500;

/** Layout of the shared area, for the helper. */
export const SHARED = {
  HEAD_WORDS,
  SLOTS,
  SLOT_BYTES,
  SLOT_HEADER,
  TEXT_BYTES,
  FREE,
  FULL,
  TAKEN,
  /** Byte offset of job slot `s`. */
  job: (s: number) => HEAD_WORDS * 4 + s * SLOT_BYTES,
  /** Byte offset of result slot `s`. */
  result: (s: number) => HEAD_WORDS * 4 + (SLOTS + s) * SLOT_BYTES,
  BYTES: HEAD_WORDS * 4 + 2 * SLOTS * SLOT_BYTES,
} as const;

/** A job as the helper receives it. */
export interface PostRotateJob {
  argv: string[];
  file: string;
  verbose: boolean;
}

/**
 * Splits a `-z` value into argv: words separated by blanks, `'…'` and `"…"` quote (no shell expansion;
 * no variables, globs or redirections). Throws on an unbalanced quote or an empty command.
 *
 * @example
 * ```ts
 * import { splitCommand } from "./postrotate.ts";
 * console.assert(splitCommand("gzip -9").join(",") === "gzip,-9");
 * ```
 */
export function splitCommand(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote = "";
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = "";
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`Invalid -z command "${text}": unbalanced ${quote}`);
  if (inWord) out.push(cur);
  if (out.length === 0) throw new Error(`Invalid -z command "${text}": empty`);
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Runs the `-z` command on completed files from a helper Worker (see the module doc).
 *
 * @example
 * ```ts ignore
 * import { PostRotate } from "./postrotate.ts";
 * const z = new PostRotate({ argv: ["gzip"], log: console.error });
 * z.run("/cap/x.pcap"); // returns at once
 * z.poll(); // between batches: logs the exits seen so far
 * z.close(); // at the end
 * ```
 */
export class PostRotate {
  readonly argv: string[];
  #log: (message: string) => void;
  #verbose: boolean;
  #worker: Worker | null;
  #i32 = new Int32Array(new SharedArrayBuffer(SHARED.BYTES));
  #u8 = new Uint8Array(this.#i32.buffer);
  /** Jobs handed to the helper and not reported yet: id → file. */
  #running = new Map<number, string>();
  #next = 1;
  #closed = false;

  /** Starts the helper Worker (it takes about a second to come up: start it with the output). */
  constructor(opts: { argv: string[]; log: (message: string) => void; verbose?: boolean }) {
    this.argv = opts.argv;
    this.#log = opts.log;
    this.#verbose = opts.verbose ?? false;
    this.#worker = new Worker(new URL("./postrotate_worker.ts", import.meta.url).href, { type: "module" });
    this.#worker.postMessage({ shared: this.#i32 });
  }

  /** Commands started and not yet seen to end. */
  get running(): number {
    return this.#running.size;
  }

  /** True while a command runs (or waits to run) on `file`. */
  busy(file: string): boolean {
    for (const f of this.#running.values()) if (f === file) return true;
    return false;
  }

  /** Hands `CMD… file` to the helper and returns at once. */
  run(file: string): void {
    if (this.#closed) return;
    const job: PostRotateJob = { argv: this.argv, file, verbose: this.#verbose };
    const text = enc.encode(JSON.stringify(job));
    for (let s = 0; s < SLOTS && text.length <= TEXT_BYTES; s++) {
      const o = SHARED.job(s);
      if (Atomics.load(this.#i32, o / 4) !== FREE) continue;
      const id = this.#next++;
      this.#i32[o / 4 + 1] = id;
      this.#i32[o / 4 + 2] = text.length;
      this.#u8.set(text, o + SLOT_HEADER);
      Atomics.store(this.#i32, o / 4, FULL);
      Atomics.add(this.#i32, 1, 1);
      Atomics.notify(this.#i32, 1);
      this.#running.set(id, file);
      return;
    }
    this.#spawnHere(job, "the -z helper is busy");
  }

  /** Logs the exits reported since the last call; returns how many. Cheap when there are none. */
  poll(): number {
    if (this.#running.size === 0) return 0;
    let ended = 0;
    for (let s = 0; s < SLOTS; s++) {
      const o = SHARED.result(s);
      if (Atomics.load(this.#i32, o / 4) !== FULL) continue;
      const id = this.#i32[o / 4 + 1];
      const len = Math.min(this.#i32[o / 4 + 2], TEXT_BYTES);
      const text = dec.decode(this.#u8.slice(o + SLOT_HEADER, o + SLOT_HEADER + len));
      Atomics.store(this.#i32, o / 4, FREE);
      this.#running.delete(id);
      ended++;
      if (text !== "") this.#log(text);
    }
    return ended;
  }

  /**
   * Waits up to `waitMs` for running commands (logging their exits), spawns itself the jobs the helper
   * has not taken, says which are still running, and stops the helper (the commands themselves go on).
   * Safe to call twice.
   */
  close(waitMs = CLOSE_WAIT_MS): void {
    if (this.#closed) return;
    this.#closed = true;
    const end = performance.now() + waitMs;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (this.poll(); this.#running.size > 0 && performance.now() < end; this.poll()) {
      if (Atomics.load(this.#i32, 0) === 0) break; // the helper is not up yet: do not wait for it
      Atomics.wait(nap, 0, 0, Math.min(10, Math.max(1, end - performance.now())));
    }
    for (let s = 0; s < SLOTS; s++) {
      const o = SHARED.job(s);
      if (Atomics.compareExchange(this.#i32, o / 4, FULL, FREE) !== FULL) continue;
      const id = this.#i32[o / 4 + 1];
      const len = this.#i32[o / 4 + 2];
      const job = JSON.parse(
        dec.decode(this.#u8.slice(o + SLOT_HEADER, o + SLOT_HEADER + len)),
      ) as PostRotateJob;
      this.#running.delete(id);
      this.#spawnHere(job, "fluxcap is stopping");
    }
    for (const file of this.#running.values()) {
      this.#log(`-z command "${this.argv.join(" ")}" still running on "${file}": its exit is not waited for`);
    }
    this.#worker?.terminate();
    this.#worker = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Spawns a job from this thread; its exit cannot be observed here (see the module doc). */
  #spawnHere(job: PostRotateJob, why: string): void {
    const what = `-z command "${job.argv.join(" ")}" on "${job.file}"`;
    try {
      new Deno.Command(job.argv[0], {
        args: [...job.argv.slice(1), job.file],
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      this.#log(`${what} started while ${why}: its exit is not waited for`);
    } catch (e) {
      this.#log(`${what} could not start: ${spawnReason(e)}`);
    }
  }
}

/** The reason a spawn failed, for messages. */
export function spawnReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/ \(os error \d+\).*$/, "").replace(/^./, (c) => c.toLowerCase());
}
