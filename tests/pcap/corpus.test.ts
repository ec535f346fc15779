/**
 * The replay suite: a corpus of external-format capture files generated here (both byte orders, µs and
 * ns pcap, pcapng with several sections, interfaces and timestamp resolutions, simple and obsolete packet
 * blocks, unknown blocks, damaged tails, non-Ethernet interfaces, lengths outside Ethernet's range), each
 * replayed with `fluxcap -rx --read` and compared with what tshark reads from it: frame bytes, original
 * lengths and nanosecond timestamps. A file tshark reads whole must land in the ring byte-exact; a file
 * fluxcap refuses gets one line naming the file and the reason, with exactly the frames before the
 * refusal in the ring. tcpdump (libpcap) is a second opinion wherever it reads the file.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { fromHex } from "../../lib/codec/bytes.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { makeFrame, readPcap } from "../lab.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { buildPcap, buildPcapng, type NgBlock, type NgSection, type PcapRecord } from "./build.ts";
import { haveTools, hex, quiet, readRing, snap, spawnFluxcap, type TimedFrame, tool } from "./common.ts";

const missing = await haveTools(["tshark", "tcpdump"]);
if (missing) console.log(`capture corpus tests skipped: ${missing}`);

/** One record as tshark reads it: time ("" for none), wire and captured length, encapsulation. */
interface RefRow {
  number: number;
  time: string;
  len: number;
  cap: number;
  /** Link type of a packet (1 Ethernet); null for a record that is not a packet (an unknown block). */
  encap: number | null;
  /** The bytes, as hex. */
  hex: string;
}

/** What tshark reads from `file`: its exit status and every record. */
async function tsharkRead(file: string): Promise<{ code: number; stderr: string; rows: RefRow[] }> {
  const r = await tool([
    "tshark",
    "-r",
    file,
    "-T",
    "fields",
    "-e",
    "frame.number",
    "-e",
    "frame.time_epoch",
    "-e",
    "frame.len",
    "-e",
    "frame.cap_len",
    "-e",
    "frame.encap_type",
  ]);
  const raw = await tool(["tshark", "-r", file, "-T", "json", "-x"]);
  const bytes = new Map<number, string>();
  if (raw.stdout.trim() !== "") {
    for (const p of JSON.parse(raw.stdout) as { _source: { layers: Record<string, unknown> } }[]) {
      const layers = p._source.layers;
      const n = Number((layers.frame as Record<string, string>)["frame.number"]);
      bytes.set(n, (layers.frame_raw as [string])?.[0] ?? "");
    }
  }
  const rows = r.stdout.split("\n").filter((l) => l !== "").map((l) => {
    const [number, time, len, cap, encap] = l.split("\t");
    const n = Number(number);
    return {
      number: n,
      time,
      len: Number(len),
      cap: Number(cap),
      encap: encap === "" ? null : Number(encap),
      hex: bytes.get(n) ?? "",
    };
  });
  return { code: r.code, stderr: r.stderr, rows };
}

/** Frames as tcpdump reads them (nanosecond pcap), or null when libpcap refuses the file. */
async function tcpdumpFrames(file: string, dir: string): Promise<TimedFrame[] | null> {
  const out = `${dir}/td.pcap`;
  const r = await tool(["tcpdump", "-r", file, "--time-stamp-precision=nano", "-w", out]);
  if (r.code !== 0) return null;
  return readPcap(await Deno.readFile(out)).records.map((x) => ({
    data: x.data,
    sec: x.sec,
    nsec: x.nsec,
    wire: x.origLen,
  }));
}

function parseTime(t: string): [number, number] {
  const [s, f = ""] = t.split(".");
  return [Number(s), Number(f.padEnd(9, "0").slice(0, 9))];
}

