/**
 * Capture and transmit on NICs, black-box: fluxcap processes in a lab namespace between a generator and
 * sensors, frames sent with tcpreplay, captured with tcpdump beyond the output veths, compared byte for
 * byte; counters read from the ring.
 */
import { assert, assertEquals, assertIncludes } from "./assert.ts";
import { Lab, labAvailable, type LabProcess, makeFrame, type VlanSpec } from "./lab.ts";
import { fluxcap, fluxcapCommand } from "./helpers.ts";
import { createRing, snapshotOf } from "../lib/ring/mod.ts";
import type { RingSnapshot } from "../lib/ring/mod.ts";

const reason = await labAvailable(["ip", "tcpdump", "tcpreplay"]);
if (reason) console.log(`NIC tests skipped: ${reason}`);
const labTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: reason !== null, fn, sanitizeResources: false, sanitizeOps: false });

const Q = (vid: number, pcp = 0): VlanSpec => ({ tpid: 0x8100, vid, pcp });
const AD = (vid: number): VlanSpec => ({ tpid: 0x88a8, vid });

/** Frames of 60..1514 bytes, some 802.1Q, some 802.1ad (QinQ), one VID-0 priority tag. */
function mixedFrames(count: number, seqBase = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = 60 + ((i * 149) % (1514 - 60 + 1));
    const seq = seqBase + i;
    const kind = i % 5;
    const vlan = kind === 1
      ? Q(10 + (i % 7), i % 8)
      : kind === 3
      ? [AD(30), Q(40)]
      : kind === 4 && i % 10 === 4
      ? Q(0, 5)
      : undefined;
    out.push(makeFrame({ len: Math.max(len, 60), seq, vlan }));
  }
  return out;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Asserts `got` holds exactly the frames of `want`, each once, byte for byte (order free across taps). */
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

/** Tag a frame the way `-rx -V vid` does: replace the outer tag, or insert one after the MACs. */
function tagged(f: Uint8Array, vid: number): Uint8Array {
  const t = (f[12] << 8) | f[13];
  const outer = t === 0x8100 || t === 0x88a8 || t === 0x9100;
  const out = new Uint8Array(f.length + (outer ? 0 : 4));
  out.set(f.subarray(0, 12));
  out.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
  out.set(f.subarray(outer ? 16 : 12), 16);
  return out;
}

interface Topo {
  lab: Lab;
  gen: string;
  fx: string;
  s1: string;
  s2: string;
  dir: string;
  procs: LabProcess[];
}

