/**
 * `fluxcap run CONFIG`: one process per pipeline, supervised.
 *
 * - Rings are created when missing and kept when valid (a restart never throws buffered traffic away).
 *   A ring whose size changed is recreated only when nothing is attached to it.
 * - Each capture and output runs as its own child: the fluxcap command line a user would type. A child
 *   that exits is started again after a back-off of 1 s, doubling up to 30 s, back to 1 s once a child
 *   has run for a minute. A capture-file replay that finished (exit 0) stays finished.
 * - A pipeline is "running" once its process is attached to its ring (the ring's writer or one of its
 *   readers has its pid): that is read from the ring, not guessed from time.
 * - SIGTERM/SIGINT: SIGTERM to every child, SIGKILL to those still there after {@link STOP_GRACE_MS},
 *   exit 0. SIGHUP: reload (see {@linkcode Supervisor.reload}).
 * - systemd: READY=1 once every pipeline is running or has failed its first start (one missing NIC
 *   does not hold the others back), STATUS= every few seconds and on changes, WATCHDOG=1 every half
 *   WATCHDOG_USEC, RELOADING=1 … READY=1 around a reload.
 *
 * @module
 */
import { createRing, formatSize, newHeader, RingError } from "../ring/mod.ts";
import * as L from "../ring/layout.ts";
import { RingWatch } from "../watch/source.ts";
import { RateWindow, sampleRates } from "../watch/rates.ts";
import { type MetricsServer, startMetrics } from "../watch/metrics.ts";
import { ConfigError, loadConfig, type PipelineSpec, type RingSpec, type ServiceConfig } from "./config.ts";
import { PARENT_ENV } from "../engine/mod.ts";
import type { Logger } from "./log.ts";
import { monotonicUsec, type Notifier } from "./notify.ts";
import { selfCommand, shellWords } from "./program.ts";
import {
  type PipelineState,
  type PipelineStateName,
  removeState,
  type ServiceState,
  STATE_VERSION,
  writeState,
} from "./state.ts";

/** First restart delay. */
export const BACKOFF_MIN_MS = 1000;
/** Longest restart delay. */
export const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long was healthy: its next restart starts over at the shortest delay. */
export const HEALTHY_MS = 60_000;
/** How long a stopping child gets after SIGTERM before SIGKILL (fluxcap exits within a second). */
export const STOP_GRACE_MS = 5000;
/** Interval of STATUS= and of the state file's heartbeat. */
export const STATUS_INTERVAL_MS = 2000;
const TICK_MS = 100;

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** `--metrics` given on the command line (wins over `metrics:` in the file). */
  metrics?: string;
  log: Logger;
  notifier: Notifier | null;
}

/** One supervised pipeline. */
class Pipe {
  spec: PipelineSpec;
  child: Deno.ChildProcess | null = null;
  state: PipelineStateName = "starting";
  startedAt: number | null = null;
  restarts = 0;
  /** Delay of the last restart (0: none yet). */
  delayMs = 0;
  lastExit?: string;
  lastExitAt?: number;
  nextStartAt?: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Set when the supervisor stops it on purpose. */
  stopping = false;
  /** Resolves when the current child has exited. */
  exited: Promise<void> = Promise.resolve();
  /** True once it was running or failed at least once since the last (re)start of the service. */
  settled = false;

