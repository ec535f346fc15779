/**
 * The metrics endpoint under attack must never take the capture down: a `-rx` capturing in a lab
 * namespace with `--metrics`, its descriptors limited to 1024, takes 2,000 held connections and a
 * 500-connection slowloris while frames arrive. Every frame is still captured, the process lives, its
 * descriptors stay bounded, the slowloris is cut off, and scrapes are answered during and after.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { Lab, labAvailable, type LabProcess, makeFrame } from "../lab.ts";
import { fluxcapCommand } from "../helpers.ts";
import { createRing, snapshotOf } from "../../lib/ring/mod.ts";
import type { AttackReport } from "./attack.ts";
import { parsePromText, promtoolCheck, valueOf } from "./promtext.ts";
import { HTTP_LIMITS } from "../../lib/watch/http.ts";

const ATTACK = new URL("./attack.ts", import.meta.url).pathname;
const reason = await labAvailable(["ip", "tcpreplay"]);
if (reason) console.log(`metrics attack test skipped: ${reason}`);

const PORT = 9086;
const FD_LIMIT = 1024;
const HELD = 2000;
const SLOW = 500;
const ATTACK_SECONDS = 12;
const FRAMES = 10_000;

/** `cmd` with its soft and hard descriptor limits set to `n` (root may raise them). */
const limited = (n: number, cmd: string[]) => ["sh", "-c", `ulimit -n ${n} && exec "$@"`, "limited", ...cmd];

function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

