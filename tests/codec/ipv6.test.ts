import { deepEqual, equal, ok } from "node:assert/strict";
import { formatIpv6, fromHex, toHex } from "../../lib/codec/bytes.ts";
import { isError } from "../../lib/codec/error.ts";
import { IP_PROTO_UDP, ipVersion } from "../../lib/codec/ipv4.ts";
import {
  emitIpv6,
  emitIpv6Fragment,
  fragmentIpv6,
  IPV6_EXT_FRAGMENT,
  IPV6_EXT_HOP_BY_HOP,
  IPV6_NO_NEXT_HEADER,
  ipv6FragmentPayload,
  type Ipv6Info,
  ipv6PseudoHeaderSum,
  Ipv6Reassembler,
  newIpv6Info,
  parseIpv6,
  parseIpv6Fragment,
  setIpv6FragmentId,
  setIpv6FragmentOffset,
  setIpv6NextHeader,
  setIpv6PayloadLength,
} from "../../lib/codec/ipv6.ts";
import { checksumAdd } from "../../lib/codec/checksum.ts";
import { setUdpChecksum, udpChecksumFinish } from "../../lib/codec/udp.ts";
import { ipv6Ext, ipv6Frag0, ipv6Frag1, ipv6Frag2, ipv6Whole } from "./fixtures.ts";
import { assertWithin, fuzz, XorShift } from "./fuzz.ts";

const A = fromHex("20010db800000000000000000000000a");
const B = fromHex("20010db800000000000000000000000b");

function parsed(buf: Uint8Array, off = 0): Ipv6Info {
  const r = parseIpv6(buf, off, buf.length - off);
  if (isError(r)) throw new Error(r.reason);
  return r;
}

Deno.test("ipv6: deconstruct scapy packets (extension chain, fragments)", () => {
  // tshark: tc 0x28, flow 0x12345, hlim 7, HBH -> Routing -> Dest Options -> UDP 4000 -> 5000
  const h = parsed(ipv6Ext, 14);
  equal(h.version, 6);
  equal(h.trafficClass, 0x28);
  equal(h.flowLabel, 0x12345);
  equal(h.payloadLength, 51);
  equal(h.nextHeader, IPV6_EXT_HOP_BY_HOP);
  equal(h.hopLimit, 7);
  equal(formatIpv6(ipv6Ext, h.srcOffset), "2001:db8:0:0:0:0:0:1");
  equal(formatIpv6(ipv6Ext, h.dstOffset), "2001:db8:0:0:0:0:0:2");
  equal(h.payloadOffset, 54);
  equal(h.upperProtocol, IP_PROTO_UDP);
  equal(h.upperOffset, 54 + 8 + 24 + 8);
  equal(h.upperLength, 11);
  equal(toHex(ipv6Ext, h.upperOffset, 4), "0fa01388"); // ports 4000, 5000
  equal(h.fragmentHeaderOffset, -1);

  // tshark: IPv6 fragment off=0/48/96 more=y/y/n ident=0x0000cafe nxt=17
  const f = [ipv6Frag0, ipv6Frag1, ipv6Frag2].map((b) => parsed(b));
  deepEqual(
    f.map((x) => [x.nextHeader, x.fragmentHeaderOffset, x.fragmentOffset, x.moreFragments, x.fragmentId]),
    [[44, 40, 0, true, 0xcafe], [44, 40, 48, true, 0xcafe], [44, 40, 96, false, 0xcafe]],
  );
  deepEqual(f.map((x) => [x.upperProtocol, x.upperOffset, x.upperLength]), [[17, 48, 48], [17, 48, 48], [
    17,
    48,
    32,
  ]]);
  deepEqual(parseIpv6Fragment(ipv6Frag1, 40, 8), {
    nextHeader: 17,
    fragmentOffset: 48,
    moreFragments: true,
    id: 0xcafe,
  });
});

Deno.test("ipv6: construct scapy headers byte for byte", () => {
  const b = new Uint8Array(48);
  equal(emitIpv6(b, 0, { src: A, dst: B, nextHeader: IP_PROTO_UDP, payloadLength: 128 }), 40);
  equal(toHex(b, 0, 40), toHex(ipv6Whole, 0, 40));
  emitIpv6(b, 0, { src: A, dst: B, nextHeader: IPV6_EXT_FRAGMENT, payloadLength: 56 });
  equal(emitIpv6Fragment(b, 40, { nextHeader: 17, fragmentOffset: 48, moreFragments: true, id: 0xcafe }), 8);
  equal(toHex(b), toHex(ipv6Frag1, 0, 48));
  emitIpv6(b, 0, {
    src: ipv6Ext.subarray(22, 38),
    dst: ipv6Ext.subarray(38, 54),
    nextHeader: 0,
    payloadLength: 51,
    hopLimit: 7,
    trafficClass: 0x28,
    flowLabel: 0x12345,
  });
  equal(toHex(b, 0, 40), toHex(ipv6Ext, 14, 40));
});

