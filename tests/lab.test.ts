import { deepStrictEqual as assertDeep, ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import {
  FrameGenerator,
  Lab,
  labAvailable,
  makeFrame,
  parseTestFrame,
  readPcap,
  readPcapFrames,
  udpFlowFrame,
  type VlanSpec,
  writePcap,
} from "./lab.ts";
import { formatIpv4, isError, parseEthernet, parseIpv4, parseUdp } from "../lib/codec/mod.ts";

const reason = await labAvailable(["ip", "tcpdump", "tcpreplay"]);
if (reason !== null) console.log(`%cLab tests skipped: ${reason}`, "color: yellow");

async function netnsList(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped", stderr: "null" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0]).filter((s) => s !== "");
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------------------------------
// Pure helpers (run everywhere)

Deno.test("makeFrame: deterministic, tagged, checksummed, exact length", () => {
  const f = makeFrame({ len: 60, seq: 7 });
  assertEquals(f.length, 60);
  assertEquals(hex(f.subarray(0, 14)), "026678000002" + "026678000001" + "88b5");
  assertEquals(hex(makeFrame({ len: 60, seq: 7 })), hex(f));
  assertDeep(parseTestFrame(f), { seq: 7, len: 60, tags: 0 });
  const q = makeFrame({
    len: 70,
    seq: 8,
    vlan: [{ tpid: 0x88a8, vid: 10, pcp: 3 }, { tpid: 0x8100, vid: 100 }],
    src: "02:00:00:00:00:0a",
  });
  assertEquals(hex(q.subarray(6, 22)), "02000000000a" + "88a8600a" + "81000064" + "88b5");
  assertDeep(parseTestFrame(q), { seq: 8, len: 70, tags: 2 });
  const bad = q.slice();
  bad[60] ^= 1;
  assertEquals(parseTestFrame(bad), null);
  // stripped of its outer tag, the payload is still found
  const stripped = new Uint8Array([...q.subarray(0, 12), ...q.subarray(16)]);
  assertEquals(parseTestFrame(stripped)?.seq, 8);
  let threw = false;
  try {
    makeFrame({ len: 59, seq: 1 });
  } catch (e) {
    threw = e instanceof RangeError && e.message === `Frame length "59" is out of range 60..65535`;
  }
  assert(threw);
});

Deno.test("writePcap / readPcap round trip; both magics and byte orders; corruption throws", () => {
  const frames = [makeFrame({ len: 60, seq: 1 }), makeFrame({ len: 1514, seq: 2 })];
  const file = writePcap(frames);
  assertEquals(file.length, 24 + 16 + 60 + 16 + 1514);
  assertEquals(hex(file.subarray(0, 4)), "d4c3b2a1");
  assertDeep(readPcapFrames(file).map(hex), frames.map(hex));
  // big-endian nanosecond file, written by hand
  const be = new Uint8Array(24 + 16 + 4);
  const dv = new DataView(be.buffer);
  dv.setUint32(0, 0xa1b23c4d);
  dv.setUint16(4, 2);
  dv.setUint16(6, 4);
  dv.setUint32(16, 65535);
  dv.setUint32(20, 1);
  dv.setUint32(24, 5);
  dv.setUint32(28, 999_999_999);
  dv.setUint32(32, 4);
  dv.setUint32(36, 64);
  be.set([1, 2, 3, 4], 40);
  const r = readPcap(be);
  assertEquals(r.linktype, 1);
  assertDeep(r.records.map((x) => [x.sec, x.nsec, x.origLen, hex(x.data)]), [[
    5,
    999_999_999,
    64,
    "01020304",
  ]]);
  const throws = (b: Uint8Array, re: RegExp) => {
    try {
      readPcapFrames(b);
    } catch (e) {
      assert(re.test((e as Error).message), (e as Error).message);
      return;
    }
    assert(false, "expected a throw");
  };
  // the messages are the pcap codec's (lib/codec/pcap.ts), which the lab reads with
  throws(file.subarray(0, 20), /^Cannot read pcap: Truncated capture header at byte 0/);
  throws(file.subarray(0, file.length - 1), /Truncated pcap record at byte 100: 1529 bytes left/);
  throws(file.subarray(0, 24 + 10), /Truncated pcap record at byte 24: 10 bytes left/);
  const badMagic = file.slice();
  badMagic[0] = 0;
  throws(badMagic, /Bad capture magic/);
  const huge = file.slice();
  new DataView(huge.buffer).setUint32(24 + 8, 1 << 30, true);
  throws(huge, /Corrupt pcap record at byte 24: caplen "1073741824" exceeds 262144/);
  assertEquals(readPcap(file.subarray(0, file.length - 1), { partial: true }).records.length, 1);
});

Deno.test("udpFlowFrame: IPv4/UDP in flow i & 255, as the codec parses it", () => {
  const f = udpFlowFrame(1514, 0x1234);
  assertEquals(f.length, 1514);
  const eth = parseEthernet(f, 0, f.length);
  assert(!isError(eth));
  assertEquals(eth.etherType, 0x0800);
  const ip = parseIpv4(f, eth.payloadOffset, f.length - eth.payloadOffset);
  assert(!isError(ip));
  assertDeep([ip.checksumValid, ip.id, ip.ttl, ip.protocol, ip.dontFragment], [true, 0x1234, 64, 17, false]);
  assertDeep([formatIpv4(ip.src), formatIpv4(ip.dst)], ["198.18.10.52", "198.18.11.1"]);
  const udp = parseUdp(f, ip.payloadOffset, ip.payloadLength);
  assert(!isError(udp));
  assertDeep([udp.srcPort, udp.dstPort, udp.payloadLength], [0xc034, 5001, 1514 - 42]);
  assertEquals(f[42], (0x1234 + 42) & 0xff);
  assertEquals(hex(udpFlowFrame(64, 7)), hex(udpFlowFrame(64, 7)));
});

// ---------------------------------------------------------------------------------------------------
// The lab itself (root, ip, tcpdump, tcpreplay)

/** 100 frames of mixed sizes 60..1514, untagged, 802.1Q, 802.1ad, QinQ and 0x9100 tagged. */
function mixedFrames(): Uint8Array[] {
  const sizes = [60, 61, 64, 65, 100, 128, 255, 256, 511, 512, 1000, 1023, 1024, 1499, 1500, 1513, 1514];
  const stacks: (VlanSpec[] | undefined)[] = [
    undefined,
    [{ tpid: 0x8100, vid: 100, pcp: 5 }],
    [{ tpid: 0x88a8, vid: 10, pcp: 3 }],
    [{ tpid: 0x88a8, vid: 20 }, { tpid: 0x8100, vid: 4094 }],
    [{ tpid: 0x8100, vid: 0 }],
    [{ tpid: 0x9100, vid: 7 }],
  ];
  return Array.from({ length: 100 }, (_, i) =>
    makeFrame({
      len: sizes[(i * 7) % sizes.length],
      seq: i,
      vlan: stacks[i % stacks.length],
      src: `02:66:78:00:01:${(i % 256).toString(16).padStart(2, "0")}`,
    }));
}

Deno.test({
  name: "lab: 100 mixed frames cross a veth byte-exact (tcpreplay → tcpdump -Q in)",
  ignore: reason !== null,
  fn: async () => {
    const frames = mixedFrames();
    let names: readonly string[] = [];
    {
      await using lab = await Lab.create("x");
      const a = await lab.ns("a");
      const b = await lab.ns("b");
      names = lab.namespaces;
      assert(a.startsWith(lab.prefix) && b !== a);
      await lab.veth(
        { ns: a, name: "va", mac: "02:66:78:00:00:01", ip: "198.18.0.1/24" },
        { ns: b, name: "vb", mac: "02:66:78:00:00:02", ip: ["198.18.0.2/24", "2001:db8::2/64"] },
      );
      // the default namespace sees none of it
      const host = await new Deno.Command("ip", { args: ["-o", "link"], stdout: "piped" }).output();
      assert(!/\bv[ab]@/.test(new TextDecoder().decode(host.stdout)));
      const addrs = await lab.run(b, ["ip", "-o", "addr", "show", "dev", "vb"]);
      assert(/198\.18\.0\.2\/24/.test(addrs.stdout) && /2001:db8::2\/64/.test(addrs.stdout), addrs.stdout);
      assert(!/tentative/.test(addrs.stdout), addrs.stdout);

      const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "not ip and not arp and not ip6" });
      await lab.sendFrames(a, "va", frames);
      await cap.waitForFrames(frames.length);
      const got = await cap.stop();
      assertEquals(got.length, frames.length, cap.process.stderr);
      for (let i = 0; i < frames.length; i++) {
        assertEquals(parseTestFrame(got[i])?.seq, i, `frame ${i} out of order or damaged`);
        assertEquals(hex(got[i]), hex(frames[i]), `frame ${i} differs`);
      }
      assert(/100 packets captured/.test(cap.process.stderr), cap.process.stderr);
    }
    const left = await netnsList();
    for (const n of names) assert(!left.includes(n), `namespace ${n} left behind`);
  },
});

