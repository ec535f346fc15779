/**
 * `fluxcap run` in a lab of network namespaces: two captures (a ring each) and three outputs on NICs.
 * Every frame arrives; `kill -9` of an output restarts it within 2 s (read from the supervisor's own
 * log time stamps) while the others keep their pids and lose nothing; SIGHUP after changing one
 * output's VLAN restarts that output only and its frames carry the new tag; SIGHUP with a broken file
 * changes nothing and says why in one line; `fluxcap status` sees a stalled output and a restarting
 * one (as root and as nobody); SIGTERM ends every child and exits 0.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { Lab, labAvailable, type LabProcess, makeFrame } from "../lab.ts";
import { fluxcapCommand } from "../helpers.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { alive, allRunning, logged, nobodyCommand, pids, waitLines } from "./common.ts";

const reason = await labAvailable(["ip", "tcpdump", "tcpreplay", "setpriv"]);
if (reason) console.log(`service lab tests skipped: ${reason}`);

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function assertSameFrames(got: Uint8Array[], want: Uint8Array[], what: string): void {
  const g = got.map(hex).sort();
  const w = want.map(hex).sort();
  assertEquals(g.length, w.length, `${what}: number of frames`);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i]) {
      throw new Error(`${what}: frame differs:\n got  ${g[i].slice(0, 80)}\n want ${w[i].slice(0, 80)}`);
    }
  }
}

/** A 802.1Q tag with `vid` inserted after the MACs. */
function withTag(f: Uint8Array, vid: number): Uint8Array {
  const out = new Uint8Array(f.length + 4);
  out.set(f.subarray(0, 12));
  out.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
  out.set(f.subarray(12), 16);
  return out;
}

function batch(n: number, seq: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => makeFrame({ len: 60 + ((i * 37) % 400), seq: seq + i }));
}

const config = (s2vlan: string) =>
  `# two taps, three sensors
rings:
  cisco: { path: cisco.ring, size: 4m }
  dell: { path: dell.ring, size: 4m }
captures:
  cisco-tap: { ring: cisco, interface: in0, vlan: 100 }
  dell-tap: { ring: dell, interface: in1, vlan: 200 }
outputs:
  zeek: { ring: cisco, interface: out1 }
  suricata: { ring: cisco, interface: out2${s2vlan} }
  arkime: { ring: dell, interface: out3 }
state: state.json
`;

