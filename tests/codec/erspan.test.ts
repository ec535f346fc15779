import { deepEqual, equal, ok } from "node:assert/strict";
import { fromHex, toHex } from "../../lib/codec/bytes.ts";
import { isError } from "../../lib/codec/error.ts";
import {
  emitErspanII,
  emitErspanIII,
  type ErspanInfo,
  GRE_PROTO_ERSPAN,
  GRE_PROTO_ERSPAN_III,
  newErspanInfo,
  parseErspan,
} from "../../lib/codec/erspan.ts";
import { type GreInfo, parseGre } from "../../lib/codec/gre.ts";
import { erspan1, erspan2, erspan3, erspan3p } from "./fixtures.ts";
import { assertWithin, fuzz } from "./fuzz.ts";

const INNER = "00112233445566778899aabb0800"; // start of the mirrored frame in every fixture

/** Decodes an IPv4/GRE/ERSPAN fixture the way the receive path will: GRE first, then ERSPAN. */
function decode(pkt: Uint8Array): ErspanInfo {
  const g = parseGre(pkt, 20, pkt.length - 20) as GreInfo;
  ok(!isError(g));
  const e = parseErspan(g.protocol, g.sequencePresent, pkt, g.payloadOffset, g.payloadLength);
  if (isError(e)) throw new Error(e.reason);
  equal(toHex(pkt, e.frameOffset, 14), INNER);
  equal(e.frameOffset + e.frameLength, pkt.length);
  return e;
}

Deno.test("erspan: deconstruct type I (GRE 0x88be without S)", () => {
  const e = decode(erspan1);
  equal(e.type, 1);
  equal(e.sessionId, -1);
  equal(e.vlan, -1);
  equal(e.headerLength, 0);
  equal(e.frameOffset, 24);
});

Deno.test("erspan: deconstruct type II (tshark: SpanID 5, Vlan 10, COS 1, Encap 3, T 1, Index 703710)", () => {
  const e = decode(erspan2);
  deepEqual(
    [e.type, e.sessionId, e.vlan, e.cos, e.encapType, e.truncated, e.index, e.headerLength, e.frameOffset],
    [2, 5, 10, 1, 3, true, 703710, 8, 36],
  );
});

Deno.test("erspan: deconstruct type III (tshark: spanid 1023, vlan 20, ts 305419896, sgt 17185, hw 42)", () => {
  const e = decode(erspan3);
  deepEqual(
    {
      type: e.type,
      sessionId: e.sessionId,
      vlan: e.vlan,
      cos: e.cos,
      bso: e.bso,
      truncated: e.truncated,
      timestamp: e.timestamp,
      sgt: e.sgt,
      p: e.p,
      frameType: e.frameType,
      hwId: e.hwId,
      direction: e.direction,
      granularity: e.granularity,
      platformOffset: e.platformOffset,
      headerLength: e.headerLength,
    },
    {
      type: 3,
      sessionId: 1023,
      vlan: 20,
      cos: 6,
      bso: 2,
      truncated: false,
      timestamp: 0x12345678,
      sgt: 0x4321,
      p: true,
      frameType: 0,
      hwId: 42,
      direction: true,
      granularity: 3,
      platformOffset: -1,
      headerLength: 12,
    },
  );
  // tshark: erspan.o 1, erspan.platid 3
  const p = decode(erspan3p);
  deepEqual([p.sessionId, p.vlan, p.timestamp, p.sgt, p.hwId, p.granularity], [9, 30, 0xfedcba98, 7, 1, 1]);
  equal(p.platformOffset, 40);
  equal(p.platformId, 3);
  equal(p.headerLength, 20);
  equal(p.frameOffset, 48);
});