Deno.test({
  name: "lab: close() removes namespaces, processes and files even when the test body throws",
  ignore: reason !== null,
  fn: async () => {
    let names: readonly string[] = [];
    let dir = "";
    let pid = 0;
    let caught: unknown;
    try {
      await using lab = await Lab.create("t");
      dir = lab.dir;
      const a = await lab.ns("a");
      const b = await lab.ns("b");
      await lab.veth({ ns: a, name: "va" }, { ns: b, name: "vb" });
      pid = lab.spawn(a, ["sleep", "600"]).pid;
      await Deno.writeFile(lab.tempPath(".bin"), new Uint8Array(4));
      names = lab.namespaces;
      assertDeep((await netnsList()).filter((n) => names.includes(n)).sort(), [...names].sort());
      throw new Error("boom");
    } catch (e) {
      caught = e;
    }
    assertEquals((caught as Error).message, "boom");
    const left = await netnsList();
    for (const n of names) assert(!left.includes(n), `namespace ${n} left behind`);
    let procGone = false;
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      procGone = true;
    }
    assert(procGone, `process ${pid} survived close()`);
    let dirGone = false;
    try {
      await Deno.stat(dir);
    } catch {
      dirGone = true;
    }
    assert(dirGone, `${dir} survived close()`);
  },
});

