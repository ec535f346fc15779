/**
 * The pcapng writer (deconstruct, construct, parse, emit over fixed bytes checked with tshark) and the
 * reader's handling of what other writers put in files: timestamp-less simple packet blocks, section
 * versions, every `if_tsresol`, lengths outside Ethernet's range, caplen above the original length, link
 * types known from the header however the bytes are chunked.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { fromHex, toHex } from "../../lib/codec/bytes.ts";
import { type CodecError, isError } from "../../lib/codec/error.ts";
import { CaptureReader, type CaptureRecord, readCapture, setPcapRecordHeader } from "../../lib/codec/pcap.ts";
import {
  emitPcapngInterface,
  emitPcapngPacket,
  emitPcapngSectionHeader,
  emitPcapngStatistics,
  PCAPNG_EPB_HEADER_LENGTH,
  pcapngInterfaceLength,
  pcapngPacketBlockLength,
  pcapngSectionHeaderLength,
  pcapngStatisticsLength,
  type PcapngStatisticsRepr,
  setPcapngPacketBlock,
} from "../../lib/codec/pcapng.ts";
import { buildPcap, buildPcapng, type NgBlock, toSecNsec, unitsOf } from "../pcap/build.ts";
import { ethArp, ethPlain } from "./fixtures.ts";
import { XorShift } from "./fuzz.ts";

/**
 * Written by this writer: SHB (shb_hardware "x86_64", shb_os "Linux", shb_userappl "fluxcap 0.1.0"), IDB
 * (if_name "cisco", snaplen 65535, if_tsresol 9), EPB (ethPlain, 1700000000.123456789), EPB (ethArp cut
 * from 1514 bytes, 4294967301.999999999: after 2106), ISB (10 received, 2 dropped, 3 by the OS, 4 delivered).
 * tshark -T fields -e frame.time_epoch -e frame.len -e frame.cap_len -e frame.interface_name:
 *   1700000000.123456789 47 47 cisco / 4294967301.999999999 1514 42 cisco
 * tshark -X 'read_format:MIME Files Format' -e …interface.received …dropped …dropped_by_os
 * …delivered_to_user -e pcapng.options.option.data.user_application: 10 2 3 4 fluxcap 0.1.0
 */
const WRITTEN = fromHex(`
  0a0d0d0a4c0000004d3c2b1a01000000ffffffffffffffff020006007838365f36340000030005004c696e7578000000
  04000d00666c757863617020302e312e30000000000000004c000000010000002c00000001000000ffff000002000500
  636973636f0000000900010009000000000000002c000000060000005000000000000000fe9c971715cd853d2f000000
  2f00000000112233445566778899aabb08004500002100010000401166c90a0000010a00000204d2162e000d8cff6865
  6c6c6f0050000000060000004c0000000000000001ca9a3bffbba0652a000000ea050000ffffffffffff66778899aabb
  0806000108000604000166778899aabb0a0000010000000000000a00000200004c000000050000006400000000000000
  009d971705e4358a02000800fe9c971701002a3603000800009d971705e4358a040008000a0000000000000005000800
  02000000000000000700080003000000000000000800080004000000000000000000000064000000
`);
const SHB = { userAppl: "fluxcap 0.1.0", os: "Linux", hardware: "x86_64" };
const IDB = { name: "cisco", snaplen: 65535 };
const ISB: PcapngStatisticsRepr = {
  tsSec: 1700000010,
  tsNsec: 5,
  startTime: [1700000000, 1],
  endTime: [1700000010, 5],
  ifRecv: 10,
  ifDrop: 2,
  osDrop: 3,
  usrDeliv: 4,
};

type Row = [sec: number, nsec: number, caplen: number, origLen: number, iface: number, hasTime: boolean];
function rowsOf(
  items: Iterable<CaptureRecord | CodecError>,
): { rows: Row[]; data: string[]; error?: string } {
  const rows: Row[] = [];
  const data: string[] = [];
  for (const r of items) {
    if (isError(r)) return { rows, data, error: r.reason };
    rows.push([r.tsSec, r.tsNsec, r.caplen, r.origLen, r.interfaceId, r.hasTime]);
    data.push(toHex(r.buffer, r.dataOffset, r.caplen));
  }
  return { rows, data };
}

Deno.test("pcapng: deconstruct the written file (the reader sees what tshark sees)", () => {
  const got = rowsOf(readCapture(WRITTEN));
  equal(got.error, undefined);
  deepEqual(got.rows, [
    [1700000000, 123456789, 47, 47, 0, true],
    [4294967301, 999999999, 42, 1514, 0, true],
  ]);
  deepEqual(got.data, [toHex(ethPlain), toHex(ethArp)]);
  const r = new CaptureReader();
  r.push(WRITTEN);
  while (r.next() !== undefined);
  deepEqual(r.interfaces, [{ linkType: 1, snaplen: 65535 }]);
});

