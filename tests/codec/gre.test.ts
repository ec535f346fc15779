import { deepEqual, equal, ok } from "node:assert/strict";
import { toHex } from "../../lib/codec/bytes.ts";
import { isError } from "../../lib/codec/error.ts";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_TEB } from "../../lib/codec/ethernet.ts";
import {
  emitGre,
  greHeaderLength,
  type GreInfo,
  newGreInfo,
  parseGre,
  setGreChecksum,
  setGreProtocol,
} from "../../lib/codec/gre.ts";
import { greCsumSeq, greKey, grePlain } from "./fixtures.ts";
import { assertWithin, fuzz } from "./fuzz.ts";

// GRE starts after Ethernet + IPv4 (34) in greKey, after IPv4 (20) in the others.
const KEY = greKey.subarray(34);
const CSUM = greCsumSeq.subarray(20);
const PLAIN = grePlain.subarray(20);

function parsed(buf: Uint8Array): GreInfo {
  const r = parseGre(buf, 0, buf.length);
  if (isError(r)) throw new Error(r.reason);
  return r;
}

const pick = (g: GreInfo) => ({
  c: g.checksumPresent,
  k: g.keyPresent,
  s: g.sequencePresent,
  protocol: g.protocol,
  key: g.key,
  sequence: g.sequence,
  headerLength: g.headerLength,
});

Deno.test("gre: deconstruct scapy packets (key; checksum + key + sequence; bare)", () => {
  // tshark: gre.key 0x000001f4, protocol Transparent Ethernet Bridging
  deepEqual(pick(parsed(KEY)), {
    c: false,
    k: true,
    s: false,
    protocol: ETHERTYPE_TEB,
    key: 500,
    sequence: 0,
    headerLength: 8,
  });
  equal(parsed(KEY).payloadOffset, 8);
  equal(toHex(KEY, 8, 6), "001122334455"); // inner destination MAC
  // tshark: checksum 0xaa14 [correct], key 0xdeadbeef, sequence 77
  const c = parsed(CSUM);
  deepEqual(pick(c), {
    c: true,
    k: true,
    s: true,
    protocol: ETHERTYPE_IPV4,
    key: 0xdeadbeef,
    sequence: 77,
    headerLength: 16,
  });
  equal(c.checksum, 0xaa14);
  equal(c.checksumValid, true);
  equal(c.payloadLength, CSUM.length - 16);
  const p = parsed(PLAIN);
  deepEqual(pick(p), {
    c: false,
    k: false,
    s: false,
    protocol: ETHERTYPE_IPV6,
    key: 0,
    sequence: 0,
    headerLength: 4,
  });
});

Deno.test("gre: construct scapy headers byte for byte, checksum included", () => {
  const b = new Uint8Array(CSUM.length);
  equal(emitGre(b, 0, { protocol: ETHERTYPE_TEB, key: 500 }), 8);
  equal(toHex(b, 0, 8), toHex(KEY, 0, 8));
  equal(emitGre(b, 0, { protocol: ETHERTYPE_IPV6 }), 4);
  equal(toHex(b, 0, 4), toHex(PLAIN, 0, 4));
  const repr = { protocol: ETHERTYPE_IPV4, checksum: true, key: 0xdeadbeef, sequence: 77 };
  equal(greHeaderLength(repr), 16);
  equal(emitGre(b, 0, repr), 16);
  b.set(CSUM.subarray(16), 16);
  equal(setGreChecksum(b, 0, b.length), 0xaa14);
  equal(toHex(b), toHex(CSUM));
});

Deno.test("gre: parse walks optional fields and rejects what it cannot carry", () => {
  const into = newGreInfo();
  const buf = new Uint8Array(KEY.length + 3);
  buf.set(KEY, 3);
  equal(parseGre(buf, 3, KEY.length, into), into);
  equal(into.payloadOffset, 11);
  ok(isError(parseGre(KEY, 0, 7)), "key missing");
  ok(isError(parseGre(CSUM, 0, 15)), "sequence missing");
  ok(isError(parseGre(KEY, 0, 3)));
  ok(isError(parseGre(KEY, 5, KEY.length)));
  const v1 = KEY.slice();
  v1[1] = 1;
  ok(isError(parseGre(v1, 0, v1.length)), "version 1 (PPTP)");
  const routing = KEY.slice();
  routing[0] |= 0x40;
  ok(isError(parseGre(routing, 0, routing.length)));
  const bad = CSUM.slice();
  bad[bad.length - 1] ^= 0x10;
  equal(parsed(bad).checksumValid, false);
});

Deno.test("gre: emit rejects bad configuration", () => {
  const b = new Uint8Array(16);
  ok(isError(emitGre(b, 0, { protocol: 0x10000 })));
  ok(isError(emitGre(b, 0, { protocol: 1, key: 2 ** 32 })));
  ok(isError(emitGre(b, 0, { protocol: 1, sequence: -1 })));
  ok(isError(emitGre(new Uint8Array(11), 0, { protocol: 1, key: 1, sequence: 1 })));
  emitGre(b, 0, { protocol: 1 });
  ok(isError(setGreChecksum(b, 0, 16)), "C bit clear");
});

Deno.test("gre: fuzz parse never throws nor escapes the input", () => {
  const info = newGreInfo();
  fuzz(0x6e6e, [KEY, CSUM, PLAIN], (buf, off, len) => {
    const r = parseGre(buf, off, len, info);
    if (!isError(r)) {
      assertWithin("payload", buf.length, r.payloadOffset, r.payloadLength);
      equal(r.payloadOffset - off, r.headerLength);
    }
  });
});

Deno.test("gre: setGreProtocol patches an emitted template into scapy's headers", () => {
  const t = new Uint8Array(8);
  equal(emitGre(t, 0, { protocol: ETHERTYPE_TEB, key: 500 }), 8);
  setGreProtocol(t, 0, ETHERTYPE_IPV6);
  equal(toHex(t), "200086dd000001f4"); // the flags and the key stay
  setGreProtocol(t, 0, ETHERTYPE_TEB);
  equal(toHex(t), toHex(KEY, 0, 8));
  const p = new Uint8Array(4);
  equal(emitGre(p, 0, { protocol: ETHERTYPE_TEB }), 4);
  setGreProtocol(p, 0, ETHERTYPE_IPV6);
  equal(toHex(p), toHex(PLAIN, 0, 4));
  const c = CSUM.slice(0, 16);
  setGreProtocol(c, 0, ETHERTYPE_IPV4);
  equal(toHex(c), toHex(CSUM, 0, 16));
});
