/**
 * `fluxcap status [--json] [--seconds N] CONFIG | RING…`: one line per pipeline and ring, and an exit
 * status as monitoring plug-ins use it: 0 all well, 1 warning, 2 critical.
 *
 * Rates and drops are measured over a window: the rings' counters are read at the start and at the
 * end of `--seconds` (default 1 s; 1..10), and the differences are what the lines show. Opens rings
 * read-only, so any user who can read the ring files (and, for the restart state, the state file that
 * `fluxcap run` keeps readable by the same users) can run it.
 *
 * - critical: a ring missing or without a live writer; a pipeline restarting or not attached to its
 *   ring; an output that sent nothing while its ring grew (unless it filtered or sampled out every
 *   frame it read); with CONFIG, `fluxcap run` not running.
 * - warning: kernel drops on a capture, or a reader lapped by the writer (frames lost), in the window;
 *   a pipeline still starting.
 *
 * @module
 */
import { DROP_REASONS } from "../ring/layout.ts";
import { MAGIC } from "../ring/layout.ts";
import { formatSize } from "../ring/mod.ts";
import type { ReaderSnapshot, RingSnapshot } from "../ring/stats.ts";
import { RingWatch } from "../watch/source.ts";
import type { ServiceConfig } from "./config.ts";
import { type PipelineState, processAlive, readState, type ServiceState } from "./state.ts";

/** Monitoring levels, as exit statuses. */
export const OK = 0, WARNING = 1, CRITICAL = 2;
const LEVEL_NAMES = ["OK", "WARNING", "CRITICAL"] as const;
const LEVEL_TAGS = ["OK  ", "WARN", "CRIT"] as const;

/** A state file older than this means `fluxcap run` stopped updating it. */
export const STALE_STATE_MS = 30_000;

/** One line of the report. */
export interface StatusLine {
  kind: "ring" | "capture" | "output" | "reader" | "service";
  name: string;
  level: number;
  /** What it is doing: running, restarting, missing, … */
  state: string;
  pid?: number | null;
  ring?: string;
  framesPerSec?: number;
  bitsPerSec?: number;
  lagBytes?: number;
  /** Frames lost to overwrite in the window (readers). */
  lost?: number;
  /** Kernel drops in the window (captures, rings). */
  kernelDrops?: number;
  /** Frames dropped in the window, by reason (only reasons with drops). */
  drops?: Record<string, number>;
  restarts?: number;
  /** Why the level is what it is. */
  reasons: string[];
}

/** The whole report. */
export interface StatusReport {
  level: number;
  status: "ok" | "warning" | "critical";
  windowSeconds: number;
  lines: StatusLine[];
}

/** Two looks at a ring, `seconds` apart. */
interface RingWindow {
  name: string;
  path: string;
  a: RingSnapshot | null;
  b: RingSnapshot | null;
  reason?: string;
  dt: number;
}

async function sampleRings(rings: { name: string; path: string }[], ms: number): Promise<RingWindow[]> {
  const watches = rings.map((r) => new RingWatch(r.name, r.path));
  try {
    const first = watches.map((w) => w.sample());
    await new Promise((r) => setTimeout(r, ms));
    const second = watches.map((w) => w.sample());
    return rings.map((r, i) => {
      const a = first[i].snap, b = second[i].snap;
      const same = a !== null && b !== null && first[i].generation === second[i].generation;
      return {
        name: r.name,
        path: r.path,
        a: same ? a : null,
        b,
        reason: second[i].reason,
        dt: (second[i].at - first[i].at) / 1000 || ms / 1000,
      };
    });
  } finally {
    for (const w of watches) w.close();
  }
}

