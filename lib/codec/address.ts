/**
 * IP addresses as text: the one parser and formatter of IPv4 and IPv6 literals in fluxcap.
 *
 * @module
 */

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** The address, 4 or 16 bytes in network order. */
  bytes: number[];
}

/**
 * Numeric IPv4 or IPv6 address text, or null when `text` is not one.
 *
 * @example
 * ```ts
 * import { parseIpLiteral } from "./address.ts";
 * parseIpLiteral("2001:db8::1")?.family; // 6
 * parseIpLiteral("300.1.1.1"); // null
 * ```
 */
export function parseIpLiteral(text: string): IpAddress | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? { family: 4, bytes: b } : null;
  }
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const q = parseIpLiteral(p);
        if (!q || q.family !== 4) return null;
        out.push((q.bytes[0] << 8) | q.bytes[1], (q.bytes[2] << 8) | q.bytes[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const a = groups(halves[0]);
  const b = halves.length === 2 ? groups(halves[1]) : [];
  if (!a || !b) return null;
  const fill = 8 - a.length - b.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...a, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...b];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return { family: 6, bytes };
}

/** Text form of an address (IPv6 not compressed beyond the longest zero run). */
export function formatIp(a: IpAddress): string {
  if (a.family === 4) return a.bytes.join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((a.bytes[i] << 8) | a.bytes[i + 1]);
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
