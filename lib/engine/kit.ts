/**
 * The worker kit: what every loop needs besides its source or sink. Side-effect free: importing it
 * starts nothing.
 *
 * @module
 */

/** Message a loop sends to the main thread. */
export type LoopMessage =
  | { type: "ready"; info?: string }
  | { type: "error"; message: string; exitCode: number }
  | { type: "warn"; message: string }
  /** The loop has left its hot loop and is flushing and closing its output. */
  | { type: "closing" }
  | { type: "done"; summary?: string };

/** Context every loop receives. */
export interface LoopContext {
  /** Index 0 becomes 1 when the loop must stop. */
  stop: Int32Array;
  post: (m: LoopMessage) => void;
}

/** True once the main thread asked the loop to stop. */
export function stopping(ctx: LoopContext): boolean {
  return Atomics.load(ctx.stop, 0) !== 0;
}

/** Sleeps up to `ms` (fractions allowed), waking early when asked to stop; false once stopping. */
export function nap(ctx: LoopContext, ms: number): boolean {
  if (ms > 0) Atomics.wait(ctx.stop, 0, 0, ms);
  return !stopping(ctx);
}

/** A function that runs `fn` at most once per `ms` (for warnings in hot loops). */
export function throttle(ms: number, fn: (text: string) => void): (text: () => string) => void {
  let last = -Infinity;
  return (text) => {
    const now = performance.now();
    if (now - last < ms) return;
    last = now;
    fn(text());
  };
}

/** Warnings from hot loops are repeated at most this often. */
export const WARN_EVERY_MS = 60_000;

/** Kernel and housekeeping counters go into the ring this often (ms). */
export const STATS_MS = 100;

/**
 * A check, run with the loop's housekeeping, that warns (at most once a minute) when the duplicate
 * table (`--dedup`) overwrote entries still inside their window: frames came faster than the table is
 * sized for, and a few late copies may have been kept. Returns a no-op without `--dedup`.
 */
export function dedupWatch(
  dedup: { evictions: number; entries: number; windowMs: number } | null,
  post: (m: LoopMessage) => void,
): () => void {
  if (dedup === null) return () => {};
  let seen = 0;
  const warn = throttle(WARN_EVERY_MS, (message) => post({ type: "warn", message }));
  return () => {
    const n = dedup.evictions;
    if (n === seen) return;
    seen = n;
    warn(() =>
      `Duplicate removal: ${n} entries of its table (${dedup.entries}, sized for 1,000,000 frames/s over ` +
      `${dedup.windowMs} ms) were reused within the window: frames arrive faster than that, and some ` +
      `duplicates may have been kept (no frame is dropped wrongly)`
    );
  };
}
