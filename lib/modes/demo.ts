/**
 * `fluxcap demo`: the main job on a built-in default, for a first-time user with root and nothing else.
 *
 * It builds a lab of network namespaces joined by veth pairs:
 *
 * ```
 *   switch ──tap cisco──▶ fluxcap host ──out-a──▶ sensor A   (cisco, VLAN 100)
 *   switch ──tap dell───▶ fluxcap host ──out-b──▶ sensor B   (cisco, VLAN 100 + dell, VLAN 200)
 * ```
 *
 * creates rings on a tmpfs, runs capture (`-rx -V 100`, `-rx -V 200`), replication of the cisco tap to
 * both sensors and aggregation of both taps onto sensor B, shows the watch view (JSON lines when not
 * on a terminal) for about 15 seconds while the switch sends mixed traffic, then checks that every
 * sensor received every frame it should, prints a summary and tears everything down, also on Ctrl-C.
 *
 * The sensors capture with fluxcap itself (`-rx` into a ring each), so the demo needs nothing beyond
 * root and `ip` (iproute2).
 *
 * @module
 */
import type { DemoSettings } from "../settings/mod.ts";
import { FluxError } from "../errors.ts";
import { FrameGenerator, Lab, labAvailable, type LabProcess, mixedTraffic } from "../lab/mod.ts";
import { FramePipeline } from "../ops/mod.ts";
import { selfCommand } from "../service/program.ts";
import { createRing, RingReader, snapshotOf } from "../ring/mod.ts";

const FRAMES_PER_TAP = 20_000;
const PPS = 2_000;

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

