/**
 * Small byte helpers shared by the codecs: range checks, big-endian reads and writes without a
 * `DataView` allocation, and address formatting for logs and tests.
 *
 * @module
 */
import { parseIpLiteral } from "./address.ts";

/**
 * True when `[off, off + len)` is a well-formed range inside `buf` (integers, non-negative, in bounds).
 *
 * @example
 * ```ts
 * import { inRange } from "./bytes.ts";
 * inRange(new Uint8Array(10), 2, 8); // true
 * inRange(new Uint8Array(10), 4, 8); // false
 * ```
 */
export function inRange(buf: Uint8Array, off: number, len: number): boolean {
  return Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= buf.length;
}

/**
 * Reads a big-endian 16-bit unsigned integer (the caller has checked the bounds).
 *
 * @example
 * ```ts
 * import { readU16 } from "./bytes.ts";
 * readU16(new Uint8Array([0x81, 0x00]), 0); // 0x8100
 * ```
 */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/**
 * Reads a big-endian 32-bit unsigned integer (the caller has checked the bounds).
 *
 * @example
 * ```ts
 * import { readU32 } from "./bytes.ts";
 * readU32(new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4]), 0); // 0xa1b2c3d4
 * ```
 */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/**
 * Writes a big-endian 16-bit unsigned integer (the caller has checked the bounds).
 *
 * @example
 * ```ts
 * import { writeU16 } from "./bytes.ts";
 * const b = new Uint8Array(2);
 * writeU16(b, 0, 0x86dd); // b = [0x86, 0xdd]
 * ```
 */
export function writeU16(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 8;
  buf[off + 1] = value;
}

/**
 * Writes a big-endian 32-bit unsigned integer (the caller has checked the bounds).
 *
 * @example
 * ```ts
 * import { writeU32 } from "./bytes.ts";
 * const b = new Uint8Array(4);
 * writeU32(b, 0, 0x0a000001); // b = [10, 0, 0, 1]
 * ```
 */
export function writeU32(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 24;
  buf[off + 1] = value >>> 16;
  buf[off + 2] = value >>> 8;
  buf[off + 3] = value;
}

/**
 * Formats the 6-byte MAC address at `off` as `aa:bb:cc:dd:ee:ff` (for logs and tests, not hot paths).
 *
 * @example
 * ```ts
 * import { formatMac } from "./bytes.ts";
 * formatMac(new Uint8Array([0, 0x11, 0x22, 0x33, 0x44, 0x55]), 0); // "00:11:22:33:44:55"
 * ```
 */
export function formatMac(buf: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((buf[off + i] ?? 0).toString(16).padStart(2, "0"));
  return parts.join(":");
}

/**
 * Formats an IPv4 address held as an unsigned 32-bit number in dotted-quad form.
 *
 * @example
 * ```ts
 * import { formatIpv4 } from "./bytes.ts";
 * formatIpv4(0xc0a80001); // "192.168.0.1"
 * ```
 */
export function formatIpv4(addr: number): string {
  return `${(addr >>> 24) & 255}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/**
 * Parses a dotted-quad IPv4 address into an unsigned 32-bit number, or returns `-1` if it is malformed.
 *
 * @example
 * ```ts
 * import { parseIpv4Address } from "./bytes.ts";
 * parseIpv4Address("10.0.0.1"); // 0x0a000001
 * ```
 */
export function parseIpv4Address(text: string): number {
  const a = parseIpLiteral(text);
  if (a === null || a.family !== 4) return -1;
  return ((a.bytes[0] << 24) >>> 0) + (a.bytes[1] << 16) + (a.bytes[2] << 8) + a.bytes[3];
}

/**
 * Formats the 16-byte IPv6 address at `off` as eight uncompressed hex groups (`2001:db8:0:0:0:0:0:1`).
 *
 * @example
 * ```ts
 * import { formatIpv6 } from "./bytes.ts";
 * const a = new Uint8Array(16);
 * a[15] = 1;
 * formatIpv6(a, 0); // "0:0:0:0:0:0:0:1"
 * ```
 */
export function formatIpv6(buf: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    parts.push((((buf[off + i] ?? 0) << 8) | (buf[off + i + 1] ?? 0)).toString(16));
  }
  return parts.join(":");
}

/**
 * Decodes a hex string (whitespace and `:` ignored) into bytes; used for fixtures and MAC literals.
 * Returns an empty array if the text is not an even number of hex digits.
 *
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * fromHex("00:11:22"); // Uint8Array [0x00, 0x11, 0x22]
 * ```
 */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return new Uint8Array(0);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Encodes bytes as lowercase hex without separators.
 *
 * @example
 * ```ts
 * import { toHex } from "./bytes.ts";
 * toHex(new Uint8Array([0x88, 0xbe])); // "88be"
 * ```
 */
export function toHex(buf: Uint8Array, off = 0, len = buf.length - off): string {
  let s = "";
  for (let i = off; i < off + len && i < buf.length; i++) s += buf[i].toString(16).padStart(2, "0");
  return s;
}