Deno.test("pcapng: construct the file byte for byte with the writer", () => {
  const out = new Uint8Array(WRITTEN.length);
  let o = 0;
  const step = (n: number | CodecError) => {
    ok(!isError(n), isError(n) ? n.reason : "");
    o += n as number;
  };
  equal(pcapngSectionHeaderLength(SHB), 76);
  step(emitPcapngSectionHeader(out, o, SHB));
  equal(pcapngInterfaceLength(IDB), 44);
  step(emitPcapngInterface(out, o, IDB));
  step(emitPcapngPacket(out, o, { tsSec: 1700000000, tsNsec: 123456789, data: ethPlain }));
  step(emitPcapngPacket(out, o, { tsSec: 4294967301, tsNsec: 999999999, data: ethArp, origLen: 1514 }));
  equal(pcapngStatisticsLength(ISB), 100);
  step(emitPcapngStatistics(out, o, ISB));
  equal(o, WRITTEN.length);
  equal(toHex(out), toHex(WRITTEN));
});

Deno.test("pcapng: records formatted in place equal emitted ones, timestamps exact to 2^64 ns", () => {
  const rng = new XorShift(99);
  const buf = new Uint8Array(4096);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < 2000; i++) {
    const len = rng.below(1600);
    const data = new Uint8Array(len).map(() => rng.below(256));
    const sec = i < 1000
      ? rng.below(2 ** 32)
      : Math.min(rng.below(2 ** 32) * 4 + rng.below(4), 18_446_744_072);
    const nsec = rng.below(1e9);
    const orig = rng.below(70000);
    const want = new Uint8Array(pcapngPacketBlockLength(len));
    equal(
      emitPcapngPacket(want, 0, { interfaceId: 3, tsSec: sec, tsNsec: nsec, data, origLen: orig }),
      want.length,
    );
    buf.fill(0xee); // padding must be written, not inherited
    buf.set(data, 8 + PCAPNG_EPB_HEADER_LENGTH);
    equal(setPcapngPacketBlock(dv, 8, 3, len, orig, sec, nsec), want.length);
    equal(toHex(buf, 8, want.length), toHex(want), `record ${i}`);
    const t = (dv.getUint32(8 + 12, true) * 2 ** 32) + dv.getUint32(8 + 16, true);
    const exact = (BigInt(dv.getUint32(8 + 12, true)) << 32n) | BigInt(dv.getUint32(8 + 16, true));
    equal(exact, BigInt(sec) * 1_000_000_000n + BigInt(nsec), `timestamp ${sec}.${nsec}`);
    ok(Number.isFinite(t));
  }
});

Deno.test("pcapng: emit rejects bad configuration", () => {
  const b = new Uint8Array(256);
  ok(isError(emitPcapngSectionHeader(new Uint8Array(20), 0)));
  ok(isError(emitPcapngSectionHeader(b, 0, { userAppl: "x".repeat(5000) })));
  ok(isError(emitPcapngInterface(b, 0, { linkType: 70000 })));
  ok(isError(emitPcapngInterface(b, 0, { snaplen: -1 })));
  ok(isError(emitPcapngPacket(b, 0, { tsSec: 1, tsNsec: 1e9, data: new Uint8Array(1) })));
  ok(isError(emitPcapngPacket(b, 0, { tsSec: -1, tsNsec: 0, data: new Uint8Array(1) })));
  ok(isError(emitPcapngPacket(b, 0, { tsSec: 2 ** 35, tsNsec: 0, data: new Uint8Array(1) })));
  ok(isError(emitPcapngPacket(b, 250, { tsSec: 1, tsNsec: 0, data: new Uint8Array(1) })));
  ok(isError(emitPcapngStatistics(b, 0, { tsSec: 1, tsNsec: 0, ifRecv: -1 })));
  ok(isError(emitPcapngStatistics(b, 0, { tsSec: 1, tsNsec: 0, endTime: [1, 1e9] })));
  equal(emitPcapngPacket(b, 4, { tsSec: 2 ** 34, tsNsec: 0, data: new Uint8Array(1) }), 36);
});

Deno.test("pcap: the classic in-place record header reports seconds it cannot hold", () => {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  equal(setPcapRecordHeader(dv, 0, 60, 50, 0xffffffff, 7), true);
  deepEqual([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)], [
    0xffffffff,
    7,
    60,
    50,
  ]);
  equal(setPcapRecordHeader(dv, 0, 60, 60, 2 ** 32 + 5, 7), false, "2^32 + 5 does not fit");
  equal(dv.getUint32(0, true), 5, "written modulo 2^32");
});

