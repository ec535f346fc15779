/**
 * capture file → `fluxcap -rx --read` → ring, read back with the ring library: pcap (µs, ns), pcapng,
 * stdin, `--loop`, `--pace`, frame operations and drop reasons; truncated, corrupt and non-Ethernet
 * files replay their good part and fail with one clear line.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { makeFrame } from "../lab.ts";
import { createRing } from "../../lib/ring/mod.ts";
import {
  haveTools,
  hex,
  interrupt,
  pcapOf,
  quiet,
  readRing,
  snap,
  spawnFluxcap,
  type TimedFrame,
  timedFrames,
  tool,
  until,
} from "./common.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
const noEditcap = await haveTools(["editcap"]);

async function withRing(size: number, fn: (ring: string, dir: string) => Promise<void>): Promise<void> {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size });
    await fn(ring, dir);
  } finally {
    rmrf(dir);
  }
}

async function replay(args: string[], stdin?: Uint8Array) {
  const t0 = performance.now();
  const r = await spawnFluxcap(["-rx", ...args], { stdin }).done;
  return { ...r, ms: performance.now() - t0 };
}

function assertRing(got: TimedFrame[], want: TimedFrame[], what: string): void {
  assertEquals(got.length, want.length, `${what}: number of frames`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    assertEquals([g.sec, g.nsec, g.wire, hex(g.data)], [w.sec, w.nsec, w.wire, hex(w.data)], `${what} ${i}`);
  }
}

test("pcap --read: ns and µs pcap, pcapng and stdin land in the ring intact; exits 0 by itself", async () => {
  await withRing(8 << 20, async (ring, dir) => {
    const frames = timedFrames(300);
    const ns = `${dir}/ns.pcap`;
    await Deno.writeFile(ns, pcapOf(frames));
    let r = await replay(["--read", ns, ring]);
    assertEquals([r.code, quiet(r.stderr)], [0, ""]);
    assertRing(readRing(ring), frames, "ns pcap");
    assertEquals(snap(ring).writer?.alive, false, "writer detached");

    const us = `${dir}/us.pcap`;
    await Deno.writeFile(us, pcapOf(frames, { micro: true }));
    rmrf(ring);
    createRing(ring, { size: 8 << 20 });
    r = await replay(["--read", us, ring]);
    assertEquals(r.code, 0, r.stderr);
    const micro = frames.map((f) => ({ ...f, nsec: Math.floor(f.nsec / 1000) * 1000 }));
    assertRing(readRing(ring), micro, "µs pcap");

    rmrf(ring);
    createRing(ring, { size: 8 << 20 });
    r = await replay(["--read", "-", ring], pcapOf(frames));
    assertEquals(r.code, 0, r.stderr);
    assertRing(readRing(ring), frames, "stdin");

    if (noEditcap === null) {
      const ng = `${dir}/x.pcapng`;
      const e = await tool(["editcap", "-F", "pcapng", ns, ng]);
      assertEquals(e.code, 0, e.stderr);
      rmrf(ring);
      createRing(ring, { size: 8 << 20 });
      r = await replay(["--read", ng, ring]);
      assertEquals(r.code, 0, r.stderr);
      assertRing(readRing(ring), frames, "pcapng (editcap)");
    }
  });
});

test("pcap --read: a file of several MiB (records across read chunks), from a file and from stdin", async () => {
  await withRing(16 << 20, async (ring, dir) => {
    const frames = timedFrames(4000, { minLen: 600 });
    const bytes = pcapOf(frames);
    assert(bytes.length > 4 << 20);
    const f = `${dir}/big.pcap`;
    await Deno.writeFile(f, bytes);
    let r = await replay(["--read", f, ring]);
    assertEquals(r.code, 0, r.stderr);
    assertRing(readRing(ring), frames, "big file");
    rmrf(ring);
    createRing(ring, { size: 16 << 20 });
    r = await replay(["--read", "-", ring], bytes);
    assertEquals(r.code, 0, r.stderr);
    assertRing(readRing(ring), frames, "big file on stdin");
  });
});

test("pcap --read --loop 3: three passes, time keeps increasing", async () => {
  await withRing(8 << 20, async (ring, dir) => {
    const frames = timedFrames(50);
    const f = `${dir}/l.pcap`;
    await Deno.writeFile(f, pcapOf(frames));
    const r = await replay(["--read", f, "--loop", "3", ring]);
    assertEquals(r.code, 0, r.stderr);
    const got = readRing(ring);
    assertEquals(got.length, 150);
    for (let i = 0; i < 150; i++) assertEquals(hex(got[i].data), hex(frames[i % 50].data), `frame ${i}`);
    assertRing(got.slice(0, 50), frames, "first pass unchanged");
    const t = (x: TimedFrame) => BigInt(x.sec) * 1_000_000_000n + BigInt(x.nsec);
    assert(t(got[50]) > t(got[49]) && t(got[100]) > t(got[99]), "later passes come after");
    assertEquals(t(got[99]) - t(got[49]), t(got[149]) - t(got[99]), "each pass shifted by one period");
  });
});

// Pacing itself is checked from the kernel's receive times of a capture: tests/pcap/lab.test.ts.
test("pcap --read --pace: SIGINT ends a long recorded gap at once", async () => {
  await withRing(4 << 20, async (ring, dir) => {
    const frames = timedFrames(6).map((f, i) => ({ ...f, sec: 1_700_000_000, nsec: i * 100_000_000 }));
    const f = `${dir}/p.pcap`;
    const gap = [frames[0], { ...frames[1], sec: 1_700_000_100 }]; // 100 s gap
    await Deno.writeFile(f, pcapOf(gap));
    const before = snap(ring).frames;
    const p = spawnFluxcap(["-rx", "--read", f, "--pace", ring]);
    await until(() => snap(ring).frames === before + 1, "first frame committed before the gap");
    await new Promise((r) => setTimeout(r, 200));
    const res = await interrupt(p);
    assertEquals(res.code, 0, res.stderr);
    assert(res.ms < 50_000, `stopped after ${res.ms} ms: it did not wait out the 100 s gap`);
    assertEquals(snap(ring).frames, before + 1);
    // The frame it was waiting to send was not read after all: read = written, and the stop is said.
    assertIncludes(res.stderr, `"${f}": 1 frame read, 1 written (stopped before the end of the file)`);
  });
});

test("pcap --read with -V, -s, -f, -d: applied on the way in, drops counted by reason", async () => {
  await withRing(4 << 20, async (ring, dir) => {
    const frames = timedFrames(100);
    const f = `${dir}/o.pcap`;
    await Deno.writeFile(f, pcapOf(frames));
    let r = await replay(["--read", f, "-V", "100", "-s", "64", ring]);
    assertEquals(r.code, 0, r.stderr);
    const got = readRing(ring);
    assertEquals(got.length, frames.length);
    got.forEach((g, i) => {
      const w = frames[i].data;
      const tpid = (w[12] << 8) | w[13];
      const tagged = tpid === 0x8100 || tpid === 0x88a8;
      const full = new Uint8Array(w.length + (tagged ? 0 : 4));
      full.set(w.subarray(0, 12));
      full.set([0x81, 0x00, 0x00, 100], 12);
      full.set(w.subarray(tagged ? 16 : 12), 16);
      assertEquals(hex(g.data), hex(full.subarray(0, 64)), `frame ${i}`);
      assertEquals(g.wire, frames[i].wire + (tagged ? 0 : 4), `wire length ${i}`);
      assertEquals([g.sec, g.nsec], [frames[i].sec, frames[i].nsec]);
    });
    rmrf(ring);
    createRing(ring, { size: 4 << 20 });
    r = await replay(["--read", f, "-f", "vlan 5", ring]);
    assertEquals(r.code, 0, r.stderr);
    const keep = frames.filter((x) => x.data[12] === 0x81 && x.data[15] === 5);
    assertRing(readRing(ring), keep, "-f vlan 5");
    assertEquals(snap(ring).writer!.drops.filtered, frames.length - keep.length);
    r = await replay(["--read", f, "-d", "0", ring]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(snap(ring).writer!.drops.sampled, frames.length);
    // The filter sees the frame as captured, before -V or -Q change its tag: -V 9 -f 'vlan 5' keeps
    // the VLAN 5 frames, retagged 9; -Q -f 'vlan 5' keeps them untagged.
    for (const ops of [["-V", "9"], ["-Q"]]) {
      rmrf(ring);
      createRing(ring, { size: 4 << 20 });
      r = await replay(["--read", f, ...ops, "-f", "vlan 5", ring]);
      assertEquals(r.code, 0, r.stderr);
      const got = readRing(ring);
      assertEquals(got.length, keep.length, `${ops.join(" ")} -f 'vlan 5'`);
      got.forEach((g, i) => {
        const w = keep[i].data;
        const want = ops[0] === "-Q"
          ? [...w.subarray(0, 12), ...w.subarray(16)]
          : [...w.subarray(0, 12), 0x81, 0x00, 0x00, 9, ...w.subarray(16)];
        assertEquals(hex(g.data), hex(new Uint8Array(want)), `${ops.join(" ")}: frame ${i}`);
      });
      assertEquals(snap(ring).writer!.drops.filtered, frames.length - keep.length);
    }
  });
});

test("pcap --read: frames too big for the ring are oversize, runts malformed, the rest written", async () => {
  await withRing(128 * 1024, async (ring, dir) => {
    const ok = timedFrames(3);
    const big = { ...ok[0], data: makeFrame({ len: 20000, seq: 77 }), wire: 20000 };
    const runt = { ...ok[0], data: new Uint8Array(10), wire: 10 };
    const f = `${dir}/b.pcap`;
    await Deno.writeFile(f, pcapOf([ok[0], big, ok[1], runt, ok[2]]));
    const r = await replay(["--read", f, ring]);
    assertEquals(r.code, 0, r.stderr);
    assertRing(readRing(ring), ok, "small frames");
    const d = snap(ring).writer!.drops;
    assertEquals([d.oversize, d.malformed], [1, 1]);
  });
});

test("pcap --read: truncated, corrupt, empty and non-Ethernet files fail clearly after the good part", async () => {
  await withRing(4 << 20, async (ring, dir) => {
    const frames = timedFrames(60);
    const whole = pcapOf(frames);
    // Cut in the middle of record 57 (header 24 + 57 whole records + 20 bytes).
    let cut = 24;
    for (let i = 0; i < 57; i++) cut += 16 + frames[i].data.length;
    const f = `${dir}/t.pcap`;
    await Deno.writeFile(f, whole.subarray(0, cut + 20));
    let r = await replay(["--read", f, ring]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stderr.trim(),
      `Cannot read capture "${f}": truncated pcap record at byte ${cut}: 20 bytes left (after 57 frames)`,
    );
    assertRing(readRing(ring), frames.slice(0, 57), "good part committed");
    // Cut inside a record header, with --loop: stops at the first pass.
    await Deno.writeFile(f, whole.subarray(0, cut + 5));
    r = await replay(["--read", f, "--loop", "3", ring]);
    assertEquals(r.code, 1);
    assertIncludes(r.stderr, "(after 57 frames)");
    assertEquals(snap(ring).frames, 114);
    // A record claiming an absurd length.
    const bad = whole.slice();
    new DataView(bad.buffer).setUint32(cut + 8, 0x7fffffff, true);
    await Deno.writeFile(f, bad);
    r = await replay(["--read", f, ring]);
    assertEquals(r.code, 1);
    assertIncludes(r.stderr, `Cannot read capture "${f}": corrupt pcap record at byte ${cut}: caplen`);
    assertEquals(snap(ring).frames, 171);
    // Garbage, empty, missing.
    await Deno.writeFile(f, new TextEncoder().encode("this is not a capture file at all"));
    r = await replay(["--read", f, ring]);
    assertEquals(
      r.stderr.trim(),
      `Cannot read capture "${f}": bad capture magic "0x74686973" at byte 0 (after 0 frames)`,
    );
    assertEquals(r.code, 1);
    // A 0-byte file is an empty capture (as Wireshark reads it): nothing to write, exit 0.
    const n0 = snap(ring).frames;
    await Deno.writeFile(f, new Uint8Array(0));
    r = await replay(["--read", f, ring]);
    assertEquals([r.code, quiet(r.stderr)], [0, ""]);
    assertEquals(snap(ring).frames, n0);
    await Deno.writeFile(f, new Uint8Array(3));
    r = await replay(["--read", f, ring]);
    assertEquals(r.code, 1);
    assertIncludes(r.stderr, `Cannot read capture "${f}": truncated capture header at byte 0: 3 bytes`);
    r = await replay(["--read", `${dir}/missing.pcap`, ring]);
    assertEquals(r.code, 1);
    assertEquals(r.stderr.trim(), `Cannot read capture "${dir}/missing.pcap": no such file or directory`);
    // Linux cooked capture: refused from the header, nothing written.
    const before = snap(ring).frames;
    await Deno.writeFile(f, pcapOf(frames, { linkType: 113 }));
    r = await replay(["--read", f, ring]);
    assertEquals(r.code, 1);
    assertEquals(r.stderr.trim(), `Cannot read capture "${f}": link type 113 (Linux cooked) is not Ethernet`);
    assertEquals(snap(ring).frames, before);
    if (noEditcap === null) {
      // pcapng with a broken block length in the middle: the blocks before it are replayed.
      const ng = `${dir}/c.pcapng`;
      await Deno.writeFile(`${dir}/ok.pcap`, whole);
      const e = await tool(["editcap", "-F", "pcapng", `${dir}/ok.pcap`, ng]);
      assertEquals(e.code, 0, e.stderr);
      const b = await Deno.readFile(ng);
      const dv = new DataView(b.buffer);
      // Walk the blocks to the 31st EPB and break its length.
      let o = 0, epb = 0;
      while (o < b.length) {
        const type = dv.getUint32(o, true), len = dv.getUint32(o + 4, true);
        if (type === 6 && ++epb === 31) break;
        o += len;
      }
      dv.setUint32(o + 4, 13, true);
      await Deno.writeFile(ng, b);
      const n0 = snap(ring).frames;
      r = await replay(["--read", ng, ring]);
      assertEquals(r.code, 1);
      assertEquals(
        r.stderr.trim(),
        `Cannot read capture "${ng}": corrupt pcapng block at byte ${o}: bad length "13" (after 30 frames)`,
      );
      assertEquals(snap(ring).frames, n0 + 30);
    }
  });
});
