/**
 * A transmitter lapped by its writer sends every frame whole or not at all: a 256 KiB ring, a file
 * replayed into it far faster than the output sends, frames of 64..1514 bytes each carrying its own
 * checksum. On the wire: no torn frame, none twice, and what the sensor received plus what the reader
 * counted lost or dropped equals what the ring was offered, exactly. With `sendmmsg`, with `-R`, and
 * with the output throttled by a qdisc.
 */
import { assert, assertEquals } from "./assert.ts";
import { Lab, labAvailable, makeFrame, parseTestFrame, readPcapFrames, writePcap } from "./lab.ts";
import { fluxcapCommand } from "./helpers.ts";
import { createRing, snapshotOf } from "../lib/ring/mod.ts";

const reason = await labAvailable(["ip", "tcpdump", "tc"]);
if (reason) console.log(`torn-frame tests skipped: ${reason}`);
const labTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: reason !== null, fn, sanitizeResources: false, sanitizeOps: false });

const FRAMES = 12_000;

function frames(max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < FRAMES; i++) out.push(makeFrame({ len: 64 + ((i * 211) % (max - 64 + 1)), seq: i }));
  return out;
}

/**
 * How the frames leave: on the NIC, or in VXLAN to the sensor (outer headers stripped), or in VXLAN
 * over a 400-byte MTU with `--fragment` (5 fragments a frame: a batch of 256 frames needs more messages
 * than the sender holds, so it sends while staging), or to a file.
 */
type Output = "nic" | "vxlan" | "vxlan-frag" | "file";

/** Reassembles the IPv4 fragments among `wire` frames (Ethernet + IPv4, no options); whole datagrams too. */
function reassemble(wire: Uint8Array[]): Uint8Array[] {
  const parts = new Map<number, { at: number; bytes: Uint8Array; last: boolean }[]>();
  const out: Uint8Array[] = [];
  for (const w of wire) {
    if (w.length < 34 || w[12] !== 0x08 || w[13] !== 0x00 || (w[14] & 0x0f) !== 5) continue;
    const total = (w[16] << 8) | w[17];
    const id = (w[18] << 8) | w[19];
    const flags = (w[20] << 8) | w[21];
    const at = (flags & 0x1fff) * 8;
    const last = (flags & 0x2000) === 0;
    const bytes = w.subarray(34, 14 + total);
    if (at === 0 && last) {
      out.push(bytes);
      continue;
    }
    const list = parts.get(id) ?? [];
    list.push({ at, bytes, last });
    parts.set(id, list);
    list.sort((a, b) => a.at - b.at);
    let end = 0;
    for (const p of list) end = p.at === end ? end + p.bytes.length : -1;
    if (end > 0 && list.at(-1)!.last) {
      const d = new Uint8Array(end);
      for (const p of list) d.set(p.bytes, p.at);
      out.push(d);
      parts.delete(id);
    }
  }
  return out;
}

