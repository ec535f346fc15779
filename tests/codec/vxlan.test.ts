import { equal, ok } from "node:assert/strict";
import { toHex } from "../../lib/codec/bytes.ts";
import { isError } from "../../lib/codec/error.ts";
import { emitUdp, parseUdp } from "../../lib/codec/udp.ts";
import {
  emitVxlan,
  parseVxlan,
  VXLAN_SOURCE_PORT_MIN,
  VXLAN_UDP_PORT,
  type VxlanInfo,
  vxlanSourcePort,
} from "../../lib/codec/vxlan.ts";
import { ethDot1q, ethPlain, ethQinq, vxlan, vxlanBig } from "./fixtures.ts";
import { assertWithin, fuzz } from "./fuzz.ts";

// UDP at 34 (Ethernet + IPv4) in `vxlan`, at 20 in `vxlanBig`; VXLAN 8 bytes later.
const V1 = vxlan.subarray(42);
const V2 = vxlanBig.subarray(28);

function parsed(buf: Uint8Array): VxlanInfo {
  const r = parseVxlan(buf, 0, buf.length);
  if (isError(r)) throw new Error(r.reason);
  return r;
}

Deno.test("vxlan: deconstruct scapy packets (UDP 4789, VNI 42 and 0xfedcba)", () => {
  // tshark: udp.srcport 54321, udp.dstport 4789, vxlan.vni 42
  const u = parseUdp(vxlan, 34, vxlan.length - 34);
  ok(!isError(u));
  equal(u.srcPort, 54321);
  equal(u.dstPort, VXLAN_UDP_PORT);
  equal(u.payloadOffset, 42);
  equal(u.payloadLength, vxlan.length - 42);
  const h = parsed(V1);
  equal(h.flags, 0x08);
  equal(h.vni, 42);
  equal(h.payloadOffset, 8);
  equal(toHex(V1, 8, 12), "00112233445566778899aabb");
  // tshark: vxlan.vni 16702650
  equal(parsed(V2).vni, 16702650);
  equal(parsed(V2).payloadLength, 16);
});

Deno.test("vxlan: construct scapy headers byte for byte", () => {
  const b = new Uint8Array(16);
  equal(emitVxlan(b, 8, 42), 8);
  equal(toHex(b, 8), toHex(V1, 0, 8));
  equal(emitVxlan(b, 0, 0xfedcba), 8);
  equal(toHex(b, 0, 8), toHex(V2, 0, 8));
  equal(emitUdp(b, 0, { srcPort: 54321, dstPort: 4789, payloadLength: 24, checksum: 0xab80 }), 8);
  equal(toHex(b, 0, 8), toHex(vxlanBig, 20, 8));
});

Deno.test("vxlan: parse rejects a missing I flag and truncation", () => {
  const noI = V1.slice();
  noI[0] = 0;
  const e = parseVxlan(noI, 0, noI.length);
  ok(isError(e) && /I flag missing/.test(e.reason));
  ok(isError(parseVxlan(V1, 0, 7)));
  ok(isError(parseVxlan(V1, 1, V1.length)));
  const into = { flags: 0, vni: 0, payloadOffset: 0, payloadLength: 0 };
  equal(parseVxlan(V2, 0, V2.length, into), into);
  ok(isError(parseUdp(vxlan, 34, 7)));
  const u = vxlan.slice(34);
  u[4] = 0xff;
  ok(isError(parseUdp(u, 0, u.length)), "UDP length past the packet");
});

Deno.test("vxlan: emit rejects a VNI of 2^24 and more", () => {
  const b = new Uint8Array(8);
  ok(isError(emitVxlan(b, 0, 2 ** 24)));
  ok(isError(emitVxlan(b, 0, -1)));
  ok(isError(emitVxlan(b, 0, 1.5)));
  ok(isError(emitVxlan(b, 1, 1)));
  equal(emitVxlan(b, 0, 2 ** 24 - 1), 8);
  ok(isError(emitUdp(b, 0, { srcPort: 65536, dstPort: 1, payloadLength: 0 })));
});

Deno.test("vxlan: source port is stable per flow, spread across flows, in 49152..65535", () => {
  const inner = V1.subarray(8);
  const p = vxlanSourcePort(inner, 0, inner.length);
  ok(p >= VXLAN_SOURCE_PORT_MIN && p <= 65535);
  equal(vxlanSourcePort(inner.slice(), 0, inner.length), p, "same flow, same port");
  // Payload bytes and IP id do not matter, L4 ports and addresses do.
  const other = inner.slice();
  other[19] ^= 0xff; // IPv4 id
  other[other.length - 1] ^= 0xff; // TCP urgent pointer
  equal(vxlanSourcePort(other, 0, other.length), p);
  const ports = new Set<number>();
  for (let sport = 1000; sport < 2000; sport++) {
    const f = inner.slice();
    f[34] = sport >>> 8;
    f[35] = sport & 0xff;
    ports.add(vxlanSourcePort(f, 0, f.length));
  }
  ok(ports.size > 900, `1000 flows gave ${ports.size} ports`);
  for (const f of [ethPlain, ethDot1q, ethQinq]) {
    const q = vxlanSourcePort(f, 0, f.length);
    ok(q >= VXLAN_SOURCE_PORT_MIN && q <= 65535);
  }
  ok(vxlanSourcePort(ethPlain, 0, 0) >= VXLAN_SOURCE_PORT_MIN);
});

Deno.test("vxlan: fuzz parse and source port never throw nor escape the input", () => {
  const into = { flags: 0, vni: 0, payloadOffset: 0, payloadLength: 0 };
  const uinto = { srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOffset: 0, payloadLength: 0 };
  fuzz(0x7a7a, [V1, V2, V1.subarray(8), ethQinq, vxlan.subarray(34)], (buf, off, len) => {
    const r = parseVxlan(buf, off, len, into);
    if (!isError(r)) {
      assertWithin("payload", buf.length, r.payloadOffset, r.payloadLength);
      ok(r.vni >= 0 && r.vni < 2 ** 24);
    }
    const u = parseUdp(buf, off, len, uinto);
    if (!isError(u)) assertWithin("udp payload", buf.length, u.payloadOffset, u.payloadLength);
    const p = vxlanSourcePort(buf, off, len);
    ok(p >= VXLAN_SOURCE_PORT_MIN && p <= 65535 && Number.isInteger(p));
  });
});
