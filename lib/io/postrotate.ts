/**
 * `-z CMD`: runs `CMD FILE` after each capture file is complete (as tcpdump's postrotate command), without
 * a shell, never blocking the writer and never stopping it.
 *
 * Why a helper Worker: the file writer's loop runs synchronously in its own Worker and sleeps with
 * `Atomics.wait`, so its event loop does not turn while it runs. A child spawned there would stay a
 * zombie, and its exit would go unseen, until the loop ended. The commands are therefore spawned and
 * awaited by a small Worker of their own (`postrotate_worker.ts`), whose event loop is always free; it
 * reports each exit through a shared-memory mailbox that the writer reads between batches (`poll`, no
 * event loop needed), so exits are logged promptly through the writer's own log.
 *
 * Logged: a command that cannot be started, exits non-zero or is killed (always); a clean exit only when
 * `verbose`. At `close`, commands still running are waited for up to a bound, then left to finish on
 * their own (their exit is then not logged; they are said to be still running).
 *
 * @module
 */

/** Mailbox slots: exits reported and not yet read. The worker waits while all are full. */
const SLOTS = 32;
/** Bytes per slot: state (0 free, 1 full), job id, text length, text. */
const SLOT_BYTES = 1024;
const HEADER_WORDS = 3;
const TEXT_BYTES = SLOT_BYTES - HEADER_WORDS * 4;

/** How long `close` waits for running commands by default (ms). */
export const CLOSE_WAIT_MS = 500;

/** Message to the helper worker. */
export interface PostRotateJob {
  id: number;
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
  #worker: Worker | null = null;
  #mail = new Int32Array(new SharedArrayBuffer(SLOTS * SLOT_BYTES));
  #bytes = new Uint8Array(this.#mail.buffer);
  #running = new Map<number, string>();
  #next = 1;
  #closed = false;

  constructor(opts: { argv: string[]; log: (message: string) => void; verbose?: boolean }) {
    this.argv = opts.argv;
    this.#log = opts.log;
    this.#verbose = opts.verbose ?? false;
  }

  /** Commands started and not yet seen to end. */
  get running(): number {
    return this.#running.size;
  }

  /** True while a command runs on `file`. */
  busy(file: string): boolean {
    for (const f of this.#running.values()) if (f === file) return true;
    return false;
  }

  /** Starts `CMD… file` and returns at once. */
  run(file: string): void {
    if (this.#closed) return;
    if (this.#worker === null) {
      this.#worker = new Worker(new URL("./postrotate_worker.ts", import.meta.url).href, { type: "module" });
      this.#worker.postMessage({ mail: this.#mail });
    }
    const id = this.#next++;
    this.#running.set(id, file);
    const job: PostRotateJob = { id, argv: this.argv, file, verbose: this.#verbose };
    this.#worker.postMessage(job);
  }

  /** Logs the exits reported since the last call. Cheap when there are none. */
  poll(): void {
    if (this.#running.size === 0) return;
    const dec = new TextDecoder();
    for (let s = 0; s < SLOTS; s++) {
      const w = (s * SLOT_BYTES) / 4;
      if (Atomics.load(this.#mail, w) !== 1) continue;
      const id = this.#mail[w + 1];
      const len = Math.min(this.#mail[w + 2], TEXT_BYTES);
      const start = s * SLOT_BYTES + HEADER_WORDS * 4;
      const text = dec.decode(this.#bytes.slice(start, start + len));
      Atomics.store(this.#mail, w, 0);
      Atomics.notify(this.#mail, w);
      this.#running.delete(id);
      if (text !== "") this.#log(text);
    }
  }

  /**
   * Waits up to `waitMs` for running commands (logging their exits), says which are still running,
   * and stops the helper worker (the commands themselves go on). Safe to call twice.
   */
  close(waitMs = CLOSE_WAIT_MS): void {
    if (this.#closed) return;
    this.#closed = true;
    const end = performance.now() + waitMs;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (this.poll(); this.#running.size > 0 && performance.now() < end; this.poll()) {
      Atomics.wait(nap, 0, 0, Math.min(10, Math.max(1, end - performance.now())));
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
}

/** Layout of the mailbox, for the worker. */
export const MAILBOX = { SLOTS, SLOT_BYTES, HEADER_WORDS, TEXT_BYTES } as const;
