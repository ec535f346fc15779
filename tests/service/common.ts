/**
 * Helpers of the service tests: starting `fluxcap run`, reading its log lines and its state file, a
 * notification socket to listen on, and running fluxcap as an unprivileged user.
 * @module
 */
import { LabProcess } from "../lab.ts";
import { fluxcapCommand } from "../helpers.ts";
import { lineTime } from "../../lib/service/log.ts";
import type { ServiceState } from "../../lib/service/state.ts";

/** Starts `fluxcap run CONFIG` outside any lab (for pipelines that touch no NIC). */
export function startRun(
  config: string,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): LabProcess {
  const cmd = [...fluxcapCommand(), "run", config];
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: opts.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
  return new LabProcess(child, cmd, undefined, 120_000);
}

/** Log lines of a `fluxcap run` so far. */
export function lines(p: LabProcess): string[] {
  return p.stderr.split("\n").filter((l) => l !== "");
}

/** The logged lines matching `re`, with their time stamps (ms). */
export function logged(p: LabProcess, re: RegExp): { at: number; line: string }[] {
  return lines(p).filter((l) => re.test(l)).map((line) => ({ at: lineTime(line) ?? NaN, line }));
}

/** Waits until `re` matches `count` log lines (default 1). */
export async function waitLines(p: LabProcess, re: RegExp, count = 1, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (logged(p, re).length < count) {
    if (p.exited) throw new Error(`fluxcap run exited before ${count} lines matching ${re}:\n${p.stderr}`);
    if (Date.now() > end) {
      throw new Error(`Timed out waiting for ${count} lines matching ${re}:\n${p.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Reads the state file. */
export function readStateFile(path: string): ServiceState {
  return JSON.parse(Deno.readTextFileSync(path));
}

/** The pid of each pipeline, from the state file. */
export function pids(path: string): Record<string, number | null> {
  const s = readStateFile(path);
  return Object.fromEntries(Object.entries(s.pipelines).map(([k, v]) => [k, v.pid]));
}

/** Waits until every pipeline in the state file is running (attached to its ring). */
export async function allRunning(path: string, names: string[], timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = readStateFile(path);
      if (names.every((n) => s.pipelines[n]?.state === "running")) return;
      if (Date.now() > end) throw new Error(`not all running: ${JSON.stringify(s.pipelines)}`);
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True while a process with `pid` exists. */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie is gone for our purposes
  } catch {
    return false;
  }
}

const LISTENER = `
const path = Deno.args[0];
const sock = Deno.listenDatagram({ transport: "unixpacket", path });
console.log(JSON.stringify({ listening: path }));
const dec = new TextDecoder();
for (;;) {
  const [data] = await sock.receive();
  console.log(JSON.stringify({ at: Date.now(), msg: dec.decode(data) }));
}
`;

/**
 * A unix datagram socket at `path` that records what arrives (Deno's own `listenDatagram`, in a child
 * Deno with `--unstable-net`, so the receiving side is not fluxcap's FFI code).
 */
export class NotifyListener {
  readonly path: string;
  #proc: LabProcess;

  private constructor(path: string, proc: LabProcess) {
    this.path = path;
    this.#proc = proc;
  }

  static async start(dir: string): Promise<NotifyListener> {
    const script = `${dir}/listener.ts`;
    Deno.writeTextFileSync(script, LISTENER);
    const path = `${dir}/notify.sock`;
    const cmd = [Deno.execPath(), "run", "--unstable-net", "-A", script, path];
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    const p = new LabProcess(child, cmd, undefined, 120_000);
    await p.waitFor("listening", { stream: "stdout", timeoutMs: 20_000 });
    return new NotifyListener(path, p);
  }

  /** Messages so far, with their arrival times. */
  get messages(): { at: number; msg: string }[] {
    return this.#proc.stdout.split("\n").filter((l) => l.startsWith('{"at"')).map((l) => JSON.parse(l));
  }

  /** Waits until `count` messages match `re`. */
  async waitFor(re: RegExp, count = 1, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.messages.filter((m) => re.test(m.msg)).length < count) {
      if (Date.now() > end) {
        throw new Error(
          `Timed out waiting for ${count} notifications ${re}: ${JSON.stringify(this.messages)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    await this.#proc.stop("SIGKILL");
  }
}

/**
 * A command prefix that runs fluxcap as user nobody: `setpriv` to uid/gid 65534 without groups, with a
 * copy of the sources and of Deno's npm cache that nobody can read (root's cache is under /root). With
 * `FLUXCAP_BIN` the binary runs as is.
 */
export function nobodyCommand(dir: string): string[] {
  const drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  const bin = Deno.env.get("FLUXCAP_BIN");
  if (bin) return [...drop, bin];
  const root = new URL("../../", import.meta.url).pathname;
  const src = `${dir}/src`;
  const denoDir = `${dir}/deno`;
  Deno.mkdirSync(src, { recursive: true });
  for (const f of ["cli.ts", "deno.json", "deno.lock"]) Deno.copyFileSync(`${root}${f}`, `${src}/${f}`);
  copyTree(`${root}lib`, `${src}/lib`);
  copyTree(`${root}ffi`, `${src}/ffi`);
  const info = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  const cache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  copyTree(`${cache}/registry.npmjs.org/yaml`, `${denoDir}/npm/registry.npmjs.org/yaml`);
  for (const d of [dir, src, denoDir]) Deno.chmodSync(d, 0o755);
  new Deno.Command("chown", { args: ["-R", "65534:65534", denoDir] }).outputSync();
  new Deno.Command("chmod", { args: ["-R", "a+rX", src] }).outputSync();
  return [
    ...drop,
    "env",
    `DENO_DIR=${denoDir}`,
    `HOME=${dir}`,
    Deno.execPath(),
    "run",
    "-A",
    `${src}/cli.ts`,
  ];
}

function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    const a = `${from}/${e.name}`;
    if (e.isDirectory) copyTree(a, `${to}/${e.name}`);
    else if (e.isFile) Deno.copyFileSync(a, `${to}/${e.name}`);
  }
}
