/**
 * `fluxcap -io RING...`: rates and drops of rings, live. On a terminal, a full-screen view refreshed
 * 10 times a second (q, Ctrl-C or end of input quit); otherwise, or with `--json`, one JSON line per ring
 * per second. `--once` prints one snapshot, `--seconds N` stops after N seconds, `--metrics [addr:]port`
 * serves Prometheus metrics meanwhile.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { WatchSettings } from "../settings/mod.ts";
import { ringJson } from "../watch/json.ts";
import { startMetrics } from "../watch/metrics.ts";
import type { MetricsServer } from "../watch/metrics.ts";
import { RATE_WINDOW_MS, RateWindow, sampleRates, zeroRates } from "../watch/rates.ts";
import { colourWanted, renderView } from "../watch/render.ts";
import type { RingView } from "../watch/render.ts";
import { RingWatch } from "../watch/source.ts";
import { enterScreen, frame, waitForQuit, writeOut } from "../watch/terminal.ts";

/** Screen refresh period (10 per second, as fluxcap 3.2). */
const SCREEN_MS = 100;
/** JSON line period. */
const JSON_MS = 1000;
/** With --once, the time between the two snapshots rates are computed from. */
const ONCE_MS = 1000;

/** A set of watched rings with their rate windows. */
class Watched {
  #watches: RingWatch[];
  #windows: RateWindow[];
  #generations: number[];

  constructor(watches: RingWatch[]) {
    this.#watches = watches;
    this.#windows = watches.map(() => new RateWindow(RATE_WINDOW_MS));
    this.#generations = watches.map(() => 0);
  }

  /** Samples every ring and returns its view (rates restart when a ring's file was replaced). */
  take(): RingView[] {
    return this.#watches.map((w, i) => {
      const sample = w.sample();
      if (sample.generation !== this.#generations[i]) {
        this.#windows[i].clear();
        this.#generations[i] = sample.generation;
      }
      const rates = sample.snap ? sampleRates(this.#windows[i], sample.snap) : zeroRates();
      return { sample, rates };
    });
  }

  close(): void {
    for (const w of this.#watches) w.close();
  }
}

/** Aborts `ac` on SIGINT and SIGTERM until the returned function is called. */
function onSignals(ac: AbortController): () => void {
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return () => {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  };
}

/** Sleeps `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

function isBrokenPipe(e: unknown): boolean {
  return e instanceof Deno.errors.BrokenPipe;
}

function printJson(views: RingView[]): void {
  writeOut(views.map((v) => JSON.stringify(ringJson(v.sample, v.rates))).join("\n") + "\n");
}

/** JSON lines: one per ring per second (or one snapshot with --once). */
async function runJson(w: Watched, once: boolean, seconds: number | undefined): Promise<number> {
  const ac = new AbortController();
  const unlisten = onSignals(ac);
  try {
    const start = Date.now();
    const deadline = seconds === undefined ? Infinity : start + seconds * 1000;
    w.take(); // the first sample of every rate window
    if (once) {
      await sleep(Math.min(ONCE_MS, deadline - start), ac.signal);
      printJson(w.take());
      return 0;
    }
    for (let k = 1; !ac.signal.aborted; k++) {
      const next = Math.min(start + k * JSON_MS, deadline);
      await sleep(next - Date.now(), ac.signal);
      if (ac.signal.aborted) break;
      printJson(w.take());
      if (next >= deadline) break;
    }
    return 0;
  } catch (e) {
    if (isBrokenPipe(e)) return 0; // the reader of our output went away (`| head`)
    throw e;
  } finally {
    unlisten();
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

function title(metrics: MetricsServer | null): string {
  const t = new Date();
  const hms = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  const host = hostname();
  let s = `fluxcap -io${host ? `  ${host}` : ""}  ${hms}  rates over ${RATE_WINDOW_MS / 1000} s`;
  if (metrics) {
    const a = metrics.addr.includes(":") ? `[${metrics.addr}]` : metrics.addr;
    s += `  metrics http://${a}:${metrics.port}/metrics`;
  }
  return s + "  (q quits)";
}

/** The terminal's size; 80×24 when it cannot tell (or says 0, as some pseudo-terminals do). */
function screenSize(): { columns: number; rows: number } {
  try {
    const { columns, rows } = Deno.consoleSize();
    return { columns: columns > 0 ? columns : 80, rows: rows > 0 ? rows : 24 };
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** One rendering of the view, printed once (--once on a terminal). */
async function runOnceTable(w: Watched, colour: boolean): Promise<number> {
  const ac = new AbortController();
  const unlisten = onSignals(ac);
  try {
    w.take();
    await sleep(ONCE_MS, ac.signal);
    const lines = renderView(w.take(), { width: screenSize().columns, colour });
    writeOut(lines.join("\n") + "\n");
    return 0;
  } catch (e) {
    if (isBrokenPipe(e)) return 0;
    throw e;
  } finally {
    unlisten();
  }
}

/** The full-screen view, until q, Ctrl-C, end of input, a signal or the --seconds deadline. */
async function runScreen(
  w: Watched,
  opts: { colour: boolean; seconds?: number; metrics: MetricsServer | null },
): Promise<number> {
  const ac = new AbortController();
  const unlisten = onSignals(ac);
  const restore = enterScreen();
  try {
    waitForQuit(ac.signal).then(() => ac.abort());
    const deadline = opts.seconds === undefined ? Infinity : Date.now() + opts.seconds * 1000;
    let next = Date.now();
    while (!ac.signal.aborted && Date.now() < deadline) {
      const { columns, rows } = screenSize();
      const lines = renderView(w.take(), {
        width: columns,
        height: rows,
        colour: opts.colour,
        title: title(opts.metrics),
      });
      writeOut(frame(lines));
      next += SCREEN_MS;
      await sleep(Math.min(next, deadline) - Date.now(), ac.signal);
    }
    return 0;
  } catch (e) {
    if (isBrokenPipe(e)) return 0;
    throw e;
  } finally {
    restore();
    unlisten();
    ac.abort();
  }
}

/**
 * Runs `fluxcap -io`; resolves to the exit status. A missing or corrupt ring is refused up front with
 * a RingError (`Cannot open ring "x": …`); a ring deleted later is shown as gone.
 */
export async function runWatch(a: WatchSettings, _log: (s: string) => void): Promise<number> {
  if (a.rings.length === 0) throw new UsageError("-io needs at least one ring: fluxcap -io <ring> ...");
  a = { ...a, rings: [...new Set(a.rings)] }; // a ring named twice is watched once
  const seconds = a.seconds;
  const watches: RingWatch[] = [];
  try {
    for (const name of a.rings) watches.push(RingWatch.open(name));
  } catch (e) {
    for (const x of watches) x.close();
    throw e;
  }
  const w = new Watched(watches);
  let metrics: MetricsServer | null = null;
  try {
    if (a.metrics !== undefined) metrics = startMetrics(a.metrics, a.rings);
    const tty = Deno.stdout.isTerminal();
    if (a.json || !tty) return await runJson(w, a.once, seconds);
    const colour = colourWanted(tty, (n) => Deno.env.get(n));
    if (a.once) return await runOnceTable(w, colour);
    return await runScreen(w, { colour, seconds, metrics });
  } finally {
    w.close();
    await metrics?.close();
  }
}