Deno.test({
  name: "run: two taps, three outputs: delivery, kill -9, reload, broken reload, status, SIGTERM",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("svc");
    let run: LabProcess | null = null;
    try {
      const [gen, fx, s1, s2, s3] = [
        await lab.ns("gen"),
        await lab.ns("fx"),
        await lab.ns("s1"),
        await lab.ns("s2"),
        await lab.ns("s3"),
      ];
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
      await lab.veth({ ns: gen, name: "g1" }, { ns: fx, name: "in1" });
      await lab.veth({ ns: fx, name: "out1" }, { ns: s1, name: "s1" });
      await lab.veth({ ns: fx, name: "out2" }, { ns: s2, name: "s2" });
      await lab.veth({ ns: fx, name: "out3" }, { ns: s3, name: "s3" });
      const dir = `${lab.dir}/svc`;
      Deno.mkdirSync(dir);
      Deno.chmodSync(lab.dir, 0o755);
      Deno.chmodSync(dir, 0o755);
      const cfg = `${dir}/fluxcap.yaml`;
      const state = `${dir}/state.json`;
      Deno.writeTextFileSync(cfg, config(""));
      // Rings made beforehand and opened to everyone for reading: `run` keeps valid rings as they are,
      // and the state file follows the rings' read permissions.
      for (const r of ["cisco", "dell"]) {
        createRing(`${dir}/${r}.ring`, { size: 4 << 20 });
        Deno.chmodSync(`${dir}/${r}.ring`, 0o644);
      }
      run = lab.spawn(fx, [...fluxcapCommand(), "run", cfg], { env: { NO_COLOR: "1" } });
      const names = ["cisco-tap", "dell-tap", "zeek", "suricata", "arkime"];
      await waitLines(run, /fluxcap: ready: 5\/5 pipelines running/);
      await allRunning(state, names);
      assertEquals(Deno.statSync(state).mode! & 0o777, 0o644, "state file readable as the rings are");
      const first = pids(state);

      const c1 = await lab.tcpdump(s1, "s1", { direction: "in" });
      const c2 = await lab.tcpdump(s2, "s2", { direction: "in" });
      const c3 = await lab.tcpdump(s3, "s3", { direction: "in" });
      const a1 = batch(100, 0), a2 = batch(100, 10_000);
      await Promise.all([lab.sendFrames(gen, "g0", a1), lab.sendFrames(gen, "g1", a2)]);
      await Promise.all([c1.waitForFrames(100), c2.waitForFrames(100), c3.waitForFrames(100)]);

      // kill -9 of one output: restarted within 2 s; the others keep their pids and lose nothing.
      Deno.kill(first.zeek!, "SIGKILL");
      const b1 = batch(100, 100), b2 = batch(100, 10_100);
      await Promise.all([lab.sendFrames(gen, "g0", b1), lab.sendFrames(gen, "g1", b2)]);
      await waitLines(run, /zeek: running \(pid/, 2);
      const exited = logged(run, /zeek: exited \(signal SIGKILL\)/);
      const restarted = logged(run, /zeek: restarted \(restart 1\) pid \d+/);
      assertEquals(exited.length, 1, run.stderr);
      assertEquals(restarted.length, 1, run.stderr);
      assert(
        restarted[0].at - exited[0].at <= 2000,
        `restarted ${restarted[0].at - exited[0].at} ms after the exit: ${restarted[0].line}`,
      );
      const second = pids(state);
      assert(second.zeek !== first.zeek && second.zeek !== null);
      for (const n of names.filter((n) => n !== "zeek")) {
        assertEquals(second[n], first[n], `${n} keeps its pid`);
      }
      const c1b = batch(50, 200);
      await lab.sendFrames(gen, "g0", c1b);
      await Promise.all([c2.waitForFrames(250), c3.waitForFrames(200)]);

      // SIGHUP after changing suricata's VLAN: only suricata restarts, and its frames carry the tag.
      Deno.writeTextFileSync(cfg, config(", vlan: 300"));
      Deno.kill(run.pid, "SIGHUP");
      await waitLines(run, /fluxcap: reloaded .*: 4 unchanged, restarted suricata$/);
      await allRunning(state, names);
      const third = pids(state);
      assert(third.suricata !== second.suricata);
      for (const n of names.filter((n) => n !== "suricata")) {
        assertEquals(third[n], second[n], `${n} untouched`);
      }
      const d1 = batch(50, 300), d2 = batch(50, 10_300);
      await Promise.all([lab.sendFrames(gen, "g0", d1), lab.sendFrames(gen, "g1", d2)]);
      await Promise.all([c2.waitForFrames(300), c3.waitForFrames(250)]);

      // SIGHUP with a broken file: nothing changes, one line says why.
      Deno.writeTextFileSync(cfg, config(", vlan: 5000"));
      Deno.kill(run.pid, "SIGHUP");
      await waitLines(run, /reload refused/);
      const refused = logged(run, /reload refused/);
      assertEquals(refused.length, 1);
      assert(
        /reload refused, nothing changed: \S+fluxcap\.yaml:10:\d+: outputs\.suricata\.vlan: VLAN id "5000" is out of range/
          .test(refused[0].line),
        refused[0].line,
      );
      assertEquals(pids(state), third, "a broken file changes nothing");
      Deno.writeTextFileSync(cfg, config(", vlan: 300"));

      // fluxcap status: all well while idle, as root and as nobody.
      const nobody = nobodyCommand(`${lab.dir}/nobody`);
      const status = async (as: string[], extra: string[] = []) => {
        const r = await lab.run(fx, [...as, "status", "--seconds", "1", ...extra, cfg], {
          timeoutMs: 60_000,
        });
        return { code: r.code, out: r.stdout + r.stderr };
      };
      for (const who of [fluxcapCommand(), nobody]) {
        const ok = await status(who);
        assertEquals(ok.code, 0, ok.out);
        assertIncludes(ok.out, "FLUXCAP OK");
      }
      // A stalled output (stopped with SIGSTOP) while its ring grows: critical.
      Deno.kill(third.arkime!, "SIGSTOP");
      try {
        const flood = lab.sendFrames(gen, "g1", batch(1500, 20_000), { ratePps: 500 });
        await new Promise((r) => setTimeout(r, 300));
        const [root, user] = await Promise.all([status(fluxcapCommand()), status(nobody)]);
        await flood;
        for (const s of [root, user]) {
          assertEquals(s.code, 2, s.out);
          assertIncludes(s.out, "output arkime: sent nothing while its ring grew");
        }
      } finally {
        Deno.kill(third.arkime!, "SIGCONT");
      }
      // An output on a NIC that is not there, added by a reload: restarting, critical.
      Deno.writeTextFileSync(
        cfg,
        config(", vlan: 300").replace("state:", "  ghost: { ring: dell, interface: nosuch0 }\nstate:"),
      );
      Deno.kill(run.pid, "SIGHUP");
      await waitLines(run, /reloaded .*: 5 unchanged, started ghost$/);
      await waitLines(run, /ghost: exited \(exit status 1\)/);
      const ghost = await status(fluxcapCommand(), ["--json"]);
      assertEquals(ghost.code, 2, ghost.out);
      const report = JSON.parse(ghost.out);
      assertEquals(report.status, "critical");
      const g = report.lines.find((l: { name: string }) => l.name === "ghost");
      assertEquals(g.state, "restarting");
      assertEquals(report.lines.filter((l: { level: number }) => l.level === 2).length, 1, ghost.out);

      // SIGTERM: every child ends, exit 0.
      const last = pids(state);
      const res = await run.stop("SIGTERM", 15_000);
      assertEquals(res.code, 0, res.stderr);
      for (const [n, pid] of Object.entries(last)) {
        if (pid !== null) assert(!alive(pid), `${n} (pid ${pid}) is gone`);
      }

      // What arrived: zeek everything but what was sent while it was down; the others everything.
      const [got1, got2, got3] = [await c1.stop(), await c2.stop(), await c3.stop()];
      const t100 = (fs: Uint8Array[]) => fs.map((f) => withTag(f, 100));
      const t200 = (fs: Uint8Array[]) => fs.map((f) => withTag(f, 200));
      const flood = batch(1500, 20_000);
      assertSameFrames(got3, t200([...a2, ...b2, ...d2, ...flood]), "arkime (dell)");
      assertSameFrames(
        got2,
        [...t100([...a1, ...b1, ...c1b]), ...t100(d1).map((f) => withTag(f, 300))],
        "suricata (cisco, then VLAN 300 after the reload)",
      );
      const zeekWant = new Set([...t100([...a1, ...c1b, ...d1])].map(hex));
      const zeekGot = new Set(got1.map(hex));
      for (const h of zeekWant) assert(zeekGot.has(h), "zeek got every frame sent while it ran");
      assertEquals(zeekGot.size, got1.length, "zeek got no frame twice");
    } finally {
      if (run) await run.stop("SIGKILL", 1000);
      await lab.close();
    }
  },
});
