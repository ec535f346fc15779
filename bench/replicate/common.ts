/**
 * Small helpers shared by the replication benchmark's files: sleeping and number formatting.
 *
 * @module
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/** A rate in frames a second: "1.25 M", "400 k". */
export function fmtRate(pps: number): string {
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(2)} M`;
  return `${Math.round(pps / 1e3)} k`;
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A fraction as a whole percentage: "42%". */
export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** The last non-empty line of a process's output. */
export function lastLine(s: string): string {
  const lines = s.trim().split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.slice(-1)[0] ?? "";
}
