/**
 * Real-tool captures replayed onto a wire: frames captured by tcpdump on a lab veth (classic pcap, µs)
 * and converted by tshark to pcapng → `fluxcap -rx --read` → ring → `fluxcap -tx -i` → captured by
 * tcpdump beyond another veth: byte-exact, in order.
 */
import { assertEquals } from "../assert.ts";
import { fluxcapCommand } from "../helpers.ts";
import { Lab, labAvailable, makeFrame, readPcap, type VlanSpec } from "../lab.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { hex, quiet, readRing, snap, tool, until } from "./common.ts";

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
