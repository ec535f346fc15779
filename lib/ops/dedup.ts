/**
 * Duplicate removal for `--dedup MS`: drops a frame identical to one kept in the last MS milliseconds
 * (1..1000), where "identical" ignores what differs between two SPAN copies of one packet.
 *
 * ## Identical
 * Two frames are identical when their *normalised* bytes are: the frame without any of its outer VLAN
 * tags (TPID 0x8100, 0x88a8 or 0x9100, as many as there are), and, when the payload is IPv4 (version 4,
 * 20 header bytes present), with the TTL and the header checksum read as 0, or IPv6 (40 header bytes
 * present) with the hop limit read as 0. MAC addresses count (`ignoreMacs` drops them from the
 * comparison, for copies taken on both sides of a router, which rewrites them). Everything else, the
 * length included, counts.
 *
 * ## Time
 * Frame timestamps (seconds, nanoseconds) come from the caller, never the wall clock, so a replayed
 * capture dedups as it was captured. A frame is a duplicate when an identical frame was *kept* at most
 * MS before or after it (slight reordering between merged inputs is tolerated). The window runs from the
 * kept copy, not from later dropped copies: a frame repeated every MS/2 forever passes once per MS
 * rather than never again.
 *
 * ## Memory and sizing
 * A fixed table of `entries` slots in buckets of 8 (open addressing inside the bucket), each slot a
 * fingerprint — two independent 32-bit hashes of the normalised bytes and their length — and the time the
 * frame was kept: 20 bytes a slot. Sizing rule ({@linkcode dedupEntries}): entries = the next power of
 * two ≥ 2 × rate × MS / 1000, clamped to [2^12, 2^22] (80 KiB … 80 MiB), where rate is the expected
 * frame rate (frames/s, default 1,000,000). At that rate the live entries fill at most half the table.
 * When a bucket is full, its oldest entry is overwritten: a later copy of that frame is then missed
 * (kept), which only happens above the expected rate or by bucket imbalance (Poisson: < 1% of entries
 * at half load, ~0.01% at a quarter).
 *
 * ## Collisions
 * A frame that is *not* a duplicate is dropped only when its fingerprint equals a live entry's: its
 * bucket comes from the low b bits of the first hash (b = log2(entries / 8), 9..19), so it must match the
 * other 32 − b bits of that hash, all 32 bits of the second and the length of one of at most 8 entries:
 * probability ≤ 8 × 2^−(64−b) per frame, at most 2^−42 ≈ 2.3e−13 with the largest table (one wrongful
 * drop in ~50 days at a sustained 1 Mpps), 2^−52 with the smallest.
 *
 * Allocation-free per frame. Pure: no Deno APIs.
 *
 * @module
 */

import { fmix32 } from "./hash.ts";
import { TPID_8021AD, TPID_8021Q, TPID_QINQ } from "./pipeline.ts";

/** Smallest dedup window, milliseconds. */
export const DEDUP_MS_MIN = 1;
/** Largest dedup window, milliseconds. */
export const DEDUP_MS_MAX = 1000;
/** Fewest table entries. */
export const DEDUP_ENTRIES_MIN = 1 << 12;
/** Most table entries. */
export const DEDUP_ENTRIES_MAX = 1 << 22;
/** Frame rate assumed when none is given (frames per second). */
export const DEDUP_DEFAULT_RATE = 1_000_000;
/** Slots per bucket. */
export const DEDUP_WAYS = 8;
/** Bytes of table per entry (two hashes, length, time). */
export const DEDUP_ENTRY_BYTES = 20;

/**
 * Checks a `--dedup` window: an integer 1..1000 (milliseconds). Returns null or an Error quoting it.
 *
 * @example
 * ```ts
 * import { validateDedupMs } from "./dedup.ts";
 * console.assert(validateDedupMs(10) === null);
 * console.assert(validateDedupMs(0)?.message === 'Dedup window "0" is out of range 1..1000 ms');
 * ```
 */
export function validateDedupMs(ms: unknown): Error | null {
  if (typeof ms !== "number" || !Number.isInteger(ms) || ms < DEDUP_MS_MIN || ms > DEDUP_MS_MAX) {
    return new Error(`Dedup window "${ms}" is out of range ${DEDUP_MS_MIN}..${DEDUP_MS_MAX} ms`);
  }
  return null;
}

/**
 * Table entries for an expected `rate` (frames/s) and window `ms`: the next power of two ≥
 * 2 × rate × ms / 1000, clamped to [2^12, 2^22].
 *
 * @example
 * ```ts
 * import { dedupEntries } from "./dedup.ts";
 * console.assert(dedupEntries(1_000_000, 10) === 32768); // 20,000 → 2^15
 * console.assert(dedupEntries(1_000_000, 1000) === 1 << 21);
 * console.assert(dedupEntries(1000, 1) === 4096);
 * ```
 */
