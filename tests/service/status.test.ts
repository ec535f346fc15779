/**
 * `fluxcap status RING…` exit codes for each state, as root and as the unprivileged user nobody (the
 * rings made readable to everyone): the test process itself writes and reads the rings while status
 * samples them, so each state is made exactly (kernel drops counted, a reader lapped, no writer, a
 * reader that stopped reading). No network is touched.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { fluxcapCommand, rmrf } from "../helpers.ts";
import { createRing, RingReader, RingWriter } from "../../lib/ring/mod.ts";
import { nobodyCommand } from "./common.ts";

const canDrop = Deno.uid() === 0 &&
  (await new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" }).output().then(
    (r) => r.success,
    () => false,
  ));
if (!canDrop) console.log("status tests as nobody skipped: needs root and setpriv");

async function status(cmd: string[], args: string[]): Promise<{ code: number; out: string }> {
  const c = await new Deno.Command(cmd[0], {
    args: [...cmd.slice(1), "status", "--seconds", "0.6", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: c.code, out: dec.decode(c.stdout) + dec.decode(c.stderr) };
}

/** Writes `frames` frames of `len` bytes every 20 ms (and does `also`) until stopped. */
function drive(every: () => void): () => void {
  const t = setInterval(every, 20);
  return () => clearInterval(t);
}

Deno.test({
  name:
    "status: exit 0 ok, 1 kernel drops or a lapped reader, 2 no writer or a stalled reader; root and nobody",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-status-" });
    Deno.chmodSync(dir, 0o755);
    const users: [string, string[]][] = [["root", fluxcapCommand()]];
    if (canDrop) users.push(["nobody", nobodyCommand(`${dir}/nobody`)]);
    const buf = new Uint8Array(1500).fill(7);
    try {
      const ring = (name: string, size = 1 << 20) => {
        const p = `${dir}/${name}`;
        createRing(p, { size });
        Deno.chmodSync(p, 0o644);
        return p;
      };
      const cases: {
        what: string;
        setup: () => { path: string; stop: () => void };
        code: number;
        text: string;
      }[] = [
        {
          what: "writer and a reader keeping up",
          code: 0,
          text: "FLUXCAP OK",
          setup: () => {
            const path = ring("ok");
            const w = RingWriter.open(path, { desc: "rx test" });
            const r = RingReader.open(path, { desc: "tx keeps up" });
            const stop = drive(() => {
              for (let i = 0; i < 10; i++) w.write(buf, 0, 200);
              w.commit();
              const n = r.poll();
              r.release();
              r.addSent(n);
              r.flush();
            });
            return { path, stop: () => (stop(), r.close(), w.close()) };
          },
        },
        {
          what: "kernel drops",
          code: 1,
          text: "kernel drops",
          setup: () => {
            const path = ring("kdrops");
            const w = RingWriter.open(path, { desc: "rx test" });
            const stop = drive(() => w.addKernelStats(3, 10));
            return { path, stop: () => (stop(), w.close()) };
          },
        },
        {
          what: "a lapped reader",
          code: 1,
          text: "lapped by the writer",
          setup: () => {
            const path = ring("lapped", 256 << 10);
            const w = RingWriter.open(path, { desc: "rx test" });
            const r = RingReader.open(path, { desc: "tx slow" });
            const stop = drive(() => {
              for (let i = 0; i < 400; i++) w.write(buf, 0, 1500); // more than the ring holds
              w.commit();
              const n = r.poll(1);
              r.release();
              r.addSent(n);
              r.flush();
            });
            return { path, stop: () => (stop(), r.close(), w.close()) };
          },
        },
        {
          what: "no writer",
          code: 2,
          text: "no live writer",
          setup: () => ({ path: ring("nowriter"), stop: () => {} }),
        },
        {
          what: "a reader that stopped reading while the ring grows",
          code: 2,
          text: "sent nothing while its ring grew",
          setup: () => {
            const path = ring("stalled");
            const w = RingWriter.open(path, { desc: "rx test" });
            const r = RingReader.open(path, { desc: "tx stalled" });
            const stop = drive(() => {
              for (let i = 0; i < 5; i++) w.write(buf, 0, 100);
              w.commit();
            });
            return { path, stop: () => (stop(), r.close(), w.close()) };
          },
        },
      ];
      for (const c of cases) {
        const { path, stop } = c.setup();
        try {
          for (const [who, cmd] of users) {
            const r = await status(cmd, [path]);
            assertEquals(r.code, c.code, `${c.what}, as ${who}:\n${r.out}`);
            assertIncludes(r.out, c.text, `${c.what}, as ${who}`);
          }
          const j = await status(fluxcapCommand(), ["--json", path]);
          const report = JSON.parse(j.out);
          assertEquals(report.level, c.code);
          assertEquals(report.status, ["ok", "warning", "critical"][c.code]);
        } finally {
          stop();
        }
      }
      // One name that is no file: a missing ring, critical (unless it looks like a configuration file).
      const gone = await status(fluxcapCommand(), [`${dir}/gone`]);
      assertEquals(gone.code, 2, gone.out);
      assert(gone.out.startsWith(`FLUXCAP CRITICAL - ring ${dir}/gone: `), gone.out);
      const noCfg = await status(fluxcapCommand(), [`${dir}/gone.yaml`]);
      assertEquals(noCfg.code, 2, noCfg.out);
      assertIncludes(noCfg.out, "cannot read the configuration: no such file");
      // A configuration whose supervisor is not running: an output nothing reads for is critical.
      const cfg = `${dir}/f.yaml`;
      Deno.writeTextFileSync(
        cfg,
        `rings:\n  ok: { path: ${dir}/ok, size: 1m }\noutputs:\n  zeek: { ring: ok, interface: eth9 }\n` +
          `state: ${dir}/state.json\n`,
      );
      const off = await status(fluxcapCommand(), [cfg]);
      assertEquals(off.code, 2, off.out);
      assert(/^CRIT +output +zeek .*nothing reads ring ok/m.test(off.out), off.out);
      if (canDrop) {
        // Without read permission nobody learns nothing but that: critical, saying why.
        const closed = `${dir}/closed`;
        createRing(closed, { size: 1 << 20 });
        const r = await status(users[1][1], [closed]);
        assertEquals(r.code, 2, r.out);
        assertIncludes(r.out, "permission denied");
        // And watching needs read access only: -io --once as nobody on a 0644 ring.
        const w = new Deno.Command(users[1][1][0], {
          args: [...users[1][1].slice(1), "-io", "--json", "--once", `${dir}/ok`],
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
        assertEquals(w.code, 0, new TextDecoder().decode(w.stderr));
        assert(new TextDecoder().decode(w.stdout).includes('"ring"'));
      }
    } finally {
      rmrf(dir);
    }
  },
});