/** gen.g0 ↔ fx.in0, gen.g1 ↔ fx.in1 (two taps); fx.out1 ↔ s1.s1, fx.out2 ↔ s2.s2 (two sensors). */
async function topology(): Promise<Topo> {
  const lab = await Lab.create("nic");
  try {
    const [gen, fx, s1, s2] = [
      await lab.ns("gen"),
      await lab.ns("fx"),
      await lab.ns("s1"),
      await lab.ns("s2"),
    ];
    await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
    await lab.veth({ ns: gen, name: "g1" }, { ns: fx, name: "in1" });
    await lab.veth({ ns: fx, name: "out1" }, { ns: s1, name: "s1" });
    await lab.veth({ ns: fx, name: "out2" }, { ns: s2, name: "s2" });
    const dir = `${lab.dir}/rings`;
    Deno.mkdirSync(dir);
    return { lab, gen, fx, s1, s2, dir, procs: [] };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

function start(t: Topo, args: string[]): LabProcess {
  const p = t.lab.spawn(t.fx, [...fluxcapCommand(), ...args], { env: { NO_COLOR: "1" } });
  t.procs.push(p);
  return p;
}

const snap = (path: string): RingSnapshot => snapshotOf(path);

/** Waits until the ring has a live writer (when `writer`) and `readers` live readers. */
async function attached(path: string, writer: boolean, readers: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = snap(path);
    if ((!writer || s.writer?.alive) && s.readers.length >= readers) return;
    if (Date.now() > deadline) {
      throw new Error(`ring ${path}: writer ${s.writer?.alive}, ${s.readers.length} readers`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the ring stops changing (frames written and all readers caught up), bounded. */
async function settle(path: string, expectFrames: number): Promise<RingSnapshot> {
  const deadline = Date.now() + 15_000;
  let last = "";
  for (;;) {
    const s = snap(path);
    const key = JSON.stringify([s.frames, s.readers.map((r) => [r.framesRead, r.lagBytes])]);
    if (
      s.frames + s.kernelDrops >= expectFrames && s.readers.every((r) => r.lagBytes === 0) && key === last
    ) return s;
    if (Date.now() > deadline) return s;
    last = key;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** CPU time a process has used: utime + stime, in seconds (USER_HZ 100). */
function cpuSeconds(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function stopAll(t: Topo): Promise<void> {
  for (const p of t.procs) {
    const res = await p.stop("SIGINT", 3000);
    assertEquals(res.code, 0, `${p.cmd.slice(-4).join(" ")} exits 0 on SIGINT: ${res.stderr}`);
  }
  t.procs = [];
}

labTest(
  "nic: replication 1→2, frames 60..1514 with 802.1Q/802.1ad tags arrive byte-exact, once per output",
  async () => {
    const t = await topology();
    try {
      const ring = `${t.dir}/cisco`;
      createRing(ring, { size: 16 << 20 });
      start(t, ["-rx", "-i", "in0", ring]);
      start(t, ["-tx", "-i", "out1", ring]);
      start(t, ["-tx", "-i", "out2", ring]);
      await attached(ring, true, 2);
      const c1 = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
      const c2 = await t.lab.tcpdump(t.s2, "s2", { direction: "in" });
      const frames = mixedFrames(400);
      await t.lab.sendFrames(t.gen, "g0", frames);
      const s = await settle(ring, frames.length);
      assertEquals(s.frames, frames.length, "ring frames_total = frames sent");
      assertEquals(s.kernelDrops, 0);
      const got1 = await c1.waitForFrames(frames.length);
      const got2 = await c2.waitForFrames(frames.length);
      await stopAll(t);
      assertSameFrames(await c1.stop(), frames, "sensor 1");
      assertSameFrames(await c2.stop(), frames, "sensor 2");
      assert(got1.length >= frames.length && got2.length >= frames.length);
    } finally {
      await t.lab.close();
    }
  },
);

labTest("nic: aggregation 2→1 with -V on each tap keeps them apart", async () => {
  const t = await topology();
  try {
    const [cisco, dell] = [`${t.dir}/cisco`, `${t.dir}/dell`];
    const r = await fluxcap(["-cr", "-s", "16m", cisco, dell]);
    assertEquals(r.code, 0, r.stderr);
    start(t, ["-rx", "-i", "in0", "-V", "100", cisco]);
    start(t, ["-rx", "-i", "in1", "-V", "200", dell]);
    start(t, ["-tx", "-i", "out1", cisco]);
    start(t, ["-tx", "-i", "out1", dell]);
    await attached(cisco, true, 1);
    await attached(dell, true, 1);
    const cap = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const a = mixedFrames(150, 0);
    const b = mixedFrames(150, 10_000);
    await Promise.all([t.lab.sendFrames(t.gen, "g0", a), t.lab.sendFrames(t.gen, "g1", b)]);
    await settle(cisco, a.length);
    await settle(dell, b.length);
    await cap.waitForFrames(300);
    await stopAll(t);
    assertSameFrames(
      await cap.stop(),
      [...a.map((f) => tagged(f, 100)), ...b.map((f) => tagged(f, 200))],
      "aggregate",
    );
  } finally {
    await t.lab.close();
  }
});

labTest("nic: aggregation 2→1 without -V sends both taps unchanged", async () => {
  const t = await topology();
  try {
    const [cisco, dell] = [`${t.dir}/cisco`, `${t.dir}/dell`];
    createRing(cisco, { size: 8 << 20 });
    createRing(dell, { size: 8 << 20 });
    start(t, ["-rx", "-i", "in0", cisco]);
    start(t, ["-rx", "-i", "in1", dell]);
    start(t, ["-tx", "-i", "out1", cisco]);
    start(t, ["-tx", "-i", "out1", dell]);
    await attached(cisco, true, 1);
    await attached(dell, true, 1);
    const cap = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const a = mixedFrames(100, 0);
    const b = mixedFrames(100, 5000);
    await Promise.all([t.lab.sendFrames(t.gen, "g0", a), t.lab.sendFrames(t.gen, "g1", b)]);
    await cap.waitForFrames(200);
    await stopAll(t);
    assertSameFrames(await cap.stop(), [...a, ...b], "aggregate");
  } finally {
    await t.lab.close();
  }
});

labTest("nic: frame operations on tx (-V, -s, -D, -f, -d) and on rx (-Q), counted by reason", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 16 << 20 });
    start(t, ["-rx", "-i", "in0", ring]);
    start(t, ["-tx", "-i", "out1", "-f", "vlan 11", "-V", "300", ring]);
    start(t, ["-tx", "-i", "out2", "-s", "100", "-D", "4", "-d", "50", ring]);
    await attached(ring, true, 2);
    const c1 = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const c2 = await t.lab.tcpdump(t.s2, "s2", { direction: "in" });
    const frames = mixedFrames(1000);
    await t.lab.sendFrames(t.gen, "g0", frames);
    const s = await settle(ring, frames.length);
    await new Promise((r) => setTimeout(r, 500));
    const s2 = snap(ring);
    await stopAll(t);
    const got1 = await c1.stop();
    const got2 = await c2.stop();
    // out1: only VLAN 11, with a 0x8100/300 tag inserted in front (tx -V inserts).
    const want1 = frames.filter((f) =>
      f[12] === 0x81 && f[13] === 0 && (((f[14] << 8) | f[15]) & 0xfff) === 11
    )
      .map((f) => {
        const o = new Uint8Array(f.length + 4);
        o.set(f.subarray(0, 12));
        o.set([0x81, 0x00, 0x01, 0x2c], 12);
        o.set(f.subarray(12), 16);
        return o;
      });
    assert(want1.length > 0);
    assertSameFrames(got1, want1, "filtered + tagged");
    const r1 = s2.readers.find((r) => r.desc === "tx out1")!;
    assertEquals(r1.drops.filtered, frames.length - want1.length, "filtered frames counted");
    assertEquals(r1.framesSent, want1.length);
    // out2: about half, each cut at 100 bytes then trimmed by 4 (fluxcap 3.2's order: 96 bytes).
    const r2 = s2.readers.find((r) => r.desc === "tx out2")!;
    assertEquals(r2.framesSent + r2.drops.sampled, frames.length, "sent + sampled = all");
    assertEquals(got2.length, r2.framesSent);
    assert(r2.drops.sampled > 350 && r2.drops.sampled < 650, `about half sampled: ${r2.drops.sampled}`);
    const byPrefix = new Map(frames.map((f) => [hex(f.subarray(0, 40)), f]));
    for (const g of got2) {
      const f = byPrefix.get(hex(g.subarray(0, 40)))!;
      assert(f !== undefined, "each output frame comes from an input frame");
      const expect = f.subarray(0, Math.min(100, f.length) - 4);
      assertEquals(hex(g), hex(expect.length < 60 ? expect : expect));
    }
    assertEquals(s.frames, frames.length);
  } finally {
    await t.lab.close();
  }
});

labTest("nic: -rx -Q strips tags, -rx -V replaces them, -rx -f keeps one VLAN", async () => {
  const t = await topology();
  try {
    const [a, b] = [`${t.dir}/a`, `${t.dir}/b`];
    createRing(a, { size: 8 << 20 });
    createRing(b, { size: 8 << 20 });
    start(t, ["-rx", "-i", "in0", "-Q", a]);
    start(t, ["-rx", "-i", "in1", "-f", "vlan 12", b]);
    start(t, ["-tx", "-i", "out1", a]);
    start(t, ["-tx", "-i", "out2", b]);
    await attached(a, true, 1);
    await attached(b, true, 1);
    const c1 = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const c2 = await t.lab.tcpdump(t.s2, "s2", { direction: "in" });
    const frames = mixedFrames(200);
    await Promise.all([t.lab.sendFrames(t.gen, "g0", frames), t.lab.sendFrames(t.gen, "g1", frames)]);
    await settle(a, frames.length);
    const sb = await settle(b, 1);
    await new Promise((r) => setTimeout(r, 300));
    await stopAll(t);
    const strip = (f: Uint8Array) => {
      const tp = (f[12] << 8) | f[13];
      if (tp !== 0x8100 && tp !== 0x88a8) return f;
      const o = new Uint8Array(f.length - 4);
      o.set(f.subarray(0, 12));
      o.set(f.subarray(16), 12);
      return o;
    };
    assertSameFrames(await c1.stop(), frames.map(strip), "-Q");
    const keep = frames.filter((f) => f[12] === 0x81 && (((f[14] << 8) | f[15]) & 0xfff) === 12);
    assert(keep.length > 0);
    assertSameFrames(await c2.stop(), keep, "-f 'vlan 12'");
    assertEquals(sb.writer!.drops.filtered, frames.length - keep.length, "rx filter counted");
  } finally {
    await t.lab.close();
  }
});

labTest("nic: -R (PACKET_TX_RING, sized by -B/-S) and -q (qdisc bypass) transmit byte-exact", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 16 << 20 });
    start(t, ["-rx", "-i", "in0", "-Z", "64", ring]); // a slot size 3.2's TPACKET_V2 took, too small for V3
    start(t, ["-tx", "-i", "out1", "-R", "-B", "2", "-S", "16", ring]); // a small TX ring sized as 3.2 took it
    start(t, ["-tx", "-i", "out2", "-q", ring]);
    await attached(ring, true, 2);
    // The TX ring the kernel mapped is -B 2 blocks of 2^16 bytes (the process's socket mapping).
    const pid = snap(ring).readers.find((r) => r.desc === "tx out1")!.pid;
    const maps = Deno.readTextFileSync(`/proc/${pid}/maps`).split("\n").filter((l) => l.includes("socket:["));
    const sizes = maps.map((l) => l.split(" ")[0].split("-").map((x) => parseInt(x, 16))).map(([a, b]) =>
      b - a
    );
    assertEquals(sizes, [2 << 16], maps.join("\n"));
    const c1 = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const c2 = await t.lab.tcpdump(t.s2, "s2", { direction: "in" });
    const frames = mixedFrames(300);
    await t.lab.sendFrames(t.gen, "g0", frames);
    await settle(ring, frames.length);
    await c1.waitForFrames(frames.length);
    await c2.waitForFrames(frames.length);
    await stopAll(t);
    assertSameFrames(await c1.stop(), frames, "-R");
    assertSameFrames(await c2.stop(), frames, "-q");
  } finally {
    await t.lab.close();
  }
});

