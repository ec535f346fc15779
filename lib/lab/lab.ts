/**
 * The network-namespace lab for integration tests: private namespaces joined by veth pairs, commands
 * and long-running processes inside them, `tcpdump` captures and `tcpreplay` injection, and a teardown
 * that always runs.
 *
 * Safety rules, enforced here rather than trusted to callers:
 * - Every interface is created directly inside a lab namespace (`ip -n NS link add … peer … netns NS2`);
 *   nothing is ever created, changed or deleted in the default namespace. Commands only run through
 *   `ip netns exec` in a namespace this lab created.
 * - Addresses must lie in 198.18.0.0/15 or 2001:db8::/32; MACs must be locally administered unicast.
 * - Namespace names carry a per-run prefix `fx<pid base 36>_<lab number><tag>`, so parallel runs do not
 *   collide; {@linkcode Lab.create} also sweeps namespaces left behind by dead fluxcap test processes.
 * - {@linkcode Lab.close} (also `await using`) kills every process, deletes every namespace and removes
 *   the temporary directory; it is idempotent and runs its steps even when earlier ones fail.
 *
 * @example
 * ```ts ignore
 * import { Lab, labAvailable, makeFrame } from "./lab.ts";
 * if ((await labAvailable(["ip", "tcpdump", "tcpreplay"])) === null) {
 *   await using lab = await Lab.create("demo");
 *   const a = await lab.ns("a"), b = await lab.ns("b");
 *   await lab.veth({ ns: a, name: "va" }, { ns: b, name: "vb" });
 *   const cap = await lab.tcpdump(b, "vb", { direction: "in" });
 *   await lab.sendFrames(a, "va", [makeFrame({ len: 60, seq: 1 })]);
 *   const got = await cap.stop();
 * }
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------------
// Availability

/** Where `name` is on PATH, or null. */
async function which(name: string): Promise<string | null> {
  const dirs = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const d of [...dirs, "/usr/sbin", "/sbin"]) {
    if (d === "") continue;
    try {
      const st = await Deno.stat(`${d}/${name}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return `${d}/${name}`;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Why the lab cannot run here, or null when it can: needs Linux, root, and each of `tools` on PATH.
 *
 * @example
 * ```ts ignore
 * const reason = await labAvailable(["ip", "tcpdump"]);
 * Deno.test({ name: "lab", ignore: reason !== null, fn: async () => {} });
 * if (reason) console.log(`lab tests skipped: ${reason}`);
 * ```
 */
export async function labAvailable(tools: string[] = ["ip"]): Promise<string | null> {
  if (Deno.build.os !== "linux") return `Network namespaces need Linux, not "${Deno.build.os}"`;
  const uid = Deno.uid();
  if (uid !== 0) return `Network namespaces need root: running as uid "${uid}"`;
  for (const t of tools) {
    if ((await which(t)) === null) return `Cannot find "${t}" on PATH`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Validation of names and addresses

const NS_NAME_RE = /^[a-z0-9]{1,8}$/;
const IF_NAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function checkMac(mac: string): string {
  if (!MAC_RE.test(mac)) throw new Error(`Invalid MAC address "${mac}"`);
  const first = parseInt(mac.slice(0, 2), 16);
  if ((first & 0x02) === 0 || (first & 0x01) !== 0) {
    throw new Error(`MAC address "${mac}" is not locally administered unicast: use 02:…`);
  }
  return mac.toLowerCase();
}

/** Checks a CIDR lies in 198.18.0.0/15 (IPv4) or 2001:db8::/32 (IPv6); returns its family. */
function checkCidr(cidr: string): 4 | 6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (m === null) throw new Error(`Invalid address "${cidr}": expected a CIDR like 198.18.0.1/24`);
  const [, addr, plen] = m;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (v4 !== null) {
    const o = v4.slice(1).map(Number);
    if (o.some((x) => x > 255) || Number(plen) > 32) throw new Error(`Invalid IPv4 address "${cidr}"`);
    if (o[0] !== 198 || (o[1] !== 18 && o[1] !== 19)) {
      throw new Error(`Address "${cidr}" is outside the lab range 198.18.0.0/15`);
    }
    return 4;
  }
  if (addr.includes(":")) {
    if (Number(plen) > 128 || !/^[0-9a-f:]+$/i.test(addr)) throw new Error(`Invalid IPv6 address "${cidr}"`);
    if (!/^2001:0{0,2}db8:/i.test(addr)) {
      throw new Error(`Address "${cidr}" is outside the lab range 2001:db8::/32`);
    }
    return 6;
  }
  throw new Error(`Invalid address "${cidr}"`);
}

// ---------------------------------------------------------------------------------------------------
// Processes

/** Outcome of a finished command. */
export interface RunResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode Lab.run} and {@linkcode Lab.spawn}. */
export interface RunOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s for `run`, none for `spawn`. */
  timeoutMs?: number;
  /** Bytes fed to stdin (stdin is closed afterwards). */
  stdin?: Uint8Array;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: (s: string) => void): Promise<void> {
  const dec = new TextDecoder();
  for await (const chunk of stream) sink(dec.decode(chunk, { stream: true }));
  sink(dec.decode());
}

/** A long-running child inside a lab namespace; output is collected as it arrives. */
export class LabProcess {
  /** Process id (of the command itself: `ip netns exec` execs it). */
  readonly pid: number;
  /** The command line. */
  readonly cmd: readonly string[];
  /** Resolves when the process has exited and its output is fully read. */
  readonly done: Promise<RunResult>;
  #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #waiters = new Set<() => void>();

  /** @internal Use {@linkcode Lab.spawn}. */
  constructor(child: Deno.ChildProcess, cmd: string[], stdin?: Uint8Array, timeoutMs?: number) {
    this.#child = child;
    this.pid = child.pid;
    this.cmd = cmd;
    const wake = () => {
      for (const w of this.#waiters) w();
    };
    const out = collect(child.stdout, (s) => {
      this.#stdout += s;
      wake();
    });
    const err = collect(child.stderr, (s) => {
      this.#stderr += s;
      wake();
    });
    const input = (async () => {
      const w = child.stdin.getWriter();
      try {
        if (stdin !== undefined) await w.write(stdin);
        await w.close();
      } catch {
        // the child may exit without reading
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) timer = setTimeout(() => this.#kill("SIGKILL"), timeoutMs);
    this.done = (async () => {
      const st = await child.status;
      if (timer !== undefined) clearTimeout(timer);
      await Promise.all([out, err, input]);
      this.#exited = true;
      wake();
      return { code: st.code, signal: st.signal, stdout: this.#stdout, stderr: this.#stderr };
    })();
  }

  /** Output so far. */
  get stdout(): string {
    return this.#stdout;
  }
  /** Error output so far. */
  get stderr(): string {
    return this.#stderr;
  }
  /** True once the process has exited and its output was read. */
  get exited(): boolean {
    return this.#exited;
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  /**
   * Waits until `pattern` appears in the chosen output; rejects when the process exits first or after
   * `timeoutMs` (default 5 s), quoting its output.
   */
  waitFor(
    pattern: RegExp | string,
    opts: { stream?: "stdout" | "stderr"; timeoutMs?: number } = {},
  ): Promise<void> {
    const { stream = "stderr", timeoutMs = 5000 } = opts;
    const test = () => {
      const text = stream === "stdout" ? this.#stdout : this.#stderr;
      return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    };
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (test()) finish();
        else if (this.#exited) {
          finish(
            new Error(
              `Process "${this.cmd.join(" ")}" exited before printing ${pattern}: ${this.#stderr.trim()}`,
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern} from "${this.cmd.join(" ")}"`),
          ),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Sends `signal` (default SIGTERM), waits for the exit, and sends SIGKILL if it has not exited after
   * `graceMs` (default 3 s). Safe to call after the process exited.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 3000): Promise<RunResult> {
    if (!this.#exited) this.#kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((r) => timer = setTimeout(r, graceMs));
    const first = await Promise.race([this.done, grace]);
    clearTimeout(timer);
    if (first === undefined) this.#kill("SIGKILL");
    return await this.done;
  }
}

// ---------------------------------------------------------------------------------------------------
// Pcap (classic format) for injection and assertions

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_HDR_LEN = 24;
const PCAP_REC_LEN = 16;
/** Largest record accepted when reading (tcpdump's default snap length). */
const PCAP_MAX_REC = 262144;

/** One pcap record. */
export interface PcapRecord {
  /** Seconds of the timestamp. */
  sec: number;
  /** Sub-second part in nanoseconds (converted from microseconds for µs files). */
  nsec: number;
  /** Length on the wire. */
  origLen: number;
  /** Captured bytes. */
  data: Uint8Array;
}

/**
 * Writes frames as a classic pcap file (microsecond magic, little-endian, LINKTYPE_ETHERNET),
 * timestamps 1 µs apart.
 */
export function writePcap(
  frames: Uint8Array[],
  opts: { linktype?: number; snaplen?: number } = {},
): Uint8Array {
  const total = PCAP_HDR_LEN + frames.reduce((n, f) => n + PCAP_REC_LEN + f.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, PCAP_MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, opts.snaplen ?? PCAP_MAX_REC, true);
  dv.setUint32(20, opts.linktype ?? 1, true);
  let o = PCAP_HDR_LEN;
  frames.forEach((f, i) => {
    dv.setUint32(o, 1_700_000_000 + Math.floor(i / 1e6), true);
    dv.setUint32(o + 4, i % 1e6, true);
    dv.setUint32(o + 8, f.length, true);
    dv.setUint32(o + 12, f.length, true);
    out.set(f, o + PCAP_REC_LEN);
    o += PCAP_REC_LEN + f.length;
  });
  return out;
}

/**
 * Reads a classic pcap file (µs or ns magic, either byte order). Throws on a bad magic, a truncated
 * header or record, or a record longer than 256 KiB. With `partial`, a truncated last record (a file
 * still being written) ends the list instead of throwing.
 */
export function readPcap(bytes: Uint8Array, opts: { partial?: boolean } = {}): {
  linktype: number;
  records: PcapRecord[];
} {
  if (bytes.length < PCAP_HDR_LEN) {
    throw new Error(`Cannot read pcap: ${bytes.length} bytes is shorter than a header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = dv.getUint32(0, true);
  const magicBe = dv.getUint32(0, false);
  let le: boolean;
  let nano: boolean;
  if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
    le = true;
    nano = magicLe === PCAP_MAGIC_NS;
  } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
    le = false;
    nano = magicBe === PCAP_MAGIC_NS;
  } else {
    throw new Error(`Cannot read pcap: bad magic "0x${magicBe.toString(16)}"`);
  }
  const linktype = dv.getUint32(20, le) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let o = PCAP_HDR_LEN;
  while (o < bytes.length) {
    if (o + PCAP_REC_LEN > bytes.length) {
      if (opts.partial) break;
      throw new Error(`Cannot read pcap: truncated record header at offset ${o}`);
    }
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const incl = dv.getUint32(o + 8, le);
    const orig = dv.getUint32(o + 12, le);
    if (incl > PCAP_MAX_REC) {
      throw new Error(`Cannot read pcap: record at offset ${o} claims "${incl}" bytes`);
    }
    if (!nano && frac >= 1e6) throw new Error(`Cannot read pcap: bad microseconds "${frac}" at offset ${o}`);
    if (o + PCAP_REC_LEN + incl > bytes.length) {
      if (opts.partial) break;
      throw new Error(`Cannot read pcap: truncated record at offset ${o}`);
    }
    records.push({
      sec,
      nsec: nano ? frac : frac * 1000,
      origLen: orig,
      data: bytes.slice(o + PCAP_REC_LEN, o + PCAP_REC_LEN + incl),
    });
    o += PCAP_REC_LEN + incl;
  }
  return { linktype, records };
}

