/**
 * Rates over a sliding window of counter samples, the way fluxcap 3.2's watch view computed them: the
 * difference between the newest sample and the oldest one still inside the window (about 10 s), divided
 * by the time between them. Pure: no clock, no I/O; the caller passes sample times.
 *
 * @module
 */
import type { RingSnapshot } from "../ring/stats.ts";

/** Default width of the sliding window, in ms. */
export const RATE_WINDOW_MS = 10_000;

interface Series {
  t: number[];
  v: number[];
}

/**
 * Per-second rates of named, monotonically increasing counters over a sliding window.
 *
 * A counter that goes backwards (its ring was recreated, its reader slot reused) restarts its window.
 * A counter missing from an update is forgotten (its reader detached).
 *
 * @example
 * ```ts
 * import { RateWindow } from "./rates.ts";
 * const w = new RateWindow();
 * w.update(0, { frames: 0 });
 * w.update(1000, { frames: 500 });
 * w.rate("frames"); // 500
 * ```
 */
export class RateWindow {
  readonly windowMs: number;
  #series = new Map<string, Series>();

  constructor(windowMs = RATE_WINDOW_MS) {
    if (!(windowMs > 0)) throw new RangeError(`Invalid rate window "${windowMs}": must be more than 0 ms`);
    this.windowMs = windowMs;
  }

  /** Records the values of counters observed at time `at` (ms, increasing from call to call). */
  update(at: number, values: Record<string, number>): void {
    for (const key of this.#series.keys()) {
      if (!(key in values)) this.#series.delete(key);
    }
    for (const [key, v] of Object.entries(values)) {
      let s = this.#series.get(key);
      if (!s) {
        s = { t: [], v: [] };
        this.#series.set(key, s);
      }
      const n = s.t.length;
      if (n > 0 && (v < s.v[n - 1] || at < s.t[n - 1])) { // reset: start over
        s.t.length = 0;
        s.v.length = 0;
      }
      s.t.push(at);
      s.v.push(v);
      // Keep the samples inside the window, and always the last two (sparse samples: the last interval).
      let drop = 0;
      while (drop < s.t.length - 2 && s.t[drop] < at - this.windowMs) drop++;
      if (drop > 0) {
        s.t.splice(0, drop);
        s.v.splice(0, drop);
      }
    }
  }

  /** Per-second rate of `key` over the window; 0 with fewer than two samples or an unknown key. */
  rate(key: string): number {
    const s = this.#series.get(key);
    if (!s || s.t.length < 2) return 0;
    const n = s.t.length - 1;
    const dt = (s.t[n] - s.t[0]) / 1000;
    return dt > 0 ? (s.v[n] - s.v[0]) / dt : 0;
  }

  /** Time covered by the samples of `key`, in ms (0 when unknown). */
  span(key: string): number {
    const s = this.#series.get(key);
    return s && s.t.length > 1 ? s.t[s.t.length - 1] - s.t[0] : 0;
  }

  /** Forgets every counter (e.g. when the ring was replaced by a new file). */
  clear(): void {
    this.#series.clear();
  }
}

/** Identity of a reader across snapshots: its slot and pid (a reused slot has another pid). */
export function readerKey(r: { slot: number; pid: number }): string {
  return `${r.slot}/${r.pid}`;
}

/** Rates of one reader. */
export interface ReaderRates {
  framesPerSec: number;
  bitsPerSec: number;
  sentPerSec: number;
  lostPerSec: number;
  /** Frames dropped per second on this reader, all reasons together. */
  droppedPerSec: number;
}

/** Rates of one ring, and of each reader by {@link readerKey}. */
export interface RingRates {
  framesPerSec: number;
  /** Wire bits per second (original frame lengths). */
  bitsPerSec: number;
  kernelDropsPerSec: number;
  /** Frames the writer side dropped per second (filtered, sampled, oversize, ...). */
  writerDropsPerSec: number;
  /** Sum over readers of frames lost to overwrite per second. */
  lostPerSec: number;
  readers: Map<string, ReaderRates>;
}

function sum(o: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(o)) s += v;
  return s;
}

/** The counters of a snapshot that rates are computed for, by name. */
export function countersOf(s: RingSnapshot): Record<string, number> {
  const c: Record<string, number> = {
    frames: s.frames,
    wire: s.wireBytes,
    kdrops: s.kernelDrops,
    wdrops: s.writer ? sum(s.writer.drops) : 0,
  };
  for (const r of s.readers) {
    const k = readerKey(r);
    c[`${k}.read`] = r.framesRead;
    c[`${k}.bytes`] = r.bytesRead;
    c[`${k}.sent`] = r.framesSent;
    c[`${k}.lost`] = r.framesLost;
    c[`${k}.drops`] = sum(r.drops);
  }
  return c;
}

/**
 * Feeds `s` into `w` and returns the ring's rates.
 *
 * @example
 * ```ts
 * import { RateWindow, sampleRates } from "./rates.ts";
 * import { RingFile, snapshot } from "../ring/mod.ts";
 * const w = new RateWindow();
 * using ring = RingFile.open("/dev/shm/demo");
 * const rates = sampleRates(w, snapshot(ring));
 * console.log(rates.bitsPerSec);
 * ```
 */
export function sampleRates(w: RateWindow, s: RingSnapshot): RingRates {
  w.update(s.at, countersOf(s));
  return ratesFrom(w, s);
}

/** The rates of `s`'s counters as `w` last saw them (after {@link sampleRates} or `w.update`). */
export function ratesFrom(w: RateWindow, s: RingSnapshot): RingRates {
  const readers = new Map<string, ReaderRates>();
  let lost = 0;
  for (const r of s.readers) {
    const k = readerKey(r);
    const rr: ReaderRates = {
      framesPerSec: w.rate(`${k}.read`),
      bitsPerSec: w.rate(`${k}.bytes`) * 8,
      sentPerSec: w.rate(`${k}.sent`),
      lostPerSec: w.rate(`${k}.lost`),
      droppedPerSec: w.rate(`${k}.drops`),
    };
    lost += rr.lostPerSec;
    readers.set(k, rr);
  }
  return {
    framesPerSec: w.rate("frames"),
    bitsPerSec: w.rate("wire") * 8,
    kernelDropsPerSec: w.rate("kdrops"),
    writerDropsPerSec: w.rate("wdrops"),
    lostPerSec: lost,
    readers,
  };
}

/** Rates of a ring with no samples yet (all zero). */
export function zeroRates(): RingRates {
  return {
    framesPerSec: 0,
    bitsPerSec: 0,
    kernelDropsPerSec: 0,
    writerDropsPerSec: 0,
    lostPerSec: 0,
    readers: new Map(),
  };
}