function dropDelta(a: Record<string, number> | undefined, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of DROP_REASONS) {
    const d = (b[k] ?? 0) - (a?.[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

function readerPair(w: RingWindow, pid: number | null): { a?: ReaderSnapshot; b?: ReaderSnapshot } {
  const b = w.b?.readers.find((r) => (pid === null || r.pid === pid) && r.kind !== "member");
  const a = b ? w.a?.readers.find((r) => r.slot === b.slot && r.pid === b.pid) : undefined;
  return { a, b };
}

/** The line of a ring: its writer, rate, kernel drops. */
function ringLine(w: RingWindow, needWriter: boolean): StatusLine {
  const line: StatusLine = { kind: "ring", name: w.name, level: OK, state: "ok", reasons: [] };
  if (w.b === null) {
    line.level = CRITICAL;
    line.state = "missing";
    line.reasons.push(`cannot read ${w.path}: ${w.reason ?? "gone"}`);
    return line;
  }
  const b = w.b, a = w.a;
  line.pid = b.writer?.alive ? b.writer.pid : null;
  line.framesPerSec = a ? (b.frames - a.frames) / w.dt : 0;
  line.bitsPerSec = a ? ((b.wireBytes - a.wireBytes) * 8) / w.dt : 0;
  line.kernelDrops = a ? b.kernelDrops - a.kernelDrops : 0;
  line.drops = dropDelta(a?.writer?.drops, b.writer?.drops ?? {});
  line.state = b.writer?.alive ? "writing" : "no writer";
  if (!b.writer?.alive && needWriter) {
    line.level = CRITICAL;
    line.reasons.push("no live writer");
  }
  if (line.kernelDrops > 0) {
    line.level = Math.max(line.level, WARNING);
    line.reasons.push(`${line.kernelDrops} kernel drops`);
  }
  return line;
}

/** Judges one reader of `w` (an output, or any reader with RING…). */
function readerLine(
  w: RingWindow,
  r: { a?: ReaderSnapshot; b?: ReaderSnapshot },
  line: StatusLine,
): StatusLine {
  const a = r.a, b = r.b!;
  line.pid = b.pid;
  line.framesPerSec = a ? (b.framesSent - a.framesSent) / w.dt : 0;
  line.bitsPerSec = a ? ((b.bytesRead - a.bytesRead) * 8) / w.dt : 0;
  line.lagBytes = b.lagBytes;
  line.lost = a ? b.framesLost - a.framesLost : 0;
  line.drops = dropDelta(a?.drops, b.drops);
  if (line.lost > 0) {
    line.level = Math.max(line.level, WARNING);
    line.reasons.push(`lapped by the writer: ${line.lost} frames lost`);
  }
  const grew = w.a !== null && w.b !== null && w.b.frames > w.a.frames;
  if (a && grew && b.framesSent === a.framesSent) {
    const read = b.framesRead - a.framesRead;
    const policy = (line.drops.filtered ?? 0) + (line.drops.sampled ?? 0);
    if (read === 0 || read > policy) {
      line.level = CRITICAL;
      line.reasons.push("sent nothing while its ring grew");
    }
  }
  return line;
}

/** Report for rings named on the command line. */
export async function statusOfRings(rings: string[], seconds: number): Promise<StatusReport> {
  const ws = await sampleRings(rings.map((r) => ({ name: r, path: r })), seconds * 1000);
  const lines: StatusLine[] = [];
  for (const w of ws) {
    lines.push(ringLine(w, true));
    for (const b of w.b?.readers ?? []) {
      const a = w.a?.readers.find((r) => r.slot === b.slot && r.pid === b.pid);
      lines.push(
        readerLine(w, { a, b }, {
          kind: "reader",
          name: b.desc || `slot ${b.slot}`,
          ring: w.name,
          level: OK,
          state: "reading",
          reasons: [],
        }),
      );
    }
  }
  return finish(lines, seconds);
}

/** Report for a configuration: the supervisor, each pipeline, each ring. */
export async function statusOfConfig(cfg: ServiceConfig, seconds: number): Promise<StatusReport> {
  const st = readState(cfg.state);
  const now = Date.now();
  const lines: StatusLine[] = [];
  const svc: StatusLine = { kind: "service", name: "fluxcap run", level: OK, state: "running", reasons: [] };
  let state: ServiceState | null = null;
  if ("error" in st) {
    if (st.error === "no such file") {
      svc.level = CRITICAL;
      svc.state = "not running";
      svc.reasons.push(`no state file ${cfg.state}`);
    } else {
      svc.state = "unknown";
      svc.reasons.push(`state file ${cfg.state}: ${st.error}; judged from the rings only`);
    }
  } else if (!processAlive(st.pid)) {
    svc.level = CRITICAL;
    svc.state = "not running";
    svc.reasons.push(`pid ${st.pid} is gone`);
  } else if (now - st.updatedAt > STALE_STATE_MS) {
    svc.level = CRITICAL;
    svc.state = "hung";
    svc.reasons.push(`state not updated for ${Math.round((now - st.updatedAt) / 1000)} s`);
  } else {
    state = st;
    svc.pid = st.pid;
  }
  lines.push(svc);
  const ws = await sampleRings(cfg.rings, seconds * 1000);
  const byName = new Map(ws.map((w) => [w.name, w]));
  for (const p of cfg.pipelines) {
    const ps: PipelineState | undefined = state?.pipelines[p.name];
    const kind = p.section === "captures" ? "capture" : "output";
    const line: StatusLine = {
      kind,
      name: p.name,
      ring: p.ring,
      level: OK,
      state: ps?.state ?? "unknown",
      reasons: [],
    };
    line.restarts = ps?.restarts;
    const w = byName.get(p.ring)!;
    if (ps && ps.argv.join("\0") !== p.argv.join("\0")) {
      line.level = Math.max(line.level, WARNING);
      line.reasons.push("the file changed since it started: reload to apply");
    }
    if (ps?.state === "finished") {
      line.reasons.push(`finished (${ps.lastExit})`);
      lines.push(line);
      continue;
    }
    if (state && !ps) {
      line.level = CRITICAL;
      line.state = "not started";
      line.reasons.push("not in the running configuration: reload to start it");
      lines.push(line);
      continue;
    }
    if (ps?.state === "backoff") {
      line.level = CRITICAL;
      line.state = "restarting";
      const next = ps.nextStartAt
        ? `, next start in ${Math.max(0, (ps.nextStartAt - now) / 1000).toFixed(1)} s`
        : "";
      line.reasons.push(`exited (${ps.lastExit})${next}`);
      lines.push(line);
      continue;
    }
    if (ps?.state === "starting") {
      const again = ps.restarts > 0;
      line.level = Math.max(line.level, again ? CRITICAL : WARNING);
      line.state = again ? "restarting" : "starting";
      line.reasons.push(
        again ? `restarted after ${ps.lastExit}, not attached yet` : "not attached to its ring yet",
      );
    }
    const pid = ps?.pid ?? null;
    if (p.section === "captures") {
      if (w.b === null) {
        line.level = CRITICAL;
        line.reasons.push(`ring ${p.ring} unreadable: ${w.reason}`);
      } else {
        const r = ringLine(w, true);
        const mine = pid === null || w.b.writer?.pid === pid;
        line.pid = r.pid;
        line.framesPerSec = r.framesPerSec;
        line.bitsPerSec = r.bitsPerSec;
        line.kernelDrops = r.kernelDrops;
        line.drops = r.drops;
        if (!w.b.writer?.alive || !mine) {
          line.level = CRITICAL;
          line.reasons.push(
            `not writing ring ${p.ring}${w.b.writer?.alive ? ` (pid ${w.b.writer.pid} is)` : ""}`,
          );
        } else if (line.state === "unknown") line.state = "running";
        if (r.kernelDrops! > 0) {
          line.level = Math.max(line.level, WARNING);
          line.reasons.push(`${r.kernelDrops} kernel drops`);
        }
      }
    } else if (w.b === null) {
      line.level = CRITICAL;
      line.reasons.push(`ring ${p.ring} unreadable: ${w.reason}`);
    } else if (pid === null && state === null) {
      if (w.b.readers.filter((r) => r.kind !== "member").length === 0) {
        line.level = CRITICAL; // whichever process it is, it is not reading
        line.reasons.push(`nothing reads ring ${p.ring}`);
      } else {
        line.reasons.push(
          `${w.b.readers.length} reader(s) on ring ${p.ring}; which one is this needs the state file`,
        );
      }
    } else {
      const pair = readerPair(w, pid);
      if (!pair.b) {
        if (ps?.state !== "starting") {
          line.level = CRITICAL;
          line.reasons.push(`not reading ring ${p.ring}`);
        }
      } else readerLine(w, pair, line);
    }
    lines.push(line);
  }
  const written = new Set(cfg.pipelines.filter((p) => p.section === "captures").map((p) => p.ring));
  for (const w of ws) {
    const captureState = cfg.pipelines.find((p) => p.section === "captures" && p.ring === w.name);
    const finished = captureState && state?.pipelines[captureState.name]?.state === "finished";
    lines.push(ringLine(w, written.has(w.name) && !finished));
  }
  return finish(lines, seconds);
}

function finish(lines: StatusLine[], seconds: number): StatusReport {
  const level = lines.reduce((m, l) => Math.max(m, l.level), OK);
  return { level, status: (["ok", "warning", "critical"] as const)[level], windowSeconds: seconds, lines };
}

function rate(v: number | undefined, unit: string): string {
  const x = v ?? 0;
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)} G${unit}`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M${unit}`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)} k${unit}`;
  return `${Math.round(x)} ${unit}`;
}

/** The report as text: a summary line (as monitoring plug-ins print), then one line each. */
export function formatReport(r: StatusReport): string {
  const bad = r.lines.filter((l) => l.level > OK);
  const summary = bad.length === 0
    ? `${r.lines.length} checked`
    : bad.map((l) => `${l.kind} ${l.name}: ${l.reasons[0] ?? l.state}`).join("; ");
  const out = [`FLUXCAP ${LEVEL_NAMES[r.level]} - ${summary} (window ${r.windowSeconds} s)`];
  for (const l of r.lines) {
    const parts = [`${LEVEL_TAGS[l.level]} ${l.kind.padEnd(7)} ${l.name.padEnd(16)} ${l.state}`];
    if (l.pid) parts.push(`pid ${l.pid}`);
    if (l.ring && l.kind === "reader") parts.push(`ring ${l.ring}`);
    if (l.framesPerSec !== undefined) {
      parts.push(`${rate(l.framesPerSec, "frames/s")} ${rate(l.bitsPerSec, "bit/s")}`);
    }
    if (l.lagBytes !== undefined) parts.push(`lag ${formatSize(l.lagBytes)}`);
    if (l.lost !== undefined) parts.push(`lost ${l.lost}`);
    if (l.kernelDrops !== undefined) parts.push(`kernel drops ${l.kernelDrops}`);
    if (l.drops && Object.keys(l.drops).length) {
      parts.push(`drops ${Object.entries(l.drops).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    }
    if (l.restarts) parts.push(`${l.restarts} restarts`);
    if (l.reasons.length) parts.push(`(${l.reasons.join("; ")})`);
    out.push(parts.join("  "));
  }
  return out.join("\n");
}

/** True if `path` is a ring file (starts with the ring magic), so `status` takes it as a ring. */
export function looksLikeRing(path: string): boolean {
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const head = new Uint8Array(MAGIC.length);
      const n = f.readSync(head) ?? 0;
      return n === MAGIC.length && head.every((b, i) => b === MAGIC[i]);
    } finally {
      f.close();
    }
  } catch {
    return false;
  }
}
