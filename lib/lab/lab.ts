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
 * import { Lab, labAvailable, makeFrame } from "./mod.ts";
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
import { labAvailable, which } from "./available.ts";
import { Capture } from "./capture.ts";
import { checkCidr, checkMac, IF_NAME_RE, nextLabPrefix, NS_NAME_RE, randomMac } from "./names.ts";
import { writePcap } from "./pcap.ts";
import { LabProcess, runCommand, type RunOptions, type RunResult } from "./process.ts";
import { sweepStaleNamespaces } from "./sweep.ts";

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
    const prefix = nextLabPrefix(tag);
    const reason = await labAvailable(["ip"]);
    if (reason !== null) throw new Error(`Cannot create lab: ${reason}`);
    await sweepStaleNamespaces();
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