/** A corpus case: the file, and what must happen when fluxcap replays it. */
interface Case {
  name: string;
  file: Uint8Array;
  /** Refused: the reason the one-line message gives (after `Cannot read capture "FILE": `). */
  refused?: RegExp;
  /** Frames the ring does not take (kept out of the byte-exact comparison), by drop reason. */
  drops?: { oversize?: number; malformed?: number };
}

const T0 = 1_700_000_000n;
let seq = 0;
const fr = (len = 60 + (seq * 37) % 1400) => makeFrame({ len, seq: seq++ });
/** A pcapng timestamp of second `s` (after T0) and nanosecond `ns`, in `units` per second. */
const ts = (s: number, ns: number, units: bigint) =>
  (T0 + BigInt(s)) * units + (BigInt(ns) * units) / 1_000_000_000n;

function epbs(iface: number, units: bigint, n: number, from = 0): NgBlock[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "epb" as const,
    iface,
    ts: ts(from + i, (i * 123_456_789 + 7) % 1_000_000_000, units),
    data: fr(),
  }));
}

function corpus(): Case[] {
  const cases: Case[] = [];
  const recs = (n: number, nano: boolean): PcapRecord[] =>
    Array.from({ length: n }, (_, i) => {
      const data = fr();
      const ns = (i * 987_654_321 + 3) % 1_000_000_000;
      return { sec: 1_700_000_000 + i, frac: nano ? ns : Math.floor(ns / 1000), data };
    });
  for (const bigEndian of [false, true]) {
    for (const nano of [false, true]) {
      cases.push({
        name: `pcap ${bigEndian ? "BE" : "LE"} ${nano ? "ns" : "µs"}`,
        file: buildPcap({ bigEndian, nano, records: recs(20, nano) }),
      });
    }
  }
  // Cut frames (orig > cap), and a record whose caplen exceeds its orig_len (kept as in the file).
  const odd = recs(6, true);
  odd[1].origLen = odd[1].data.length + 900;
  odd[3].origLen = 40;
  cases.push({
    name: "pcap caplen > orig_len and cut frames",
    file: buildPcap({ nano: true, records: odd }),
  });
  for (
    const [tsresol, label] of [
      [undefined, "default µs"],
      [3, "10^-3"],
      [6, "10^-6"],
      [0x94, "2^-20"],
      [9, "10^-9"],
      [7, "10^-7"],
      [0x80 | 30, "2^-30"],
    ] as const
  ) {
    for (const bigEndian of [false, true]) {
      const units = tsresol === undefined
        ? 1_000_000n
        : tsresol & 0x80
        ? 1n << BigInt(tsresol & 0x7f)
        : 10n ** BigInt(tsresol);
      cases.push({
        name: `pcapng ${bigEndian ? "BE" : "LE"} if_tsresol ${label}`,
        file: buildPcapng([{
          bigEndian,
          blocks: [{ kind: "idb", iface: { tsresol } }, ...epbs(0, units, 12)],
        }]),
      });
    }
  }
  cases.push({
    name: "pcapng if_tsoffset",
    file: buildPcapng([{
      blocks: [{ kind: "idb", iface: { tsresol: 9, tsoffset: -1000 } }, ...epbs(0, 1_000_000_000n, 5)],
    }]),
  });
  // Several sections, each in its own byte order (one of version 1.2), with its own interfaces.
  const sections: NgSection[] = [
    { blocks: [{ kind: "idb", iface: {} }, ...epbs(0, 1_000_000n, 4, 0)] },
    {
      bigEndian: true,
      version: [1, 2],
      blocks: [
        { kind: "idb", iface: { tsresol: 9 } },
        { kind: "idb", iface: { tsresol: 3 } },
        ...epbs(1, 1000n, 3, 10),
        ...epbs(0, 1_000_000_000n, 3, 20),
      ],
    },
    { blocks: [{ kind: "idb", iface: { tsresol: 0x94 } }, ...epbs(0, 1n << 20n, 4, 30)] },
  ];
  cases.push({ name: "pcapng three sections (LE, BE 1.2, LE)", file: buildPcapng(sections) });
  // Interfaces interleaved, simple and obsolete packet blocks, unknown and statistics blocks, options.
  cases.push({
    name: "pcapng SPB, PB, unknown blocks, ISB, EPB options",
    file: buildPcapng([{
      blocks: [
        { kind: "idb", iface: { tsresol: 6, name: "eth0" } },
        { kind: "idb", iface: { tsresol: 9 } },
        { kind: "raw", type: 0x0bad, body: new Uint8Array(13) },
        { kind: "epb", iface: 1, ts: ts(1, 5, 1_000_000_000n), data: fr(), comment: "first" },
        { kind: "spb", data: fr() },
        { kind: "spb", data: fr() },
        { kind: "pb", iface: 0, ts: ts(2, 6000, 1_000_000n), data: fr() },
        { kind: "isb", iface: 0, ts: ts(2, 0, 1_000_000n) },
        { kind: "epb", iface: 0, ts: ts(3, 7000, 1_000_000n), data: fr() },
        { kind: "spb", data: fr() },
        { kind: "raw", type: 0x80000001, body: new Uint8Array(8) },
        { kind: "epb", iface: 1, ts: ts(4, 8, 1_000_000_000n), data: fr() },
      ],
    }]),
  });
  // Lengths the ring cannot take: counted, the rest byte-exact.
  cases.push({
    name: "pcap BIG TCP frame (200000 bytes) and a 10-byte runt",
    file: buildPcap({
      nano: true,
      records: [
        { sec: 1_700_000_000, frac: 1, data: fr() },
        { sec: 1_700_000_000, frac: 2, data: new Uint8Array(200_000).fill(7) },
        { sec: 1_700_000_000, frac: 3, data: fr() },
        { sec: 1_700_000_000, frac: 4, data: new Uint8Array(10).fill(9) },
        { sec: 1_700_000_000, frac: 5, data: fr() },
      ],
    }),
    drops: { oversize: 1, malformed: 1 },
  });
  // Damaged tails: refused after the good frames.
  const whole = buildPcap({ nano: true, records: recs(8, true) });
  cases.push({
    name: "pcap cut in a record",
    file: whole.subarray(0, whole.length - 30),
    refused: /^truncated pcap record at byte \d+: \d+ bytes left \(after 7 frames\)$/,
  });
  const ng = buildPcapng([{
    bigEndian: true,
    blocks: [{ kind: "idb", iface: { tsresol: 9 } }, ...epbs(0, 1_000_000_000n, 8)],
  }]);
  cases.push({
    name: "pcapng cut in a block",
    file: ng.subarray(0, ng.length - 9),
    refused: /^truncated pcapng record at byte \d+: \d+ bytes left \(after 7 frames\)$/,
  });
  const bad = ng.slice();
  bad[bad.length - 1] ^= 4; // the last block's trailing length
  cases.push({
    name: "pcapng bad trailing length",
    file: bad,
    refused: /^corrupt pcapng block at byte \d+: trailing length differs from "\d+" \(after 7 frames\)$/,
  });
  cases.push({
    name: "pcapng version 1.1",
    file: buildPcapng([{ version: [1, 1], blocks: [{ kind: "idb", iface: {} }, ...epbs(0, 1_000_000n, 2)] }]),
    refused: /^unsupported pcapng version "1\.1" at byte 12: expected 1\.0 \(after 0 frames\)$/,
  });
  cases.push({
    name: "pcapng second interface BSD loopback",
    file: buildPcapng([{
      blocks: [
        { kind: "idb", iface: {} },
        { kind: "idb", iface: { linkType: 0 } },
        ...epbs(0, 1_000_000n, 3),
        { kind: "epb", iface: 1, ts: ts(9, 0, 1_000_000n), data: new Uint8Array(40) },
        ...epbs(0, 1_000_000n, 2, 10),
      ],
    }]),
    refused: /^link type 0 \(BSD loopback\) is not Ethernet/,
  });
  cases.push({
    name: "pcap Linux cooked",
    file: buildPcap({ linkType: 113, records: recs(3, false) }),
    refused: /^link type 113 \(Linux cooked\) is not Ethernet/,
  });
  cases.push({ name: "empty (0 bytes)", file: new Uint8Array(0) });
  cases.push({
    name: "pcapng with no packets",
    file: buildPcapng([{ blocks: [{ kind: "idb", iface: {} }] }]),
  });
  return cases;
}

