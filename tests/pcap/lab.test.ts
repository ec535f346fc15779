/**
 * Real-tool captures replayed onto a wire: frames captured by tcpdump on a lab veth (classic pcap, µs)
 * and converted by tshark to pcapng → `fluxcap -rx --read` → ring → `fluxcap -tx -i` → captured by
 * tcpdump beyond another veth: byte-exact, in order.
 */
import { assert, assertEquals } from "../assert.ts";
import { fluxcapCommand } from "../helpers.ts";
import { Lab, labAvailable, makeFrame, readPcap, type VlanSpec } from "../lab.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { hex, pcapOf, quiet, readRing, snap, tool, until } from "./common.ts";

const reason = await labAvailable(["ip", "tcpdump", "tcpreplay", "tshark"]);
if (reason) console.log(`pcap lab tests skipped: ${reason}`);

function frames(count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % 5;
    const vlan: VlanSpec | VlanSpec[] | undefined = k === 1
      ? { tpid: 0x8100, vid: 10 + (i % 7), pcp: i % 8 }
      : k === 3
      ? [{ tpid: 0x88a8, vid: 30 }, { tpid: 0x8100, vid: 40 }]
      : undefined;
    out.push(makeFrame({ len: 60 + ((i * 149) % 1455), seq: i, vlan }));
  }
  return out;
}

Deno.test({
  name: "pcap lab: tcpdump pcap and tshark pcapng → --read → ring → -tx -i → wire, byte-exact",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using lab = await Lab.create("pcap");
    const [gen, fx, s1] = [await lab.ns("gen"), await lab.ns("fx"), await lab.ns("s1")];
    await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
    await lab.veth({ ns: fx, name: "out1" }, { ns: s1, name: "s1" });

    // 1. Real captures: tcpdump on a veth while frames arrive; tshark converts it to pcapng.
    const sent = frames(200);
    const cap = await lab.tcpdump(fx, "in0", { direction: "in" });
    await lab.sendFrames(gen, "g0", sent);
    await cap.waitForFrames(sent.length);
    const pcap = cap.file;
    assertEquals((await cap.stop()).map(hex), sent.map(hex), "tcpdump captured what was sent");
    const pcapng = lab.tempPath(".pcapng");
    const conv = await tool(["tshark", "-r", pcap, "-F", "pcapng", "-w", pcapng]);
    assertEquals(conv.code, 0, conv.stderr);
    const magic = new DataView((await Deno.readFile(pcapng)).buffer).getUint32(0);
    assertEquals(magic, 0x0a0d0d0a, "tshark wrote pcapng");

    // 2. Replay both into a ring that a transmitter sends out of out1; capture beyond the veth.
    const ring = `${lab.dir}/ring`;
    createRing(ring, { size: 16 << 20 });
    const tx = lab.spawn(fx, [...fluxcapCommand(), "-tx", "-i", "out1", ring], { env: { NO_COLOR: "1" } });
    await until(() => snap(ring).readers.length === 1, "transmitter attached", 20_000);
    const sensor = await lab.tcpdump(s1, "s1", { direction: "in" });
    for (const file of [pcap, pcapng]) {
      const r = await lab.run(fx, [...fluxcapCommand(), "-rx", "--read", file, ring], {
        env: { NO_COLOR: "1" },
      });
      assertEquals(r.code, 0, `replay of ${file}: ${r.stderr}`);
      assertEquals(quiet(r.stderr), "");
    }
    await sensor.waitForFrames(2 * sent.length);
    const s = snap(ring);
    const stopped = await tx.stop("SIGINT");
    assertEquals(stopped.code, 0, stopped.stderr);
    const got = await sensor.stop();
    assertEquals(s.frames, 2 * sent.length, "ring frames");
    assertEquals(s.writer!.desc, `rx file ${pcapng}`);
    assertEquals(s.readers[0].framesSent, 2 * sent.length);
    assertEquals(got.length, 2 * sent.length, "frames on the wire");
    assertEquals(got.map(hex), [...sent, ...sent].map(hex), "byte-exact, in order");
    // Capture timestamps survive the replay: the ring holds tcpdump's (µs, in ns) from both files.
    const want = readPcap(await Deno.readFile(pcap)).records.map((r) => [r.sec, r.nsec]);
    const inRing = readRing(ring).map((f) => [f.sec, f.nsec]);
    assertEquals(inRing, [...want, ...want], "timestamps in the ring");
  },
});

Deno.test({
  name: "pcap lab: --pace keeps the recorded gaps, as the kernel's receive times beyond a veth show",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using lab = await Lab.create("pace");
    const [fx, s1] = [await lab.ns("fx"), await lab.ns("s1")];
    await lab.veth({ ns: fx, name: "out1" }, { ns: s1, name: "s1" });
    // 6 frames recorded 100 ms apart
    const sent = frames(6);
    const file = lab.tempPath(".pcap");
    Deno.writeFileSync(
      file,
      pcapOf(sent.map((data, i) => ({ data, sec: 1_700_000_000, nsec: i * 100_000_000, wire: data.length }))),
    );
    const a = `${lab.dir}/a`;
    const b = `${lab.dir}/b`;
    createRing(a, { size: 4 << 20 });
    createRing(b, { size: 4 << 20 });
    const tx = lab.spawn(fx, [...fluxcapCommand(), "-tx", "-i", "out1", a]);
    const rx = lab.spawn(s1, [...fluxcapCommand(), "-rx", "-i", "s1", b]);
    await until(
      () => snap(a).readers.length === 1 && snap(b).writer?.alive === true,
      "both attached",
      20_000,
    );
    const r = await lab.run(fx, [...fluxcapCommand(), "-rx", "--read", file, "--pace", a]);
    assertEquals([r.code, quiet(r.stderr)], [0, ""]);
    await until(() => snap(b).frames === sent.length, "all frames captured beyond the veth", 10_000);
    assertEquals((await tx.stop("SIGINT")).code, 0);
    assertEquals((await rx.stop("SIGINT")).code, 0);
    // The capture's records carry the kernel's receive time: pacing sends no frame before it is due, so
    // the gaps add up to the recorded 500 ms at least, bar the first frame's own lateness (the transmitter
    // wakes at each commit; allow it 100 ms on a loaded machine); a replay without --pace takes a few ms.
    const got = readRing(b);
    const t = (i: number) => got[i].sec * 1000 + got[i].nsec / 1e6;
    assertEquals(got.map((g) => hex(g.data)), sent.map(hex), "in order, byte-exact");
    const span = t(got.length - 1) - t(0);
    assert(span >= 400, `paced frames spread over ${span.toFixed(1)} ms of receive times (recorded: 500 ms)`);
    for (let i = 2; i < got.length; i++) {
      assert(
        t(i) - t(1) >= (i - 1) * 100 - 50,
        `frame ${i} received ${(t(i) - t(1)).toFixed(1)} ms after frame 1`,
      );
    }
  },
});