const frame = (n: number, fill = 0xab) => new Uint8Array(n).fill(fill);

Deno.test("pcapng read: a simple packet block has no time: hasTime false, the previous record's time", () => {
  const file = buildPcapng([{
    blocks: [
      { kind: "idb", iface: { tsresol: 9 } },
      { kind: "spb", data: frame(60, 1) }, // before any timestamp
      { kind: "epb", iface: 0, ts: 1_700_000_000_123_456_789n, data: frame(60, 2) },
      { kind: "spb", data: frame(61, 3) },
      { kind: "spb", data: frame(62, 4) },
      { kind: "epb", iface: 0, ts: 1_700_000_001_000_000_000n, data: frame(63, 5) },
      { kind: "spb", data: frame(64, 6) },
    ],
  }]);
  const got = rowsOf(readCapture(file));
  equal(got.error, undefined);
  deepEqual(got.rows, [
    [0, 0, 60, 60, 0, false],
    [1700000000, 123456789, 60, 60, 0, true],
    [1700000000, 123456789, 61, 61, 0, false],
    [1700000000, 123456789, 62, 62, 0, false],
    [1700000001, 0, 63, 63, 0, true],
    [1700000001, 0, 64, 64, 0, false],
  ]);
  // In a new section, the previous time carries on (it is the stream's, not the section's).
  const two = buildPcapng([
    { blocks: [{ kind: "idb", iface: {} }, { kind: "epb", iface: 0, ts: 5_000_001n, data: frame(60) }] },
    { bigEndian: true, blocks: [{ kind: "idb", iface: {} }, { kind: "spb", data: frame(60) }] },
  ]);
  deepEqual(rowsOf(readCapture(two)).rows.map((r) => r.slice(0, 2).concat(r[5])), [[5, 1000, true], [
    5,
    1000,
    false,
  ]]);
});

Deno.test("pcapng read: section versions 1.0 and 1.2 are read, others refused as libpcap and Wireshark do", () => {
  const blocks: NgBlock[] = [{ kind: "idb", iface: {} }, { kind: "epb", iface: 0, ts: 1n, data: frame(60) }];
  for (const [major, minor] of [[1, 0], [1, 2]]) {
    const got = rowsOf(readCapture(buildPcapng([{ version: [major, minor], blocks }])));
    equal(got.error, undefined, `${major}.${minor}`);
    equal(got.rows.length, 1);
  }
  for (const [major, minor] of [[1, 1], [1, 3], [2, 0], [0, 0]]) {
    const got = rowsOf(readCapture(buildPcapng([{ version: [major, minor], blocks }])));
    equal(got.rows.length, 0);
    equal(got.error, `Unsupported pcapng version "${major}.${minor}" at byte 12: expected 1.0`);
  }
  // A later section of an unsupported version stops the reader after the first section's frames.
  const later = buildPcapng([{ blocks }, { version: [1, 1], blocks }]);
  const got = rowsOf(readCapture(later));
  equal(got.rows.length, 1);
  ok(got.error?.startsWith('Unsupported pcapng version "1.1" at byte '), got.error);
});

Deno.test("pcapng read: every if_tsresol and if_tsoffset converts as BigInt arithmetic does", () => {
  const rng = new XorShift(7);
  for (const tsresol of [undefined, 0, 3, 6, 9, 0x94, 0x8a, 0x80 | 23, 0x80 | 30, 12, 0x80 | 40]) {
    const units = unitsOf(tsresol);
    const blocks: NgBlock[] = [{ kind: "idb", iface: { tsresol, tsoffset: 100 } }];
    const want: [number, number][] = [];
    for (let i = 0; i < 300; i++) {
      // Times from 1970 to 2200 (or whatever fits 64 bits in that unit), plus the edges.
      const limit = (1n << 64n) - 1n;
      const max = units * 7_300_000_000n < limit ? units * 7_300_000_000n : limit;
      const ts = i === 0
        ? 0n
        : i === 1
        ? max
        : (BigInt(rng.below(2 ** 32)) << 32n | BigInt(rng.below(2 ** 32))) % (max + 1n);
      blocks.push({ kind: "epb", iface: 0, ts, data: frame(60) });
      want.push(toSecNsec(ts, units, 100));
    }
    for (const bigEndian of [false, true]) {
      const got = rowsOf(readCapture(buildPcapng([{ bigEndian, blocks }])));
      equal(got.error, undefined);
      deepEqual(got.rows.map((r) => [r[0], r[1]]), want, `if_tsresol ${tsresol} ${bigEndian ? "BE" : "LE"}`);
    }
  }
});