Deno.test({
  name: "capture corpus: every case replays byte-exact to what tshark reads, or is refused in one line",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = makeRingDir();
    try {
      for (const c of corpus()) {
        await t.step(c.name, async () => {
          const file = `${dir}/case${c.file[0] === 0x0a ? ".pcapng" : ".pcap"}`;
          await Deno.writeFile(file, c.file);
          const ref = await tsharkRead(file);
          const packets = ref.rows.filter((r) => r.encap !== null);
          const ring = `${dir}/r`;
          rmrf(ring);
          createRing(ring, { size: 8 << 20 });
          const run = await spawnFluxcap(["-rx", "--read", file, ring]).done;
          const got = readRing(ring);
          // What fluxcap may take: tshark's packets up to the first non-Ethernet one.
          const firstOther = packets.findIndex((r) => r.encap !== 1);
          const upTo = firstOther < 0 ? packets.length : firstOther;
          if (c.refused) {
            assertEquals(run.code, 1, `refused: ${run.stderr}`);
            const lines = run.stderr.trimEnd().split("\n");
            assertEquals(lines.length, 1, `one line: ${run.stderr}`);
            const prefix = `Cannot read capture "${file}": `;
            assert(lines[0].startsWith(prefix), lines[0]);
            assert(c.refused.test(lines[0].slice(prefix.length)), `${lines[0]} ~ ${c.refused}`);
            if (ref.code === 0 && firstOther < 0) throw new Error(`tshark reads "${c.name}" whole`);
          } else {
            // quiet but for the summary line; a case with skipped frames says so in it
            const skipped = c.drops ? Object.values(c.drops).reduce((x, y) => x + y, 0) : 0;
            if (skipped === 0) assertEquals([run.code, quiet(run.stderr)], [0, ""], "replayed");
            else {
              assertEquals(run.code, 0, run.stderr);
              assertEquals(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
              assertIncludes(run.stderr, `${skipped} skipped`);
            }
            assertEquals(ref.code, 0, `tshark reads it: ${ref.stderr}`);
          }
          // The ring holds tshark's packets (before any refusal), minus those it cannot take.
          const want: TimedFrame[] = [];
          let prev = null as [number, number] | null;
          let oversize = 0, malformed = 0;
          for (const r of packets.slice(0, upTo)) {
            // A frame without a timestamp (simple packet block) takes its predecessor's.
            assert(r.time !== "" || prev !== null, "no leading SPB in this corpus (see the loop test)");
            const time: [number, number] = r.time === "" ? prev! : parseTime(r.time);
            const [sec, nsec] = time;
            prev = time;
            assertEquals(r.hex.length, 2 * r.cap, `frame ${r.number} bytes from tshark`);
            if (r.cap < 14) malformed++;
            else if (r.cap > 65535) oversize++;
            else want.push({ data: fromHex(r.hex), sec, nsec, wire: r.len });
          }
          assertEquals(got.length, want.length, "frames in the ring");
          want.forEach((w, i) => {
            const g = got[i];
            assertEquals(
              [g.sec, g.nsec, g.wire, hex(g.data)],
              [w.sec, w.nsec, w.wire, hex(w.data)],
              `frame ${i}`,
            );
          });
          const d = snap(ring).writer?.drops;
          assertEquals([d?.oversize ?? 0, d?.malformed ?? 0], [oversize, malformed], "drops by reason");
          assertEquals(
            [oversize, malformed],
            [c.drops?.oversize ?? 0, c.drops?.malformed ?? 0],
            "case drops",
          );
          // tcpdump, where libpcap reads the file, agrees with tshark.
          const td = await tcpdumpFrames(file, dir);
          if (td !== null && !c.refused) {
            assertEquals(td.length, packets.length, "tcpdump frame count");
            td.forEach((f, i) => {
              assertEquals(hex(f.data), packets[i].hex, `tcpdump frame ${i} bytes`);
              if (packets[i].time !== "") {
                assertEquals([f.sec, f.nsec], parseTime(packets[i].time), `tcpdump frame ${i} time`);
              }
            });
          }
        });
      }
    } finally {
      rmrf(dir);
    }
  },
});

