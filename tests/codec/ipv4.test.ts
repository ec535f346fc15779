import { deepEqual, equal, ok } from "node:assert/strict";
import { formatIpv4, parseIpv4Address, toHex } from "../../lib/codec/bytes.ts";
import { checksumAdd, checksumFinish, internetChecksum } from "../../lib/codec/checksum.ts";
import { CodecError, isError } from "../../lib/codec/error.ts";
import {
  emitIpv4,
  fragmentIpv4,
  IP_PROTO_ICMP,
  IP_PROTO_UDP,
  ipv4ChecksumBase,
  ipv4ChecksumFrom,
  ipv4FragmentPayload,
  type Ipv4Info,
  Ipv4Reassembler,
  ipVersion,
  newIpv4Info,
  parseIpv4,
  setIpv4Checksum,
  setIpv4Fragment,
  setIpv4Id,
  setIpv4TotalLength,
  updateIpv4Checksum,
} from "../../lib/codec/ipv4.ts";
import { ipv4Frag0, ipv4Frag1, ipv4Frag2, ipv4Opts, ipv4Whole } from "./fixtures.ts";
import { assertWithin, fuzz, XorShift } from "./fuzz.ts";

function parsed(buf: Uint8Array, off = 0): Ipv4Info {
  const r = parseIpv4(buf, off, buf.length - off);
  if (isError(r)) throw new Error(r.reason);
  return r;
}

const A = (s: string) => parseIpv4Address(s);

Deno.test("ipv4: deconstruct scapy packets (options, DF, fragments)", () => {
  // tshark: 192.168.1.10 -> 192.168.1.20, DSCP EF (46), id 0x1234, DF, TTL 61, ICMP, checksum good
  const h = parsed(ipv4Opts, 14);
  equal(h.version, 4);
  equal(h.headerLength, 28);
  equal(h.dscp, 46);
  equal(h.ecn, 0);
  equal(h.totalLength, 40);
  equal(h.id, 0x1234);
  equal(h.dontFragment, true);
  equal(h.moreFragments, false);
  equal(h.fragmentOffset, 0);
  equal(h.ttl, 61);
  equal(h.protocol, IP_PROTO_ICMP);
  equal(h.checksum, 0x946f);
  equal(h.checksumValid, true);
  equal(formatIpv4(h.src), "192.168.1.10");
  equal(formatIpv4(h.dst), "192.168.1.20");
  equal(h.payloadOffset, 14 + 28);
  equal(h.payloadLength, 12);

  // tshark: frag_offset 0/6/12 (x8 bytes), MF 1/1/0
  const f = [ipv4Frag0, ipv4Frag1, ipv4Frag2].map((b) => parsed(b));
  deepEqual(f.map((x) => [x.fragmentOffset, x.moreFragments, x.payloadLength, x.id, x.checksumValid]), [
    [0, true, 48, 0xbeef, true],
    [48, true, 48, 0xbeef, true],
    [96, false, 12, 0xbeef, true],
  ]);
});

Deno.test("ipv4: construct scapy headers byte for byte, checksum included", () => {
  const b = new Uint8Array(20);
  const base = { src: A("10.1.1.1"), dst: A("10.2.2.2"), protocol: IP_PROTO_UDP, id: 0xbeef };
  equal(emitIpv4(b, 0, { ...base, payloadLength: 108 }), 20);
  equal(toHex(b), toHex(ipv4Whole, 0, 20));
  emitIpv4(b, 0, { ...base, payloadLength: 48, moreFragments: true, fragmentOffset: 48 });
  equal(toHex(b), toHex(ipv4Frag1, 0, 20));
  emitIpv4(b, 0, { ...base, payloadLength: 12, fragmentOffset: 96 });
  equal(toHex(b), toHex(ipv4Frag2, 0, 20));
  emitIpv4(b, 0, {
    src: A("192.168.1.10"),
    dst: A("192.168.1.20"),
    protocol: IP_PROTO_ICMP,
    payloadLength: 12 + 8,
    id: 0x1234,
    dontFragment: true,
    ttl: 61,
    dscp: 46,
  });
  // Same fields but no options: IHL 5 and a different checksum, so compare field by field.
  const h = parsed(new Uint8Array([...b, ...new Uint8Array(20)]));
  equal(h.checksumValid, true);
  equal(h.dscp, 46);
  equal(h.dontFragment, true);
});

