/**
 * GRE, GRETAP and ERSPAN interop: what fluxcap sends is decoded by tshark (key, protocol, inner frame,
 * IPv4 and IPv6 outer headers, fragments reassembled); packets crafted by scapy are received and
 * decapsulated byte for byte, wrong keys and sessions are ignored and counted, garbage interleaved with
 * good packets costs no good packet.
 */
import { assert, assertEquals } from "../assert.ts";
import { type Lab, makeFrame } from "../lab.ts";
import {
  A6,
  accounted,
  assertFrames,
  B4,
  B6,
  emptyRing,
  fillRing,
  fluxcapIn,
  hex,
  labTest,
  MAC_A,
  MAC_B,
  must,
  pair,
  readRing,
  snap,
  tshark,
  until,
  writerUp,
} from "./common.ts";

const PY = "/usr/bin/python3";
const SCAPY_SEND = new URL("./scapy_send.py", import.meta.url).pathname;

async function scapySend(lab: Lab, ns: string, dst: string, packets: unknown[]): Promise<void> {
  const r = await lab.run(ns, [PY, SCAPY_SEND], {
    stdin: new TextEncoder().encode(JSON.stringify({ dst, packets })),
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`scapy failed (${r.code}): ${r.stderr}`);
}

labTest(
  "gre: GRE and GRETAP sent by fluxcap decode in tshark with their key, protocol and inner frame",
  async () => {
    const p = await pair("gretx");
    try {
      const { lab, a, b, dir } = p;
      const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "ip proto 47", snaplen: 2048 });
      const cases = [
        { e: "gretap", key: undefined, want: undefined },
        { e: "gretap", key: "500", want: 500 },
        { e: "gretap", key: "10.0.0.1", want: 0x0a000001 },
        { e: "gre", key: "7", want: 7 },
      ];
      const sent: Uint8Array[][] = [];
      for (const [k, c] of cases.entries()) {
        const frames = Array.from(
          { length: 5 },
          (_, i) => makeFrame({ len: 60 + 97 * i + k, seq: k * 100 + i }),
        );
        sent.push(frames);
        const ring = `${dir}/r${k}`;
        fillRing(ring, frames);
        const args = ["-tx", "-E", `${c.e}:${B4}`, ...(c.key ? ["-K", c.key] : []), "--from-oldest", ring];
        const fx = fluxcapIn(lab, a, args);
        const s = await accounted(ring, frames.length, fx);
        assertEquals(s.readers[0].framesSent, frames.length, `${c.e} -K ${c.key}`);
        await fx.stop();
      }
      await cap.waitForFrames(20, 2000);
      await cap.stop();
      const rows = await tshark(lab, b, cap.file, "gre", ["gre.key", "gre.proto", "eth.src", "data.data"]);
      assertEquals(rows.length, 20, "GRE packets decoded");
      for (const [k, c] of cases.entries()) {
        for (let i = 0; i < 5; i++) {
          const [key, proto, src, data] = rows[k * 5 + i];
          const f = sent[k][i];
          assertEquals(key === "" ? undefined : Number(key), c.want, `key of ${c.e} packet ${i}`);
          assertEquals(Number(proto), c.e === "gretap" ? 0x6558 : 0x88b5, `protocol of ${c.e} packet ${i}`);
          // GRETAP keeps the inner MACs (tshark lists the outer and the inner source); GRE drops them
          assertEquals(src.split(",").length, c.e === "gretap" ? 2 : 1, `Ethernet headers in ${c.e} packet`);
          assertEquals(data, hex(f.subarray(14)), `inner payload of ${c.e} packet ${i}`);
        }
      }
      // the outer headers (built by fluxcap on the packet path): Ethernet to the peer's MAC, IPv4 with a
      // good checksum, TTL 64, DF clear, distinct ids
      const r = await lab.run(b, [
        "tshark",
        "-o",
        "ip.check_checksum:TRUE",
        "-r",
        cap.file,
        "-Y",
        "gre",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "eth.dst",
        "-e",
        "eth.src",
        "-e",
        "ip.checksum.status",
        "-e",
        "ip.ttl",
        "-e",
        "ip.flags.df",
        "-e",
        "ip.id",
      ], { timeoutMs: 30_000 });
      assertEquals(r.code, 0, r.stderr);
      const outer = r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("|"));
      assertEquals(outer.length, 20, "GRE packets with their outer headers");
      for (const [dst, src, sum, ttl, df] of outer) {
        assertEquals(dst.split(",")[0], MAC_B, "outer destination MAC");
        assertEquals(src.split(",")[0], MAC_A, "outer source MAC");
        assertEquals(sum.split(",")[0], "1", "outer IPv4 header checksum good");
        assertEquals(ttl.split(",")[0], "64", "outer TTL");
        assertEquals(df.split(",")[0], "0", "outer DF clear");
      }
      assertEquals(new Set(outer.map((o) => o[5].split(",")[0])).size, 20, "distinct outer IP ids");
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "gre: GRETAP through a gateway goes to the gateway's MAC; a peer that answers no ARP still gets its frames sent",
  async () => {
    const p = await pair("grehop");
    try {
      const { lab, a, b, dir } = p;
      await must(lab, a, ["ip", "route", "add", "198.19.0.0/16", "via", B4]);
      const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "ip proto 47", snaplen: 2048 });
      const frames = Array.from({ length: 5 }, (_, i) => makeFrame({ len: 100 + i, seq: i }));
      for (const [k, host] of ["198.19.0.1", "198.18.1.99"].entries()) {
        const ring = `${dir}/r${k}`;
        fillRing(ring, frames);
        const fx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${host}`, "-K", "9", "--from-oldest", ring]);
        const s = await accounted(ring, frames.length, fx);
        // the unresolved peer: handed to the kernel (the raw socket way), which drops them after ARP fails
        assertEquals(s.readers[0].framesSent, frames.length, `frames to ${host}`);
        await fx.stop();
      }
      await cap.waitForFrames(5, 2000);
      await cap.stop();
      const rows = await tshark(lab, b, cap.file, "gre", ["eth.dst", "ip.dst", "gre.key", "data.data"]);
      assertEquals(rows.length, 5, "GRE packets through the gateway (none to the silent on-link peer)");
      for (const [i, [mac, dst, key, data]] of rows.entries()) {
        assertEquals(mac.split(",")[0], MAC_B, "next hop: the gateway");
        assertEquals(dst.split(",")[0], "198.19.0.1", "outer destination: the peer");
        assertEquals(Number(key), 9, "key");
        assertEquals(data, hex(frames[i].subarray(14)), `inner payload of packet ${i}`);
      }
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "gre: GRETAP of 1514-byte frames over a 1400 MTU path is fragmented; tshark and fluxcap -rx reassemble",
  async () => {
    const p = await pair("grefr", { mtu: 1400 });
    try {
      const { lab, a, b, dir } = p;
      const rxRing = `${dir}/rx`;
      emptyRing(rxRing);
      const rx = fluxcapIn(lab, b, ["-rx", "-E", "gretap", "-K", "500", rxRing]);
      await writerUp(rxRing, rx);
      const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "ip proto 47", snaplen: 2048 });
      const want = Array.from({ length: 10 }, (_, i) => makeFrame({ len: i % 3 === 0 ? 100 : 1514, seq: i }));
      const ring = `${dir}/tx`;
      fillRing(ring, want);
      const fx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${B4}`, "-K", "500", "--from-oldest", ring]);
      const s = await accounted(ring, want.length, fx);
      assertEquals(s.readers[0].framesSent, want.length);
      await until(() => snap(rxRing).frames >= want.length, 5000);
      await cap.waitForFrames(want.length, 2000);
      await cap.stop();
      const all = await tshark(lab, b, cap.file, "ip", ["ip.flags.mf", "frame.len"]);
      assert(all.some(([mf]) => mf === "1" || mf === "True"), "some packets are IP fragments");
      assert(all.every(([, len]) => Number(len) <= 1414), "no packet exceeds the path MTU");
      const rows = await tshark(lab, b, cap.file, "gre", ["gre.key", "data.data"]);
      assertEquals(
        rows.map((r) => r[1]),
        want.map((f) => hex(f.subarray(14))),
        "tshark reassembled every frame",
      );
      await rx.stop();
      assertFrames(readRing(rxRing), want, "fluxcap -rx -E gretap after reassembly");
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "gre: IPv6 outer header: GRETAP and GRE to 2001:db8::, fragments included, decoded by tshark and fluxcap -rx",
  async () => {
    const p = await pair("gre6", { v6: true });
    try {
      const { lab, a, b, dir } = p;
      const rxRing = `${dir}/rx`;
      emptyRing(rxRing);
      const rx = fluxcapIn(lab, b, ["-rx", "-E", `gretap:${B6}`, "-K", "9", rxRing]);
      await writerUp(rxRing, rx);
      const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "ip6", snaplen: 2048 });
      const want = Array.from(
        { length: 6 },
        (_, i) => makeFrame({ len: i === 2 ? 1514 : 61 + 200 * i, seq: i }),
      );
      const ring = `${dir}/tx`;
      fillRing(ring, want);
      const fx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${B6}`, "-K", "9", "--from-oldest", ring]);
      const s = await accounted(ring, want.length, fx);
      assertEquals(s.readers[0].framesSent, want.length);
      await until(() => snap(rxRing).frames >= want.length, 5000);
      await cap.waitForFrames(want.length, 2000);
      await cap.stop();
      const rows = await tshark(lab, b, cap.file, "gre", ["ipv6.src", "ipv6.dst", "gre.key", "data.data"]);
      assertEquals(rows.length, want.length, "GRE over IPv6 packets decoded");
      for (const [i, [src, dst, key, data]] of rows.entries()) {
        assertEquals([src, dst, Number(key)], [A6, B6, 9]);
        assertEquals(data, hex(want[i].subarray(14)), `inner frame ${i}`);
      }
      await rx.stop();
      assertFrames(readRing(rxRing), want, "fluxcap -rx -E gretap over IPv6");
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "gre: scapy GRE, GRETAP, ERSPAN I/II/III received byte for byte; keys, sessions, garbage",
  async () => {
    const p = await pair("grerx");
    try {
      const { lab, a, b, dir } = p;
      const F = Array.from({ length: 9 }, (_, i) => makeFrame({ len: 64 + 111 * i, seq: 1000 + i }));
      const ipPayload = new Uint8Array(40).map((_, i) => i === 0 ? 0x45 : i);
      const rings = {
        tap500: ["-E", "gretap", "-K", "500"],
        tap: ["-E", "gretap"],
        gre: ["-E", "gre"],
        erspan: ["-E", "erspan"],
        erspan7: ["-E", "erspan", "-K", "7"],
      };
      const procs = Object.entries(rings).map(([name, args]) => {
        emptyRing(`${dir}/${name}`);
        return { name, p: fluxcapIn(lab, b, ["-rx", ...args, `${dir}/${name}`]) };
      });
      for (const { name, p: proc } of procs) await writerUp(`${dir}/${name}`, proc);
      await scapySend(lab, a, B4, [
        { kind: "gretap", key: 500, hex: hex(F[1]) },
        { kind: "raw47", hex: "00" }, // garbage: one byte of GRE
        { kind: "gretap", key: 501, hex: hex(F[2]) },
        { kind: "gretap", hex: hex(F[3]) },
        { kind: "gre", proto: 0x0800, hex: hex(ipPayload) },
        { kind: "erspan1", hex: hex(F[4]) },
        { kind: "erspan2", session: 5, vlan: 10, hex: hex(F[5]) },
        { kind: "raw47", hex: "0001880b00000000" }, // garbage: GRE version 1 (PPTP)
        { kind: "erspan3", session: 7, hex: hex(F[6]) },
        { kind: "erspan3", session: 7, platform: true, hex: hex(F[7]) },
        { kind: "gretap", key: 500, hex: hex(F[8]) },
        { kind: "raw47", hex: "20006558000001" }, // garbage: key announced, 3 of its 4 bytes
        { kind: "gretap", key: 500, hex: "0102030405" }, // garbage: a 5-byte "frame"
      ]);
      const total = 13;
      const sum = (name: string) => {
        const s = snap(`${dir}/${name}`);
        return s.frames + Object.values(s.writer?.drops ?? {}).reduce((x, y) => x + y, 0);
      };
      await until(() => procs.every(({ name }) => sum(name) >= total), 10_000);
      for (const { p: proc } of procs) await proc.stop();
      const drops = (name: string) => snap(`${dir}/${name}`).writer!.drops;
      assertFrames(readRing(`${dir}/tap500`), [F[1], F[8]], "-E gretap -K 500");
      assertEquals([drops("tap500").key_mismatch, drops("tap500").malformed], [7, 4], "tap500 drops");
      assertFrames(readRing(`${dir}/tap`), [F[3]], "-E gretap");
      assertEquals(
        [drops("tap").key_mismatch, drops("tap").other, drops("tap").malformed],
        [4, 5, 3],
        "tap drops",
      );
      const gre = readRing(`${dir}/gre`);
      assertEquals(gre.length, 6, "-E gre takes every unkeyed GRE packet");
      assertEquals(hex(gre[0]), hex(F[3]), "-E gre keeps a GRETAP frame");
      assertEquals(
        hex(gre[1]),
        "020000000002" + "020000000001" + "0800" + hex(ipPayload),
        "-E gre rebuilt header",
      );
      assertFrames(
        readRing(`${dir}/erspan`),
        [F[4], F[5], F[6], F[7]],
        "-E erspan (types I, II, III, III+platform)",
      );
      assertEquals([drops("erspan").other, drops("erspan").malformed], [6, 3], "erspan drops");
      assertFrames(readRing(`${dir}/erspan7`), [F[6], F[7]], "-E erspan -K 7");
      assertEquals(drops("erspan7").key_mismatch, 2, "erspan7 drops");
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "gre: -rx -E gretap:127.0.0.1 -i lo -K 500 receives what -tx -s 100 -V 7 -E gretap:127.0.0.1 -K 500 sends",
  async () => {
    const p = await pair("grelo");
    try {
      const { lab, b, dir } = p;
      const rxRing = `${dir}/rx`;
      emptyRing(rxRing);
      const rx = fluxcapIn(lab, b, ["-rx", "-E", "gretap:127.0.0.1", "-i", "lo", "-K", "500", rxRing]);
      await writerUp(rxRing, rx);
      const frames = Array.from({ length: 8 }, (_, i) => makeFrame({ len: 60 + 150 * i, seq: i }));
      const ring = `${dir}/tx`;
      fillRing(ring, frames);
      const fx = fluxcapIn(lab, b, [
        "-tx",
        "-s",
        "100",
        "-V",
        "7",
        "-E",
        "gretap:127.0.0.1",
        "-K",
        "500",
        "--from-oldest",
        ring,
      ]);
      const s = await accounted(ring, frames.length, fx);
      assertEquals(s.readers[0].framesSent, frames.length);
      await until(() => snap(rxRing).frames >= frames.length, 5000);
      await fx.stop();
      await rx.stop();
      const want = frames.map((f) => {
        const t = new Uint8Array(f.length + 4);
        t.set(f.subarray(0, 12));
        t.set([0x81, 0x00, 0x00, 0x07], 12);
        t.set(f.subarray(12), 16);
        return t.slice(0, 100);
      });
      assertFrames(readRing(rxRing), want, "tagged by -V 7, cut by -s 100, through GRETAP on lo");
    } finally {
      await p.lab.close();
    }
  },
);