labTest("nic: oversize frames are counted and skipped with a warning, the rest still go out", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 16 << 20 });
    await t.lab.run(t.fx, ["ip", "link", "set", "in0", "mtu", "9000"]);
    await t.lab.run(t.gen, ["ip", "link", "set", "g0", "mtu", "9000"]);
    start(t, ["-rx", "-i", "in0", ring]);
    const tx = start(t, ["-tx", "-i", "out1", ring]);
    await attached(ring, true, 1);
    const cap = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const small = mixedFrames(50);
    const big = [3000, 9000].map((len, i) => makeFrame({ len, seq: 900 + i }));
    await t.lab.sendFrames(t.gen, "g0", [...small.slice(0, 25), ...big, ...small.slice(25)]);
    await settle(ring, 52);
    await cap.waitForFrames(50);
    const s = snap(ring);
    await stopAll(t);
    assertSameFrames(await cap.stop(), small, "small frames still sent");
    assertEquals(s.readers[0].drops.oversize, 2);
    assertEquals(s.readers[0].framesSent, 50);
    const err = (await tx.done).stderr;
    assertIncludes(err, 'Frame of 3000 bytes is larger than "out1" can carry (MTU 1500)');
    assertIncludes(err, "ethtool -K IF gro off lro off");
    assertEquals(err.split("\n").filter((l) => l.includes("larger than")).length, 1, "warned once");
  } finally {
    await t.lab.close();
  }
});