/** Replays `file` into a fresh ring; returns the result and the ring's frames. */
async function replayInto(dir: string, file: string, extra: string[] = []) {
  const ring = `${dir}/r`;
  rmrf(ring);
  createRing(ring, { size: 8 << 20 });
  const run = await spawnFluxcap(["-rx", "--read", file, ...extra, ring]).done;
  return { run, frames: readRing(ring), ring };
}

Deno.test({
  name: "capture read: a Linux-cooked pcap on stdin split across two writes is refused as when read whole",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 1 << 20 });
      const empty = buildPcap({ linkType: 113, records: [] });
      const p = spawnFluxcap(["-rx", "--read", "-", ring], { pipeStdin: true });
      const w = p.child.stdin!.getWriter();
      await w.write(empty.subarray(0, 10));
      await new Promise((r) => setTimeout(r, 300)); // the first read returns the 10 bytes alone
      await w.write(empty.subarray(10));
      await w.close();
      const split = await p.done;
      await Deno.writeFile(`${dir}/e.pcap`, empty);
      const whole = (await replayInto(dir, `${dir}/e.pcap`)).run;
      assertEquals(whole.code, 1);
      assertEquals(
        whole.stderr.trim(),
        `Cannot read capture "${dir}/e.pcap": link type 113 (Linux cooked) is not Ethernet`,
      );
      assertEquals([split.code, split.stderr.trim()], [
        1,
        'Cannot read capture "-": link type 113 (Linux cooked) is not Ethernet',
      ]);
    } finally {
      rmrf(dir);
    }
  },
});

