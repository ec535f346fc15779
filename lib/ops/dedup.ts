/**
 * Duplicate removal for `--dedup MS`: drops a frame identical to one kept in the last MS milliseconds
 * (1..1000), where "identical" ignores what differs between two SPAN copies of one packet.
 *
 * ## Identical
 * Two frames are identical when their *normalised* bytes are: the frame without any of its outer VLAN
 * tags (TPID 0x8100, 0x88a8 or 0x9100, as many as there are), and, when the payload is IPv4 (version 4,
 * 20 header bytes present), with the TTL and the header checksum read as 0, or IPv6 (40 header bytes
 * present) with the hop limit read as 0. MAC addresses count (`ignoreMacs` drops them from the
 * comparison, for copies taken on both sides of a router, which rewrites them; `ignoreMacs: "ip"` only
 * for IPv4 and IPv6 frames, whose L3 packet identifies them, what `--dedup` uses). Everything else, the
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
 * Allocation-free per frame (one `Int32Array` view is made per distinct underlying buffer, for the
 * aligned word path: once for a ring). Pure: no Deno APIs.
 *
 * @module
 */

import { fmix32 } from "./hash.ts";
import { isVlanTpid } from "../codec/mod.ts";

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
  /**
   * Leave the MAC addresses out of the comparison (copies from both sides of a router): `true` for every
   * frame, `"ip"` for IPv4 and IPv6 frames only (a non-IP frame is not routed: its MACs stay part of it).
   */
  ignoreMacs?: boolean | "ip";
  /** Varies the hashes (default 0). */
  seed?: number;
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
  #macMode: number; // 0 compare MACs, 1 never, 2 not for IP frames
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
    this.#macMode = opts.ignoreMacs === true ? 1 : opts.ignoreMacs === "ip" ? 2 : 0;
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
  /** Word view of the last buffer seen (made once per buffer: the ring's is made once). */
  #words: Int32Array = new Int32Array(0);
  #wordsOf: ArrayBufferLike | undefined;

  /**
   * Hashes the normalised frame (module doc) into `lastHash1`/`lastHash2` and `#normLen`.
   *
   * The body — everything from the EtherType after the tags — is read as little-endian 32-bit words in
   * 16-byte stripes, each hash with four independent accumulators (xxHash32's structure: a chain of
   * multiplies per word is latency-bound, four chains per hash let the CPU overlap them). The ignored IP
   * bytes sit at fixed places in the first stripe (IPv4 TTL at body byte 10, checksum at 12–13; IPv6 hop
   * limit at 9) and are masked there. The last 0–15 bytes and the MAC addresses are mixed in at the
   * end, with the normalised length.
   */
  #fingerprint(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let p = off; // start of the body
    let nlen = len;
    let keep2 = -1; // AND masks of body words 2 and 3 (the ignored IP bytes)
    let keep3 = -1;
    let macs = false;
    if (len >= 14) {
      p = off + 12;
      while (p + 6 <= end && isVlanTpid((buf[p] << 8) | buf[p + 1])) p += 4;
      const type = (buf[p] << 8) | buf[p + 1];
      if (type === 0x0800 && p + 22 <= end && buf[p + 2] >> 4 === 4) {
        keep2 = ~0x00ff0000; // TTL
        keep3 = ~0x0000ffff; // header checksum
      } else if (type === 0x86dd && p + 42 <= end && buf[p + 2] >> 4 === 6) {
        keep2 = ~0x0000ff00; // hop limit
      }
      const mode = this.#macMode;
      macs = mode === 0 || (mode === 2 && keep2 === -1); // keep2 !== -1: an IPv4 or IPv6 frame
      nlen = end - p + (macs ? 12 : 0);
    }
    const s1 = this.#seed1;
    const s2 = this.#seed2;
    let a1 = (s1 + P1 + P2) | 0, a2 = (s1 + P2) | 0, a3 = s1, a4 = (s1 - P1) | 0;
    let b1 = (s2 + Q1 + Q2) | 0, b2 = (s2 + Q2) | 0, b3 = s2, b4 = (s2 - Q1) | 0;
    let q = p;
    if (q + 16 <= end) {
      const w0 = word(buf, q),
        w1 = word(buf, q + 4),
        w2 = word(buf, q + 8) & keep2,
        w3 = word(buf, q + 12) & keep3;
      a1 = roundA(a1, w0), a2 = roundA(a2, w1), a3 = roundA(a3, w2), a4 = roundA(a4, w3);
      b1 = roundB(b1, w0), b2 = roundB(b2, w1), b3 = roundB(b3, w2), b4 = roundB(b4, w3);
      q += 16;
    }
    const at = buf.byteOffset + q;
    if ((at & 3) === 0 && q + 16 <= end) {
      // Aligned: whole words from an Int32Array over the same memory (little-endian hosts only, which
      // x86_64 and aarch64 are; the byte path below reads the same words on any host).
      if (buf.buffer !== this.#wordsOf) {
        this.#wordsOf = buf.buffer;
        this.#words = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
      }
      const words = this.#words;
      let j = at / 4;
      const stop = j + ((end - q) >>> 4) * 4;
      for (; j < stop; j += 4) {
        const w0 = words[j], w1 = words[j + 1], w2 = words[j + 2], w3 = words[j + 3];
        a1 = roundA(a1, w0), a2 = roundA(a2, w1), a3 = roundA(a3, w2), a4 = roundA(a4, w3);
        b1 = roundB(b1, w0), b2 = roundB(b2, w1), b3 = roundB(b3, w2), b4 = roundB(b4, w3);
      }
      q = stop * 4 - buf.byteOffset;
    }
    for (; q + 16 <= end; q += 16) {
      const w0 = word(buf, q), w1 = word(buf, q + 4), w2 = word(buf, q + 8), w3 = word(buf, q + 12);
      a1 = roundA(a1, w0), a2 = roundA(a2, w1), a3 = roundA(a3, w2), a4 = roundA(a4, w3);
      b1 = roundB(b1, w0), b2 = roundB(b2, w1), b3 = roundB(b3, w2), b4 = roundB(b4, w3);
    }
    let a = (rotl(a1, 1) + rotl(a2, 7) + rotl(a3, 12) + rotl(a4, 18)) | 0;
    let b = (rotl(b1, 3) + rotl(b2, 9) + rotl(b3, 14) + rotl(b4, 22)) | 0;
    for (; q + 4 <= end; q += 4) {
      const w = word(buf, q);
      a = tailA(a, w);
      b = tailB(b, w);
    }
    if (q < end) {
      let w = 0;
      for (let i = 0; q + i < end; i++) w |= buf[q + i] << (i << 3);
      a = tailA(a, w);
      b = tailB(b, w);
    }
    if (macs) {
      for (let m = off; m < off + 12; m += 4) {
        const w = word(buf, m);
        a = tailA(a, w);
        b = tailB(b, w);
      }
    }
    this.lastHash1 = fmix32(a ^ nlen) | 0;
    this.lastHash2 = avalancheB(b ^ nlen) | 0;
    this.#normLen = nlen;
  }
}