  constructor(spec: PipelineSpec) {
    this.spec = spec;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
}

function describeExit(st: Deno.CommandStatus): string {
  return st.signal ? `signal ${st.signal}` : `exit status ${st.code}`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function expectedFileSize(size: number): number {
  return Number(new DataView(newHeader(size).buffer).getBigUint64(L.H_FILE_SIZE, true));
}

/** Runs a configuration's pipelines until SIGTERM/SIGINT. */
export class Supervisor {
  #cfg: ServiceConfig;
  readonly #opts: SupervisorOptions;
  readonly #log: Logger;
  readonly #cmd = selfCommand();
  #pipes = new Map<string, Pipe>();
  #watches = new Map<string, { watch: RingWatch; rates: RateWindow; fps: number }>();
  #metrics: MetricsServer | null = null;
  #metricsKey = "";
  #op: Promise<void> = Promise.resolve();
  #stopping = false;
  #ready = false;
  #dirty = true;
  #lastStatus = 0;
  #lastStatusText = "";
  #startedAt = Date.now();
  #stateWarned = false;
  #done!: () => void;
  #doneP = new Promise<void>((r) => this.#done = r);

  constructor(cfg: ServiceConfig, opts: SupervisorOptions) {
    this.#cfg = cfg;
    this.#opts = opts;
    this.#log = opts.log;
  }

  /** Starts everything and resolves with the exit status after SIGTERM/SIGINT (0) or a fatal error (1). */
  async run(): Promise<number> {
    const cfg = this.#cfg;
    for (const r of cfg.rings) {
      if (!this.#ensureRing(r, null)) return 1;
    }
    this.#watchRings();
    if (!this.#applyMetrics()) {
      for (const w of this.#watches.values()) w.watch.close();
      return 1; // at start a metrics endpoint that cannot listen is a runtime failure; at reload, a warning
    }
    const onStop = () => this.stop();
    const onHup = () => this.reload();
    Deno.addSignalListener("SIGTERM", onStop);
    Deno.addSignalListener("SIGINT", onStop);
    Deno.addSignalListener("SIGHUP", onHup);
    this.#log(
      `fluxcap: running ${cfg.file}: ${cfg.rings.length} ring(s), ${cfg.pipelines.length} pipeline(s)` +
        (this.#metrics ? `, metrics on ${this.#metrics.addr}:${this.#metrics.port}` : ""),
    );
    for (const spec of cfg.pipelines) this.#add(spec);
    const tick = setInterval(() => this.#tick(), TICK_MS);
    const wdUsec = this.#opts.notifier?.watchdogUsec ?? null;
    const wd = wdUsec
      ? setInterval(() => this.#opts.notifier?.send("WATCHDOG=1"), Math.max(wdUsec / 2000, 50))
      : undefined;
    this.#tick();
    await this.#doneP;
    clearInterval(tick);
    clearInterval(wd);
    Deno.removeSignalListener("SIGTERM", onStop);
    Deno.removeSignalListener("SIGINT", onStop);
    Deno.removeSignalListener("SIGHUP", onHup);
    return 0;
  }

  /** Runs `fn` after every earlier operation (start, reload, stop never interleave). */
  #serial(fn: () => Promise<void> | void): Promise<void> {
    this.#op = this.#op.then(fn).catch((e) => {
      this.#log(`fluxcap: internal error: ${e instanceof Error ? e.stack ?? e.message : e}`);
    });
    return this.#op;
  }

  /** Stops every pipeline (SIGTERM, then SIGKILL after the grace period) and ends {@link run}. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#op;
    this.#stopping = true;
    return this.#serial(async () => {
      this.#opts.notifier?.send("STOPPING=1");
      this.#log(`fluxcap: stopping ${this.#pipes.size} pipeline(s)`);
      await Promise.all([...this.#pipes.values()].map((p) => this.#stopPipe(p)));
      this.#pipes.clear();
      await this.#metrics?.close();
      this.#metrics = null;
      for (const w of this.#watches.values()) w.watch.close();
      this.#watches.clear();
      removeState(this.#cfg.state);
      this.#log("fluxcap: stopped");
      this.#done();
    });
  }

  /**
   * Reloads the configuration file: unchanged pipelines keep running untouched, changed ones restart,
   * removed ones stop, new ones start; new rings are created; a ring whose size changed is recreated
   * only when nothing is attached to it. An invalid file changes nothing and is reported in one line.
   */
  reload(): Promise<void> {
    if (this.#stopping) return this.#op;
    return this.#serial(async () => {
      if (this.#stopping) return;
      const n = this.#opts.notifier;
      n?.send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
      try {
        await this.#reload();
      } finally {
        n?.send(`READY=1\nSTATUS=${this.#statusText()}`);
      }
    });
  }

  async #reload(): Promise<void> {
    const old = this.#cfg;
    let cfg: ServiceConfig;
    try {
      cfg = loadConfig(old.file);
    } catch (e) {
      if (e instanceof ConfigError) {
        const more = e.problems.length > 1
          ? ` (and ${e.problems.length - 1} more: fluxcap check ${old.file})`
          : "";
        this.#log(`fluxcap: reload refused, nothing changed: ${e.problems[0]}${more}`);
        return;
      }
      throw e;
    }
    const same = (a: PipelineSpec, b: PipelineSpec) =>
      a.section === b.section && a.argv.join("\0") === b.argv.join("\0");
    const removed: string[] = [];
    const changed: string[] = [];
    const added: string[] = [];
    for (const name of this.#pipes.keys()) {
      const next = cfg.pipelines.find((p) => p.name === name);
      if (!next) removed.push(name);
      else if (!same(this.#pipes.get(name)!.spec, next)) changed.push(name);
    }
    for (const p of cfg.pipelines) if (!this.#pipes.has(p.name)) added.push(p.name);
    await Promise.all([...removed, ...changed].map((name) => this.#stopPipe(this.#pipes.get(name)!)));
    for (const name of [...removed, ...changed]) this.#pipes.delete(name);
    const kept: string[] = [];
    const rings: RingSpec[] = [];
    for (const r of cfg.rings) {
      const before = old.rings.find((o) => o.name === r.name && o.path === r.path);
      const effective = this.#ensureRing(r, before ?? null);
      if (effective) rings.push(effective);
      if (before && effective && effective.size !== r.size) kept.push(r.name);
    }
    this.#cfg = { ...cfg, rings };
    this.#watchRings();
    this.#applyMetrics();
    for (const spec of cfg.pipelines) {
      const p = this.#pipes.get(spec.name);
      if (p) p.spec = spec; // unchanged command line: the process keeps running
      else this.#add(spec);
    }
    this.#dirty = true;
    this.#writeState(Date.now()); // before the line below: the state file never lags what the log says
    const list = (what: string, names: string[]) => names.length ? `, ${what} ${names.join(" ")}` : "";
    this.#log(
      `fluxcap: reloaded ${cfg.file}: ${cfg.pipelines.length - added.length - changed.length} unchanged` +
        list("restarted", changed) + list("started", added) + list("stopped", removed) +
        list("ring size kept (in use):", kept),
    );
  }

  /**
   * Makes sure the ring file is there: created if missing, kept if valid, recreated at a new size only
   * when nothing is attached. Returns the ring as it now is, or null (logged) when it cannot exist.
   */
  #ensureRing(r: RingSpec, before: RingSpec | null): RingSpec | null {
    const log = this.#log;
    try {
      const res = createRing(r.path, { size: r.size, keep: true }, r.name);
      if (res.action === "created") {
        log(`ring ${r.name}: created ${r.path} (${formatSize(res.fileSize)})`);
        return r;
      }
      if (res.fileSize === expectedFileSize(r.size)) return r;
      const users = this.#ringUsers(r);
      const from = formatSize(res.fileSize);
      if (users.length > 0) {
        log(
          `ring ${r.name}: size ${from} kept, not ${formatSize(r.size)}: in use by ${users.join(", ")} ` +
            `(stop what uses it, then reload, to resize)`,
        );
        return { ...r, size: before?.size ?? res.fileSize };
      }
      const again = createRing(r.path, { size: r.size }, r.name);
      log(`ring ${r.name}: recreated ${r.path} at ${formatSize(again.fileSize)} (was ${from})`);
      return r;
    } catch (e) {
      if (!(e instanceof RingError)) throw e;
      log(`ring ${r.name}: ${e.message}`);
      return null;
    }
  }

  /** Who is attached to a ring ("pid 12 (rx eth1)"), from the ring itself. */
  #ringUsers(r: RingSpec): string[] {
    let w: RingWatch | null = null;
    try {
      w = RingWatch.open(r.name, r.path);
      const s = w.sample().snap;
      if (!s) return [];
      const out: string[] = [];
      if (s.writer?.alive) out.push(`pid ${s.writer.pid} (${s.writer.desc})`);
      for (const rd of s.readers) out.push(`pid ${rd.pid} (${rd.desc})`);
      return out;
    } catch {
      return [];
    } finally {
      w?.close();
    }
  }

  #watchRings(): void {
    const want = new Map(this.#cfg.rings.map((r) => [r.name, r.path]));
    for (const [name, w] of this.#watches) {
      if (want.get(name) !== w.watch.path) {
        w.watch.close();
        this.#watches.delete(name);
      }
    }
    for (const [name, path] of want) {
      if (!this.#watches.has(name)) {
        this.#watches.set(name, { watch: new RingWatch(name, path), rates: new RateWindow(), fps: 0 });
      }
    }
  }

  /** (Re)starts the metrics endpoint when its address or the rings changed; false if it cannot listen. */
  #applyMetrics(): boolean {
    const spec = this.#opts.metrics ?? this.#cfg.metrics;
    const key = spec === undefined
      ? ""
      : `${spec}|${this.#cfg.rings.map((r) => `${r.name}=${r.path}`).join(",")}`;
    if (key === this.#metricsKey) return true;
    this.#metricsKey = key;
    const old = this.#metrics;
    this.#metrics = null;
    const start = () => {
      if (spec === undefined) return true;
      try {
        this.#metrics = startMetrics(spec, this.#cfg.rings.map((r) => ({ name: r.name, path: r.path })));
        return true;
      } catch (e) {
        this.#log(`fluxcap: ${(e as Error).message}`);
        return false;
      }
    };
    if (old) {
      old.close().then(start);
      return true;
    }
    return start();
  }

  #add(spec: PipelineSpec): void {
    const p = new Pipe(spec);
    this.#pipes.set(spec.name, p);
    this.#spawn(p, false);
  }

  #spawn(p: Pipe, restart: boolean): void {
    if (this.#stopping || p.stopping) return;
    const [cmd, ...pre] = this.#cmd;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(cmd, {
        args: [...pre, ...p.spec.argv],
        cwd: this.#cfg.dir,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        // the child stops by itself if this supervisor dies (SIGKILL) and it is handed to another parent
        env: { NO_COLOR: "1", [PARENT_ENV]: String(Deno.pid) },
      }).spawn();
    } catch (e) {
      this.#log(`${p.spec.name}: cannot start: ${(e as Error).message}`);
      this.#exitedWith(p, null, "not started");
      return;
    }
    p.child = child;
    p.state = "starting";
    p.startedAt = Date.now();
    p.nextStartAt = undefined;
    this.#dirty = true;
    this.#log(
      `${p.spec.name}: ${restart ? `restarted (restart ${p.restarts})` : "started"} pid ${child.pid}: ` +
        `fluxcap ${shellWords(p.spec.argv)}`,
    );
    const relay = this.#relay(p.spec.name, child.stderr);
    p.exited = child.status.then(async (st) => {
      await relay;
      this.#exitedWith(p, child, describeExit(st), st);
    });
  }

  /** Relays a child's stderr, line by line, prefixed with its name. */
  async #relay(name: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    let buf = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trimEnd();
          buf = buf.slice(nl + 1);
          if (line !== "") this.#log(`${name}: ${line}`);
        }
      }
    } catch { /* the child is gone */ }
    if (buf.trim() !== "") this.#log(`${name}: ${buf.trim()}`);
  }

  #exitedWith(p: Pipe, child: Deno.ChildProcess | null, how: string, st?: Deno.CommandStatus): void {
    if (child !== null && p.child !== child) return;
    const now = Date.now();
    const ran = p.startedAt === null ? 0 : now - p.startedAt;
    p.child = null;
    p.lastExit = how;
    p.lastExitAt = now;
    p.settled = true;
    this.#dirty = true;
    if (p.stopping || this.#stopping) {
      this.#log(`${p.spec.name}: stopped (${how})`);
      return;
    }
    if (st?.success && p.spec.section === "captures" && p.spec.argv.includes("--read")) {
      p.state = "finished";
      this.#log(`${p.spec.name}: finished (${how}) after ${seconds(ran)}`);
      return;
    }
    p.delayMs = ran >= HEALTHY_MS || p.delayMs === 0
      ? BACKOFF_MIN_MS
      : Math.min(p.delayMs * 2, BACKOFF_MAX_MS);
    p.state = "backoff";
    p.nextStartAt = now + p.delayMs;
    this.#log(`${p.spec.name}: exited (${how}) after ${seconds(ran)}; restarting in ${seconds(p.delayMs)}`);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (this.#pipes.get(p.spec.name) !== p) return;
      p.restarts++;
      this.#spawn(p, true);
    }, p.delayMs);
  }

  async #stopPipe(p: Pipe): Promise<void> {
    p.stopping = true;
    clearTimeout(p.timer);
    p.timer = undefined;
    const child = p.child;
    if (child === null) return;
    p.state = "stopping";
    this.#dirty = true;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((r) => timer = setTimeout(() => r(true), STOP_GRACE_MS));
    const timedOut = await Promise.race([p.exited.then(() => false), late]);
    clearTimeout(timer);
    if (timedOut) {
      this.#log(`${p.spec.name}: did not stop within ${seconds(STOP_GRACE_MS)}: SIGKILL`);
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await p.exited;
    }
  }

  /** Housekeeping: attachment, READY, STATUS, the state file. */
  #tick(): void {
    if (this.#stopping) return;
    const snaps = new Map<string, ReturnType<RingWatch["sample"]>>();
    const now = Date.now();
    const statusDue = now - this.#lastStatus >= STATUS_INTERVAL_MS;
    const needRings = statusDue || [...this.#pipes.values()].some((p) => p.state === "starting");
    if (needRings) {
      for (const [name, w] of this.#watches) {
        const s = w.watch.sample();
        snaps.set(name, s);
        if (statusDue && s.snap) w.fps = sampleRates(w.rates, s.snap).framesPerSec;
      }
    }
    // Logged once the state file says so too: whoever reads the log and then the state sees the same.
    const started: string[] = [];
    for (const p of this.#pipes.values()) {
      if (p.state !== "starting" || p.child === null) continue;
      const s = snaps.get(p.spec.ring)?.snap;
      const pid = p.child.pid;
      const attached = p.spec.section === "captures"
        ? s?.writer?.alive === true && s.writer.pid === pid
        : s?.readers.some((r) => r.pid === pid) === true;
      if (attached) {
        p.state = "running";
        p.settled = true;
        this.#dirty = true;
        started.push(
          `${p.spec.name}: running (pid ${pid}, ${
            p.spec.section === "captures" ? "writing" : "reading"
          } ring ${p.spec.ring})`,
        );
      }
    }
    const n = this.#opts.notifier;
    if (statusDue || this.#dirty) {
      const text = this.#statusText();
      if (statusDue || text !== this.#lastStatusText) n?.send(`STATUS=${text}`);
      this.#lastStatusText = text;
      if (statusDue) this.#lastStatus = now;
      this.#writeState(now);
      this.#dirty = false;
    }
    for (const line of started) this.#log(line);
    if (!this.#ready && [...this.#pipes.values()].every((p) => p.settled)) {
      this.#ready = true;
      const text = this.#statusText();
      n?.send(`READY=1\nSTATUS=${text}`);
      this.#lastStatusText = text;
      this.#log(`fluxcap: ready: ${text}`);
    }
  }

  /** One line for STATUS=: pipelines by state, and each ring's rate. */
  #statusText(): string {
    const all = [...this.#pipes.values()];
    const running = all.filter((p) => p.state === "running").length;
    const waiting = all.filter((p) => p.state === "backoff").map((p) => p.spec.name);
    const starting = all.filter((p) => p.state === "starting").map((p) => p.spec.name);
    const parts = [`${running}/${all.length} pipelines running`];
    if (starting.length) parts.push(`starting: ${starting.join(" ")}`);
    if (waiting.length) parts.push(`restarting: ${waiting.join(" ")}`);
    const rates = [...this.#watches].map(([name, w]) => `${name} ${fmtRate(w.fps)} frames/s`);
    return parts.join("; ") + (rates.length ? `; ${rates.join(", ")}` : "");
  }

  #writeState(now: number): void {
    const pipelines: Record<string, PipelineState> = {};
    for (const [name, p] of this.#pipes) {
      pipelines[name] = {
        section: p.spec.section,
        ring: p.spec.ring,
        argv: p.spec.argv,
        state: p.state,
        pid: p.pid,
        startedAt: p.child ? p.startedAt : null,
        restarts: p.restarts,
        lastExit: p.lastExit,
        lastExitAt: p.lastExitAt,
        nextStartAt: p.nextStartAt,
      };
    }
    const s: ServiceState = {
      version: STATE_VERSION,
      pid: Deno.pid,
      config: this.#cfg.path,
      startedAt: this.#startedAt,
      updatedAt: now,
      rings: this.#cfg.rings.map((r) => ({ name: r.name, path: r.path, size: r.size })),
      pipelines,
    };
    try {
      writeState(this.#cfg.state, s, this.#cfg.rings.map((r) => r.path));
      this.#stateWarned = false;
    } catch (e) {
      if (!this.#stateWarned) {
        this.#log(`fluxcap: ${(e as Error).message} (fluxcap status cannot see restarts)`);
      }
      this.#stateWarned = true;
    }
  }
}

function fmtRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return String(Math.round(v));
}
