import { deepEqual, equal, ok } from "node:assert/strict";
import { toHex } from "../../lib/codec/bytes.ts";
import { type CodecError, isError } from "../../lib/codec/error.ts";
import {
  CaptureReader,
  type CaptureRecord,
  emitPcapHeader,
  emitPcapRecordHeader,
  LINKTYPE_ETHERNET,
  readCapture,
  readCaptureAsync,
} from "../../lib/codec/pcap.ts";
import {
  beNanoPcap,
  bePcap,
  bePcapng,
  ethArp,
  ethPlain,
  tdNanoPcap,
  tdPcap,
  tsNanoPcapng,
  tsPcapng,
} from "./fixtures.ts";
import { assertWithin, fuzz, XorShift } from "./fuzz.ts";

type Row = [tsSec: number, tsNsec: number, caplen: number, origLen: number, ifId: number, data: string];

function rows(items: Iterable<CaptureRecord | CodecError>): { rows: Row[]; error?: CodecError } {
  const out: Row[] = [];
  for (const r of items) {
    if (isError(r)) return { rows: out, error: r };
    equal(r.linkType, LINKTYPE_ETHERNET);
    out.push([
      r.tsSec,
      r.tsNsec,
      r.caplen,
      r.origLen,
      r.interfaceId,
      toHex(r.buffer, r.dataOffset, r.caplen),
    ]);
  }
  return { rows: out };
}

const A = toHex(ethPlain);
const B = toHex(ethArp);
// tshark -T fields -e frame.time_epoch -e frame.len -e frame.cap_len on each file:
const TWO_USEC: Row[] = [[1700000000, 123456000, 47, 47, 0, A], [1700000001, 500000000, 42, 42, 0, B]];
const FILES: [string, Uint8Array, Row[]][] = [
  ["tcpdump pcap (LE, usec)", tdPcap, TWO_USEC],
  ["tcpdump pcap (LE, nsec)", tdNanoPcap, TWO_USEC],
  ["tshark pcapng (LE, default tsresol)", tsPcapng, TWO_USEC],
  ["tshark pcapng (LE, if_tsresol 9)", tsNanoPcapng, TWO_USEC],
  ["struct pcap (BE, usec)", bePcap, TWO_USEC],
  ["struct pcap (BE, nsec)", beNanoPcap, [[1700000000, 123456789, 47, 47, 0, A]]],
  // tshark: 1700000100.500000000 47/47, (SPB: no time; the reader gives the previous one's) 42/42,
  // 1700000100.750000000 47/20
  ["struct pcapng (BE, tsresol 2^-10, tsoffset 100, unknown block, EPB, SPB, PB)", bePcapng, [
    [1700000100, 500000000, 47, 47, 0, A],
    [1700000100, 500000000, 42, 42, 0, B],
    [1700000100, 750000000, 20, 47, 0, A.slice(0, 40)],
  ]],
];

Deno.test("pcap: deconstruct files written by tcpdump, tshark and struct", () => {
  for (const [name, file, want] of FILES) {
    const got = rows(readCapture(file));
    equal(got.error, undefined, name);
    deepEqual(got.rows, want, name);
  }
  const first = readCapture(tdPcap).next().value as CaptureRecord;
  equal(first.buffer, tdPcap, "whole-file input: offsets index the caller's array");
  equal(first.dataOffset, 40);
  equal(first.recordOffset, 24);
});

Deno.test("pcap: construct the tcpdump files byte for byte with the writer", () => {
  for (const [nanosecond, file] of [[true, tdNanoPcap], [false, tdPcap]] as const) {
    const out = new Uint8Array(file.length);
    let o = emitPcapHeader(out, 0, { snaplen: 65535, nanosecond }) as number;
    for (const [tsSec, tsNsec, caplen, origLen, , data] of TWO_USEC) {
      o += emitPcapRecordHeader(out, o, { tsSec, tsNsec, caplen, origLen, nanosecond }) as number;
      out.set(data === A ? ethPlain : ethArp, o);
      o += caplen;
    }
    equal(o, file.length);
    equal(toHex(out), toHex(file));
  }
});

async function* chunked(file: Uint8Array, n: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < file.length; o += n) yield await Promise.resolve(file.slice(o, o + n));
}

