/** `-E` / `-K` parsing, address literals, and per-packet decapsulation over fixed bytes. */
import { assertEquals, assertThrows } from "../assert.ts";
import { formatIp, parseIpLiteral } from "../../lib/codec/mod.ts";
import { parseEncapSpec, parseKey } from "../../lib/settings/mod.ts";
import { Decapsulator } from "../../lib/sources/mod.ts";
import { DropReason } from "../../lib/ring/layout.ts";
import { fromHex } from "../../lib/codec/mod.ts";
import { FluxError, UsageError } from "../../lib/errors.ts";

Deno.test("tunnel: -E forms of the issue parse", () => {
  assertEquals(parseEncapSpec("gretap:192.168.102.100", "tx"), { kind: "gretap", host: "192.168.102.100" });
  assertEquals(parseEncapSpec("gre:host.example", "tx"), { kind: "gre", host: "host.example" });
  assertEquals(parseEncapSpec("vxlan:2001:db8::2", "tx"), { kind: "vxlan", host: "2001:db8::2" });
  assertEquals(parseEncapSpec("vxlan:[2001:db8::2]:4790", "tx"), {
    kind: "vxlan",
    host: "2001:db8::2",
    port: 4790,
  });
  assertEquals(parseEncapSpec("gretap", "rx"), { kind: "gretap", host: undefined });
  assertEquals(parseEncapSpec("vxlan:198.18.0.1:4790", "rx"), {
    kind: "vxlan",
    host: "198.18.0.1",
    port: 4790,
  });
  assertEquals(parseEncapSpec("erspan", "rx"), { kind: "erspan", host: undefined });
  assertEquals(parseEncapSpec("vxlan:[2001:db8::2]", "rx"), { kind: "vxlan", host: "2001:db8::2" });
  assertEquals(parseEncapSpec("vxlan:2001:db8::2", "rx"), { kind: "vxlan", host: "2001:db8::2" });
  assertEquals(parseEncapSpec("vxlan:[2001:db8::2]:4790", "rx"), {
    kind: "vxlan",
    host: "2001:db8::2",
    port: 4790,
  });
  assertThrows(() => parseEncapSpec("gretap", "tx"), FluxError);
  assertThrows(() => parseEncapSpec("erspan:198.18.0.1", "tx"), FluxError);
  assertThrows(() => parseEncapSpec("ipip:198.18.0.1", "tx"), FluxError);
  assertThrows(() => parseEncapSpec("gre:198.18.0.1:99", "rx"), FluxError);
  // Address-shaped but not an address: refused as such (a configuration error), never looked up as a name.
  for (
    const e of ["gretap:300.1.1.1", "gretap:2001:db8::zz", "vxlan:[2001:db8::zz]", "gretap:198.18.0.1,1.2.3"]
  ) {
    assertThrows(() => parseEncapSpec(e, "tx"), UsageError, "not a valid IPv4 or IPv6 address");
  }
  assertThrows(() => parseEncapSpec("gretap:198.18.7.1,198.18.7.2", "rx"), UsageError, "are for -tx");
});

Deno.test("tunnel: -K takes an integer or a dotted quad, within the tunnel's range", () => {
  assertEquals(parseKey("500", "gretap"), 500);
  assertEquals(parseKey("10.0.0.1", "gre"), 0x0a000001);
  assertEquals(parseKey("255.255.255.255", "gre"), 0xffffffff);
  assertEquals(parseKey("1234", "vxlan"), 1234);
  assertThrows(() => parseKey("16777216", "vxlan"), FluxError);
  assertThrows(() => parseKey("1024", "erspan"), FluxError);
  assertThrows(() => parseKey("1.2.3.256", "gre"), FluxError);
  assertThrows(() => parseKey("-1", "gre"), FluxError);
});

Deno.test("tunnel: address literals", () => {
  assertEquals(parseIpLiteral("198.18.1.2"), { family: 4, bytes: [198, 18, 1, 2] });
  assertEquals(formatIp(parseIpLiteral("2001:db8:1::2")!), "2001:db8:1::2");
  assertEquals(parseIpLiteral("::1")?.bytes[15], 1);
  assertEquals(parseIpLiteral("host.example"), null);
  assertEquals(parseIpLiteral("1:2:3:4:5:6:7:8:9"), null);
});

Deno.test("tunnel: decapsulation of fixed packets, one verdict each", () => {
  const frame = "02667800000202667800000188b5" + "00".repeat(46);
  const at = (hex: string) => {
    const b = new Uint8Array(16 + hex.length / 2);
    b.set(fromHex(hex), 16);
    return b;
  };
  // IPv4 + GRE key 500 + frame, as an IPv4 raw socket returns it (checksum not checked here)
  const ip = (payload: string) => {
    const len = 20 + payload.length / 2;
    return "4500" + len.toString(16).padStart(4, "0") + "00000000402f0000c6120101c6120102" + payload;
  };
  const d500 = new Decapsulator("gretap", 500);
  let b = at(ip("20006558000001f4" + frame));
  assertEquals(d500.decap(b, 16, b.length - 16, true), 60);
  assertEquals(d500.frameOff, 16 + 28);
  b = at(ip("20006558000001f5" + frame));
  assertEquals(d500.decap(b, 16, b.length - 16, true), -1 - DropReason.key_mismatch);
  b = at(ip("00006558" + frame));
  assertEquals(d500.decap(b, 16, b.length - 16, true), -1 - DropReason.key_mismatch);
  b = at(ip("2000655800"));
  assertEquals(d500.decap(b, 16, b.length - 16, true), -1 - DropReason.malformed);
  // plain GRE: an Ethernet header is rebuilt with fixed MACs and the GRE protocol as EtherType
  const gre = new Decapsulator("gre");
  b = at("00000800" + "4500001c");
  assertEquals(gre.decap(b, 16, b.length - 16, false), 18);
  assertEquals(Array.from(b.subarray(gre.frameOff, gre.frameOff + 14)), [
    2,
    0,
    0,
    0,
    0,
    2,
    2,
    0,
    0,
    0,
    0,
    1,
    8,
    0,
  ]);
  // ERSPAN II session 5 and III session 7; -K selects the session
  const e7 = new Decapsulator("erspan", 7);
  b = at("100088be00000001" + "100a1805000000ff" + frame);
  assertEquals(e7.decap(b, 16, b.length - 16, false), -1 - DropReason.key_mismatch);
  b = at("000022eb" + "200a0007123456780000002a" + frame);
  assertEquals(e7.decap(b, 16, b.length - 16, false), 60);
  // VXLAN: I flag required, VNI filter
  const vx = new Decapsulator("vxlan", 42);
  b = at("0800000000002a00" + frame);
  assertEquals(vx.decap(b, 16, b.length - 16, false), 60);
  b = at("0800000000002b00" + frame);
  assertEquals(vx.decap(b, 16, b.length - 16, false), -1 - DropReason.key_mismatch);
  b = at("0000000000002a00" + frame);
  assertEquals(vx.decap(b, 16, b.length - 16, false), -1 - DropReason.malformed);
});