Deno.test({
  name: "capture read: timestamp-less simple packet blocks never drive --pace or --loop",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    try {
      // The pcapng test generator's basic/test011 shape: EPBs with SPBs between them.
      const file = `${dir}/spb.pcapng`;
      await Deno.writeFile(
        file,
        buildPcapng([{
          blocks: [
            { kind: "idb", iface: { tsresol: 9 } },
            { kind: "epb", iface: 0, ts: ts(0, 0, 1_000_000_000n), data: fr() },
            { kind: "spb", data: fr() },
            { kind: "epb", iface: 0, ts: ts(0, 100_000_000, 1_000_000_000n), data: fr() },
            { kind: "spb", data: fr() },
          ],
        }]),
      );
      const paced = await replayInto(dir, file, ["--pace", "--seconds", "10"]);
      assertEquals([paced.run.code, quiet(paced.run.stderr)], [0, ""]);
      assertEquals(paced.frames.map((f) => [f.sec - 1_700_000_000, f.nsec]), [[0, 0], [0, 0], [
        0,
        100_000_000,
      ], [0, 100_000_000]]);
      const looped = await replayInto(dir, file, ["--loop", "3"]);
      assertEquals(looped.run.code, 0, looped.run.stderr);
      const t = looped.frames.map((f) => BigInt(f.sec - 1_700_000_000) * 1_000_000_000n + BigInt(f.nsec));
      assertEquals(t.length, 12);
      for (let i = 1; i < t.length; i++) assert(t[i] >= t[i - 1], `time goes on at ${i}: ${t}`);
      assert(t[11] - t[0] < 1_000_000_000n, `three passes of a 0.1 s file span ${t[11] - t[0]} ns`);
    } finally {
      rmrf(dir);
    }
  },
});