export function dedupEntries(rate: number, ms: number): number {
  const want = Math.ceil((2 * rate * ms) / 1000);
  let n = DEDUP_ENTRIES_MIN;
  while (n < want && n < DEDUP_ENTRIES_MAX) n *= 2;
  return n;
}

/** Options of {@linkcode Dedup}. */
export interface DedupOptions {
  /** The window, milliseconds (1..1000). */
  windowMs: number;
  /** Expected frames per second, to size the table (default 1,000,000). */
  rate?: number;
  /** Table entries, a power of two in [2^12, 2^22]; overrides the sizing rule (tests). */
  entries?: number;
  /** Leave the MAC addresses out of the comparison (copies from both sides of a router). */
  ignoreMacs?: boolean;
  /** Varies the hashes (default 0). */
  seed?: number;
}

function isTpid(t: number): boolean {
  return t === TPID_8021Q || t === TPID_8021AD || t === TPID_QINQ;
}

/**
 * The duplicate filter of one stream of frames. Call {@linkcode Dedup.isDuplicate} once per frame, in
 * order; it records each frame it keeps.
 *
 * @example
 * ```ts
 * import { Dedup } from "./dedup.ts";
 * const d = new Dedup({ windowMs: 10 });
 * const f = new Uint8Array(60);
 * console.assert(d.isDuplicate(f, 0, 60, 100, 0) === false);
 * console.assert(d.isDuplicate(f, 0, 60, 100, 5_000_000) === true); // 5 ms later
 * console.assert(d.isDuplicate(f, 0, 60, 100, 20_000_000) === false); // 20 ms after the kept copy
 * ```
 */
export class Dedup {
  /** The window, milliseconds. */
  readonly windowMs: number;
  /** Table entries. */
  readonly entries: number;
  /** Frames looked at. */
  frames = 0;
  /** Frames found to be duplicates. */
  duplicates = 0;
  /** Entries overwritten while still inside the window (a later copy of them may be missed). */
  evictions = 0;
  /** First hash of the last frame (for tests). */
  lastHash1 = 0;
  /** Second hash of the last frame (for tests). */
  lastHash2 = 0;

  #windowUs: number;
  #bucketMask: number;
  #h1: Int32Array;
  #h2: Int32Array;
  #len: Int32Array;
  #time: Float64Array;
  #skipMacs: boolean;
  #seed1: number;
  #seed2: number;

  /** Builds the table (see the module doc for its size). Throws a RangeError on bad options. */
  constructor(opts: DedupOptions) {
    const bad = validateDedupMs(opts.windowMs);
    if (bad) throw new RangeError(bad.message);
    const rate = opts.rate ?? DEDUP_DEFAULT_RATE;
    if (!(typeof rate === "number" && rate > 0 && Number.isFinite(rate))) {
      throw new RangeError(`Dedup rate "${rate}" is not a positive number of frames per second`);
    }
    const entries = opts.entries ?? dedupEntries(rate, opts.windowMs);
    if (
      !Number.isInteger(entries) || entries < DEDUP_ENTRIES_MIN || entries > DEDUP_ENTRIES_MAX ||
      (entries & (entries - 1)) !== 0
    ) {
      throw new RangeError(`Dedup table size "${entries}" is not a power of two in 2^12..2^22`);
    }
    this.windowMs = opts.windowMs;
    this.entries = entries;
    this.#windowUs = opts.windowMs * 1000;
    this.#bucketMask = entries / DEDUP_WAYS - 1;
    this.#h1 = new Int32Array(entries);
    this.#h2 = new Int32Array(entries);
    this.#len = new Int32Array(entries);
    this.#time = new Float64Array(entries).fill(-Infinity);
    this.#skipMacs = opts.ignoreMacs === true;
    this.#seed1 = fmix32((opts.seed ?? 0) ^ 0x5bd1e995) | 0;
    this.#seed2 = fmix32((opts.seed ?? 0) ^ 0x27d4eb2f) | 0;
  }

  /** Bytes of memory the table holds. */
  get tableBytes(): number {
    return this.entries * DEDUP_ENTRY_BYTES;
  }

