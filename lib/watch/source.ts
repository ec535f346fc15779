/**
 * Watching one ring by name: opens it, notices when the file is deleted or replaced (a mapping stays
 * valid after its file is unlinked, so the path's inode is compared with the one opened), and reopens
 * it when a ring of that name comes back.
 *
 * @module
 */
import { RingError, RingFile } from "../ring/file.ts";
import { snapshot } from "../ring/stats.ts";
import type { RingSnapshot } from "../ring/stats.ts";

/** One look at a watched ring. */
export interface WatchSample {
  /** The ring's name as the user gave it. */
  name: string;
  /** ms since the epoch. */
  at: number;
  /** The ring's counters, or null when it is gone. */
  snap: RingSnapshot | null;
  /** True when the path no longer names a valid ring (deleted, replaced by a corrupt file). */
  gone: boolean;
  /** Why it is gone ("no such file", "not a fluxcap ring (bad magic)"). */
  reason?: string;
  /** Incremented each time a different file is opened under the name (counters restart). */
  generation: number;
}

interface Identity {
  dev: number;
  ino: number;
}

function identity(path: string): Identity | null {
  try {
    const st = Deno.statSync(path);
    return { dev: st.dev, ino: st.ino ?? -1 };
  } catch {
    return null;
  }
}

function same(a: Identity | null, b: Identity | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** The reason part of a `Cannot open ring "x": reason` message. */
function reasonOf(e: unknown, name: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const prefix = `Cannot open ring "${name}": `;
  return msg.startsWith(prefix) ? msg.slice(prefix.length) : msg;
}

/**
 * A ring watched by name.
 *
 * @example
 * ```ts
 * import { RingWatch } from "./source.ts";
 * using w = RingWatch.open("/dev/shm/demo"); // throws RingError if missing or corrupt
 * const s = w.sample();
 * console.log(s.gone ? `gone: ${s.reason}` : s.snap!.frames);
 * ```
 */
export class RingWatch {
  readonly name: string;
  readonly path: string;
  #ring: RingFile | null = null;
  #id: Identity | null = null;
  #generation = 0;
  #reason = "not opened yet";
  #closed = false;

  /** A watch that opens the ring at its first sample (for the metrics endpoint). */
  constructor(name: string, path = name) {
    this.name = name;
    this.path = path;
  }

  /** Opens the ring now: throws {@link RingError} `Cannot open ring "x": …` if missing or corrupt. */
  static open(name: string, path = name): RingWatch {
    const w = new RingWatch(name, path);
    w.#open();
    return w;
  }

  /** True while the ring is open (not gone). */
  get isOpen(): boolean {
    return this.#ring !== null;
  }

  #open(): void {
    for (let tries = 0;; tries++) {
      const before = identity(this.path);
      const ring = RingFile.openReadOnly(this.path, this.name);
      const after = identity(this.path);
      if (same(before, after) || tries >= 3) {
        this.#ring = ring;
        this.#id = after;
        this.#generation++;
        return;
      }
      ring.close(); // replaced while we opened it: try again
    }
  }

  /** The sample of a ring that is not there (deleted, missing, or not a ring). */
  #gone(at: number): WatchSample {
    return {
      name: this.name,
      at,
      snap: null,
      gone: true,
      reason: this.#reason,
      generation: this.#generation,
    };
  }

  /** Checks the file behind the name and takes a snapshot (or reports the ring gone). Never throws. */
  sample(): WatchSample {
    if (this.#closed) throw new RingError(`Watch of ring "${this.name}" is closed`);
    const at = Date.now();
    if (this.#ring !== null && !same(this.#id, identity(this.path))) {
      this.#ring.close();
      this.#ring = null;
      this.#reason = "deleted";
    }
    if (this.#ring === null) {
      if (identity(this.path) === null) {
        if (this.#reason !== "deleted") this.#reason = "no such file";
        return this.#gone(at);
      }
      try {
        this.#open();
      } catch (e) {
        this.#reason = reasonOf(e, this.name);
        return this.#gone(at);
      }
    }
    try {
      this.#ring!.checkSize(); // a ring truncated in place: gone, rather than SIGBUS on its header
      return { name: this.name, at, snap: snapshot(this.#ring!), gone: false, generation: this.#generation };
    } catch (e) {
      this.#ring?.close();
      this.#ring = null;
      this.#reason = reasonOf(e, this.name);
      return this.#gone(at);
    }
  }

  /** Unmaps the ring. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring?.close();
    this.#ring = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
