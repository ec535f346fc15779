/**
 * What every transmit loop does after a send: end the ring batch and count each frame under its
 * outcome, so that frames read = sent + dropped by reason, and frames overwritten while in use are
 * counted once, as lost.
 *
 * @module
 */
import { DropReason, type RingReader } from "../ring/mod.ts";

/** Outcome codes shared by the senders: 0 sent, 1 oversize, anything else a send error. */
export const Outcome = { sent: 0, oversize: 1, error: 2 } as const;

/** What a sender reports about the frames it staged in its last flush. */
export interface Flushed {
  /** Frames staged before the flush. */
  staged: number;
  /** Caller tag of each staged frame: its index in the ring batch. */
  tags: Uint32Array;
  /** Outcome of each staged frame. */
  status: Uint8Array;
}

/**
 * Releases the reader's batch of `n` records and counts them: staged frames by their send outcome,
 * the others by the drop reason in `verdict[i]` (-1 = staged). Records the writer overwrote while in
 * use (a prefix of the batch) are skipped here: `release()` counted them as lost. Returns frames sent.
 */
export function settleBatch(
  reader: RingReader,
  sent: Flushed,
  verdict: Int8Array,
  n: number,
  onOversize?: (len: number) => void,
): number {
  const bad = reader.release();
  let ok = 0;
  for (let j = 0; j < sent.staged; j++) {
    const i = sent.tags[j];
    if (i < bad) continue;
    const st = sent.status[j];
    if (st === Outcome.sent) ok++;
    else if (st === Outcome.oversize) {
      reader.addDrop(DropReason.oversize);
      onOversize?.(reader.lens[i]);
    } else reader.addDrop(DropReason.send_error);
  }
  for (let i = bad; i < n; i++) if (verdict[i] >= 0) reader.addDrop(verdict[i]);
  reader.addSent(ok);
  reader.flush();
  return ok;
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