labTest("nic: a link flap during transmit: tx survives and resumes", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 16 << 20 });
    start(t, ["-rx", "-i", "in0", ring]);
    const tx = start(t, ["-tx", "-i", "out1", ring]);
    await attached(ring, true, 1);
    const cap = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
    const before = mixedFrames(100, 0);
    const during = mixedFrames(200, 1000);
    const after = mixedFrames(100, 2000);
    await t.lab.sendFrames(t.gen, "g0", before);
    await cap.waitForFrames(100);
    await t.lab.run(t.fx, ["ip", "link", "set", "out1", "down"]);
    await t.lab.sendFrames(t.gen, "g0", during, { ratePps: 2000 });
    await new Promise((r) => setTimeout(r, 300));
    await t.lab.run(t.fx, ["ip", "link", "set", "out1", "up"]);
    await new Promise((r) => setTimeout(r, 1500)); // carrier back
    assert(!tx.exited, "tx still running after the link went down");
    await t.lab.sendFrames(t.gen, "g0", after);
    await settle(ring, 400);
    const got = await cap.waitForFrames(200);
    const s = snap(ring);
    await stopAll(t);
    const all = await cap.stop();
    assert(got.length >= 200);
    const hexes = new Set(all.map(hex));
    for (const f of after) assert(hexes.has(hex(f)), "frames after the flap are delivered");
    const r = s.readers[0];
    assertEquals(r.framesSent + r.drops.send_error + r.framesLost, 400, "every frame sent or counted");
    assert(r.drops.send_error > 0, "frames sent while the link was down are counted as send errors");
  } finally {
    await t.lab.close();
  }
});