Deno.test("ipv6: parse rejects truncation, bad versions and broken chains", () => {
  ok(isError(parseIpv6(ipv6Whole, 0, 39)));
  ok(isError(parseIpv6(ipv6Whole, 0, 100)), "payload length beyond the range");
  const v4 = ipv6Whole.slice();
  v4[0] = 0x45;
  ok(isError(parseIpv6(v4, 0, v4.length)));
  // HBH whose length runs past the payload
  const hbh = ipv6Ext.slice(14);
  hbh[41] = 200;
  ok(isError(parseIpv6(hbh, 0, hbh.length)));
  // HBH not first: make Dest Options point to HBH
  const late = ipv6Ext.slice(14);
  late[40 + 8 + 24] = 0;
  ok(isError(parseIpv6(late, 0, late.length)));
  // No Next Header stops the walk
  const none = new Uint8Array(40);
  emitIpv6(none, 0, { src: A, dst: B, nextHeader: IPV6_NO_NEXT_HEADER, payloadLength: 0 });
  const n = parsed(none);
  equal(n.upperProtocol, 59);
  equal(n.upperLength, 0);
  ok(isError(parseIpv6Fragment(ipv6Frag0, 40, 7)));
  const into = newIpv6Info();
  equal(parseIpv6(ipv6Frag0, 0, ipv6Frag0.length, into), into);
});

Deno.test("ipv6: emit rejects bad configuration; fragmentation plans match fragment6()", () => {
  const b = new Uint8Array(40);
  ok(isError(emitIpv6(b, 0, { src: A, dst: B.subarray(1), nextHeader: 17, payloadLength: 0 })));
  ok(isError(emitIpv6(b, 0, { src: A, dst: B, nextHeader: 17, payloadLength: 0, flowLabel: 0x100000 })));
  ok(isError(emitIpv6(b, 1, { src: A, dst: B, nextHeader: 17, payloadLength: 0 })));
  ok(isError(emitIpv6Fragment(b, 0, { nextHeader: 17, fragmentOffset: 4, moreFragments: false, id: 1 })));
  ok(
    isError(emitIpv6Fragment(b, 0, { nextHeader: 17, fragmentOffset: 8, moreFragments: false, id: 2 ** 32 })),
  );
  deepEqual(fragmentIpv6(128, 100), [
    { offset: 0, length: 48, moreFragments: true },
    { offset: 48, length: 48, moreFragments: true },
    { offset: 96, length: 32, moreFragments: false },
  ]);
  deepEqual(fragmentIpv6(100, 1280), [{ offset: 0, length: 100, moreFragments: false }]);
  deepEqual((fragmentIpv6(3000, 1280) as { length: number }[]).map((p) => p.length), [1232, 1232, 536]);
  ok(isError(fragmentIpv6(100, 55)));
});

Deno.test("ipv6: reassembler rebuilds scapy fragments, drops overlaps, times out", () => {
  const r = new Ipv6Reassembler({ timeoutMs: 100 });
  equal(r.push(ipv6Frag1, 0, ipv6Frag1.length, 0), undefined);
  equal(r.push(ipv6Frag1, 0, ipv6Frag1.length, 1), undefined);
  equal(r.push(ipv6Frag2, 0, ipv6Frag2.length, 2), undefined);
  const d = r.push(ipv6Frag0, 0, ipv6Frag0.length, 3);
  ok(d);
  equal(d.protocol, IP_PROTO_UDP);
  equal(toHex(d.payload), toHex(ipv6Whole, 40));
  equal(r.stats.overlaps, 1);
  equal(r.stats.completed, 1);

  const w = r.push(ipv6Whole, 0, ipv6Whole.length, 4);
  ok(w);
  equal(w.payload.length, 128);
  equal(w.protocol, 17);

  r.push(ipv6Frag0, 0, ipv6Frag0.length, 10);
  equal(r.push(ipv6Frag1, 0, ipv6Frag1.length, 200), undefined);
  equal(r.stats.timedOut, 1);
  equal(r.push(ipv6Whole, 0, 30, 201), undefined);
  equal(r.stats.invalid, 1);
});