Deno.test("ipv4: checksum helpers agree with the captured checksums", () => {
  equal(internetChecksum(ipv4Opts, 14, 28), 0);
  const copy = ipv4Opts.slice(14);
  copy[8] = 60; // decrement TTL
  equal(updateIpv4Checksum(copy, 0), 0x956f);
  equal(internetChecksum(copy, 0, 28), 0);
  equal(internetChecksum(copy, 10, 100), -1);
  // chaining with an odd tail
  const bytes = new Uint8Array([1, 2, 3, 4, 5]);
  equal(checksumFinish(checksumAdd(checksumAdd(0, bytes, 0, 4), bytes, 4, 1)), internetChecksum(bytes, 0, 5));
  equal(checksumFinish(0x1fffe), 0);
});

Deno.test("ipv4: parse rejects what is not a whole IPv4 header", () => {
  ok(isError(parseIpv4(ipv4Whole, 0, 19)));
  ok(isError(parseIpv4(ipv4Whole, 0, 100)), "total length beyond the range");
  ok(isError(parseIpv4(ipv4Whole, 120, 20)));
  const v6 = ipv4Whole.slice();
  v6[0] = 0x65;
  const e = parseIpv4(v6, 0, v6.length);
  ok(e instanceof CodecError && /version "6"/.test(e.reason));
  const ihl = ipv4Whole.slice();
  ihl[0] = 0x44;
  ok(isError(parseIpv4(ihl, 0, ihl.length)));
  const tl = ipv4Whole.slice();
  tl[2] = 0;
  tl[3] = 10;
  ok(isError(parseIpv4(tl, 0, tl.length)));
  const bad = ipv4Whole.slice();
  bad[11] ^= 1;
  equal(parsed(bad).checksumValid, false);
  // trailing Ethernet padding is not payload
  const padded = new Uint8Array(ipv4Frag2.length + 14);
  padded.set(ipv4Frag2);
  equal(parsed(padded).payloadLength, 12);
  const into = newIpv4Info();
  equal(parseIpv4(ipv4Frag0, 0, ipv4Frag0.length, into), into);
});

Deno.test("ipv4: emit rejects bad configuration", () => {
  const b = new Uint8Array(20);
  const ok0 = { src: 1, dst: 2, protocol: 17, payloadLength: 0 };
  ok(isError(emitIpv4(new Uint8Array(19), 0, ok0)));
  ok(isError(emitIpv4(b, 0, { ...ok0, src: 2 ** 32 })));
  ok(isError(emitIpv4(b, 0, { ...ok0, protocol: 256 })));
  ok(isError(emitIpv4(b, 0, { ...ok0, payloadLength: 65516 })));
  ok(isError(emitIpv4(b, 0, { ...ok0, fragmentOffset: 12 })));
  ok(isError(emitIpv4(b, 0, { ...ok0, ttl: -1 })));
  ok(isError(emitIpv4(b, 0, { ...ok0, dscp: 64 })));
  equal(emitIpv4(b, 0, { ...ok0, payloadLength: 65515 }), 20);
});

Deno.test("ipv4: fragmentIpv4 plans match scapy's fragment()", () => {
  deepEqual(fragmentIpv4(108, 68), [
    { offset: 0, length: 48, moreFragments: true },
    { offset: 48, length: 48, moreFragments: true },
    { offset: 96, length: 12, moreFragments: false },
  ]);
  deepEqual(fragmentIpv4(1480, 1500), [{ offset: 0, length: 1480, moreFragments: false }]);
  const p = fragmentIpv4(3000, 1500);
  ok(!isError(p));
  deepEqual(p.map((x) => x.length), [1480, 1480, 40]);
  ok(p.every((x) => x.offset % 8 === 0));
  deepEqual((fragmentIpv4(100, 75) as { length: number }[]).map((x) => x.length), [48, 48, 4]);
  ok(isError(fragmentIpv4(100, 27)));
  ok(isError(fragmentIpv4(70000, 1500)));
  ok(isError(fragmentIpv4(100, 1500, 22)));
});