labTest(
  "nic: loss accounting with a ring too small for a burst: sent = delivered + counted losses",
  async () => {
    const t = await topology();
    try {
      const ring = `${t.dir}/r`;
      createRing(ring, { size: 256 << 10 });
      start(t, ["-rx", "-i", "in0", ring]);
      const tx = start(t, ["-tx", "-i", "out1", ring]);
      await attached(ring, true, 1);
      const cap = await t.lab.tcpdump(t.s1, "s1", { direction: "in" });
      Deno.kill(tx.pid, "SIGSTOP"); // the sensor side stalls while a burst arrives
      const frames = mixedFrames(2000);
      await t.lab.sendFrames(t.gen, "g0", frames);
      await new Promise((r) => setTimeout(r, 300));
      Deno.kill(tx.pid, "SIGCONT");
      const s = await settle(ring, frames.length);
      await new Promise((r) => setTimeout(r, 500));
      const s2 = snap(ring);
      await stopAll(t);
      const got = await cap.stop();
      const r = s2.readers[0];
      assert(r.framesLost > 0, "the burst overran the ring");
      assertEquals(s.frames + s.kernelDrops, frames.length, "generated = captured + kernel drops");
      assertEquals(got.length, r.framesSent, "delivered = sent");
      assertEquals(
        r.framesSent + r.framesLost + Object.values(r.drops).reduce((a, b) => a + b, 0),
        s2.frames,
      );
      const wanted = new Set(frames.map(hex));
      for (const g of got) assert(wanted.has(hex(g)), "every delivered frame is intact");
    } finally {
      await t.lab.close();
    }
  },
);