Deno.test({
  name: "lab: guards (foreign namespaces, addresses, MACs, names), run timeout, idempotent close",
  ignore: reason !== null,
  fn: async () => {
    const lab = await Lab.create();
    try {
      const a = await lab.ns("a");
      const b = await lab.ns("b");
      const rejects = async (f: () => Promise<unknown>, re: RegExp) => {
        try {
          await f();
        } catch (e) {
          assert(re.test((e as Error).message), (e as Error).message);
          return;
        }
        assert(false, `expected ${re}`);
      };
      await rejects(() => lab.run("default", ["true"]), /does not belong to lab/);
      await rejects(() => lab.veth({ ns: a, name: "x" }, { ns: "other", name: "y" }), /does not belong/);
      await rejects(
        () => lab.veth({ ns: a, name: "x", ip: "10.0.0.1/24" }, { ns: b, name: "y" }),
        /outside the lab range/,
      );
      await rejects(
        () => lab.veth({ ns: a, name: "x", ip: "2001:db9::1/64" }, { ns: b, name: "y" }),
        /outside the lab range 2001:db8::\/32/,
      );
      await rejects(
        () => lab.veth({ ns: a, name: "x", mac: "00:11:22:33:44:55" }, { ns: b, name: "y" }),
        /locally/,
      );
      await rejects(
        () => lab.veth({ ns: a, name: "x", mac: "03:11:22:33:44:55" }, { ns: b, name: "y" }),
        /unicast/,
      );
      await rejects(
        () => lab.veth({ ns: a, name: "abcdefghijklmnop" }, { ns: b, name: "y" }),
        /Invalid interface/,
      );
      await rejects(() => lab.ns("Bad-Name"), /Invalid namespace name/);
      await rejects(() => lab.ns("a"), /already exists/);
      const t0 = Date.now();
      const slow = await lab.run(a, ["sleep", "10"], { timeoutMs: 200 });
      assert(Date.now() - t0 < 5000);
      assertEquals(slow.signal, "SIGKILL");
      const cat = await lab.run(a, ["cat"], { stdin: new TextEncoder().encode("hello") });
      assertEquals(cat.stdout, "hello");
      const netns = await lab.run(a, ["ip", "netns", "identify"]);
      assertEquals(netns.stdout.trim(), a);
    } finally {
      await lab.close();
      await lab.close();
    }
    const again = lab.ns("c");
    await again.then(() => assert(false), (e) => assert(/is closed/.test(e.message)));
  },
});

Deno.test("FrameGenerator refuses to open a socket outside a lab namespace", () => {
  let msg = "";
  try {
    new FrameGenerator("lo");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, `Cannot send on "lo": the generator runs only inside a lab network namespace`);
});

Deno.test({
  name: "lab: FrameGenerator sends loaded frames cyclically, paced, in order and byte-exact",
  ignore: reason !== null,
  fn: async () => {
    await using lab = await Lab.create("gen");
    const a = await lab.ns("a");
    const b = await lab.ns("b");
    await lab.veth({ ns: a, name: "va" }, { ns: b, name: "vb" });
    const loaded = Array.from({ length: 50 }, (_, i) => makeFrame({ len: 60 + ((i * 97) % 1455), seq: i }));
    const count = 120;
    const cap = await lab.tcpdump(b, "vb", { direction: "in", filter: "ether proto 0x88b5" });
    const mod = new URL("../lib/lab/mod.ts", import.meta.url).href;
    const script = `
      import { FrameGenerator, makeFrame } from "${mod}";
      using gen = new FrameGenerator("va");
      gen.load(Array.from({ length: 50 }, (_, i) => makeFrame({ len: 60 + ((i * 97) % 1455), seq: i })));
      console.log(JSON.stringify(gen.run({ pps: 1000, ms: 20_000, count: ${count}, retryRefused: true })));
    `;
    const res = await lab.run(a, [Deno.execPath(), "eval", script], { timeoutMs: 60_000 });
    assertEquals(res.code, 0, res.stderr);
    const r = JSON.parse(res.stdout);
    assertDeep([r.sent, r.refused, r.errors], [count, 0, 0]);
    // frame k leaves no earlier than (k + 1) ms after the start at 1000 frames a second
    assert(r.ms >= count, `${count} frames at 1000/s took ${r.ms} ms by the generator's clock`);
    await cap.waitForFrames(count);
    const got = await cap.stop();
    assertEquals(got.length, count, cap.process.stderr);
    for (let i = 0; i < count; i++) assertEquals(hex(got[i]), hex(loaded[i % 50]), `frame ${i}`);
  },
});
