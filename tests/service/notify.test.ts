/**
 * sd_notify from `fluxcap run`, against a real unix datagram socket the test listens on: READY=1 once
 * both pipelines are running, STATUS= lines, WATCHDOG=1 when WATCHDOG_USEC is set, RELOADING=1 then
 * READY=1 around a SIGHUP, STOPPING=1 and exit 0 on SIGTERM. The pipelines touch no NIC (a capture-file
 * replay into a ring, and the ring written to capture files), so no namespace is needed.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeFrame, writePcap } from "../lab.ts";

/** A pcap file of `frames` with timestamps `gapUs` apart (the lab's writer spaces them 1 µs). */
export function pacedPcap(frames: Uint8Array[], gapUs: number): Uint8Array {
  const out = writePcap(frames);
  const dv = new DataView(out.buffer);
  let o = 24;
  frames.forEach((f, i) => {
    const us = i * gapUs;
    dv.setUint32(o, 1 + Math.floor(us / 1e6), true);
    dv.setUint32(o + 4, us % 1e6, true);
    o += 16 + f.length;
  });
  return out;
}
import { makeRingDir, rmrf } from "../helpers.ts";
import { unixAddress } from "../../lib/service/notify.ts";
import { alive, allRunning, logged, NotifyListener, pids, startRun, waitLines } from "./common.ts";

Deno.test("notify: socket addresses, a path and an abstract name", () => {
  const p = unixAddress("/run/systemd/notify");
  assertEquals(p.len, 2 + 19 + 1);
  assertEquals([p.addr[0], p.addr[1], p.addr[2]], [1, 0, "/".charCodeAt(0)]);
  const a = unixAddress("@fx/notify");
  assertEquals(a.len, 2 + 1 + 9, "abstract: no trailing NUL counted");
  assertEquals(Array.from(a.addr.subarray(0, 6)), [1, 0, 0, ..."fx/".split("").map((c) => c.charCodeAt(0))]);
  let threw = false;
  try {
    unixAddress(`/${"x".repeat(120)}`);
  } catch {
    threw = true;
  }
  assert(threw, "too long a path is refused");
});

Deno.test({
  name: "notify: READY, STATUS, WATCHDOG, RELOADING and STOPPING reach NOTIFY_SOCKET when they should",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    const listener = await NotifyListener.start(dir);
    try {
      // 20 frames 50 ms apart, replayed at their pace forever: the ring keeps growing slowly.
      const frames = Array.from({ length: 20 }, (_, i) => makeFrame({ len: 100, seq: i }));
      Deno.writeFileSync(`${dir}/trace.pcap`, pacedPcap(frames, 50_000));
      Deno.mkdirSync(`${dir}/out`);
      Deno.writeTextFileSync(
        `${dir}/fluxcap.yaml`,
        `rings:\n  r: { path: r.ring, size: 1m }\n` +
          `captures:\n  replay: { ring: r, read: trace.pcap, pace: true, loop: 0 }\n` +
          `outputs:\n  archive: { ring: r, write: out/ }\nstate: state.json\nmetrics: 0\n`,
      );
      const run = startRun("fluxcap.yaml", {
        cwd: dir,
        env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: "1000000" },
      });
      try {
        await listener.waitFor(/^READY=1/);
        const ready = listener.messages.find((m) => /^READY=1/.test(m.msg))!;
        assertIncludes(ready.msg, "STATUS=2/2 pipelines running");
        const running = logged(run, /: running \(pid/);
        assertEquals(running.length, 2, run.stderr);
        for (const r of running) assert(r.at <= ready.at, `READY before "${r.line}"`);
        await listener.waitFor(/^STATUS=/, 2);
        await listener.waitFor(/^WATCHDOG=1$/, 2);
        const before = pids(`${dir}/state.json`);

        const readies = listener.messages.filter((m) => /^READY=1/.test(m.msg)).length;
        Deno.kill(run.pid, "SIGHUP");
        await listener.waitFor(/^READY=1/, readies + 1);
        const msgs = listener.messages.map((m) => m.msg);
        const reloading = msgs.findIndex((m) => /^RELOADING=1\nMONOTONIC_USEC=\d+$/.test(m));
        assert(reloading >= 0, `RELOADING=1 with MONOTONIC_USEC: ${JSON.stringify(msgs)}`);
        const lastReady = msgs.findLastIndex((m) => /^READY=1/.test(m));
        assert(reloading < lastReady, "READY=1 follows RELOADING=1");
        await waitLines(run, /fluxcap: reloaded fluxcap\.yaml: 2 unchanged$/);
        assertEquals(pids(`${dir}/state.json`), before, "an unchanged file keeps every process");
        await allRunning(`${dir}/state.json`, ["replay", "archive"]);

        // One metrics endpoint for every ring, labelled with the ring's name.
        const port = /metrics on [\d.]+:(\d+)/.exec(run.stderr)![1];
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assertIncludes(text, 'fluxcap_ring_up{ring="r"} 1');
        // A ring whose size changed while its pipelines use it: reported, kept, nothing restarted.
        const cfgText = Deno.readTextFileSync(`${dir}/fluxcap.yaml`);
        Deno.writeTextFileSync(`${dir}/fluxcap.yaml`, cfgText.replace("size: 1m", "size: 2m"));
        Deno.kill(run.pid, "SIGHUP");
        await waitLines(run, /fluxcap: reloaded fluxcap\.yaml: 2 unchanged/, 2);
        assertEquals(
          logged(run, /ring r: size 1m kept, not 2m: in use by pid \d+ \(rx /).length,
          1,
          run.stderr,
        );
        assertEquals(Deno.statSync(`${dir}/r.ring`).size, 1 << 20);
        assertEquals(pids(`${dir}/state.json`), before);

        const res = await run.stop("SIGTERM", 10_000);
        assertEquals(res.code, 0, res.stderr);
        await listener.waitFor(/^STOPPING=1$/);
        for (const pid of Object.values(before)) assert(!alive(pid!), `child ${pid} is gone`);
        let stateLeft = true;
        try {
          Deno.statSync(`${dir}/state.json`);
        } catch {
          stateLeft = false;
        }
        assert(!stateLeft, "the state file is removed at a clean stop");
        const pcaps = [...Deno.readDirSync(`${dir}/out`)].filter((e) => e.name.endsWith(".pcap"));
        assert(pcaps.length >= 1, "the output wrote its capture file");
      } finally {
        await run.stop("SIGKILL", 1000);
      }
    } finally {
      await listener.stop();
      rmrf(dir);
    }
  },
});