Deno.test("erspan: construct scapy headers byte for byte", () => {
  const b = new Uint8Array(20);
  equal(
    emitErspanII(b, 0, { sessionId: 5, vlan: 10, cos: 1, encapType: 3, truncated: true, index: 0xabcde }),
    8,
  );
  equal(toHex(b, 0, 8), toHex(erspan2, 28, 8));
  equal(
    emitErspanIII(b, 0, {
      sessionId: 1023,
      vlan: 20,
      cos: 6,
      bso: 2,
      timestamp: 0x12345678,
      sgt: 0x4321,
      p: true,
      hwId: 42,
      direction: true,
      granularity: 3,
    }),
    12,
  );
  equal(toHex(b, 0, 12), toHex(erspan3, 28, 12));
  const platform = fromHex("0c00015511223344");
  equal(
    emitErspanIII(b, 0, {
      sessionId: 9,
      vlan: 30,
      timestamp: 0xfedcba98,
      sgt: 7,
      hwId: 1,
      granularity: 1,
      platform,
    }),
    20,
  );
  equal(toHex(b), toHex(erspan3p, 28, 20));
});

Deno.test("erspan: parse rejects wrong protocols, versions and truncation", () => {
  ok(isError(parseErspan(0x0800, true, erspan2, 28, 8)));
  ok(isError(parseErspan(GRE_PROTO_ERSPAN, true, erspan2, 28, 7)));
  ok(isError(parseErspan(GRE_PROTO_ERSPAN_III, true, erspan3, 28, 11)));
  ok(isError(parseErspan(GRE_PROTO_ERSPAN_III, true, erspan3p, 28, 19)), "platform subheader cut");
  ok(isError(parseErspan(GRE_PROTO_ERSPAN_III, true, erspan2, 28, 20)), "version 1 under 0x22eb");
  ok(isError(parseErspan(GRE_PROTO_ERSPAN, true, erspan3, 28, 20)), "version 2 under 0x88be");
  ok(isError(parseErspan(GRE_PROTO_ERSPAN, false, erspan1, 70, 20)));
  const into = newErspanInfo();
  equal(parseErspan(GRE_PROTO_ERSPAN_III, true, erspan3p, 28, erspan3p.length - 28, into), into);
  equal(parseErspan(GRE_PROTO_ERSPAN_III, true, erspan3, 28, erspan3.length - 28, into), into);
  equal(into.platformOffset, -1, "reused object is reset");
});

Deno.test("erspan: emit rejects out-of-range fields", () => {
  const b = new Uint8Array(20);
  ok(isError(emitErspanII(b, 0, { sessionId: 1024 })));
  ok(isError(emitErspanII(b, 0, { sessionId: 1, vlan: 4096 })));
  ok(isError(emitErspanII(b, 0, { sessionId: 1, index: 2 ** 20 })));
  ok(isError(emitErspanII(b, 13, { sessionId: 1 })));
  ok(isError(emitErspanIII(b, 0, { sessionId: 1, hwId: 64 })));
  ok(isError(emitErspanIII(b, 0, { sessionId: 1, timestamp: 2 ** 32 })));
  ok(isError(emitErspanIII(b, 0, { sessionId: 1, platform: new Uint8Array(7) })));
  ok(isError(emitErspanIII(b, 1, { sessionId: 1, platform: new Uint8Array(8) })));
});

Deno.test("erspan: fuzz parse never throws nor escapes the input", () => {
  const into = newErspanInfo();
  const bodies = [erspan2.subarray(28), erspan3.subarray(28), erspan3p.subarray(28), erspan1.subarray(24)];
  let n = 0;
  fuzz(0xe5e5, bodies, (buf, off, len) => {
    const proto = [GRE_PROTO_ERSPAN, GRE_PROTO_ERSPAN_III, 0x6558][n % 3];
    const r = parseErspan(proto, (n++ & 4) !== 0, buf, off, len, into);
    if (!isError(r)) {
      assertWithin("frame", buf.length, r.frameOffset, r.frameLength);
      if (r.platformOffset >= 0) assertWithin("platform", buf.length, r.platformOffset, 8);
      ok(r.sessionId >= -1 && r.sessionId <= 1023);
    }
  });
});