/** The captured bytes of every record of a classic pcap file; see {@linkcode readPcap}. */
export function readPcapFrames(bytes: Uint8Array): Uint8Array[] {
  return readPcap(bytes).records.map((r) => r.data);
}

// ---------------------------------------------------------------------------------------------------
// Test frames

/** A VLAN tag for {@linkcode makeFrame}. */
export interface VlanSpec {
  /** 0x8100, 0x88a8, 0x9100… */
  tpid: number;
  /** 0..4095 */
  vid: number;
  /** 0..7 */
  pcp?: number;
}

/** EtherType of test frames (IEEE local experimental 1). */
export const TEST_ETHERTYPE = 0x88b5;
const TEST_MAGIC = 0x46584c42; // "FXLB"
const TEST_HDR = 16; // magic, seq, len, tags, reserved, checksum

function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

function macBytes(mac: string): number[] {
  if (!MAC_RE.test(mac)) throw new Error(`Invalid MAC address "${mac}"`);
  return mac.split(":").map((x) => parseInt(x, 16));
}

/**
 * A deterministic test frame of exactly `len` bytes (60..65535): MACs (default 02:66:78:00:00:02 ←
 * 02:66:78:00:00:01), the given tags (outermost first), EtherType 0x88b5, then "FXLB", seq (u32),
 * len (u16), tag count (u8), 0, an FNV-1a checksum (u32) of the rest, and a seq-dependent pattern;
 * see {@linkcode parseTestFrame}.
 */