// xxHash32's primes for the first hash; MurmurHash3's and two other odd constants for the second.
const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const Q1 = 0xcc9e2d51 | 0;
const Q2 = 0x1b873593 | 0;
const Q3 = 0x85ebca6b | 0;
const Q4 = 0x165667b1 | 0;

/** Little-endian 32-bit word at `q` (the caller checked the bounds). */
function word(buf: Uint8Array, q: number): number {
  return buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** xxHash32 stripe round: bijective in the word and in the accumulator. */
function roundA(acc: number, w: number): number {
  return Math.imul(rotl((acc + Math.imul(w, P2)) | 0, 13), P1);
}

/** The second hash's stripe round: same shape, other constants and rotation. */
function roundB(acc: number, w: number): number {
  return Math.imul(rotl((acc + Math.imul(w, Q1)) | 0, 15), Q2);
}

/** xxHash32's step for the last words. */
function tailA(h: number, w: number): number {
  return Math.imul(rotl((h + Math.imul(w, P3)) | 0, 17), P4);
}

/** The second hash's step for the last words. */
function tailB(h: number, w: number): number {
  return Math.imul(rotl((h + Math.imul(w, Q3)) | 0, 19), Q4);
}

/** xxHash32's final avalanche with the second hash's constants. */
function avalancheB(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, Q3);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}