Deno.test({
  name: "capture read (loop): a leading simple packet block takes the replay's start time, --pace ends",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    try {
      const file = `${dir}/lead.pcapng`;
      await Deno.writeFile(
        file,
        buildPcapng([{
          blocks: [
            { kind: "idb", iface: { tsresol: 9 } },
            { kind: "spb", data: fr() },
            { kind: "epb", iface: 0, ts: ts(0, 0, 1_000_000_000n), data: fr() },
            { kind: "epb", iface: 0, ts: ts(0, 50_000_000, 1_000_000_000n), data: fr() },
          ],
        }]),
      );
      const before = Math.floor(Date.now() / 1000);
      const paced = await replayInto(dir, file, ["--pace", "--seconds", "10"]);
      assertEquals([paced.run.code, quiet(paced.run.stderr)], [0, ""]);
      assertEquals(paced.frames.length, 3);
      // Not 1970: the replay's start (or the next frame's time); the two EPBs keep their own.
      assert(paced.frames[0].sec >= Math.min(before, 1_700_000_000), `first frame at ${paced.frames[0].sec}`);
      assertEquals(paced.frames.slice(1).map((f) => [f.sec, f.nsec]), [[1_700_000_000, 0], [
        1_700_000_000,
        50_000_000,
      ]]);
      const looped = await replayInto(dir, file, ["--loop", "2"]);
      assertEquals(looped.run.code, 0, looped.run.stderr);
      const span = looped.frames.at(-1)!.sec - looped.frames[1].sec;
      assert(span < 10, `two passes span ${span} s, not decades`);
    } finally {
      rmrf(dir);
    }
  },
});

Deno.test({
  name: "capture read (loop): every --read ends with a summary line; refusals say how many frames went in",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    try {
      const file = `${dir}/big.pcap`;
      await Deno.writeFile(
        file,
        buildPcap({
          nano: true,
          records: [
            { sec: 1_700_000_000, frac: 1, data: fr() },
            { sec: 1_700_000_000, frac: 2, data: new Uint8Array(200_000).fill(7) },
            { sec: 1_700_000_000, frac: 3, data: new Uint8Array(10) },
            { sec: 1_700_000_000, frac: 4, data: fr() },
          ],
        }),
      );
      const r = (await replayInto(dir, file)).run;
      assertEquals(r.code, 0);
      const line = r.stderr.trim();
      assertEquals(line.split("\n").length, 1, r.stderr);
      for (const part of ["4 frames read", "2 written", "1 oversize", "1 malformed", "frame 2"]) {
        assertIncludes(line, part);
      }
      // Nothing replayed: still exit 0 (the file is fine), but the line says why.
      const all = `${dir}/all.pcap`;
      await Deno.writeFile(all, buildPcap({ records: [{ sec: 1, frac: 0, data: new Uint8Array(70000) }] }));
      const none = (await replayInto(dir, all)).run;
      assertIncludes(none.stderr, "0 written");
      assertIncludes(none.stderr, "oversize");
      // A refusal part-way says what went in.
      const mixed = `${dir}/mixed.pcapng`;
      await Deno.writeFile(
        mixed,
        buildPcapng([{
          blocks: [
            { kind: "idb", iface: {} },
            { kind: "idb", iface: { linkType: 0 } },
            ...epbs(0, 1_000_000n, 1),
            { kind: "epb", iface: 1, ts: 1n, data: new Uint8Array(40) },
          ],
        }]),
      );
      const m = (await replayInto(dir, mixed)).run;
      assertEquals(m.code, 1);
      assertIncludes(m.stderr, "link type 0 (BSD loopback) is not Ethernet (after 1 frame)");
    } finally {
      rmrf(dir);
    }
  },
});
