/**
 * Flow-balanced groups at unit level: symmetric flow hash and rendezvous failover, on 10,000 flows in
 * both directions over 3 members.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { FlowHasher, FlowKind, MAX_MEMBERS, Rendezvous } from "../../lib/ops/flow.ts";
import {
  arp,
  ether,
  fill,
  icmpEcho,
  ip6frag,
  ip6hbh,
  ipv4,
  ipv6,
  type Tag,
  TCP,
  tcp,
  udp,
} from "./corpus.ts";

/** Deterministic xorshift32. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const TAGS: Tag[][] = [
  [],
  [{ tpid: 0x8100, vid: 100 }],
  [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 100 }],
  [{ tpid: 0x9100, vid: 300 }, { tpid: 0x8100, vid: 200 }],
  [{ tpid: 0x8100, vid: 7 }],
];

interface Flow {
  /** Frames from A to B and from B to A; fragments of one datagram in `frags` (both directions). */
  fwd: Uint8Array;
  rev: Uint8Array;
  frags: Uint8Array[];
  proto: number;
}

/** 10,000 flows: IPv4/IPv6 × TCP/UDP/ICMP/ICMPv6, random addresses and ports, random tags per direction. */
function makeFlows(count: number): Flow[] {
  const r = rng(0x5eed);
  const flows: Flow[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = r(3) === 0;
    const kind = r(10); // 0..5 TCP, 6..8 UDP, 9 ICMP
    const a = v6
      ? `2001:db8:${r(65536).toString(16)}::${r(65536).toString(16)}`
      : `198.${18 + r(2)}.${r(256)}.${r(256)}`;
    const b = v6
      ? `2001:db8:${r(65536).toString(16)}::${r(65536).toString(16)}`
      : `198.${18 + r(2)}.${r(256)}.${r(256)}`;
    const pa = 1024 + r(60000);
    const pb = [22, 53, 80, 443, 4789, r(65536)][r(6)];
    const proto = kind < 6 ? 6 : kind < 9 ? 17 : v6 ? 58 : 1;
    const l4 = (fromA: boolean) =>
      proto === 6
        ? tcp({ sport: fromA ? pa : pb, dport: fromA ? pb : pa, flags: fromA ? TCP.SYN : TCP.SYN | TCP.ACK })
        : proto === 17
        ? udp(fromA ? pa : pb, fromA ? pb : pa, fill(r(100), i))
        : icmpEcho(v6 ? (fromA ? 128 : 129) : (fromA ? 8 : 0), i & 0xffff, 1);
    const frame = (fromA: boolean, payload: Uint8Array, frag?: { mf: boolean; off: number }) => {
      const src = fromA ? a : b;
      const dst = fromA ? b : a;
      const hx = (n: number) => n.toString(16).padStart(2, "0");
      const macA = `02:00:00:${hx((i >> 8) & 0xff)}:${hx(i & 0xff)}:01`;
      const macB = "02:00:00:00:00:fe";
      let l3: Uint8Array;
      if (!v6) {
        l3 = ipv4({
          src,
          dst,
          proto,
          payload,
          mf: frag?.mf,
          frag: frag?.off,
          id: i & 0xffff,
          ttl: fromA ? 64 : 61,
        });
      } else if (frag) {
        l3 = ipv6({ src, dst, nh: 44, payload: ip6frag(proto, frag.off, frag.mf, i, payload) });
      } else l3 = ipv6({ src, dst, nh: proto, payload });
      return ether({
        src: fromA ? macA : macB,
        dst: fromA ? macB : macA,
        tags: TAGS[r(TAGS.length)],
        type: v6 ? 0x86dd : 0x0800,
        payload: l3,
      });
    };
    const frags: Uint8Array[] = [];
    if (proto === 17 && i % 4 === 0) {
      // A 400-byte datagram in three fragments, in both directions.
      for (const fromA of [true, false]) {
        const dgram = udp(fromA ? pa : pb, fromA ? pb : pa, fill(392, i));
        frags.push(frame(fromA, dgram.subarray(0, 136), { mf: true, off: 0 }));
        frags.push(frame(fromA, dgram.subarray(136, 272), { mf: true, off: 17 }));
        frags.push(frame(fromA, dgram.subarray(272), { mf: false, off: 34 }));
      }
    }
    flows.push({ fwd: frame(true, l4(true)), rev: frame(false, l4(false)), frags, proto });
  }
  return flows;
}

