/**
 * The state file `fluxcap run` publishes for `fluxcap status`: JSON with the supervisor's pid, a
 * heartbeat, and each pipeline's state, pid and restarts. Where it is: `state:` in the configuration,
 * else `/run/fluxcap/<config name>-<hash of the config's real path>.json`.
 *
 * Written atomically (a temporary file created with `O_EXCL|O_NOFOLLOW`, then renamed over the old
 * one), so a reader sees a whole file and nothing is ever written through a symlink. Mode 0600, plus
 * the read bits every ring of the configuration grants (and their group, when they share one): the
 * state tells no more than the rings do, so whoever may read the rings may read the state, and
 * `fluxcap status` works for them without root.
 *
 * @module
 */
import { dirname } from "node:path";
import { C, close, cstr, errno, errnoText, fchmod, fchown, kill, open, write } from "../../ffi/mod.ts";
import type { Section } from "./options.ts";

/** Version of the file format. */
export const STATE_VERSION = 1;

/** What a pipeline is doing. */
export type PipelineStateName =
  /** started, not attached to its ring yet */
  | "starting"
  /** attached to its ring */
  | "running"
  /** exited; waiting to be started again */
  | "backoff"
  /** a capture-file replay that finished by itself */
  | "finished"
  /** being stopped (reload, shutdown) */
  | "stopping";

/** One pipeline in the state file. */
export interface PipelineState {
  section: Section;
  ring: string;
  argv: string[];
  state: PipelineStateName;
  /** Pid of its process (null while in back-off). */
  pid: number | null;
  /** When the current process was started (ms since the epoch). */
  startedAt: number | null;
  /** How often it was restarted after exiting by itself. */
  restarts: number;
  /** How the last process ended ("exit status 1", "signal SIGKILL"), and when. */
  lastExit?: string;
  lastExitAt?: number;
  /** When the next start is due (in back-off). */
  nextStartAt?: number;
}

/** The whole state file. */
export interface ServiceState {
  version: number;
  /** Pid of `fluxcap run`. */
  pid: number;
  /** The configuration file, absolute. */
  config: string;
  startedAt: number;
  /** Rewritten at least every few seconds: a heartbeat. */
  updatedAt: number;
  rings: { name: string; path: string; size: number }[];
  pipelines: Record<string, PipelineState>;
}

/** Read bits (and group) that every ring grants, for the state file's mode. */
function ringReaders(ringPaths: string[]): { mode: number; gid: number | null } {
  let bits = 0o044;
  let gid: number | null = null;
  let first = true;
  for (const p of ringPaths) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(p);
    } catch {
      return { mode: 0o600, gid: null };
    }
    bits &= (st.mode ?? 0) & 0o044;
    if (first) gid = st.gid;
    else if (gid !== st.gid) bits &= ~0o040;
    first = false;
  }
  if (first) return { mode: 0o600, gid: null };
  return { mode: 0o600 | bits, gid: (bits & 0o040) !== 0 ? gid : null };
}

/**
 * Writes `state` to `path` atomically (see the module doc). Throws an Error naming the file and the
 * reason when it cannot.
 */
export function writeState(path: string, state: ServiceState, ringPaths: string[]): void {
  const dir = dirname(path);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${dir}/.${path.split("/").pop()}.${Deno.pid}.tmp`;
  const fail = (why: string) => new Error(`Cannot write state file "${path}": ${why}`);
  const fd = open(cstr(tmp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_CLOEXEC, 0o600);
  if (fd < 0) {
    const e = errno();
    if (e === 17) { // EEXIST: ours, left by a crash of this pid; never someone else's file
      try {
        Deno.removeSync(tmp);
      } catch { /* raced */ }
    }
    throw fail(errnoText(e));
  }
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(state) + "\n");
    let off = 0;
    while (off < bytes.length) {
      const n = write(fd, bytes.subarray(off), bytes.length - off);
      if (n <= 0) throw fail(errnoText(errno()));
      off += n;
    }
    const { mode, gid } = ringReaders(ringPaths);
    if (gid !== null && fchown(fd, 0xffffffff, gid) !== 0) fchmod(fd, mode & ~0o040);
    else fchmod(fd, gid === null ? mode & ~0o040 : mode);
  } catch (e) {
    close(fd);
    try {
      Deno.removeSync(tmp);
    } catch { /* gone */ }
    throw e;
  }
  close(fd);
  try {
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* gone */ }
    throw fail(e instanceof Error ? e.message : String(e));
  }
}

/** Removes the state file (at shutdown). */
export function removeState(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* gone */ }
}

/** Reads the state file: the state, or why there is none (`no such file`, `permission denied`, …). */
export function readState(path: string): ServiceState | { error: string } {
  try {
    if (Deno.lstatSync(path).isSymlink) return { error: "is a symlink (not followed)" };
    const s = JSON.parse(Deno.readTextFileSync(path)) as ServiceState;
    if (
      s === null || typeof s !== "object" || s.version !== STATE_VERSION || typeof s.pipelines !== "object"
    ) {
      return { error: "not a fluxcap state file of this version" };
    }
    return s;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { error: "no such file" };
    if (e instanceof Deno.errors.PermissionDenied) return { error: "permission denied" };
    if (e instanceof SyntaxError) return { error: "not JSON (being written?)" };
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** True if a process with `pid` exists (`kill(pid, 0)`; EPERM means it exists but is not ours). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return kill(pid, 0) === 0 || errno() === 1;
}