export function makeFrame(opts: {
  len: number;
  seq: number;
  vlan?: VlanSpec | VlanSpec[];
  src?: string;
  dst?: string;
}): Uint8Array {
  const tags = opts.vlan === undefined ? [] : Array.isArray(opts.vlan) ? opts.vlan : [opts.vlan];
  const min = Math.max(60, 14 + 4 * tags.length + TEST_HDR);
  if (!Number.isInteger(opts.len) || opts.len < min || opts.len > 65535) {
    throw new RangeError(`Frame length "${opts.len}" is out of range ${min}..65535`);
  }
  const f = new Uint8Array(opts.len);
  const dv = new DataView(f.buffer);
  f.set(macBytes(opts.dst ?? "02:66:78:00:00:02"), 0);
  f.set(macBytes(opts.src ?? "02:66:78:00:00:01"), 6);
  let o = 12;
  for (const t of tags) {
    dv.setUint16(o, t.tpid);
    dv.setUint16(o + 2, ((t.pcp ?? 0) << 13) | (t.vid & 0x0fff));
    o += 4;
  }
  dv.setUint16(o, TEST_ETHERTYPE);
  o += 2;
  const p = o;
  dv.setUint32(p, TEST_MAGIC);
  dv.setUint32(p + 4, opts.seq >>> 0);
  dv.setUint16(p + 8, opts.len);
  f[p + 10] = tags.length;
  for (let i = p + TEST_HDR; i < opts.len; i++) f[i] = (opts.seq * 31 + (i - p) * 7) & 0xff;
  dv.setUint32(p + 12, fnv1a(f, p + TEST_HDR, opts.len));
  return f;
}

