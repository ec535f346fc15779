import { equal } from "node:assert/strict";
import {
  formatIpv4,
  formatIpv6,
  formatMac,
  fromHex,
  inRange,
  parseIpv4Address,
  readU16,
  readU32,
  toHex,
  writeU16,
  writeU32,
} from "../../lib/codec/bytes.ts";

Deno.test("bytes: ranges, big-endian access and formatting", () => {
  const b = new Uint8Array(8);
  equal(inRange(b, 0, 8), true);
  equal(inRange(b, 1, 8), false);
  equal(inRange(b, -1, 1), false);
  equal(inRange(b, 0.5, 1), false);
  equal(inRange(b, 0, NaN), false);
  writeU16(b, 0, 0x86dd);
  writeU32(b, 2, 0xa1b2c3d4);
  equal(readU16(b, 0), 0x86dd);
  equal(readU32(b, 2), 0xa1b2c3d4);
  equal(toHex(b), "86dda1b2c3d40000");
  equal(toHex(fromHex("00:11:22 33")), "00112233");
  equal(fromHex("abc").length, 0);
  equal(fromHex("zz").length, 0);
  equal(formatMac(fromHex("001122334455"), 0), "00:11:22:33:44:55");
  equal(formatIpv4(0xc0a80001), "192.168.0.1");
  equal(parseIpv4Address("10.0.0.1"), 0x0a000001);
  equal(parseIpv4Address("10.0.0.256"), -1);
  equal(parseIpv4Address("10.0.0"), -1);
  equal(formatIpv6(fromHex("20010db8000000000000000000000001"), 0), "2001:db8:0:0:0:0:0:1");
});
