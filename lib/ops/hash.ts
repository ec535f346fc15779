/**
 * 32-bit hash steps shared by the flow hash and the duplicate filter: MurmurHash3's body step and
 * finaliser (public domain, Austin Appleby). Small enough for V8 to inline at every call site; all
 * arithmetic on int32 with `Math.imul`, so nothing allocates.
 *
 * @module
 */

/**
 * Mixes the 32-bit word `k` into the running hash `h` (MurmurHash3 x86_32 body step).
 *
 * @example
 * ```ts
 * import { fmix32, mix32 } from "./hash.ts";
 * const h = fmix32(mix32(mix32(0, 0xc6120001), 0xc6120002) ^ 8);
 * console.assert(h === fmix32(mix32(mix32(0, 0xc6120001), 0xc6120002) ^ 8));
 * ```
 */
export function mix32(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * MurmurHash3's finaliser: every input bit affects every output bit. Returns an unsigned 32-bit value.
 *
 * @example
 * ```ts
 * import { fmix32 } from "./hash.ts";
 * console.assert(fmix32(0) === 0 && fmix32(1) !== 1);
 * ```
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