/**
 * Finds a {@linkcode makeFrame} payload in `frame` behind any tag stack (tags may have been added or
 * removed since) and checks its checksum; null when there is none or it is damaged or truncated.
 * `len` and `tags` are the values the frame was made with.
 */
export function parseTestFrame(frame: Uint8Array): { seq: number; len: number; tags: number } | null {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let o = 12; o + 2 + TEST_HDR <= frame.length && o <= 12 + 4 * 8; o += 4) {
    if (dv.getUint16(o) !== TEST_ETHERTYPE) continue;
    const p = o + 2;
    if (dv.getUint32(p) !== TEST_MAGIC) continue;
    const len = dv.getUint16(p + 8);
    const tags = frame[p + 10];
    const end = p + len - (14 + 4 * tags); // the payload keeps its length when tags are added or removed
    if (end < p + TEST_HDR || end > frame.length) return null;
    if (dv.getUint32(p + 12) !== fnv1a(frame, p + TEST_HDR, end)) return null;
    return { seq: dv.getUint32(p + 4), len, tags };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Captures

/** A running `tcpdump` inside a lab namespace, writing a pcap file. */
export class Capture {
  /** The pcap file being written. */
  readonly file: string;
  /** The tcpdump process. */
  readonly process: LabProcess;

  /** @internal Use {@linkcode Lab.tcpdump}. */
  constructor(file: string, process: LabProcess) {
    this.file = file;
    this.process = process;
  }

  /** Frames captured so far (`-U` writes each packet as it arrives; a half-written record is left out). */
  async frames(): Promise<Uint8Array[]> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.file);
    } catch {
      return [];
    }
    if (bytes.length < PCAP_HDR_LEN) return [];
    return readPcap(bytes, { partial: true }).records.map((r) => r.data);
  }

  /** Waits until at least `n` frames were captured (polling every 20 ms); returns what arrived by then. */
  async waitForFrames(n: number, timeoutMs = 5000): Promise<Uint8Array[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.frames();
      if (got.length >= n || Date.now() >= end || this.process.exited) return got;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops tcpdump (SIGINT, so it flushes and closes the file) and returns every captured frame. */
  async stop(): Promise<Uint8Array[]> {
    const res = await this.process.stop("SIGINT");
    try {
      return readPcapFrames(await Deno.readFile(this.file));
    } catch (e) {
      throw new Error(
        `Cannot read capture "${this.file}": ${(e as Error).message}; tcpdump said: ${res.stderr.trim()}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The lab

/** One end of a veth pair. */
export interface VethEnd {
  /** Namespace, as returned by {@linkcode Lab.ns}. */
  ns: string;
  /** Interface name (≤ 15 characters; it lives only inside `ns`, so it needs no run prefix). */
  name: string;
  /** Locally administered unicast MAC; random 02:… when absent. */
  mac?: string;
  /** Address(es) in CIDR form, inside 198.18.0.0/15 or 2001:db8::/32. */
  ip?: string | string[];
  /** MTU (default: the kernel's 1500). */
  mtu?: number;
}

let labCounter = 0;

/** A set of private network namespaces with everything needed to test fluxcap inside them. */
export class Lab implements AsyncDisposable {
  /** Per-run name prefix of every namespace of this lab. */
  readonly prefix: string;
  /** Temporary directory for pcap files and the like; removed on close. */
  readonly dir: string;
  #namespaces: string[] = [];
  #procs = new Set<LabProcess>();
  #closing: Promise<void> | null = null;
  #tmpCount = 0;

  private constructor(prefix: string, dir: string) {
    this.prefix = prefix;
    this.dir = dir;
  }

  /**
   * Creates a lab. Throws a clear error when not root or `ip` is missing. Also deletes namespaces left
   * behind by fluxcap test processes that no longer exist.
   *
   * @param tag up to 6 lowercase letters/digits added to the prefix, to recognize a test's namespaces.
   */
  static async create(tag = ""): Promise<Lab> {
    if (!/^[a-z0-9]{0,6}$/.test(tag)) throw new Error(`Invalid lab tag "${tag}": use up to 6 of a-z, 0-9`);
    const reason = await labAvailable(["ip"]);
    if (reason !== null) throw new Error(`Cannot create lab: ${reason}`);
    await sweepStaleNamespaces();
    const prefix = `fx${Deno.pid.toString(36)}_${(labCounter++).toString(36)}${tag}`;
    const dir = await Deno.makeTempDir({ prefix: `fluxcap-lab-${prefix}-` });
    return new Lab(prefix, dir);
  }

  /** Namespaces created so far (full names). */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  #own(ns: string): string {
    if (!this.#namespaces.includes(ns)) {
      throw new Error(`Namespace "${ns}" does not belong to lab "${this.prefix}"`);
    }
    return ns;
  }

  #live(): void {
    if (this.#closing !== null) throw new Error(`Lab "${this.prefix}" is closed`);
  }

  /** Runs a command in the default namespace (only `ip netns …` / `ip -n <ours> …` are used). */
  async #host(cmd: string[], timeoutMs = 10_000): Promise<string> {
    const res = await runCommand(cmd, { timeoutMs });
    if (res.code !== 0) {
      throw new Error(`Command "${cmd.join(" ")}" failed (${res.code}): ${res.stderr.trim()}`);
    }
    return res.stdout;
  }

  /** Runs a command in `ns` and throws on failure. */
  async #must(ns: string, cmd: string[]): Promise<string> {
    const res = await this.run(ns, cmd, { timeoutMs: 10_000 });
    if (res.code !== 0) {
      throw new Error(`Command "${cmd.join(" ")}" failed in "${ns}" (${res.code}): ${res.stderr.trim()}`);
    }
    return res.stdout;
  }

  /**
   * Creates namespace `${prefix}-${name}` (name: 1..8 of a-z, 0-9), brings `lo` up and disables IPv6
   * (no router solicitations, no DAD noise) until {@linkcode veth} asks for an IPv6 address.
   *
   * @returns the full namespace name.
   */
  async ns(name: string): Promise<string> {
    this.#live();
    if (!NS_NAME_RE.test(name)) throw new Error(`Invalid namespace name "${name}": use 1..8 of a-z, 0-9`);
    const full = `${this.prefix}-${name}`;
    if (this.#namespaces.includes(full)) throw new Error(`Namespace "${full}" already exists in this lab`);
    await this.#host(["ip", "netns", "add", full]);
    this.#namespaces.push(full);
    await this.#must(full, ["ip", "link", "set", "dev", "lo", "up"]);
    for (const k of ["all", "default"]) {
      await this.#must(full, ["sysctl", "-q", "-w", `net.ipv6.conf.${k}.disable_ipv6=1`]);
    }
    return full;
  }

  /**
   * Creates a veth pair between two lab namespaces (directly inside them), sets MACs, MTU and
   * addresses, turns offloads off with `ethtool` when present (gro, gso, tso, tx checksum, and the
   * rx/tx VLAN offloads unless `vlanOffload`), and brings both ends up.
   */
  async veth(a: VethEnd, b: VethEnd, opts: { vlanOffload?: boolean } = {}): Promise<void> {
    this.#live();
    for (const e of [a, b]) {
      this.#own(e.ns);
      if (!IF_NAME_RE.test(e.name) || e.name === "lo") {
        throw new Error(`Invalid interface name "${e.name}": 1..15 of A-Z, a-z, 0-9, _ . -`);
      }
      if (e.mtu !== undefined && !(Number.isInteger(e.mtu) && e.mtu >= 68 && e.mtu <= 65535)) {
        throw new Error(`MTU "${e.mtu}" is out of range 68..65535`);
      }
      for (const ip of [e.ip ?? []].flat()) checkCidr(ip);
    }
    if (a.ns === b.ns && a.name === b.name) throw new Error(`Both veth ends are "${a.name}" in "${a.ns}"`);
    const end = (e: VethEnd) => {
      const mac = checkMac(e.mac ?? randomMac());
      return ["name", e.name, "address", mac, ...(e.mtu !== undefined ? ["mtu", String(e.mtu)] : [])];
    };
    await this.#host([
      "ip",
      "-n",
      a.ns,
      "link",
      "add",
      ...end(a),
      "type",
      "veth",
      "peer",
      ...end(b),
      "netns",
      b.ns,
    ]);
    const ethtool = await which("ethtool");
    for (const e of [a, b]) {
      const ips = [e.ip ?? []].flat();
      if (ips.some((ip) => checkCidr(ip) === 6)) {
        for (
          const [k, v] of [["accept_dad", 0], ["router_solicitations", 0], ["accept_ra", 0], [
            "disable_ipv6",
            0,
          ]]
        ) {
          await this.#must(e.ns, ["sysctl", "-q", "-w", `net.ipv6.conf.${e.name}.${k}=${v}`]);
        }
      }
      if (ethtool !== null) {
        const features = ["gro", "gso", "tso", "tx", "rx"];
        if (!opts.vlanOffload) {
          features.push("rxvlan", "txvlan", "tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse");
        }
        for (const f of features) {
          // one feature at a time: a fixed feature must not keep the others on
          await this.run(e.ns, [ethtool, "-K", e.name, f, "off"], { timeoutMs: 5000 });
        }
      }
      await this.#must(e.ns, ["ip", "link", "set", "dev", e.name, "up"]);
      for (const ip of ips) {
        const extra = checkCidr(ip) === 6 ? ["nodad"] : [];
        await this.#must(e.ns, ["ip", "addr", "add", ip, "dev", e.name, ...extra]);
      }
    }
    for (const e of [a, b]) await this.#waitLowerUp(e.ns, e.name);
  }

  async #waitLowerUp(ns: string, ifname: string): Promise<void> {
    const end = Date.now() + 5000;
    for (;;) {
      const out = await this.#must(ns, ["ip", "-o", "link", "show", "dev", ifname]);
      if (/[<,]LOWER_UP[,>]/.test(out)) return;
      if (Date.now() > end) {
        throw new Error(`Interface "${ifname}" in "${ns}" did not come up: ${out.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Runs `cmd` inside `ns` (`ip netns exec`) to completion, killing it after `timeoutMs` (default 30 s).
   * Never throws for a non-zero exit; check `code`.
   */
  async run(ns: string, cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.#own(ns);
    return await runCommand(["ip", "netns", "exec", ns, ...cmd], { timeoutMs: 30_000, ...opts });
  }

  /** Starts a long-running `cmd` inside `ns`. It is killed on {@linkcode close} if still running. */
  spawn(ns: string, cmd: string[], opts: RunOptions = {}): LabProcess {
    this.#live();
    this.#own(ns);
    const full = ["ip", "netns", "exec", ns, ...cmd];
    const child = new Deno.Command(full[0], {
      args: full.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    }).spawn();
    const p = new LabProcess(child, cmd, opts.stdin, opts.timeoutMs);
    this.#procs.add(p);
    return p;
  }

  /** A fresh path in the lab's temporary directory. */
  tempPath(suffix = ""): string {
    return `${this.dir}/f${this.#tmpCount++}${suffix}`;
  }

  /**
   * Starts `tcpdump -i IF -w FILE -U -n --immediate-mode -Z root` inside `ns` (`-Q in|out` with
   * `direction`) and returns once it is really listening (its "listening on" line).
   */
  async tcpdump(
    ns: string,
    ifname: string,
    opts: { file?: string; filter?: string; direction?: "in" | "out" | "inout"; snaplen?: number } = {},
  ): Promise<Capture> {
    const file = opts.file ?? this.tempPath(".pcap");
    const cmd = [
      "tcpdump",
      "-i",
      ifname,
      "-w",
      file,
      "-U",
      "-n",
      "--immediate-mode",
      "-Z",
      "root",
      "-B",
      "32768",
    ];
    if (opts.direction) cmd.push("-Q", opts.direction);
    if (opts.snaplen !== undefined) cmd.push("-s", String(opts.snaplen));
    if (opts.filter) cmd.push(opts.filter);
    const p = this.spawn(ns, cmd);
    try {
      await p.waitFor(/listening on/, { timeoutMs: 10_000 });
    } catch (e) {
      await p.stop("SIGKILL");
      throw e;
    }
    return new Capture(file, p);
  }

  /**
   * Injects raw Ethernet frames on `ifname` inside `ns` with `tcpreplay` (from a classic pcap written
   * here): at top speed, or at `ratePps` frames a second. Throws unless every frame was sent.
   */
  async sendFrames(
    ns: string,
    ifname: string,
    frames: Uint8Array[],
    opts: { ratePps?: number } = {},
  ): Promise<void> {
    this.#live();
    if (frames.length === 0) return;
    const file = this.tempPath(".pcap");
    await Deno.writeFile(file, writePcap(frames));
    const rate = opts.ratePps !== undefined ? [`--pps=${opts.ratePps}`] : ["-t"];
    const timeoutMs = 30_000 + (opts.ratePps ? (frames.length / opts.ratePps) * 1000 : 0);
    const res = await this.run(ns, ["tcpreplay", "-q", "-i", ifname, ...rate, file], { timeoutMs });
    const sent = /Successful packets:\s+(\d+)/.exec(res.stdout);
    if (res.code !== 0 || sent === null || Number(sent[1]) !== frames.length) {
      throw new Error(
        `Cannot send ${frames.length} frames on "${ifname}" in "${ns}" (tcpreplay exit ${res.code}): ` +
          `${res.stdout.trim()} ${res.stderr.trim()}`,
      );
    }
  }

  /**
   * Kills every spawned process (SIGTERM, then SIGKILL after 1 s) and any other process left in the
   * lab's namespaces, deletes the namespaces and the temporary directory. Idempotent; runs every step
   * and then throws an AggregateError if any failed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all([...this.#procs].map((p) => p.stop("SIGTERM", 1000).catch((e) => errors.push(e))));
    for (const ns of [...this.#namespaces].reverse()) {
      try {
        const pids = await runCommand(["ip", "netns", "pids", ns], { timeoutMs: 5000 });
        for (const pid of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
          try {
            Deno.kill(Number(pid), "SIGKILL");
          } catch {
            // gone
          }
        }
        const del = await runCommand(["ip", "netns", "del", ns], { timeoutMs: 10_000 });
        if (del.code !== 0 && !/No such file/.test(del.stderr)) {
          errors.push(new Error(`Cannot delete namespace "${ns}": ${del.stderr.trim()}`));
        }
      } catch (e) {
        errors.push(e);
      }
    }
    this.#namespaces = [];
    try {
      await Deno.remove(this.dir, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) errors.push(e);
    }
    if (errors.length > 0) throw new AggregateError(errors, `Lab "${this.prefix}" did not close cleanly`);
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Runs a command to completion with a SIGKILL timeout. */
async function runCommand(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    try {
      await w.write(opts.stdin);
      await w.close();
    } catch {
      // the child may exit without reading
    }
  }
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  const stderr = dec.decode(out.stderr) + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : "");
  return { code: out.code, signal: out.signal, stdout: dec.decode(out.stdout), stderr };
}

/**
 * Deletes lab namespaces (`fx<pid36>_…`) whose creating process no longer exists. Never touches a
 * namespace of a live process or one not named by this lab.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const list = await runCommand(["ip", "netns", "list"], { timeoutMs: 5000 });
  const removed: string[] = [];
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0];
    const m = /^fx([0-9a-z]+)_[0-9a-z]+-[a-z0-9]+$/.exec(name);
    if (m === null) continue;
    const pid = parseInt(m[1], 36);
    if (pid === Deno.pid) continue;
    try {
      await Deno.stat(`/proc/${pid}`);
      continue; // alive
    } catch {
      // dead: remove
    }
    const del = await runCommand(["ip", "netns", "del", name], { timeoutMs: 5000 });
    if (del.code === 0) removed.push(name);
  }
  return removed;
}