Deno.test("pcap: parse the same records from any chunking, sync and async", async () => {
  const rng = new XorShift(1234);
  for (const [name, file, want] of FILES) {
    deepEqual(
      rows(readCapture(Array.from(file, (b) => new Uint8Array([b])))).rows,
      want,
      `${name} byte by byte`,
    );
    for (let i = 0; i < 20; i++) {
      const chunks: Uint8Array[] = [];
      for (let o = 0; o < file.length;) {
        const n = 1 + rng.below(64);
        chunks.push(file.slice(o, o + n));
        o += n;
      }
      deepEqual(rows(readCapture(chunks)).rows, want, name);
    }
    const got: Row[] = [];
    for await (const r of readCaptureAsync(chunked(file, 7))) {
      ok(!isError(r));
      got.push([
        r.tsSec,
        r.tsNsec,
        r.caplen,
        r.origLen,
        r.interfaceId,
        toHex(r.buffer, r.dataOffset, r.caplen),
      ]);
    }
    deepEqual(got, want, `${name} async`);
  }
});

/** Offsets where a capture may end cleanly: after the pcap header, each record, or each pcapng block. */
function boundaries(file: Uint8Array): number[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: number[] = [];
  if (dv.getUint32(0) === 0x0a0d0d0a) {
    const little = dv.getUint32(8) !== 0x1a2b3c4d;
    for (let o = 0; o < file.length; o += dv.getUint32(o + 4, little)) {
      out.push(o + dv.getUint32(o + 4, little));
    }
  } else {
    const little = dv.getUint32(0) !== 0xa1b2c3d4 && dv.getUint32(0) !== 0xa1b23c4d;
    for (let o = 24; o < file.length; o += 16 + dv.getUint32(o + 8, little)) out.push(o);
    out.push(24);
  }
  return out;
}

Deno.test("pcap: truncation yields every whole record, then an error with the byte offset", () => {
  for (const [name, file, want] of FILES) {
    const ends: number[] = [];
    const r = new CaptureReader();
    r.push(file);
    for (let x = r.next(); x && !isError(x); x = r.next()) ends.push(r.offset);
    equal(ends.length, want.length);
    const clean = new Set([0, ...boundaries(file)]); // 0 bytes: an empty capture, as Wireshark reads it
    for (let cut = 0; cut < file.length; cut++) {
      const got = rows(readCapture(file.subarray(0, cut)));
      const whole = ends.filter((e) => e <= cut).length;
      equal(got.rows.length, whole, `${name} cut at ${cut}`);
      if (clean.has(cut)) {
        equal(got.error, undefined, `${name} cut at ${cut}, a block boundary: a valid shorter file`);
      } else {
        ok(got.error, `${name} cut at ${cut}: an error`);
        ok(/at byte \d+/.test(got.error.reason), got.error.reason);
      }
    }
  }
  deepEqual(
    rows(readCapture(tdPcap.subarray(0, 50))).error?.reason,
    "Truncated pcap record at byte 24: 26 bytes left",
  );
  deepEqual(rows(readCapture(new Uint8Array(0))), { rows: [] }, "a 0-byte file is an empty capture");
  deepEqual(
    rows(readCapture(new Uint8Array(3))).error?.reason,
    "Truncated capture header at byte 0: 3 bytes, not pcap or pcapng",
  );
});