Deno.test("ipv6: fuzz parse and reassembly never throw nor escape the input", () => {
  const info = newIpv6Info();
  const fixtures = [ipv6Ext.subarray(14), ipv6Whole, ipv6Frag0, ipv6Frag1, ipv6Frag2];
  fuzz(0x6666, fixtures, (buf, off, len) => {
    const r = parseIpv6(buf, off, len, info);
    if (!isError(r)) {
      assertWithin("payload", buf.length, r.payloadOffset, r.payloadLength);
      assertWithin("upper", buf.length, r.upperOffset, r.upperLength);
      assertWithin("src", buf.length, r.srcOffset, 16);
      if (r.fragmentHeaderOffset >= 0) assertWithin("frag", buf.length, r.fragmentHeaderOffset, 8);
    }
    const f = parseIpv6Fragment(buf, off, len);
    if (!isError(f)) ok(f.fragmentOffset % 8 === 0);
  });
  const rng = new XorShift(7);
  const re = new Ipv6Reassembler({ maxDatagrams: 8, timeoutMs: 40 });
  let now = 0;
  fuzz(0x6667, fixtures, (buf, off, len) => {
    now += rng.below(5);
    const d = re.push(buf, off, len, now);
    if (d) ok(d.payload.length <= 65535);
    ok(re.pending <= 8);
  }, { random: 5000, mutations: 20000 });
});

Deno.test("ipv6: setters patch scapy's unfragmented header into its fragments, byte for byte", () => {
  // fragment6(…, 100): 40 + 8 header bytes, 48 bytes of the 128-byte fragmentable part per fragment
  for (
    const [frag, offset, length, more] of [[ipv6Frag0, 0, 48, true], [ipv6Frag1, 48, 48, true], [
      ipv6Frag2,
      96,
      32,
      false,
    ]] as const
  ) {
    const h = new Uint8Array(48);
    h.set(ipv6Whole.subarray(0, 40));
    setIpv6NextHeader(h, 0, IPV6_EXT_FRAGMENT);
    setIpv6PayloadLength(h, 0, 8 + length);
    equal(
      emitIpv6Fragment(h, 40, { nextHeader: IP_PROTO_UDP, fragmentOffset: 0, moreFragments: false, id: 0 }),
      8,
    );
    setIpv6FragmentOffset(h, 40, offset, more);
    setIpv6FragmentId(h, 40, 0xcafe);
    equal(toHex(h), toHex(frag, 0, 48));
  }
  const f = new Uint8Array(8);
  setIpv6FragmentId(f, 0, 0xdeadbeef);
  setIpv6FragmentOffset(f, 0, 0xfff8, true);
  equal(toHex(f), "0000fff9deadbeef");
  setIpv6FragmentOffset(f, 0, 8, false);
  equal(toHex(f), "00000008deadbeef");
});

Deno.test("ipv6: the pseudo-header sum and the UDP setters give scapy's UDP checksum", () => {
  // ipv6Whole: UDP 7 -> 9, length 128, checksum 0xc139
  const udp = ipv6Whole.slice(40);
  equal(toHex(udp, 0, 8), "000700090080c139");
  setUdpChecksum(udp, 0, 0);
  const sum = ipv6PseudoHeaderSum(ipv6Whole, 0, IP_PROTO_UDP, 128) + checksumAdd(0, udp, 0, udp.length);
  equal(udpChecksumFinish(sum), 0xc139);
  // the per-tunnel constant plus the length added per packet is the same sum
  equal(ipv6PseudoHeaderSum(ipv6Whole, 0, IP_PROTO_UDP, 0) + 128, ipv6PseudoHeaderSum(ipv6Whole, 0, 17, 128));
  setUdpChecksum(udp, 0, udpChecksumFinish(sum));
  equal(toHex(udp), toHex(ipv6Whole, 40));
});

Deno.test("ipv6: ipv6FragmentPayload is the size fragmentIpv6 plans", () => {
  equal(ipv6FragmentPayload(100), 48); // fragment6(…, 100) above
  equal(ipv6FragmentPayload(1280), 1232);
  equal(ipv6FragmentPayload(1400, 60), 1328);
  equal(ipv6FragmentPayload(55), 0);
  for (const [len, mtu] of [[128, 100], [3000, 1280], [65535, 1500]]) {
    const plan = fragmentIpv6(len, mtu);
    ok(!isError(plan));
    const size = ipv6FragmentPayload(mtu);
    equal(plan.length, Math.ceil(len / size));
    plan.forEach((p, k) =>
      deepEqual(p, {
        offset: k * size,
        length: Math.min(size, len - k * size),
        moreFragments: k < plan.length - 1,
      })
    );
  }
  equal(ipVersion(ipv6Whole, 0), 6);
});