async function lapped(txArgs: string[], opts: { qdisc?: string[]; output?: Output } = {}): Promise<void> {
  const output = opts.output ?? "nic";
  const qdisc = opts.qdisc;
  const lab = await Lab.create("torn");
  try {
    const fx = await lab.ns("fx");
    const s1 = await lab.ns("s1");
    await lab.veth({ ns: fx, name: "out1" }, { ns: s1, name: "s1" });
    for (const [ns, dev, ip] of [[fx, "out1", "198.18.30.1/24"], [s1, "s1", "198.18.30.2/24"]]) {
      await lab.run(ns, ["ip", "addr", "add", ip, "dev", dev]);
    }
    if (qdisc) {
      const q = await lab.run(fx, ["tc", "qdisc", "add", "dev", "out1", "root", ...qdisc]);
      assertEquals(q.code, 0, q.stderr);
    }
    const ring = `${lab.dir}/r`;
    createRing(ring, { size: 256 << 10 });
    const file = `${lab.dir}/big.pcap`;
    if (output === "vxlan-frag") await lab.run(fx, ["ip", "link", "set", "out1", "mtu", "400"]);
    Deno.writeFileSync(file, writePcap(frames(output === "nic" || output === "file" ? 1514 : 1400)));
    const out = `${lab.dir}/out.pcap`;
    const target = output === "nic"
      ? ["-i", "out1"]
      : output === "vxlan"
      ? ["-E", "vxlan:198.18.30.2"]
      : output === "vxlan-frag"
      ? ["-E", "vxlan:198.18.30.2", "--fragment"]
      : ["-w", out];
    const tx = lab.spawn(fx, [...fluxcapCommand(), "-tx", ...txArgs, ...target, ring]);
    for (let i = 0; i < 200 && snapshotOf(ring).readers.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const cap = await lab.tcpdump(s1, "s1", { direction: "in" });
    const rx = await lab.run(fx, [...fluxcapCommand(), "-rx", "--read", file, ring], { timeoutMs: 60_000 });
    assertEquals(rx.code, 0, rx.stderr);
    // wait for the reader to drain what it can, then stop it
    let last = -1;
    for (let i = 0; i < 100; i++) {
      const r = snapshotOf(ring).readers[0];
      const done = r.framesSent + r.framesLost + Object.values(r.drops).reduce((a, b) => a + b, 0);
      if (r.lagBytes === 0 && done === last) break;
      last = done;
      await new Promise((r) => setTimeout(r, 200));
    }
    const s = snapshotOf(ring);
    const stop = await tx.stop("SIGINT", 3000);
    assertEquals(stop.code, 0, stop.stderr);
    const wire = await cap.stop();
    // the frames as sent: on the NIC as they are, in VXLAN behind 50 bytes of outer headers
    const got = output === "file"
      ? readPcapFrames(Deno.readFileSync(out))
      : output === "vxlan"
      ? wire.filter((w) => w.length > 50 && w[23] === 17 && ((w[36] << 8) | w[37]) === 4789).map((w) =>
        w.subarray(50)
      )
      : output === "vxlan-frag"
      ? reassemble(wire).filter((d) => d.length > 16 && ((d[2] << 8) | d[3]) === 4789).map((d) =>
        d.subarray(16)
      )
      : wire;
    const r = s.readers[0];
    assertEquals(s.frames, FRAMES, "the ring was offered every frame");
    assert(r.framesLost > 0, "the writer lapped the reader");
    assert(got.length > 100, `frames reached the output (${got.length})`);
    const seen = new Set<number>();
    for (const g of got) {
      const t = parseTestFrame(g);
      assert(t !== null && t.len === g.length, `a torn frame reached the wire (${g.length} bytes)`);
      assert(!seen.has(t.seq), `frame ${t.seq} was sent twice`);
      seen.add(t.seq);
    }
    // Frames can still be lost after they left fluxcap, on a loaded machine: in the veth (its peer's
    // backlog full) or in tcpdump's buffer. Both are counted by the kernel; fluxcap is exact up to there.
    const stat = async (ns: string, dev: string, what: string) =>
      Number((await lab.run(ns, ["cat", `/sys/class/net/${dev}/statistics/${what}`])).stdout);
    const after = output === "file"
      ? 0
      : cap.kernelDrops + await stat(fx, "out1", "tx_dropped") + await stat(s1, "s1", "rx_dropped");
    if (output === "vxlan-frag") {
      // one lost fragment loses its frame, and the kernel counts fragments, not frames: exact when none
      assert(got.length <= r.framesSent, `${got.length} frames reassembled, ${r.framesSent} sent`);
      if (after === 0) assertEquals(got.length, r.framesSent, "what the sensor reassembled = sent");
    } else {
      assertEquals(
        got.length + after,
        r.framesSent,
        "what the sensor received (+ lost after fluxcap) = sent",
      );
    }
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    assertEquals(r.framesSent + r.framesLost + dropped, FRAMES, "sent + lost + dropped = offered");
  } finally {
    await lab.close();
  }
}

labTest("torn: a lapped -tx sends whole frames or counts them lost (sendmmsg)", () => lapped([]));
labTest("torn: a lapped -tx -R sends whole frames or counts them lost (TX ring)", () => lapped(["-R"]));
labTest(
  "torn: a lapped -tx behind a 40 Mbit/s qdisc sends whole frames or counts them lost",
  () => lapped([], { qdisc: ["tbf", "rate", "40mbit", "burst", "32kb", "latency", "50ms"] }),
);
labTest(
  "torn: a lapped -tx -E vxlan sends whole frames or counts them lost",
  () => lapped([], { output: "vxlan" }),
);
labTest(
  "torn: a lapped -tx -E vxlan --fragment (more messages than a batch holds) sends whole frames or counts them lost",
  () => lapped([], { output: "vxlan-frag" }),
);
labTest(
  "torn: a lapped -tx -w writes whole frames or counts them lost",
  () => lapped([], { output: "file" }),
);