  /**
   * Whether the frame `buf[off, off + len)`, stamped `sec` + `nsec`, is a duplicate (drop it). A frame
   * that is not is recorded as kept at that time. Frames outside their buffer are never duplicates.
   */
  isDuplicate(buf: Uint8Array, off: number, len: number, sec: number, nsec: number): boolean {
    this.frames++;
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) return false;
    this.#fingerprint(buf, off, len);
    const h1 = this.lastHash1;
    const h2 = this.lastHash2;
    const nlen = this.#normLen;
    const now = sec * 1e6 + Math.floor(nsec / 1000);
    const base = (h1 & this.#bucketMask) * DEDUP_WAYS;
    const t1 = this.#h1, t2 = this.#h2, tl = this.#len, tt = this.#time;
    let victim = base;
    let oldest = Infinity;
    for (let i = base; i < base + DEDUP_WAYS; i++) {
      const t = tt[i];
      if (t1[i] === h1 && t2[i] === h2 && tl[i] === nlen && t !== -Infinity) {
        const age = now - t;
        if (age <= this.#windowUs && age >= -this.#windowUs) {
          this.duplicates++;
          return true;
        }
        tt[i] = now; // the same frame again, after the window: kept, and the window restarts
        return false;
      }
      if (t < oldest) {
        oldest = t;
        victim = i;
      }
    }
    if (oldest !== -Infinity && now - oldest <= this.#windowUs) this.evictions++;
    t1[victim] = h1;
    t2[victim] = h2;
    tl[victim] = nlen;
    tt[victim] = now;
    return false;
  }

  /** Length of the normalised bytes of the last frame. */
  #normLen = 0;

  /**
   * Hashes the normalised frame (module doc) into `lastHash1`/`lastHash2` and `#normLen`: the bytes
   * are read as a stream of little-endian 32-bit words — MACs (12 bytes, unless skipped), then
   * everything from the EtherType after the tags — with the ignored IP bytes masked to 0.
   */
  #fingerprint(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let a = this.#seed1;
    let b = this.#seed2;
    let p = off; // start of the stream after the MACs
    let nlen = len;
    // Masked bytes: up to three positions (IPv4 TTL and checksum, or IPv6 hop limit); -1 = none.
    let m0 = -1, m1 = -1, m2 = -1;
    if (len >= 14) {
      p = off + 12;
      while (p + 6 <= end && isTpid((buf[p] << 8) | buf[p + 1])) p += 4;
      const type = (buf[p] << 8) | buf[p + 1];
      const ip = p + 2;
      if (type === 0x0800 && ip + 20 <= end && buf[ip] >> 4 === 4) {
        m0 = ip + 8;
        m1 = ip + 10;
        m2 = ip + 11;
      } else if (type === 0x86dd && ip + 40 <= end && buf[ip] >> 4 === 6) {
        m0 = ip + 7;
      }
      nlen = end - p + (this.#skipMacs ? 0 : 12);
      if (!this.#skipMacs) {
        // The 12 MAC bytes: three words.
        for (let q = off; q < off + 12; q += 4) {
          const w = buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24);
          a = lane1(a, w);
          b = lane2(b, w);
        }
      }
    }
    // The rest, from p: whole words, then the tail. Words holding a masked byte are masked.
    const mLast = m2 >= 0 ? m2 : m0;
    let q = p;
    const whole = p + ((end - p) & ~3);
    for (; q < whole; q += 4) {
      let w = buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24);
      if (q + 4 > m0 && q <= mLast) w &= keepMask(q, m0, m1, m2);
      a = lane1(a, w);
      b = lane2(b, w);
    }
    if (q < end) {
      let w = 0;
      for (let i = 0; q + i < end; i++) {
        const at = q + i;
        if (at !== m0 && at !== m1 && at !== m2) w |= buf[at] << (i << 3);
      }
      a = lane1(a, w);
      b = lane2(b, w);
    }
    this.lastHash1 = fmix32(a ^ nlen) | 0;
    this.lastHash2 = lane2Final(b ^ nlen) | 0;
    this.#normLen = nlen;
  }
}

/** The AND mask that zeroes, in the little-endian word at `q`, the bytes at `m0`, `m1`, `m2`. */
function keepMask(q: number, m0: number, m1: number, m2: number): number {
  let keep = -1;
  if (m0 >= q && m0 < q + 4) keep &= ~(0xff << ((m0 - q) << 3));
  if (m1 >= q && m1 < q + 4) keep &= ~(0xff << ((m1 - q) << 3));
  if (m2 >= q && m2 < q + 4) keep &= ~(0xff << ((m2 - q) << 3));
  return keep;
}

/** MurmurHash3 x86_32 body step: the first hash. */
function lane1(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** xxHash32 round with its own primes: the second, independent hash. */
function lane2(h: number, k: number): number {
  h = (h + Math.imul(k, 0x85ebca77)) | 0;
  h = (h << 13) | (h >>> 19);
  return Math.imul(h, 0x9e3779b1);
}

/** xxHash32's avalanche. */
function lane2Final(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae3d);
  h ^= h >>> 16;
  return h >>> 0;
}