Deno.test({
  name:
    "metrics: 2,000 held connections and a 500-connection slowloris against -rx --metrics (fd limit 1024): every frame captured, process alive, scrapes answered",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("mattk");
    let rx: LabProcess | undefined;
    try {
      const gen = await lab.ns("gen");
      const fx = await lab.ns("fx");
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
      const ring = `${lab.dir}/cisco`;
      createRing(ring, { size: 32 << 20 });
      rx = lab.spawn(
        fx,
        limited(FD_LIMIT, [...fluxcapCommand(), "-rx", "-i", "in0", "--metrics", `127.0.0.1:${PORT}`, ring]),
        { env: { NO_COLOR: "1" } },
      );
      const deadline = Date.now() + 20_000;
      while (!snapshotOf(ring).writer?.alive) {
        assert(!rx.exited, `-rx exited: ${rx.stderr}`);
        assert(Date.now() < deadline, "-rx attached to its ring");
        await new Promise((r) => setTimeout(r, 50));
      }
      const limits = Deno.readTextFileSync(`/proc/${rx.pid}/limits`);
      assert(
        new RegExp(`^Max open files\\s+${FD_LIMIT}\\s`, "m").test(limits),
        `-rx runs with ${FD_LIMIT} descriptors:\n${limits}`,
      );
      assert(HELD + SLOW > FD_LIMIT, "the attack needs more connections than the process has descriptors");

      const scrape = async () => {
        const code = `const r = await fetch("http://127.0.0.1:${PORT}/metrics");` +
          `if (r.status !== 200) throw new Error("status " + r.status); console.log(await r.text());`;
        const res = await lab.run(fx, [Deno.execPath(), "eval", code], { timeoutMs: 20_000 });
        assertEquals(res.code, 0, `scrape: ${res.stderr}`);
        return parsePromText(res.stdout);
      };
      const first = await scrape();
      assertEquals(valueOf(first, "fluxcap_ring_up", { ring }), 1);
      const baseFds = openFds(rx.pid);

      const attack = lab.spawn(
        fx,
        limited(16_384, [
          Deno.execPath(),
          "run",
          "-A",
          ATTACK,
          String(PORT),
          String(HELD),
          String(SLOW),
          "" + ATTACK_SECONDS,
        ]),
        { timeoutMs: (ATTACK_SECONDS + 20) * 1000 },
      );
      let maxFds = baseFds;
      const sampling = (async () => {
        while (!attack.exited && !rx!.exited) {
          try {
            maxFds = Math.max(maxFds, openFds(rx!.pid));
          } catch { /* exited */ }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      // Frames arrive while the connections pile up: 10,000 at 2,000 a second.
      await new Promise((r) => setTimeout(r, 1500));
      const frames = Array.from({ length: FRAMES }, (_, i) => makeFrame({ len: 60 + (i % 1400), seq: i }));
      await lab.sendFrames(gen, "g0", frames, { ratePps: 2000 });
      // Answered during the attack (the slowloris and held connections are still open on the client side).
      assert(!attack.exited, "the attack still runs while scraping");
      const during = await scrape();
      assertEquals(valueOf(during, "fluxcap_ring_up", { ring }), 1);

      const done = await attack.done;
      await sampling;
      assertEquals(done.code, 0, `attack client: ${done.stderr}`);
      const report: AttackReport = JSON.parse(done.stdout.trim().split("\n").pop()!);
      console.log(`attack: ${JSON.stringify(report)}; -rx descriptors ${baseFds} before, at most ${maxFds}`);

      assert(!rx.exited, `-rx still runs: ${rx.stderr}`);
      assert(!/Uncaught|error: /i.test(rx.stderr), `nothing thrown on -rx's side: ${rx.stderr}`);
      assertEquals(report.heldOpened + report.slowOpened + report.connectFailed, HELD + SLOW);
      assert(
        report.heldOpened + report.slowOpened > FD_LIMIT,
        `more connections than descriptors: ${JSON.stringify(report)}`,
      );
      // 64 connections open, at most as many more being released: 2 × HTTP_LIMITS.maxConnections (and 4
      // for the runtime's own passing needs, e.g. a file it reads).
      const bound = 2 * HTTP_LIMITS.maxConnections + 4;
      assert(
        maxFds <= baseFds + bound,
        `descriptors bounded: ${baseFds} → ${maxFds}, more than ${bound} added`,
      );
      assertEquals(report.slowAnswered, 0, "an unfinished request is never answered");
      assertEquals(report.slowClosed, report.slowOpened, "every slowloris connection was cut off");
      assertEquals(
        report.heldClosed,
        report.heldOpened,
        "every held connection was closed (limit or timeout)",
      );

      // Every frame captured, nothing dropped by the kernel.
      let s = snapshotOf(ring);
      const settleBy = Date.now() + 10_000;
      while (s.frames < FRAMES && Date.now() < settleBy) {
        await new Promise((r) => setTimeout(r, 100));
        s = snapshotOf(ring);
      }
      assertEquals(s.frames, FRAMES, "ring frames == frames sent");
      assertEquals(s.kernelDrops, 0);

      // Answered again afterwards, with the endpoint's own account of the attack.
      const after = await scrape();
      assertEquals(valueOf(after, "fluxcap_ring_frames_total", { ring }), FRAMES);
      const accepted = valueOf(after, "fluxcap_metrics_connections_accepted_total");
      assert(accepted >= report.heldOpened + report.slowOpened, `accepted ${accepted}`);
      const shed = valueOf(after, "fluxcap_metrics_connections_shed_total", { reason: "limit" }) +
        valueOf(after, "fluxcap_metrics_connections_shed_total", { reason: "timeout" });
      assert(shed >= report.heldOpened + report.slowOpened - HTTP_LIMITS.maxConnections, `shed ${shed}`);
      const text = (await lab.run(fx, [
        Deno.execPath(),
        "eval",
        `console.log(await (await fetch("http://127.0.0.1:${PORT}/metrics")).text())`,
      ])).stdout;
      const pt = await promtoolCheck(text);
      if (pt !== null) assert(pt.ok, `promtool check metrics:\n${pt.output}`);
      assertIncludes(text, "# TYPE fluxcap_build_info gauge");

      const stop = await rx.stop("SIGINT", 3000);
      assertEquals(stop.code, 0, stop.stderr);
    } finally {
      await lab.close();
    }
  },
});

const ssReason = reason ?? await labAvailable(["ss"]);

Deno.test({
  name: "metrics: a listening socket destroyed under -rx (ss -K) is opened again; the capture goes on",
  ignore: ssReason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("mkill");
    try {
      const gen = await lab.ns("gen");
      const fx = await lab.ns("fx");
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
      const ring = `${lab.dir}/cisco`;
      createRing(ring, { size: 16 << 20 });
      const rx = lab.spawn(fx, [
        ...fluxcapCommand(),
        "-rx",
        "-i",
        "in0",
        "--metrics",
        `127.0.0.1:${PORT}`,
        ring,
      ], {
        env: { NO_COLOR: "1" },
      });
      const deadline = Date.now() + 20_000;
      while (!snapshotOf(ring).writer?.alive) {
        assert(!rx.exited, `-rx exited: ${rx.stderr}`);
        assert(Date.now() < deadline, "-rx attached to its ring");
        await new Promise((r) => setTimeout(r, 50));
      }
      const scrape = async () => {
        const code =
          `const r = await fetch("http://127.0.0.1:${PORT}/metrics"); console.log(await r.text());`;
        const res = await lab.run(fx, [Deno.execPath(), "eval", code], { timeoutMs: 20_000 });
        assertEquals(res.code, 0, `scrape: ${res.stderr}`);
        return parsePromText(res.stdout);
      };
      await scrape();
      const frames = Array.from({ length: 4000 }, (_, i) => makeFrame({ len: 60 + (i % 1400), seq: i }));
      const sending = lab.sendFrames(gen, "g0", frames, { ratePps: 1000 });

      const kill = await lab.run(fx, ["ss", "-K", "-t", "state", "listening", `sport = :${PORT}`]);
      assertEquals(kill.code, 0, kill.stderr);
      const listed = await lab.run(fx, ["ss", "-H", "-t", "state", "listening", `sport = :${PORT}`]);
      if (listed.stdout.trim() !== "") {
        console.log("ss -K cannot destroy sockets on this kernel (CONFIG_INET_DIAG_DESTROY): not tested");
        await sending;
        return;
      }
      await rx.waitFor(/fluxcap: metrics on 127\.0\.0\.1:\d+: stopped listening: /, { timeoutMs: 10_000 });
      await rx.waitFor(/fluxcap: metrics on 127\.0\.0\.1:\d+: listening again/, { timeoutMs: 15_000 });
      const back = await scrape();
      assert(valueOf(back, "fluxcap_metrics_accept_errors_total") >= 1);

      await sending;
      let s = snapshotOf(ring);
      const settleBy = Date.now() + 10_000;
      while (s.frames < frames.length && Date.now() < settleBy) {
        await new Promise((r) => setTimeout(r, 100));
        s = snapshotOf(ring);
      }
      assertEquals(s.frames, frames.length, "every frame captured");
      assertEquals(s.kernelDrops, 0);
      assert(!rx.exited, `-rx still runs: ${rx.stderr}`);
      const lines = rx.stderr.trim().split("\n");
      assertEquals(lines.length, 2, `one line when the listener died, one when it is back: ${rx.stderr}`);
      const stop = await rx.stop("SIGINT", 3000);
      assertEquals(stop.code, 0, stop.stderr);
    } finally {
      await lab.close();
    }
  },
});