Deno.test("ipv4: reassembler rebuilds scapy fragments in any order, drops bogus ones", () => {
  const r = new Ipv4Reassembler();
  equal(r.push(ipv4Frag2, 0, ipv4Frag2.length, 0), undefined);
  equal(r.push(ipv4Frag0, 0, ipv4Frag0.length, 1), undefined);
  equal(r.push(ipv4Frag0, 0, ipv4Frag0.length, 2), undefined, "duplicate");
  const done = r.push(ipv4Frag1, 0, ipv4Frag1.length, 3);
  ok(done);
  equal(done.protocol, IP_PROTO_UDP);
  equal(toHex(done.payload), toHex(ipv4Whole, 20));
  equal(r.stats.completed, 1);
  equal(r.stats.overlaps, 1);
  equal(r.pending, 0);

  // unfragmented: returned at once as a view
  const whole = r.push(ipv4Whole, 0, ipv4Whole.length, 4);
  ok(whole);
  equal(whole.payload.buffer, ipv4Whole.buffer);
  equal(whole.payload.length, 108);

  // overlap: a fragment covering [40, 88) against [0, 48)
  const o = new Uint8Array(20 + 48);
  emitIpv4(o, 0, {
    src: A("10.1.1.1"),
    dst: A("10.2.2.2"),
    protocol: 17,
    id: 0xbeef,
    payloadLength: 48,
    moreFragments: true,
    fragmentOffset: 40,
  });
  r.push(ipv4Frag0, 0, ipv4Frag0.length, 5);
  equal(r.push(o, 0, o.length, 6), undefined);
  equal(r.stats.overlaps, 2);

  // bogus: MF set with a length that is not a multiple of 8; a second, different end
  const odd = new Uint8Array(20 + 13);
  emitIpv4(odd, 0, { src: 1, dst: 2, protocol: 17, id: 9, payloadLength: 13, moreFragments: true });
  equal(r.push(odd, 0, odd.length, 7), undefined);
  r.push(ipv4Frag2, 0, ipv4Frag2.length, 8);
  const end2 = new Uint8Array(20 + 8);
  emitIpv4(end2, 0, {
    src: A("10.1.1.1"),
    dst: A("10.2.2.2"),
    protocol: 17,
    id: 0xbeef,
    payloadLength: 8,
    fragmentOffset: 200,
  });
  equal(r.push(end2, 0, end2.length, 9), undefined);
  equal(r.stats.invalid, 2);
  // beyond 65535
  const huge = new Uint8Array(20 + 16);
  emitIpv4(huge, 0, { src: 1, dst: 2, protocol: 17, id: 10, payloadLength: 16, fragmentOffset: 65528 });
  equal(r.push(huge, 0, huge.length, 10), undefined);
  equal(r.stats.invalid, 3);
  equal(r.push(new Uint8Array(5), 0, 5, 11), undefined);
  equal(r.stats.invalid, 4);
});

Deno.test("ipv4: reassembler times out and evicts, bounded", () => {
  const r = new Ipv4Reassembler({ timeoutMs: 1000, maxDatagrams: 2 });
  r.push(ipv4Frag0, 0, ipv4Frag0.length, 0);
  r.push(ipv4Frag1, 0, ipv4Frag1.length, 500);
  equal(r.push(ipv4Frag2, 0, ipv4Frag2.length, 1000), undefined, "the datagram expired first");
  equal(r.stats.timedOut, 1);
  equal(r.pending, 1);
  r.expire(5000);
  equal(r.pending, 0);
  for (let id = 0; id < 5; id++) {
    const f = ipv4Frag0.slice();
    f[5] = id;
    updateIpv4Checksum(f, 0);
    r.push(f, 0, f.length, 6000);
  }
  equal(r.pending, 2);
  equal(r.stats.evicted, 3);
});