labTest("nic: bad input gets one clear line and exit 1 (runtime) or 2 (configuration)", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 1 << 20 });
    // runtime failures exit 1, configuration errors 2
    const cases: [string[], string, number][] = [
      [["-rx", "-i", "nosuch0", ring], 'Cannot find interface "nosuch0": No such device (ENODEV)', 1],
      [["-tx", "-i", "out1", `${t.dir}/missing`], `Cannot open ring "${t.dir}/missing": no such file`, 1],
      [["-rx", "-i", "in0", "-V", "5000", ring], 'VLAN id "5000" is out of range 1..4094', 2],
      [["-rx", "-i", "in0", "-V", "abc", ring], 'Invalid VLAN id "abc"', 2],
      [["-tx", "-i", "out1", "-d", "150", ring], 'Sampling percentage "150" is out of range 0..100', 2],
      [["-tx", "-i", "out1", "-s", "big", ring], 'Invalid snap length "big"', 2],
      [["-rx", "-i", "in0", "-V", "5000", "-Q", ring], 'VLAN id "5000" is out of range 1..4094', 2],
      [["-rx", "-tx", "-i", "in0", ring], "Conflicting modes", 2],
      [["-rx", "-i", "in0", "-f", "tcp prot 22", ring], 'Cannot compile filter "tcp prot 22"', 2],
      [["-rx", "-i", "in0", "-Z", "100", ring], 'Invalid frame size "-Z 100"', 2],
    ];
    for (const [args, text, code] of cases) {
      const res = await t.lab.run(t.fx, [...fluxcapCommand(), ...args]);
      assertEquals(res.code, code, `${args.join(" ")} exits ${code}`);
      assertIncludes(res.stderr, text);
      assertEquals(res.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}: ${res.stderr}`);
      assert(!res.stderr.includes("    at "), "no stack trace");
    }
    // A second writer on a ring is refused with the first one's pid.
    const rx = start(t, ["-rx", "-i", "in0", ring]);
    await attached(ring, true, 0);
    const res = await t.lab.run(t.fx, [...fluxcapCommand(), "-rx", "-i", "in1", ring]);
    assertEquals(res.code, 1);
    assertIncludes(res.stderr, `Ring "${ring}" already has a writer (pid ${rx.pid})`);
    await stopAll(t);
  } finally {
    await t.lab.close();
  }
});

labTest("nic: --metrics on -rx and -tx serves Prometheus counters that match the traffic", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/cisco`;
    createRing(ring, { size: 8 << 20 });
    start(t, ["-rx", "-i", "in0", "--metrics", "127.0.0.1:9464", ring]);
    start(t, ["-tx", "-i", "out1", "--metrics", "9465", ring]);
    await attached(ring, true, 1);
    const frames = mixedFrames(250);
    await t.lab.sendFrames(t.gen, "g0", frames);
    await settle(ring, frames.length);
    const scrape = async (port: number) => {
      const code = `const r = await fetch("http://127.0.0.1:${port}/metrics"); console.log(await r.text());`;
      const res = await t.lab.run(t.fx, [Deno.execPath(), "eval", code]);
      assertEquals(res.code, 0, res.stderr);
      return res.stdout;
    };
    const rx = await scrape(9464);
    const tx = await scrape(9465);
    await stopAll(t);
    const value = (text: string, metric: string, extra = "") => {
      const line = text.split("\n").find((l) => l.startsWith(metric + "{") && l.includes(extra));
      assert(line !== undefined, `${metric} ${extra} present`);
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    for (const text of [rx, tx]) {
      assertEquals(value(text, "fluxcap_ring_frames_total", `ring="${ring}"`), 250);
      assertEquals(value(text, "fluxcap_reader_frames_sent_total", "tx out1"), 250);
      assertEquals(value(text, "fluxcap_reader_lost_frames_total", "tx out1"), 0);
      assertEquals(value(text, "fluxcap_reader_dropped_frames_total", 'reason="oversize"'), 0);
      assertIncludes(text, "# TYPE fluxcap_ring_frames_total counter");
    }
  } finally {
    await t.lab.close();
  }
});

