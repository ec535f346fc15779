/**
 * Drop reasons shared by the frame operations, the ring's per-reason drop counters and the I/O layer.
 *
 * A ring (format version 2) has sixteen drop-reason slots for the writer and for each reader: the first
 * eight where version 1 had them, eight more in areas version 1 left zero (see `layout.ts`). Their order
 * is fixed here and must not change once rings exist on disk: append only, at most
 * {@linkcode DROP_REASON_SLOTS} reasons.
 *
 * @module
 */

/** The drop-reason names, in ring slot order (the first eight are version 1's). */
export const DROP_REASONS = [
  "filtered",
  "sampled",
  "oversize",
  "send_error",
  "malformed",
  "key_mismatch",
  "reassembly",
  "other",
  // ---- version 2: the extension slots ----
  "duplicate",
] as const;

/** One drop-reason name. */
export type DropReasonName = typeof DROP_REASONS[number];

/**
 * Drop-reason name → slot index.
 *
 * @example
 * ```ts
 * import { DROP_REASONS, DropReason } from "./reasons.ts";
 * console.assert(DROP_REASONS[DropReason.sampled] === "sampled");
 * ```
 */
export const DropReason = {
  filtered: 0,
  sampled: 1,
  oversize: 2,
  send_error: 3,
  malformed: 4,
  key_mismatch: 5,
  reassembly: 6,
  other: 7,
  duplicate: 8,
} as const satisfies Record<DropReasonName, number>;

/** A drop-reason slot index. */
export type DropReasonIndex = typeof DropReason[DropReasonName];

/** Number of drop reasons in use. */
export const DROP_REASON_COUNT: number = DROP_REASONS.length;

/** Drop-reason slots a version-2 ring has (8 in version 1's places, 8 in its extension). */
export const DROP_REASON_SLOTS = 16;

/**
 * Decodes a verdict returned by {@linkcode FramePipeline.decide} / `applyRx`: a negative verdict
 * `-1 - reason` gives back `reason`; a keep verdict (≥ 0, the output length) gives -1.
 *
 * @example
 * ```ts
 * import { DropReason, dropReasonOf } from "./reasons.ts";
 * console.assert(dropReasonOf(-1 - DropReason.filtered) === DropReason.filtered);
 * console.assert(dropReasonOf(60) === -1);
 * ```
 */
export function dropReasonOf(verdict: number): number {
  return verdict < 0 ? -1 - verdict : -1;
}

/**
 * Per-process drop counters: one `Float64Array` slot per reason (a double counts exactly up to 2^53).
 * The ops never count anything themselves; the caller counts with the verdict it got.
 *
 * @example
 * ```ts
 * import { DropCounters, DropReason } from "./reasons.ts";
 * const drops = new DropCounters();
 * drops.add(DropReason.sampled);
 * drops.addVerdict(-1 - DropReason.filtered);
 * drops.addVerdict(64); // a keep verdict: ignored
 * console.assert(drops.total() === 2);
 * ```
 */
export class DropCounters {
  /** The counters, indexed by {@linkcode DropReason}. */
  readonly slots: Float64Array = new Float64Array(DROP_REASON_COUNT);

  /** Counts `n` (default 1) drops for `reason`; an out-of-range reason counts as `other`. */
  add(reason: number, n = 1): void {
    const i = reason >= 0 && reason < DROP_REASON_COUNT ? reason | 0 : DropReason.other;
    this.slots[i] += n;
  }

  /** Counts one drop if `verdict` is a drop verdict (< 0); ignores keep verdicts. */
  addVerdict(verdict: number): void {
    if (verdict < 0) this.add(-1 - verdict);
  }

  /** Sum over all reasons. */
  total(): number {
    let t = 0;
    for (let i = 0; i < DROP_REASON_COUNT; i++) t += this.slots[i];
    return t;
  }

  /** Sets every counter to zero. */
  reset(): void {
    this.slots.fill(0);
  }

  /** The counters as a plain `{ filtered: n, sampled: n, … }` record (allocates; for reporting). */
  toRecord(): Record<DropReasonName, number> {
    const out = {} as Record<DropReasonName, number>;
    for (let i = 0; i < DROP_REASON_COUNT; i++) out[DROP_REASONS[i]] = this.slots[i];
    return out;
  }
}
