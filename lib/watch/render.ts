/**
 * The `fluxcap -io` terminal view as lines of text, from samples and rates. Pure: no terminal, no clock;
 * the caller gives the width, height and whether to colour, so it is tested without a tty.
 *
 * One block per ring, as fluxcap 3.2 drew it (name, rx rate, rx drops, tx drops and a logarithmic bar),
 * extended with frames/s, the writer, and one line per attached reader.
 *
 * @module
 */
import { formatSize } from "../ring/create.ts";
import type { DropCounts, ReaderSnapshot } from "../ring/stats.ts";
import { readerKey } from "./rates.ts";
import type { RingRates } from "./rates.ts";
import type { WatchSample } from "./source.ts";

/** A ring to draw: its latest sample and its rates. */
export interface RingView {
  sample: WatchSample;
  rates: RingRates;
}

/** Options for {@link renderView}. */
export interface RenderOptions {
  /** Terminal columns; lines are cut to fit. */
  width: number;
  /** Terminal rows; the view is cut to fit (0 or absent: no limit). */
  height?: number;
  /** Use ANSI colours. */
  colour: boolean;
  /** First line (host, time, hints); omitted when absent. */
  title?: string;
}

/** Styles, as ANSI SGR parameters. */
const STYLE = {
  plain: "",
  bold: "1",
  dim: "2",
  head: "1;4",
  name: "1;36",
  rate: "1",
  bad: "1;31",
  warn: "33",
  good: "32",
  bar: "32",
} as const;
type Style = keyof typeof STYLE;
type Segment = [text: string, style?: Style];

/** Decades the rate bar spans: 1 bit/s … 1 Tbit/s, as fluxcap 3.2's (log10 of bits/s, 0 to 12). */
export const BAR_DECADES = 12;

/**
 * Formats a rate with SI prefixes: `rate(1.5e9, "bit/s")` → `"1.50 Gbit/s"`, `rate(12, "/s")` → `"12 /s"`.
 */
export function rate(v: number, unit: string): string {
  const a = Math.abs(v);
  for (const [p, f] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["K", 1e3]] as const) {
    if (a >= f) return `${(v / f).toFixed(2)} ${p}${unit}`;
  }
  if (a > 0 && a < 10 && !Number.isInteger(v)) return `${v.toFixed(1)} ${unit}`;
  return `${Math.round(v)} ${unit}`;
}

/** Number of filled cells of a `cells`-wide logarithmic bar for a rate in bits/s. */
export function barCells(bitsPerSec: number, cells: number): number {
  if (!(bitsPerSec >= 1)) return 0;
  const level = Math.min(BAR_DECADES, Math.log10(bitsPerSec));
  return Math.max(1, Math.min(cells, Math.round((level / BAR_DECADES) * cells)));
}

/** The bar as text: `[#######     ]`. */
export function logBar(bitsPerSec: number, cells: number): string {
  const n = barCells(bitsPerSec, cells);
  return `[${"#".repeat(n)}${" ".repeat(cells - n)}]`;
}

const KIND_LABEL: Record<string, string> = {
  nic: "NIC",
  tunnel: "tunnel",
  file: "file",
  other: "other",
  member: "member",
};

/** Drop reasons always shown for a reader, in this order, with their labels. */
const SHOWN_DROPS: [keyof DropCounts, string][] = [
  ["filtered", "filtered"],
  ["sampled", "sampled"],
  ["oversize", "oversize"],
  ["send_error", "send errors"],
];

function dropSegments(d: DropCounts, always: boolean): Segment[] {
  const out: Segment[] = [];
  const shown = new Set<string>();
  for (const [k, label] of SHOWN_DROPS) {
    shown.add(k);
    if (!always && d[k] === 0) continue;
    out.push(["  "], [`${label} `, "dim"], [String(d[k]), d[k] > 0 ? "warn" : "plain"]);
  }
  for (const [k, v] of Object.entries(d)) {
    if (shown.has(k) || v === 0) continue;
    out.push(["  "], [`${k.replace("_", " ")} `, "dim"], [String(v), "warn"]);
  }
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + " " : s + " ".repeat(n - s.length);
}