const FLOWS = makeFlows(10_000);

Deno.test("flow: 10,000 flows, both directions on one member, fragments together, ±15% spread", () => {
  const h = new FlowHasher("flows");
  const g = new Rendezvous(3);
  const perMember = [0, 0, 0];
  let fragmented = 0;
  for (const f of FLOWS) {
    const m = g.pick(h.hash(f.fwd, 0, f.fwd.length));
    assert(m >= 0 && m < 3);
    assertEquals(h.kind, f.proto === 6 || f.proto === 17 ? FlowKind.ports : FlowKind.protocol);
    assertEquals(g.pick(h.hash(f.rev, 0, f.rev.length)), m, "reverse direction on the same member");
    assertEquals(h.hash(f.rev, 0, f.rev.length), h.hash(f.fwd, 0, f.fwd.length));
    perMember[m]++;
    if (f.frags.length > 0) {
      fragmented++;
      const fm = g.pick(h.hash(f.frags[0], 0, f.frags[0].length));
      for (const fr of f.frags) {
        assertEquals(g.pick(h.hash(fr, 0, fr.length)), fm, "every fragment, both directions, on one member");
        assertEquals(h.kind, FlowKind.protocol, "fragments (the first too) hash without ports");
      }
    }
  }
  assert(fragmented > 500, `${fragmented} fragmented flows`);
  assertEquals(perMember.reduce((a, b) => a + b), FLOWS.length);
  for (const n of perMember) {
    assert(Math.abs(n - FLOWS.length / 3) <= 0.15 * FLOWS.length / 3, `${perMember}`);
  }
});

Deno.test("flow: mode addresses puts a flow's fragments and whole packets together", () => {
  const h = new FlowHasher("addresses");
  const g = new Rendezvous(3);
  const perMember = [0, 0, 0];
  for (const f of FLOWS) {
    const m = g.pick(h.hash(f.fwd, 0, f.fwd.length));
    assertEquals(h.kind, FlowKind.addresses);
    assertEquals(g.pick(h.hash(f.rev, 0, f.rev.length)), m);
    for (const fr of f.frags) assertEquals(g.pick(h.hash(fr, 0, fr.length)), m);
    perMember[m]++;
  }
  for (const n of perMember) {
    assert(Math.abs(n - FLOWS.length / 3) <= 0.15 * FLOWS.length / 3, `${perMember}`);
  }
});

Deno.test("flow: a member going down moves only its flows, and they come back", () => {
  const h = new FlowHasher();
  const g = new Rendezvous(3);
  const hashes = FLOWS.map((f) => h.hash(f.fwd, 0, f.fwd.length));
  const before = hashes.map((x) => g.pick(x));
  g.setUp(1, false);
  assertEquals(g.upCount, 2);
  assertEquals(g.upMask, 0b101n);
  const during = hashes.map((x) => g.pick(x));
  let moved = 0;
  const movedTo = [0, 0, 0];
  for (let i = 0; i < hashes.length; i++) {
    if (before[i] === 1) {
      assert(during[i] === 0 || during[i] === 2);
      moved++;
      movedTo[during[i]]++;
    } else assertEquals(during[i], before[i], "nobody else's flow moves");
  }
  assertEquals(moved, before.filter((m) => m === 1).length);
  // Its flows spread over the survivors, not all onto one.
  assert(movedTo[0] > moved / 3 && movedTo[2] > moved / 3, `${movedTo}`);
  g.setUp(1, true);
  assertEquals(hashes.map((x) => g.pick(x)), before, "they come back when it recovers");
  g.setUp(0, false);
  g.setUp(1, false);
  g.setUp(2, false);
  assertEquals(g.pick(hashes[0]), -1);
});

