/**
 * VXLAN interop with the Linux kernel's own VXLAN device in a peer namespace: what fluxcap sends is
 * decapsulated by the kernel byte for byte (IPv4 and IPv6 outer headers), what the kernel sends lands in
 * fluxcap's ring byte for byte; VNI filter, oversize accounting with its hint, --fragment.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeFrame } from "../lab.ts";
import { UDP_BUCKETS } from "../../lib/sinks/mod.ts";
import {
  A4,
  accounted,
  assertFrames,
  assertSameFrames,
  B4,
  B6,
  emptyRing,
  fillRing,
  fluxcapIn,
  hex,
  labTest,
  must,
  pair,
  readRing,
  snap,
  until,
  writerUp,
} from "./common.ts";

function frames(n: number, maxLen = 1400, net = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const len = 60 + ((i * 197) % (maxLen - 60 + 1));
    const src = `02:66:78:${net.toString(16).padStart(2, "0")}:${(i % 7).toString(16).padStart(2, "0")}:01`;
    out.push(makeFrame({ len, seq: i, src, vlan: i % 4 === 1 ? { tpid: 0x8100, vid: 100 + i } : undefined }));
  }
  return out;
}

labTest(
  "vxlan: fluxcap -tx -E vxlan is decapsulated by the kernel's VXLAN device, byte for byte",
  async () => {
    const p = await pair("vxtx", { v6: true });
    try {
      const { lab, a, b, dir } = p;
      await must(lab, b, [
        "ip",
        "link",
        "add",
        "vx4",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        B4,
        "dev",
        "vb",
      ]);
      await must(lab, b, [
        "ip",
        "link",
        "add",
        "vx6",
        "type",
        "vxlan",
        "id",
        "7",
        "dstport",
        "4789",
        "local",
        B6,
        "dev",
        "vb",
      ]);
      for (const d of ["vx4", "vx6"]) await must(lab, b, ["ip", "link", "set", d, "up"]);
      const cap4 = await lab.tcpdump(b, "vx4", { direction: "in", snaplen: 2048 });
      const cap6 = await lab.tcpdump(b, "vx6", { direction: "in", snaplen: 2048 });
      const outer = await lab.tcpdump(b, "vb", {
        direction: "in",
        filter: "udp dst port 4789",
        snaplen: 2048,
      });
      for (
        const [ring, dst, vni, cap, net] of [[`${dir}/v4`, B4, "42", cap4, 4], [
          `${dir}/v6`,
          B6,
          "7",
          cap6,
          6,
        ]] as const
      ) {
        const want = frames(40, 1400, net);
        fillRing(ring, want);
        const fx = fluxcapIn(lab, a, ["-tx", "-E", `vxlan:${dst}`, "-K", vni, "--from-oldest", ring]);
        const s = await accounted(ring, want.length, fx);
        assertEquals(s.readers[0].framesSent, want.length, `sent over ${dst}`);
        await cap.waitForFrames(want.length, 2000);
        const got = await cap.stop(); // SIGINT: tcpdump flushes what the kernel still holds
        assertSameFrames(got, want, `kernel VXLAN device (outer ${dst})`);
        await fx.stop();
      }
      // the UDP source port follows the inner flow: several flows, several ports, one port per flow
      const pk = await outer.stop();
      const ports = new Set(pk.filter((f) => f[12] === 0x08).map((f) => (f[34] << 8) | f[35]));
      assert(ports.size >= 3, `expected spread source ports, got ${[...ports].join(",")}`);
      for (const port of ports) assert(port >= 49152, `source port ${port} outside 49152..65535`);
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "vxlan: the kernel's VXLAN device sends, fluxcap -rx -E vxlan receives byte for byte; VNI filter",
  async () => {
    const p = await pair("vxrx");
    try {
      const { lab, a, b, dir } = p;
      for (const [dev, vni] of [["vx42", "42"], ["vx43", "43"]]) {
        await must(lab, a, [
          "ip",
          "link",
          "add",
          dev,
          "type",
          "vxlan",
          "id",
          vni,
          "dstport",
          "4789",
          "remote",
          B4,
          "local",
          A4,
          "dev",
          "va",
        ]);
        await must(lab, a, ["ip", "link", "set", dev, "up"]);
      }
      const ring = `${dir}/rx`;
      emptyRing(ring);
      const fx = fluxcapIn(lab, b, ["-rx", "-E", "vxlan", "-K", "42", ring]);
      await writerUp(ring, fx);
      const want = frames(30);
      await lab.sendFrames(a, "vx42", want);
      await lab.sendFrames(a, "vx43", frames(5)); // other VNI: counted, not stored
      await until(() => {
        const s = snap(ring);
        return s.frames >= want.length && (s.writer?.drops.key_mismatch ?? 0) >= 5;
      });
      const s = snap(ring);
      assertEquals(s.writer?.drops.key_mismatch, 5, "VNI 43 packets counted as key_mismatch");
      await fx.stop();
      assertFrames(readRing(ring), want, "ring after -rx -E vxlan");
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "vxlan: oversize frames are counted with a hint at -s; --fragment sends them in fragments",
  async () => {
    const p = await pair("vxbig");
    try {
      const { lab, a, b, dir } = p;
      await must(lab, b, [
        "ip",
        "link",
        "add",
        "vx4",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        B4,
        "dev",
        "vb",
      ]);
      await must(lab, b, ["ip", "link", "set", "vx4", "up"]);
      const want = [
        makeFrame({ len: 1514, seq: 1 }),
        makeFrame({ len: 100, seq: 2 }),
        makeFrame({ len: 1514, seq: 3 }),
        makeFrame({ len: 1450, seq: 4 }),
      ];
      const ring = `${dir}/big`;
      fillRing(ring, want);
      let fx = fluxcapIn(lab, a, ["-tx", "-E", `vxlan:${B4}`, "-K", "42", "--from-oldest", ring]);
      const s = await accounted(ring, want.length, fx);
      assertEquals(s.readers[0].drops.oversize, 2, "1514-byte frames over a 1500 MTU path are oversize");
      assertEquals(s.readers[0].framesSent, 2);
      await fx.waitFor("-s 1464", { timeoutMs: 5000 });
      assertIncludes(fx.stderr, "--fragment");
      await fx.stop();
      const cap = await lab.tcpdump(b, "vx4", { direction: "in", snaplen: 2048 });
      fx = fluxcapIn(lab, a, ["-tx", "-E", `vxlan:${B4}`, "-K", "42", "--fragment", "--from-oldest", ring]);
      const s2 = await accounted(ring, want.length, fx);
      assertEquals(s2.readers[0].framesSent, want.length);
      await cap.waitForFrames(want.length, 2000);
      assertFrames(await cap.stop(), want, "reassembled by the kernel");
      await fx.stop();
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "vxlan: one UDP source port per flow; a peer answering 'port unreachable' costs no frame",
  async () => {
    const p = await pair("vxport");
    try {
      const { lab, b, a, dir } = p;
      // nothing listens on UDP 4789 in b: every packet draws an ICMP port unreachable (rate-limited)
      const udp = await lab.tcpdump(b, "vb", { direction: "in", filter: "udp dst port 4789", snaplen: 128 });
      const icmp = await lab.tcpdump(b, "vb", { direction: "out", filter: "icmp", snaplen: 128 });
      const n = 300;
      const want = Array.from({ length: n }, (_, i) =>
        makeFrame({
          len: 60 + (i % 50),
          seq: i,
          src: `02:66:78:00:02:${(i % 40).toString(16).padStart(2, "0")}`,
        }));
      const ring = `${dir}/r`;
      fillRing(ring, want);
      const fx = fluxcapIn(lab, a, ["-tx", "-E", `vxlan:${B4}`, "--from-oldest", ring]);
      const s = await accounted(ring, n, fx);
      assertEquals(s.readers[0].framesSent, n, `sent: ${JSON.stringify(s.readers[0].drops)}`);
      await udp.waitForFrames(n, 3000);
      const pk = await udp.stop();
      const replies = await icmp.stop();
      await fx.stop();
      assert(replies.length > 0, "the peer answered with ICMP port unreachable");
      assertEquals(pk.length, n, "every frame went out");
      // outer: Ethernet 14, IPv4 20, UDP 8, VXLAN 8; inner source MAC at 50 + 6
      const portOf = new Map<string, Set<number>>();
      for (const f of pk) {
        const mac = hex(f.subarray(56, 62));
        const set = portOf.get(mac) ?? new Set<number>();
        set.add((f[34] << 8) | f[35]);
        portOf.set(mac, set);
      }
      assertEquals(portOf.size, 40, "40 flows");
      for (const [mac, ports] of portOf) assertEquals(ports.size, 1, `flow ${mac}: one source port`);
      const all = new Set([...portOf.values()].map((x) => [...x][0]));
      assert(all.size >= 8, `40 flows spread over ${all.size} source ports`);
      assert(all.size <= UDP_BUCKETS, `at most one port per UDP socket of the pool, got ${all.size}`);
    } finally {
      await p.lab.close();
    }
  },
);
