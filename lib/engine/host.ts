/**
 * Runs a job's hot loop in a Worker while the main thread stays idle for signals (SIGINT/SIGTERM:
 * flush, detach, exit 0 within a second) and the once-a-second timer.
 *
 * @module
 */
import type { Job } from "./jobs.ts";
import type { LoopMessage } from "./kit.ts";

/** Options for {@link runWorker}. */
export interface HostOptions {
  log: (s: string) => void;
  /** Called once a second while the loop runs (for -v counters). */
  everySecond?: () => void;
  /** Stop after this many seconds (used by tests and the demo); default: run until a signal. */
  seconds?: number;
}

/**
 * Set by `fluxcap run` in each pipeline's environment: the supervisor's pid. A pipeline whose parent is no
 * longer that process (the supervisor was killed and the pipeline handed to another parent) stops by itself,
 * as on SIGTERM, within a second: no orphaned capture keeps a ring's writer lock.
 */
export const PARENT_ENV = "FLUXCAP_SUPERVISOR_PID";

/** The supervisor's pid this process was started by, or null. */
function supervisorPid(): number | null {
  if (Deno.permissions.querySync({ name: "env", variable: PARENT_ENV }).state !== "granted") return null;
  const v = Deno.env.get(PARENT_ENV);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/** A loop that does not answer a stop request within this long is ended anyway (ms). */
const HARD_STOP_MS = 900;
/** A loop that answered and is closing its output (a capture file's last writes) gets this long (ms). */
const CLOSING_MS = 5000;

/**
 * Starts the worker for `job` and resolves with the exit status when it ends (after a signal, on an
 * error, or when the job finishes by itself).
 */
export function runWorker(job: Job, opts: HostOptions): Promise<number> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
  return new Promise((resolve) => {
    let finished = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let hardStop: ReturnType<typeof setTimeout> | undefined;
    let closing = false;
    const parent = supervisorPid();
    const orphan = parent === null ? undefined : setInterval(() => {
      if (Deno.ppid !== parent) onSignal();
    }, 1000);
    const onSignal = () => {
      Atomics.store(stop, 0, 1);
      Atomics.notify(stop, 0);
      hardStop ??= setTimeout(
        () => closing ? (hardStop = setTimeout(() => end(0), CLOSING_MS)) : end(0),
        HARD_STOP_MS,
      );
    };
    const end = (code: number) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      clearInterval(orphan);
      clearTimeout(deadline);
      clearTimeout(hardStop);
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      worker.terminate();
      resolve(code);
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    worker.onmessage = (ev: MessageEvent<LoopMessage>) => {
      const m = ev.data;
      if (m.type === "ready") {
        if (m.info) opts.log(m.info);
        if (opts.everySecond) timer = setInterval(opts.everySecond, 1000);
        if (opts.seconds !== undefined) {
          // setTimeout takes at most 2^31-1 ms (about 24.8 days): re-arm until the deadline.
          const at = Date.now() + opts.seconds * 1000;
          const arm = () => {
            const left = at - Date.now();
            deadline = left > 0 ? setTimeout(arm, Math.min(left, 2 ** 31 - 1)) : setTimeout(onSignal, 0);
          };
          arm();
        }
      } else if (m.type === "warn") opts.log(m.message);
      else if (m.type === "closing") closing = true;
      else if (m.type === "error") {
        opts.log(m.message);
        end(m.exitCode);
      } else if (m.type === "done") {
        if (m.summary) opts.log(m.summary);
        end(0);
      }
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      opts.log(`fluxcap: internal error in the packet loop: ${ev.message}`);
      end(1);
    };
    worker.postMessage({ job, stop });
  });
}
