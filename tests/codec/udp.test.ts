import { equal, ok } from "node:assert/strict";
import { toHex } from "../../lib/codec/bytes.ts";
import { isError } from "../../lib/codec/error.ts";
import {
  emitUdp,
  parseUdp,
  setUdpChecksum,
  setUdpLength,
  setUdpSrcPort,
  udpChecksumFinish,
} from "../../lib/codec/udp.ts";
import { vxlanBig } from "./fixtures.ts";

// vxlanBig: IPv4 (20) then UDP 54321 -> 4789, length 32, checksum 0xab80
const UDP = vxlanBig.subarray(20, 28);

Deno.test("udp: setters patch an emitted template into scapy's header, byte for byte", () => {
  const t = new Uint8Array(10);
  equal(emitUdp(t, 1, { srcPort: 0, dstPort: 4789, payloadLength: 0 }), 8);
  equal(toHex(t), "00000012b50008000000");
  setUdpSrcPort(t, 1, 54321);
  setUdpLength(t, 1, 32);
  setUdpChecksum(t, 1, 0xab80);
  equal(toHex(t, 1, 8), toHex(UDP));
  equal(t[0], 0);
  equal(t[9], 0);
  const u = parseUdp(vxlanBig, 20, vxlanBig.length - 20);
  ok(!isError(u));
  equal(u.srcPort, 54321);
  equal(u.length, 32);
  equal(u.checksum, 0xab80);
});

Deno.test("udp: udpChecksumFinish sends a computed 0 as 0xffff", () => {
  equal(udpChecksumFinish(0x1234), 0xedcb);
  equal(udpChecksumFinish(0xffff), 0xffff); // complement 0: "no checksum" on the wire otherwise
  equal(udpChecksumFinish(0x1fffe), 0xffff);
  equal(udpChecksumFinish(0), 0xffff);
  equal(udpChecksumFinish(0x2_5432), 0xabcb); // folded first
});
