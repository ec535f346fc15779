/**
 * The Internet checksum (RFC 1071): one's-complement sum of big-endian 16-bit words.
 *
 * @module
 */

import { inRange } from "./bytes.ts";

/**
 * Adds `buf[off, off + len)` to a running one's-complement sum (unfolded). Start with `sum = 0`, chain
 * calls for a pseudo-header and a payload, then call `checksumFinish`. An odd trailing byte is padded
 * with zero, so only the last piece of a chain may have odd length. Out-of-range bytes are skipped.
 *
 * @example
 * ```ts
 * import { checksumAdd, checksumFinish } from "./checksum.ts";
 * const b = new Uint8Array([0x45, 0x00, 0x00, 0x1c]);
 * checksumFinish(checksumAdd(0, b, 0, 4)); // ~(0x4500 + 0x001c) & 0xffff
 * ```
 */
export function checksumAdd(sum: number, buf: Uint8Array, off: number, len: number): number {
  if (!inRange(buf, off, len)) return sum;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/**
 * Folds a running sum to 16 bits and complements it: the value to store in a checksum field.
 *
 * @example
 * ```ts
 * import { checksumFinish } from "./checksum.ts";
 * checksumFinish(0x1fffe); // 0x0000
 * ```
 */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

/**
 * The Internet checksum of `buf[off, off + len)`. Over a header that already holds its checksum the
 * result is 0 when the checksum is right. Returns -1 if the range lies outside the buffer.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * import { internetChecksum } from "./checksum.ts";
 * const h = fromHex("450000140001000040007cdb7f0000017f000001");
 * internetChecksum(h, 0, 20); // 0: the stored checksum 0x7cdb is correct
 * ```
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number): number {
  if (!inRange(buf, off, len)) return -1;
  return checksumFinish(checksumAdd(0, buf, off, len));
}

/**
 * Folds a running sum to 16 bits (without complementing it).
 *
 * @example
 * ```ts
 * import { checksumFold } from "./checksum.ts";
 * checksumFold(0x1fffe); // 0xffff
 * ```
 */
export function checksumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Adds `buf[off, off + len)` to a running sum as the bytes at position `pos` of the summed data: a
 * piece that starts at an odd position contributes its sum byte-swapped (RFC 1071), so a checksum can
 * be computed over data given as several pieces.
 *
 * @example
 * ```ts
 * import { checksumAdd, checksumAddAt, checksumFold } from "./checksum.ts";
 * const b = new Uint8Array([1, 2, 3]);
 * const whole = checksumFold(checksumAdd(0, b, 0, 3));
 * const split = checksumFold(checksumAddAt(checksumAddAt(0, b, 0, 1, 0), b, 1, 2, 1));
 * console.assert(whole === split);
 * ```
 */
export function checksumAddAt(sum: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  if (len <= 0) return sum;
  const part = checksumFold(checksumAdd(0, buf, off, len));
  if ((pos & 1) === 0) return sum + part;
  return sum + (((part & 0xff) << 8) | (part >>> 8));
}
