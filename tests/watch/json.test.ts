import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { createRing, DropReason, ReaderKind, RingReader, RingWriter } from "../../lib/ring/mod.ts";
import { RingWatch } from "../../lib/watch/source.ts";
import { fluxcap, fluxcapCommand, makeRingDir, rmrf } from "../helpers.ts";
import type { RingJson } from "../../lib/watch/json.ts";

function parseLines(stdout: string): RingJson[] {
  return stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

/** Drains `r` completely; returns the frames it got. */
function drain(r: RingReader): number {
  let got = 0;
  for (;;) {
    const n = r.poll();
    if (n === 0) return got;
    got += n - r.release();
  }
}

Deno.test("watch --json --once: 10 000 frames written → frames_total 10 000; a lapped reader's lost count matches", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/cisco`;
    createRing(path, { size: 256 << 10 });
    using w = RingWriter.open(path, { desc: "rx test" });
    using lapped = RingReader.open(path, { desc: "tx slow", kind: ReaderKind.nic });
    using steady = RingReader.open(path, { desc: "tx steady", kind: ReaderKind.tunnel });
    const frame = new Uint8Array(200);
    for (let i = 0; i < 10_000; i++) {
      w.write(frame, 0, 200, 250);
      if (i % 100 === 99) {
        w.commit();
        drain(steady);
      }
    }
    w.addDrop(DropReason.oversize, 3);
    w.addKernelStats(5, 10_005);
    w.commit();
    drain(steady);
    const got = drain(lapped); // lapped many times over: a 256k ring holds about 1000 such frames
    assertEquals(got + lapped.framesLost, 10_000);
    assert(lapped.framesLost > 8000, `lost ${lapped.framesLost}`);
    lapped.addDrop(DropReason.filtered, 4);
    lapped.addSent(got - 4);
    lapped.flush();
    steady.addSent(10_000);
    steady.flush();

    const res = await fluxcap(["-io", "--json", "--once", path]);
    assertEquals(res.code, 0, res.stderr);
    const [j] = parseLines(res.stdout);
    assertEquals(j.ring, path);
    assertEquals(j.gone, false);
    assertEquals(j.frames_total, 10_000);
    assertEquals(j.bytes_total, 2_000_000);
    assertEquals(j.wire_bytes_total, 2_500_000);
    assertEquals(j.kernel_drops_total, 5);
    assertEquals(j.kernel_packets_total, 10_005);
    assertEquals(j.frames_per_sec, 0, "nothing written during the snapshot second");
    assertEquals(j.writer, {
      pid: Deno.pid,
      desc: "rx test",
      alive: true,
      drops: {
        filtered: 0,
        sampled: 0,
        oversize: 3,
        send_error: 0,
        malformed: 0,
        key_mismatch: 0,
        reassembly: 0,
        other: 0,
        duplicate: 0,
      },
    });
    assertEquals(j.readers.length, 2);
    const slow = j.readers.find((r) => r.desc === "tx slow")!;
    assertEquals(slow.kind, "nic");
    assertEquals(slow.pid, Deno.pid);
    assertEquals(slow.frames_lost_total, lapped.framesLost);
    assertEquals(slow.frames_read_total, got);
    assertEquals(slow.frames_sent_total, got - 4);
    assertEquals(slow.drops.filtered, 4);
    assertEquals(slow.lag_bytes, 0);
    const ok = j.readers.find((r) => r.desc === "tx steady")!;
    assertEquals(ok.kind, "tunnel");
    assertEquals(ok.frames_lost_total, 0);
    assertEquals(ok.frames_read_total, 10_000);
    assertEquals(ok.frames_sent_total, 10_000);
    assertEquals(typeof j.time, "string");
    assert(!Number.isNaN(Date.parse(j.time)));
  } finally {
    rmrf(dir);
  }
});

Deno.test("watch --json --seconds 2: one line per ring per second, in the order given", async () => {
  const dir = makeRingDir();
  try {
    createRing(`${dir}/a`, { size: 1 << 20 });
    createRing(`${dir}/b`, { size: 1 << 20 });
    const res = await fluxcap(["-io", "--json", "--seconds", "2", `${dir}/a`, `${dir}/b`]);
    assertEquals(res.code, 0, res.stderr);
    const lines = parseLines(res.stdout);
    assertEquals(lines.map((l) => l.ring), [`${dir}/a`, `${dir}/b`, `${dir}/a`, `${dir}/b`]);
    for (const l of lines) {
      assertEquals(l.frames_total, 0);
      assertEquals(l.writer, null);
      assertEquals(l.readers, []);
    }
  } finally {
    rmrf(dir);
  }
});

Deno.test("watch: a missing or corrupt ring is a one-line error, exit 1 (a bad option: 2)", async () => {
  const dir = makeRingDir();
  try {
    const missing = await fluxcap(["-io", "--json", "--once", `${dir}/nope`]);
    assertEquals(missing.code, 1);
    assertEquals(missing.stderr.trim(), `Cannot open ring "${dir}/nope": no such file`);
    Deno.writeFileSync(`${dir}/junk`, new Uint8Array(256 << 10).fill(7));
    const junk = await fluxcap(["-io", `${dir}/junk`]);
    assertEquals(junk.code, 1);
    assertEquals(junk.stderr.trim(), `Cannot open ring "${dir}/junk": not a fluxcap ring (bad magic)`);
    const none = await fluxcap(["-io"]);
    assertEquals(none.code, 2);
    assertIncludes(none.stderr, "-io needs at least one ring");
    createRing(`${dir}/r`, { size: 1 << 20 });
    const badSecs = await fluxcap(["-io", "--seconds", "soon", `${dir}/r`]);
    assertEquals(badSecs.code, 2);
    assertEquals(
      badSecs.stderr.trim(),
      'Invalid --seconds "soon": expected a number of seconds greater than 0',
    );
    const badMetrics = await fluxcap(["-io", "--metrics", "nine", `${dir}/r`]);
    assertEquals(badMetrics.code, 2);
    assertIncludes(badMetrics.stderr, 'Invalid --metrics "nine"');
    assertEquals(badMetrics.stderr.trim().split("\n").length, 1);
  } finally {
    rmrf(dir);
  }
});

Deno.test("watch --json: a ring deleted while watched shows as gone, not a crash", async () => {
  const dir = makeRingDir();
  const [cmd, ...pre] = fluxcapCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, "-io", "--json", "--seconds", "20", `${dir}/cisco`],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  });
  createRing(`${dir}/cisco`, { size: 1 << 20 });
  const p = child.spawn();
  try {
    const lines = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    const next = async (): Promise<RingJson> => {
      while (!buf.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("fluxcap -io ended early");
        buf += value;
      }
      const i = buf.indexOf("\n");
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return JSON.parse(line);
    };
    const first = await next();
    assertEquals(first.gone, false);
    Deno.removeSync(`${dir}/cisco`);
    const second = await next();
    assertEquals(second.gone, true);
    assertEquals(second.reason, "deleted");
    assertEquals(second.frames_total, null);
    createRing(`${dir}/cisco`, { size: 1 << 20 }); // back again: watched again
    const third = await next();
    assertEquals(third.gone, false);
    assertEquals(third.frames_total, 0);
    p.kill("SIGINT");
    await lines.cancel();
    assertEquals((await p.status).code, 0, "SIGINT ends the watch with status 0");
  } finally {
    try {
      p.kill("SIGKILL");
    } catch { /* ended */ }
    rmrf(dir);
  }
});

Deno.test("watch source: a replaced ring is reopened (new generation); a corrupt one is gone with its reason", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 1 << 20 });
    {
      using w = RingWriter.open(path);
      w.write(new Uint8Array(60), 0, 60);
      w.commit();
    }
    using watch = RingWatch.open(path);
    const a = watch.sample();
    assertEquals([a.gone, a.snap?.frames, a.generation], [false, 1, 1]);
    createRing(path, { size: 1 << 20 }); // recreated beside and renamed into place
    const b = watch.sample();
    assertEquals([b.gone, b.snap?.frames, b.generation], [false, 0, 2]);
    Deno.removeSync(path);
    Deno.writeFileSync(path, new Uint8Array(100));
    const c = watch.sample();
    assertEquals(c.gone, true);
    assertIncludes(c.reason!, "truncated");
    Deno.removeSync(path);
    const d = watch.sample();
    assertEquals([d.gone, d.reason], [true, "no such file"]);
  } finally {
    rmrf(dir);
  }
});
