// Seeded fuzzing helpers for the codec tests: a xorshift PRNG (so failures reproduce) and mutators.

import { AssertionError } from "node:assert/strict";
import { Rng } from "../../lib/lab/mod.ts";

/** xorshift32 (the lab's {@link Rng}) with the helpers the fuzzers use. */
export class XorShift extends Rng {
  /** Uniform-ish integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** A mutated copy of `src`: bit flips, truncation, length-like field corruption, splices or growth. */
export function mutate(rng: XorShift, src: Uint8Array): Uint8Array {
  let b: Uint8Array = src.slice();
  const rounds = 1 + rng.below(3);
  for (let r = 0; r < rounds; r++) {
    const kind = rng.below(6);
    if (kind === 0 && b.length > 0) {
      const flips = 1 + rng.below(4);
      for (let i = 0; i < flips; i++) b[rng.below(b.length)] ^= 1 << rng.below(8);
    } else if (kind === 1) {
      b = b.slice(0, rng.below(b.length + 1));
    } else if (kind === 2 && b.length >= 2) {
      const p = rng.below(b.length - 1);
      const v =
        [0, 0xffff, rng.below(0x10000), (b[p] << 8 | b[p + 1]) + 1, (b[p] << 8 | b[p + 1]) - 1][rng.below(5)];
      b[p] = (v >>> 8) & 0xff;
      b[p + 1] = v & 0xff;
    } else if (kind === 3 && b.length >= 4) {
      const p = rng.below(b.length - 3);
      const v = [0, 0xffffffff, rng.next(), 0x7fffffff][rng.below(4)];
      for (let i = 0; i < 4; i++) b[p + i] = (v >>> (24 - 8 * i)) & 0xff;
    } else if (kind === 4) {
      const extra = rng.bytes(rng.below(16));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b);
      out.set(extra, b.length);
      b = out;
    } else if (b.length > 0) {
      b[rng.below(b.length)] = rng.next() & 0xff;
    }
  }
  return b;
}

/** Asserts `[off, off + len)` is a real range inside a buffer of `size` bytes. */
export function assertWithin(what: string, size: number, off: number, len: number): void {
  if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= size)) {
    throw new AssertionError({ message: `${what}: range ${off}+${len} escapes a ${size}-byte input` });
  }
}

/** Asserts a single offset lies within `[0, size]`. */
export function assertOffset(what: string, size: number, off: number): void {
  assertWithin(what, size, off, 0);
}

/**
 * Runs `check(buf, off, len)` over `random` random buffers and `mutations` mutations of the fixtures,
 * sometimes at a non-zero offset, and occasionally with hostile `off`/`len`. `check` must not throw.
 */
export function fuzz(
  seed: number,
  fixtures: readonly Uint8Array[],
  check: (buf: Uint8Array, off: number, len: number) => void,
  counts: { random?: number; mutations?: number; maxRandomLength?: number } = {},
): void {
  const rng = new XorShift(seed);
  const random = counts.random ?? 20_000;
  const mutations = counts.mutations ?? 20_000;
  const maxLen = counts.maxRandomLength ?? 96;
  const run = (data: Uint8Array, i: number) => {
    const pad = rng.below(4) === 0 ? rng.below(8) : 0;
    const buf = new Uint8Array(pad + data.length + (rng.below(4) === 0 ? rng.below(8) : 0));
    buf.set(data, pad);
    let off = pad;
    let len = data.length;
    if (rng.below(64) === 0) {
      off = [-1, buf.length + 1, NaN, 0.5][rng.below(4)];
      len = [buf.length, -3, Infinity, 1e9][rng.below(4)];
    }
    try {
      check(buf, off, len);
    } catch (e) {
      const hex = Array.from(data, (x) => x.toString(16).padStart(2, "0")).join("");
      throw new AssertionError({
        message: `Fuzz case ${i} (seed ${seed}, off ${off}, len ${len}) ${hex}: ${e}`,
      });
    }
  };
  for (let i = 0; i < random; i++) run(rng.bytes(rng.below(maxLen + 1)), i);
  for (let i = 0; i < mutations && fixtures.length > 0; i++) {
    run(mutate(rng, fixtures[rng.below(fixtures.length)]), random + i);
  }
}