function lpad(s: string, n: number): string {
  return s.length >= n ? s : " ".repeat(n - s.length) + s;
}

const COL = { rate: 14, fps: 12, drop: 11, barCells: 12 } as const;

/** Width of the name column: the longest name, within 18..40 columns. */
function nameWidth(views: RingView[]): number {
  const longest = Math.max(0, ...views.map((v) => v.sample.name.length));
  return Math.min(40, Math.max(18, longest + 2));
}

/** A name cut to `w - 1` columns, keeping its end (the ring's file name rather than its directory). */
function fitName(name: string, w: number): string {
  return pad(name.length > w - 1 ? "…" + name.slice(name.length - (w - 2)) : name, w);
}

function headerLine(nameW: number): Segment[] {
  return [[
    pad("ring", nameW) + lpad("rx-rate", COL.rate) + lpad("frames/s", COL.fps) +
    lpad("rx-drop/s", COL.drop) + lpad("tx-drop/s", COL.drop) + "  rate (log)",
    "head",
  ]];
}

function readerLine(r: ReaderSnapshot, rates: RingRates): Segment[] {
  const rr = rates.readers.get(readerKey(r));
  const lost = rr?.lostPerSec ?? 0;
  if (r.kind === "member") {
    // One member of an output group, under its group: what was offered to it, sent and dropped.
    return [
      ["    └ member ", "dim"],
      [pad(r.desc || "-", 22)],
      [lpad(rate(rr?.bitsPerSec ?? 0, "bit/s"), COL.rate), "rate"],
      [lpad(rate(rr?.framesPerSec ?? 0, "fr/s"), COL.fps + 2)],
      ["  sent ", "dim"],
      [String(r.framesSent)],
      ...dropSegments(r.drops, false),
    ];
  }
  return [
    ["  reader ", "dim"],
    [pad(`pid ${r.pid}`, 11)],
    [pad(KIND_LABEL[r.kind] ?? r.kind, 7), "dim"],
    [pad(r.desc || "-", 16)],
    [lpad(rate(rr?.bitsPerSec ?? 0, "bit/s"), COL.rate), "rate"],
    [lpad(rate(rr?.framesPerSec ?? 0, "fr/s"), COL.fps + 2)],
    ["  lag ", "dim"],
    [pad(formatSize(r.lagBytes), 6)],
    [" lost ", "dim"],
    [rate(lost, "/s"), lost > 0 ? "bad" : "plain"],
    [` (${r.framesLost})`, r.framesLost > 0 ? "warn" : "dim"],
    ...dropSegments(r.drops, true),
  ];
}