Deno.test("flow: non-IP frames hash on the MAC pair, symmetrically; tags and TTL never count", () => {
  const h = new FlowHasher();
  const a = "02:00:00:00:00:0a";
  const b = "02:00:00:00:00:0b";
  const req = ether({ src: a, dst: b, type: 0x0806, payload: arp(1, a, "198.18.0.1", b, "198.18.0.2") });
  const rep = ether({ src: b, dst: a, type: 0x0806, payload: arp(2, b, "198.18.0.2", a, "198.18.0.1") });
  assertEquals(h.hash(req, 0, req.length), h.hash(rep, 0, rep.length));
  assertEquals(h.kind, FlowKind.mac);
  const other = ether({ src: a, dst: "02:00:00:00:00:0c", type: 0x0806, payload: new Uint8Array(28) });
  assert(h.hash(other, 0, other.length) !== h.hash(req, 0, req.length));
  // Three tags: beyond the two looked into, so the MAC pair.
  const three = ether({
    src: a,
    dst: b,
    tags: [{ tpid: 0x88a8, vid: 1 }, { tpid: 0x8100, vid: 2 }, { tpid: 0x8100, vid: 3 }],
    type: 0x0800,
    payload: ipv4({ src: "198.18.0.1", dst: "198.18.0.2", proto: 6, payload: tcp({ sport: 1, dport: 2 }) }),
  });
  assertEquals(h.hash(three, 0, three.length), h.hash(req, 0, req.length));
  assertEquals(h.kind, FlowKind.mac);
  // Same packet, different tags and TTL: same hash.
  const pkt = (tags: Tag[], ttl: number) =>
    ether({
      tags,
      type: 0x0800,
      payload: ipv4({ src: "198.18.0.1", dst: "198.18.0.2", proto: 17, ttl, payload: udp(5, 6) }),
    });
  const x = pkt([], 64);
  const y = pkt([{ tpid: 0x9100, vid: 9 }, { tpid: 0x8100, vid: 10 }], 63);
  assertEquals(h.hash(x, 0, x.length), h.hash(y, 0, y.length));
  // Short and truncated frames never throw and never read outside their range.
  const buf = new Uint8Array(100).fill(0xff);
  buf.set(x.subarray(0, 30), 10);
  for (let len = 0; len <= 30; len++) h.hash(buf, 10, len);
  assertEquals(h.hash(buf, 95, 10), h.hash(buf, 0, 3)); // out of range: the "short" hash
  assertEquals(h.kind, FlowKind.short);
});

Deno.test("flow: IPv6 extension headers are walked to the ports; fragments stop there", () => {
  const h = new FlowHasher();
  const seg = udp(1111, 2222, fill(20));
  const plain = ether({
    type: 0x86dd,
    payload: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", nh: 17, payload: seg }),
  });
  const hbh = ether({
    type: 0x86dd,
    payload: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", nh: 0, payload: ip6hbh(17, seg) }),
  });
  const atomic = ether({
    type: 0x86dd,
    payload: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", nh: 44, payload: ip6frag(17, 0, false, 5, seg) }),
  });
  const first = ether({
    type: 0x86dd,
    payload: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", nh: 44, payload: ip6frag(17, 0, true, 5, seg) }),
  });
  const ph = h.hash(plain, 0, plain.length);
  assertEquals(h.kind, FlowKind.ports);
  assertEquals(h.hash(hbh, 0, hbh.length), ph);
  assertEquals(h.hash(atomic, 0, atomic.length), ph, "an atomic fragment is a whole packet");
  assert(h.hash(first, 0, first.length) !== ph);
  assertEquals(h.kind, FlowKind.protocol);
  // Same address pair, other ports: another flow (usually another hash).
  const other = ether({
    type: 0x86dd,
    payload: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", nh: 17, payload: udp(1112, 2222) }),
  });
  assert(h.hash(other, 0, other.length) !== ph);
});

Deno.test("flow: group size limits and the up mask", () => {
  assertThrows(() => new Rendezvous(0), RangeError, "out of range");
  assertThrows(() => new Rendezvous(MAX_MEMBERS + 1), RangeError, "out of range");
  const g = new Rendezvous(64);
  assertEquals(g.upMask, (1n << 64n) - 1n);
  g.setUp(63, false);
  g.setUp(0, false);
  assertEquals(g.upCount, 62);
  assert(!g.isUp(63) && !g.isUp(0) && g.isUp(32));
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) seen.add(g.pick(Math.imul(i, 0x9e3779b1) >>> 0));
  assertEquals(seen.size, 62);
  assert(!seen.has(0) && !seen.has(63));
  const g31 = new Rendezvous(31);
  assertEquals(g31.upMask, (1n << 31n) - 1n);
  const g33 = new Rendezvous(33);
  assertEquals(g33.upMask, (1n << 33n) - 1n);
});