Deno.test("capture read: lengths are passed as they are (jumbo, BIG TCP, runts, caplen above orig_len)", () => {
  const sizes = [0, 1, 13, 14, 65535, 65536, 200_000];
  const pcap = buildPcap({
    nano: true,
    records: sizes.map((n, i) => ({ sec: 1, frac: i, data: frame(n, i), origLen: i === 3 ? 10 : n })),
  });
  let got = rowsOf(readCapture(pcap));
  equal(got.error, undefined);
  deepEqual(got.rows.map((r) => [r[2], r[3]]), sizes.map((n, i) => [n, i === 3 ? 10 : n]));
  deepEqual(got.data.map((d) => d.length / 2), sizes);
  const ng = buildPcapng([{
    blocks: [
      { kind: "idb", iface: {} },
      ...sizes.map((n, i): NgBlock => ({
        kind: "epb",
        iface: 0,
        ts: BigInt(i),
        data: frame(n, i),
        origLen: i === 3 ? 10 : n,
      })),
    ],
  }]);
  got = rowsOf(readCapture(ng));
  equal(got.error, undefined);
  deepEqual(
    got.rows.map((r) => [r[2], r[3]]),
    sizes.map((n, i) => [n, i === 3 ? 10 : n]),
    "orig_len kept as in the file",
  );
  // Chunked at every 4096 bytes: the same.
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < ng.length; o += 4096) chunks.push(ng.subarray(o, o + 4096));
  deepEqual(rowsOf(readCapture(chunks)).data, got.data);
});

Deno.test("capture read: the link type is known from the header, however the bytes are chunked", () => {
  // An empty Linux-cooked pcap, on stdin as two writes: the header alone tells.
  const empty = buildPcap({ linkType: 113, records: [] });
  const r = new CaptureReader();
  equal(r.linkType, undefined);
  r.push(empty.subarray(0, 10));
  equal(r.next(), undefined);
  equal(r.linkType, undefined);
  r.push(empty.subarray(10));
  equal(r.next(), undefined);
  equal(r.linkType, 113);
  deepEqual(r.interfaces, [{ linkType: 113, snaplen: 262144 }]);
  equal(r.end(), undefined);
  // pcapng: interfaces as their blocks are read; a new section starts a new list.
  const ng = buildPcapng([
    {
      blocks: [{ kind: "idb", iface: { linkType: 1 } }, { kind: "idb", iface: { linkType: 0, snaplen: 96 } }],
    },
    { blocks: [{ kind: "idb", iface: { linkType: 113 } }] },
  ]);
  const s = new CaptureReader();
  const seen: string[] = [];
  for (let o = 0; o < ng.length; o += 7) {
    s.push(ng.subarray(o, o + 7));
    equal(s.next(), undefined);
    const now = s.interfaces.map((i) => `${i.linkType}/${i.snaplen}`).join(",");
    if (seen.at(-1) !== now) seen.push(now);
  }
  deepEqual(seen, ["", "1/0", "1/0,0/96", "", "113/0"]);
  equal(s.linkType, 113);
  equal(s.end(), undefined);
});

Deno.test("capture read: a 0-byte input is an empty capture; a few bytes are a truncated header", () => {
  const r = new CaptureReader();
  r.push(new Uint8Array(0));
  equal(r.next(), undefined);
  equal(r.end(), undefined);
  equal(r.format, undefined);
  const t = new CaptureReader();
  t.push(new Uint8Array([0xd4, 0xc3]));
  equal(t.next(), undefined);
  equal(t.end()?.reason, "Truncated capture header at byte 0: 2 bytes, not pcap or pcapng");
});

Deno.test("pcapng read: obsolete packet blocks, unknown blocks and statistics between packets", () => {
  const file = buildPcapng([{
    bigEndian: true,
    blocks: [
      { kind: "idb", iface: { tsresol: 6 } },
      { kind: "idb", iface: { tsresol: 3 } },
      { kind: "raw", type: 0x0bad, body: frame(9) },
      { kind: "pb", iface: 1, ts: 1_700_000_000_123n, data: frame(60) },
      { kind: "isb", iface: 0, ts: 1n },
      { kind: "epb", iface: 0, ts: 1_700_000_000_123_456n, data: frame(70), comment: "hello" },
    ],
  }]);
  const got = rowsOf(readCapture(file));
  equal(got.error, undefined);
  deepEqual(got.rows, [
    [1700000000, 123000000, 60, 60, 1, true],
    [1700000000, 123456000, 70, 70, 0, true],
  ]);
});