function ringLines(v: RingView, nameW: number): Segment[][] {
  const { sample, rates } = v;
  const s = sample.snap;
  if (s === null) {
    return [[[fitName(sample.name, nameW), "name"], [`gone: ${sample.reason ?? "no longer a ring"}`, "bad"]]];
  }
  const rxDrop = rates.kernelDropsPerSec + rates.writerDropsPerSec;
  const lines: Segment[][] = [[
    [fitName(sample.name, nameW), "name"],
    [lpad(rate(rates.bitsPerSec, "bit/s"), COL.rate), "rate"],
    [lpad(rate(rates.framesPerSec, ""), COL.fps)],
    [lpad(rate(rxDrop, ""), COL.drop), rxDrop > 0 ? "bad" : "dim"],
    [lpad(rate(rates.lostPerSec, ""), COL.drop), rates.lostPerSec > 0 ? "bad" : "dim"],
    ["  "],
    [logBar(rates.bitsPerSec, COL.barCells), "bar"],
  ]];
  const w = s.writer;
  const used = s.dataBytes > 0 ? Math.round((s.usedBytes / s.dataBytes) * 100) : 0;
  const writer: Segment[] = [["  writer ", "dim"]];
  if (w === null) writer.push(["none attached", "warn"]);
  else {
    writer.push([pad(`pid ${w.pid}`, 11)], [pad(w.alive ? "" : "(exited)", 7), w.alive ? "plain" : "warn"]);
    writer.push([pad(w.desc || "-", 16)]);
  }
  writer.push(
    ["  frames ", "dim"],
    [String(s.frames)],
    ["  kernel drops ", "dim"],
    [String(s.kernelDrops), s.kernelDrops > 0 ? "bad" : "plain"],
    ["  ring ", "dim"],
    [`${formatSize(s.sizeBytes)} (${used}% used)`],
  );
  if (w) writer.push(...dropSegments(w.drops, false));
  lines.push(writer);
  if (s.readers.length === 0) lines.push([["  no readers attached", "dim"]]);
  // Each reader, then the members of its output group (if it is one) under it.
  const shown = new Set<number>();
  for (const r of s.readers) {
    if (r.kind === "member" && s.readers.some((g) => g.slot === r.group && g.kind !== "member")) continue;
    lines.push(readerLine(r, rates));
    shown.add(r.slot);
    for (const m of s.readers) {
      if (m.kind === "member" && m.group === r.slot && !shown.has(m.slot)) {
        lines.push(readerLine(m, rates));
        shown.add(m.slot);
      }
    }
  }
  return lines;
}

/** Cuts a line to `width` visible columns and applies its styles (when `colour`). */
function paint(line: Segment[], width: number, colour: boolean): string {
  const cut: Segment[] = [];
  let left = width;
  for (const [text, style] of line) {
    if (left <= 0) break;
    const t = text.length > left ? text.slice(0, left) : text;
    left -= t.length;
    cut.push([t, style]);
  }
  while (cut.length > 0) { // no trailing blanks, whether coloured or not
    const last = cut[cut.length - 1];
    last[0] = last[0].trimEnd();
    if (last[0] !== "") break;
    cut.pop();
  }
  let out = "";
  for (const [t, style] of cut) {
    const sgr = STYLE[style ?? "plain"];
    out += colour && sgr && t.trim() ? `\x1b[${sgr}m${t}\x1b[0m` : t;
  }
  return out;
}

/**
 * Renders the view: a title, a column header, then one block per ring (its line with the bar, its
 * writer, and one line per reader), cut to `width` × `height`.
 *
 * @example
 * ```ts
 * import { renderView } from "./render.ts";
 * import { zeroRates } from "./rates.ts";
 * const lines = renderView(
 *   [{ sample: { name: "cisco", at: 0, snap: null, gone: true, reason: "deleted", generation: 1 }, rates: zeroRates() }],
 *   { width: 80, colour: false },
 * );
 * // lines[1] === "cisco             gone: deleted"
 * ```
 */
export function renderView(views: RingView[], opts: RenderOptions): string[] {
  const lines: Segment[][] = [];
  if (opts.title !== undefined) lines.push([[opts.title, "bold"]]);
  const nameW = nameWidth(views);
  lines.push(headerLine(nameW));
  views.forEach((v, i) => {
    if (i > 0) lines.push([]);
    lines.push(...ringLines(v, nameW));
  });
  const width = Math.max(1, opts.width);
  let out = lines.map((l) => paint(l, width, opts.colour));
  const h = opts.height ?? 0;
  if (h > 0 && out.length > h) {
    const more = out.length - (h - 1);
    out = out.slice(0, h - 1);
    out.push(paint([[`… ${more} more lines: enlarge the terminal`, "dim"]], width, opts.colour));
  }
  return out;
}

/** Whether to colour: a terminal, `NO_COLOR` unset or empty, and `TERM` not "dumb". */
export function colourWanted(isTerminal: boolean, env: (name: string) => string | undefined): boolean {
  if (!isTerminal) return false;
  const no = env("NO_COLOR");
  if (no !== undefined && no !== "") return false;
  return env("TERM") !== "dumb";
}