labTest("nic: idle -rx and -tx sleep in the kernel (about 0% CPU on an idle link and ring)", async () => {
  const t = await topology();
  try {
    const ring = `${t.dir}/r`;
    createRing(ring, { size: 8 << 20 });
    const rx = start(t, ["-rx", "-i", "in0", ring]);
    const tx = start(t, ["-tx", "-i", "out1", ring]);
    await attached(ring, true, 1);
    await new Promise((r) => setTimeout(r, 1000)); // past start-up
    const cpu = cpuSeconds;
    const before = [cpu(rx.pid), cpu(tx.pid)];
    await new Promise((r) => setTimeout(r, 3000));
    const used = [cpu(rx.pid) - before[0], cpu(tx.pid) - before[1]];
    await stopAll(t);
    assert(used[0] <= 0.15, `idle -rx used ${used[0]} s of CPU in 3 s`);
    assert(used[1] <= 0.15, `idle -tx used ${used[1]} s of CPU in 3 s`);
  } finally {
    await t.lab.close();
  }
});

labTest(
  "nic: an interface that goes away ends -rx and -tx with one clear line (exit 1), so a supervisor restarts them",
  async () => {
    const t = await topology();
    try {
      const ring = `${t.dir}/r`;
      createRing(ring, { size: 8 << 20 });
      const rx = start(t, ["-rx", "-i", "in0", ring]);
      const tx = start(t, ["-tx", "-i", "out1", ring]);
      await attached(ring, true, 1);
      await t.lab.run(t.fx, ["ip", "link", "del", "in0"]);
      await t.lab.run(t.fx, ["ip", "link", "del", "out1"]);
      for (const [p, name] of [[rx, "in0"], [tx, "out1"]] as const) {
        const res = await Promise.race([p.done, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        assert(res !== null, `${name}: the process ended`);
        assertEquals(res!.code, 1);
        assertIncludes(res!.stderr, `Interface "${name}" went away`);
        assertEquals(res!.stderr.trim().split("\n").length, 1);
      }
      t.procs = [];
    } finally {
      await t.lab.close();
    }
  },
);

labTest(
  "nic: the capture link going down and up: -rx survives without spinning and captures again",
  async () => {
    const t = await topology();
    try {
      const ring = `${t.dir}/r`;
      createRing(ring, { size: 8 << 20 });
      const rx = start(t, ["-rx", "-i", "in0", ring]);
      await attached(ring, true, 0);
      await t.lab.sendFrames(t.gen, "g0", mixedFrames(50));
      await t.lab.run(t.fx, ["ip", "link", "set", "in0", "down"]);
      const cpu = () => cpuSeconds(rx.pid);
      const before = cpu();
      await new Promise((r) => setTimeout(r, 2000));
      const used = cpu() - before;
      assert(used < 0.2, `rx used ${used} s of CPU in 2 s while its link was down`);
      assert(!rx.exited, "rx still running");
      await t.lab.run(t.fx, ["ip", "link", "set", "in0", "up"]);
      await new Promise((r) => setTimeout(r, 1500));
      await t.lab.sendFrames(t.gen, "g0", mixedFrames(70, 100));
      const s = await settle(ring, 120);
      assertEquals(s.frames, 120, "frames before and after the flap are captured");
      await stopAll(t);
    } finally {
      await t.lab.close();
    }
  },
);