Deno.test("pcap: corruption stops at the damaged record", () => {
  const bigCap = tdPcap.slice();
  bigCap.set([0xff, 0xff, 0xff, 0x7f], 24 + 16 + 47 + 8); // second record's caplen
  const a = rows(readCapture(bigCap));
  equal(a.rows.length, 1);
  equal(a.error?.reason, 'Corrupt pcap record at byte 87: caplen "2147483647" exceeds 262144');

  const magic = tdPcap.slice();
  magic[0] = 0;
  ok(/Bad capture magic/.test(rows(readCapture(magic)).error!.reason));
  const version = tdPcap.slice();
  version[4] = 3;
  ok(/Bad pcap version "3.4"/.test(rows(readCapture(version)).error!.reason));

  // pcapng: a block's trailing length differs
  const trail = tsPcapng.slice();
  trail[trail.length - 1] ^= 1;
  const t = rows(readCapture(trail));
  equal(t.rows.length, 1);
  ok(/Corrupt pcapng block at byte \d+: trailing length/.test(t.error!.reason), t.error!.reason);
  // pcapng: an EPB naming an interface that does not exist
  const iface = tsPcapng.slice();
  const epb = boundaries(tsPcapng)[1]; // after the SHB and the IDB
  iface[epb + 8] = 5;
  const i = rows(readCapture(iface));
  equal(i.rows.length, 0);
  equal(i.error?.reason, `Corrupt pcapng packet block at byte ${epb}: unknown interface "5"`);
  // pcapng: bad byte-order magic
  const bom = tsPcapng.slice();
  bom[8] = 0;
  ok(/byte-order magic/.test(rows(readCapture(bom)).error!.reason));
  // after an error the reader keeps returning it
  const r = new CaptureReader();
  r.push(magic);
  const e1 = r.next();
  ok(isError(e1));
  equal(r.next(), e1);
  equal(r.end(), e1);
});

Deno.test("pcap: emit rejects bad configuration", () => {
  const b = new Uint8Array(24);
  ok(isError(emitPcapHeader(b, 1)));
  ok(isError(emitPcapHeader(b, 0, { snaplen: -1 })));
  ok(isError(emitPcapRecordHeader(b, 0, { tsSec: 1, tsNsec: 1e9, caplen: 1 })));
  ok(isError(emitPcapRecordHeader(b, 0, { tsSec: 2 ** 32, tsNsec: 0, caplen: 1 })));
  ok(isError(emitPcapRecordHeader(b, 9, { tsSec: 1, tsNsec: 0, caplen: 1 })));
  equal(emitPcapRecordHeader(b, 8, { tsSec: 1, tsNsec: 0, caplen: 1 }), 16);
});

Deno.test("pcap: fuzz readers never throw, stay in bounds, and stop after one error", () => {
  const files = FILES.map((f) => f[1]);
  const check = (buf: Uint8Array, off: number, len: number) => {
    const input =
      Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= buf.length
        ? buf.subarray(off, off + len)
        : buf;
    let errors = 0;
    let prev = -1;
    for (const r of readCapture(input)) {
      ok(errors === 0, "nothing after an error");
      if (isError(r)) {
        errors++;
        continue;
      }
      assertWithin("record", r.buffer.length, r.dataOffset, r.caplen);
      ok(r.recordOffset > prev);
      prev = r.recordOffset;
      ok(Number.isFinite(r.tsSec) && r.tsNsec >= 0 && r.tsNsec < 1e9, `ts ${r.tsSec}.${r.tsNsec}`);
    }
  };
  fuzz(0x9ca9, files, check, { random: 20000, mutations: 20000 });
  // and chunked: split mutated files in three
  const rng = new XorShift(77);
  fuzz(0x9caa, files, (buf) => {
    const a = rng.below(buf.length + 1);
    const b = a + rng.below(buf.length - a + 1);
    for (const r of readCapture([buf.subarray(0, a), buf.subarray(a, b), buf.subarray(b)])) {
      if (!isError(r)) assertWithin("record", r.buffer.length, r.dataOffset, r.caplen);
    }
  }, { random: 0, mutations: 10000 });
});

Deno.test("pcap: linkType is known from the header, before any record", () => {
  const r = new CaptureReader();
  equal(r.linkType, undefined);
  const hdr = new Uint8Array(24);
  emitPcapHeader(hdr, 0, { linkType: 105 });
  r.push(hdr.subarray(0, 20));
  equal(r.next(), undefined);
  equal(r.linkType, undefined, "not before the whole header");
  r.push(hdr.subarray(20));
  equal(r.next(), undefined);
  equal(r.linkType, 105);
  equal(r.end(), undefined);
  // big-endian classic pcap, and pcapng: from its first interface block
  const be = new CaptureReader();
  be.push(bePcap.subarray(0, 24));
  be.next();
  equal(be.linkType, LINKTYPE_ETHERNET);
  const ng = new CaptureReader();
  ng.push(tsPcapng.subarray(0, boundaries(tsPcapng)[1]));
  equal(ng.next(), undefined);
  equal(ng.linkType, LINKTYPE_ETHERNET);
});