Deno.test("ipv4: fuzz parse and reassembly never throw nor escape the input", () => {
  const info = newIpv4Info();
  const fixtures = [ipv4Whole, ipv4Frag0, ipv4Frag1, ipv4Frag2, ipv4Opts.subarray(14)];
  fuzz(0x4444, fixtures, (buf, off, len) => {
    const r = parseIpv4(buf, off, len, info);
    if (!isError(r)) {
      assertWithin("payload", buf.length, r.payloadOffset, r.payloadLength);
      ok(r.payloadOffset - off >= 20 && r.payloadOffset - off <= 60);
    }
    const c = internetChecksum(buf, off, len);
    ok(c >= -1 && c <= 0xffff);
  });
  const rng = new XorShift(99);
  const re = new Ipv4Reassembler({ maxDatagrams: 16, timeoutMs: 50 });
  let now = 0;
  fuzz(0x4445, fixtures, (buf, off, len) => {
    now += rng.below(10);
    const d = re.push(buf, off, len, now);
    if (d) ok(d.payload.length <= 65535);
    ok(re.pending <= 16);
  }, { random: 5000, mutations: 20000 });
});

Deno.test("ipv4: setters patch scapy's unfragmented header into its fragments, byte for byte", () => {
  // ipv4Whole's header (total length 128, no flags, checksum 0xa478) becomes each fragment's header
  for (
    const [frag, offset, length, more] of [[ipv4Frag0, 0, 48, true], [ipv4Frag1, 48, 48, true], [
      ipv4Frag2,
      96,
      12,
      false,
    ]] as const
  ) {
    const h = ipv4Whole.slice(0, 20);
    setIpv4TotalLength(h, 0, 20 + length);
    setIpv4Fragment(h, 0, offset, more);
    // the flags / offset word changed: a new base
    setIpv4Checksum(h, 0, ipv4ChecksumFrom(ipv4ChecksumBase(h, 0), 20 + length, 0xbeef));
    equal(toHex(h), toHex(frag, 0, 20));
  }
  // id and total length through the incremental checksum: scapy's header with id 0xbeef
  const t = ipv4Whole.slice(0, 20);
  setIpv4Id(t, 0, 0);
  setIpv4TotalLength(t, 0, 0);
  setIpv4Checksum(t, 0, 0x1234); // ignored by the base
  const base = ipv4ChecksumBase(t, 0);
  setIpv4TotalLength(t, 0, 128);
  setIpv4Id(t, 0, 0xbeef);
  setIpv4Checksum(t, 0, ipv4ChecksumFrom(base, 128, 0xbeef));
  equal(toHex(t), toHex(ipv4Whole, 0, 20));
  // options and DF: the base covers the whole header (IHL 7), setIpv4Fragment keeps DF
  const o = ipv4Opts.slice(14, 14 + 28);
  equal(ipv4ChecksumFrom(ipv4ChecksumBase(o, 0), 40, 0x1234), 0x946f);
  setIpv4Fragment(o, 0, 8, true);
  equal(toHex(o, 6, 2), "6001");
  setIpv4Fragment(o, 0, 0, false);
  equal(toHex(o), toHex(ipv4Opts, 14, 28));
  equal(ipVersion(ipv4Whole, 0), 4);
  equal(ipVersion(ipv4Opts, 14), 4);
});

Deno.test("ipv4: ipv4FragmentPayload is the size fragmentIpv4 plans", () => {
  equal(ipv4FragmentPayload(68), 48); // scapy's fragsize=48 above
  equal(ipv4FragmentPayload(1500), 1480);
  equal(ipv4FragmentPayload(75), 48);
  equal(ipv4FragmentPayload(1400, 24), 1376);
  equal(ipv4FragmentPayload(27), 0);
  equal(ipv4FragmentPayload(0), 0);
  for (const [len, mtu] of [[108, 68], [3000, 1500], [100, 75], [65515, 1400]]) {
    const plan = fragmentIpv4(len, mtu);
    ok(!isError(plan));
    const size = ipv4FragmentPayload(mtu);
    equal(plan.length, Math.ceil(len / size));
    plan.forEach((p, k) =>
      deepEqual(p, {
        offset: k * size,
        length: Math.min(size, len - k * size),
        moreFragments: k < plan.length - 1,
      })
    );
  }
});