/** Multiset difference: how many of `want` are missing from `got`, and how many of `got` are extra. */
function compare(got: Uint8Array[], want: Uint8Array[]): { missing: number; extra: number } {
  const counts = new Map<string, number>();
  for (const w of want) {
    const k = hex(w);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let extra = 0;
  for (const g of got) {
    const k = hex(g);
    const c = counts.get(k) ?? 0;
    if (c === 0) extra++;
    else counts.set(k, c - 1);
  }
  let missing = 0;
  for (const c of counts.values()) missing += c;
  return { missing, extra };
}

function readAll(path: string): Uint8Array[] {
  const r = RingReader.open(path, { fromOldest: true, desc: "demo check" });
  const out: Uint8Array[] = [];
  try {
    for (;;) {
      const n = r.poll();
      if (n === 0) break;
      const batch: Uint8Array[] = [];
      for (let i = 0; i < n; i++) batch.push(r.data.slice(r.offs[i], r.offs[i] + r.lens[i]));
      const bad = r.release();
      out.push(...batch.slice(bad));
    }
  } finally {
    r.close();
  }
  return out;
}

/** The hidden generator: `fluxcap demo generate IF COUNT PPS SEED TAP` (run inside the switch namespace). */
function generate(args: string[]): number {
  const [ifname, countText, ppsText, seedText, tapText] = args;
  const frames = mixedTraffic(Number(countText), Number(seedText), Number(tapText));
  const pps = Number(ppsText);
  using gen = new FrameGenerator(ifname);
  gen.load(frames);
  const ms = (frames.length / pps) * 1000 + 10_000;
  const r = gen.run({ pps, ms, count: frames.length, retryRefused: true });
  console.log(JSON.stringify({ sent: r.sent }));
  return r.sent === frames.length ? 0 : 1;
}

/** Runs the demo; resolves to 0 only if every sensor received every frame it should. */
export async function runDemo(a: DemoSettings, log: (s: string) => void): Promise<number> {
  if (a.words[0] === "generate") return generate(a.words.slice(1));
  const why = await labAvailable(["ip"]);
  if (why !== null) throw new FluxError(`Cannot run the demo: ${why} (it builds network namespaces)`);
  const seconds = a.seconds ?? 15;
  if (!(seconds >= 3 && seconds <= 3600)) throw new FluxError(`Invalid --seconds "${a.seconds}": 3..3600`);
  const perTap = Math.min(FRAMES_PER_TAP, Math.floor(PPS * (seconds - 3)));
  const self = selfCommand();
  const tty = Deno.stdout.isTerminal() && !a.json;

  const lab = await Lab.create("demo");
  const ringDir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "fluxcap-demo-" });
  let interrupted = false;
  const procs: LabProcess[] = [];
  const others: { kill(s: Deno.Signal): void }[] = [];
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log("interrupted: tearing the lab down");
    for (const p of procs) p.stop("SIGKILL", 0).catch(() => {});
    for (const o of others) {
      try {
        o.kill("SIGKILL");
      } catch { /* gone */ }
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    log(`fluxcap demo: building the lab (namespaces ${lab.prefix}-*) and rings in ${ringDir}`);
    const sw = await lab.ns("switch");
    const fx = await lab.ns("fluxcap");
    const sa = await lab.ns("sensora");
    const sb = await lab.ns("sensorb");
    await lab.veth({ ns: sw, name: "tap-cisco" }, { ns: fx, name: "cisco0" });
    await lab.veth({ ns: sw, name: "tap-dell" }, { ns: fx, name: "dell0" });
    await lab.veth({ ns: fx, name: "out-a" }, { ns: sa, name: "eth0" });
    await lab.veth({ ns: fx, name: "out-b" }, { ns: sb, name: "eth0" });
    const ring = (n: string) => `${ringDir}/${n}`;
    for (const n of ["cisco", "dell", "sensor-a", "sensor-b"]) createRing(ring(n), { size: 64 << 20 });

    const run = (ns: string, args: string[]) => {
      const p = lab.spawn(ns, [...self, ...args], { env: { NO_COLOR: "1" } });
      procs.push(p);
      return p;
    };
    // The sensors: capture what arrives into a ring each, to check it at the end.
    run(sa, ["-rx", "-i", "eth0", ring("sensor-a")]);
    run(sb, ["-rx", "-i", "eth0", ring("sensor-b")]);
    // The fluxcap host: capture both taps with a VLAN tag each, replicate cisco to both sensors,
    // aggregate dell onto sensor B.
    run(fx, ["-rx", "-i", "cisco0", "-V", "100", ring("cisco")]);
    run(fx, ["-rx", "-i", "dell0", "-V", "200", ring("dell")]);
    run(fx, ["-tx", "-i", "out-a", ring("cisco")]);
    run(fx, ["-tx", "-i", "out-b", ring("cisco")]);
    run(fx, ["-tx", "-i", "out-b", ring("dell")]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = ["cisco", "dell", "sensor-a", "sensor-b"].map((n) => snapshotOf(ring(n)));
      const ready = s.every((x) => x.writer?.alive) && s[0].readers.length === 2 && s[1].readers.length === 1;
      if (ready) break;
      const dead = procs.find((p) => p.exited);
      if (dead) {
        throw new FluxError(
          `Demo process "${dead.cmd.slice(-5).join(" ")}" ended early: ${dead.stderr.trim()}`,
        );
      }
      if (Date.now() > deadline || interrupted) throw new FluxError("Demo processes did not start in 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    log(`running: the switch sends ${perTap} frames on each tap at ${PPS}/s; watching for ${seconds} s`);
    // The watch view reads ring files only: it runs here, on this terminal (JSON lines when not a tty).
    const watch = new Deno.Command(self[0], {
      args: [
        ...self.slice(1),
        "-io",
        ...(tty ? [] : ["--json"]),
        "--seconds",
        String(seconds),
        ring("cisco"),
        ring("dell"),
      ],
      stdin: tty ? "inherit" : "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    others.push(watch);
    const gens = [
      lab.spawn(sw, [...self, "demo", "generate", "tap-cisco", String(perTap), String(PPS), "1", "1"]),
      lab.spawn(sw, [...self, "demo", "generate", "tap-dell", String(perTap), String(PPS), "2", "2"]),
    ];
    procs.push(...gens);
    const genResults = await Promise.all(gens.map((g) => g.done));
    await watch.status;
    if (interrupted) return 130;
    const sentPerTap = genResults.map((r) => {
      try {
        return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}").sent as number;
      } catch {
        return 0;
      }
    });
    // Let the last frames drain, then stop every fluxcap process (SIGINT: flush and detach).
    await new Promise((r) => setTimeout(r, 1500));
    const snaps = Object.fromEntries(
      ["cisco", "dell", "sensor-a", "sensor-b"].map((n) => [n, snapshotOf(ring(n))]),
    );
    for (const p of procs) if (!gens.includes(p)) await p.stop("SIGINT", 3000);
    procs.length = 0;

    const tag = (vid: number) => {
      const p = new FramePipeline({ vlan: vid }, "rx");
      return (f: Uint8Array) => {
        const out = new Uint8Array(f.length + 4);
        const n = p.applyRx(f, 0, f.length, out, 0);
        return out.slice(0, n);
      };
    };
    const cisco = mixedTraffic(perTap, 1, 1).map(tag(100));
    const dell = mixedTraffic(perTap, 2, 2).map(tag(200));
    const gotA = readAll(ring("sensor-a"));
    const gotB = readAll(ring("sensor-b"));
    const a1 = compare(gotA, cisco);
    const b1 = compare(gotB, [...cisco, ...dell]);

    const lines = [
      "",
      "fluxcap demo summary",
      `  frames sent by the switch: cisco tap ${sentPerTap[0]}, dell tap ${sentPerTap[1]}`,
      `  captured into rings: cisco ${snaps.cisco.frames} (kernel drops ${snaps.cisco.kernelDrops}), ` +
      `dell ${snaps.dell.frames} (kernel drops ${snaps.dell.kernelDrops})`,
    ];
    for (const [name, s] of [["cisco", snaps.cisco], ["dell", snaps.dell]] as const) {
      for (const r of s.readers) {
        const drops = Object.entries(r.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(
          ", ",
        );
        lines.push(
          `  ${name} → ${r.desc}: delivered ${r.framesSent}, lost to overwrite ${r.framesLost}` +
            (drops ? `, dropped: ${drops}` : ", dropped: none"),
        );
      }
    }
    lines.push(
      `  sensor A received ${gotA.length} frames: expected ${cisco.length} (cisco, VLAN 100), ` +
        `missing ${a1.missing}, unexpected ${a1.extra}`,
      `  sensor B received ${gotB.length} frames: expected ${cisco.length + dell.length} ` +
        `(cisco VLAN 100 + dell VLAN 200), missing ${b1.missing}, unexpected ${b1.extra}`,
    );
    const ok = a1.missing === 0 && a1.extra === 0 && b1.missing === 0 && b1.extra === 0 &&
      sentPerTap[0] === perTap && sentPerTap[1] === perTap;
    lines.push(ok ? "  check: PASSED, every sensor received every frame it should" : "  check: FAILED");
    for (const l of lines) console.log(l);
    return ok ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    for (const p of procs) await p.stop("SIGINT", 2000).catch(() => {});
    await lab.close().catch((e) => log(`teardown: ${e}`));
    await Deno.remove(ringDir, { recursive: true }).catch(() => {});
    log("lab torn down");
  }
}
