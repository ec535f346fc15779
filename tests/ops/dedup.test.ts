/**
 * Duplicate removal at unit level: a SPAN-like stream where each packet appears twice (the second copy
 * retagged, TTL − 1 with its checksum recomputed, a few frames later) comes out once; retransmissions
 * after the window, and near-identical frames, are kept; counts are exact.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  Dedup,
  DEDUP_ENTRIES_MAX,
  DEDUP_ENTRIES_MIN,
  DEDUP_ENTRY_BYTES,
  dedupEntries,
  validateDedupMs,
} from "../../lib/ops/dedup.ts";
import { internetChecksum } from "../../lib/codec/checksum.ts";
import { arp, ether, fill, icmpEcho, ipv4, ipv6, type Tag, TCP, tcp, udp } from "./corpus.ts";

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** One packet as a router sees it: built with a TTL/hop limit and tags, so a copy can differ in those. */
type Packet = (tags: Tag[], hop: number) => Uint8Array;

function packets(count: number): Packet[] {
  const r = rng(42);
  const out: Packet[] = [];
  for (let i = 0; i < count; i++) {
    const k = r(6);
    const a = `198.18.${r(256)}.${r(256)}`;
    const b = `198.19.${r(256)}.${r(256)}`;
    const seq = r(0x7fffffff);
    const body = fill(r(1400), i + 1);
    if (k === 0) {
      out.push((tags, hop) =>
        ether({
          tags,
          type: 0x0800,
          payload: ipv4({
            src: a,
            dst: b,
            proto: 6,
            ttl: hop,
            payload: tcp({ sport: 1000 + i, dport: 443, seq, flags: TCP.ACK, payload: body }),
          }),
        })
      );
    } else if (k === 1) {
      out.push((tags, hop) =>
        ether({
          tags,
          type: 0x0800,
          payload: ipv4({
            src: a,
            dst: b,
            proto: 17,
            ttl: hop,
            id: i,
            payload: udp(53, 2000 + i, body.subarray(0, 200)),
          }),
        })
      );
    } else if (k === 2) {
      out.push((tags, hop) =>
        ether({
          tags,
          type: 0x0800,
          payload: ipv4({ src: a, dst: b, proto: 1, ttl: hop, payload: icmpEcho(8, i, seq & 0xffff) }),
        })
      );
    } else if (k === 3) {
      const s6 = `2001:db8::${(i + 1).toString(16)}`;
      out.push((tags, hop) =>
        ether({
          tags,
          type: 0x86dd,
          payload: ipv6({
            src: s6,
            dst: "2001:db8:1::1",
            nh: 6,
            hlim: hop,
            payload: tcp({ sport: 3000, dport: 80, seq, payload: body.subarray(0, 333) }),
          }),
        })
      );
    } else if (k === 4) {
      // Non-IP: only the tags differ between copies.
      out.push((tags) =>
        ether({
          tags,
          type: 0x0806,
          src: "02:00:00:00:00:01",
          dst: "ff:ff:ff:ff:ff:ff",
          payload: arp(1, "02:00:00:00:00:01", a, "00:00:00:00:00:00", b),
        })
      );
    } else {
      // Odd lengths and padding.
      out.push((tags, hop) =>
        ether({
          tags,
          type: 0x0800,
          payload: ipv4({
            src: a,
            dst: b,
            proto: 17,
            ttl: hop,
            payload: udp(7, 7, body.subarray(0, 1 + (i % 7))),
          }),
        })
      );
    }
  }
  return out;
}

interface Stamped {
  bytes: Uint8Array;
  sec: number;
  nsec: number;
  /** Index of the packet, and whether this is the second (router egress) copy. */
  pkt: number;
  copy: boolean;
}

/**
 * The tap of a SPAN session mirroring a router's ingress (VLAN 10) and egress (QinQ 20/30 or 0x9100)
 * ports: each packet twice, the egress copy 1..5 frames later with TTL − 1; frames 10 µs apart.
 */
function spanStream(pkts: Packet[]): Stamped[] {
  const r = rng(7);
  const slots: (Omit<Stamped, "sec" | "nsec"> | undefined)[] = [];
  let next = 0;
  for (let i = 0; i < pkts.length; i++) {
    while (slots[next] !== undefined) next++;
    slots[next] = { bytes: pkts[i]([{ tpid: 0x8100, vid: 10 }], 64), pkt: i, copy: false };
    let at = next + 1 + r(5);
    while (slots[at] !== undefined) at++;
    const egress: Tag[] = i % 2
      ? [{ tpid: 0x88a8, vid: 20 }, { tpid: 0x8100, vid: 30 }]
      : [{ tpid: 0x9100, vid: 21 }];
    slots[at] = { bytes: pkts[i](egress, 63), pkt: i, copy: true };
  }
  const out: Stamped[] = [];
  let t = 0;
  for (const s of slots) {
    if (s === undefined) continue;
    t += 10_000; // ns
    out.push({ ...s, sec: 1_700_000_000 + Math.floor(t / 1e9), nsec: t % 1e9 });
  }
  return out;
}

Deno.test("dedup: each packet of a SPAN stream comes out once, the first copy", () => {
  const pkts = packets(5000);
  const stream = spanStream(pkts);
  assertEquals(stream.length, 10_000);
  // Check the fixture: the copies really differ in tags and TTL, with a valid recomputed checksum.
  // QinQ egress copies: EtherType at 20, IPv4 header at 22.
  const v4 = stream.find((s) =>
    s.copy && s.bytes[12] === 0x88 && s.bytes[20] === 0x08 && s.bytes[21] === 0x00
  );
  assert(v4 !== undefined);
  const ip = 22;
  assertEquals(v4.bytes[ip + 8], 63);
  assertEquals(internetChecksum(v4.bytes, ip, 20), 0);

  const d = new Dedup({ windowMs: 10, rate: 100_000 });
  const kept: number[] = [];
  for (const s of stream) {
    if (!d.isDuplicate(s.bytes, 0, s.bytes.length, s.sec, s.nsec)) {
      assert(!s.copy, `copy of packet ${s.pkt} kept`);
      kept.push(s.pkt);
    }
  }
  assertEquals(kept.length, 5000);
  assertEquals(new Set(kept).size, 5000);
  assertEquals(d.frames, 10_000);
  assertEquals(d.duplicates, 5000);
  assertEquals(d.evictions, 0);
});

Deno.test("dedup: a retransmission later than the window is kept; within it, dropped", () => {
  const f = packets(1)[0]([], 64);
  const d = new Dedup({ windowMs: 5 });
  assertEquals(d.isDuplicate(f, 0, f.length, 100, 0), false);
  assertEquals(d.isDuplicate(f, 0, f.length, 100, 5_000_000), true, "exactly 5 ms later: inside");
  assertEquals(d.isDuplicate(f, 0, f.length, 100, 5_001_000), false, "5.001 ms later: a retransmission");
  assertEquals(d.isDuplicate(f, 0, f.length, 100, 9_000_000), true, "window restarts at the kept copy");
  assertEquals(d.isDuplicate(f, 0, f.length, 100, 4_500_000), true, "a little out of order: still a copy");
  assertEquals(d.isDuplicate(f, 0, f.length, 101, 0), false);
  assertEquals([d.frames, d.duplicates], [6, 3]);
});

Deno.test("dedup: the same payload with another TCP sequence number is kept", () => {
  const seg = (seq: number) =>
    ether({
      type: 0x0800,
      payload: ipv4({
        src: "198.18.0.1",
        dst: "198.18.0.2",
        proto: 6,
        payload: tcp({ sport: 1, dport: 2, seq, payload: fill(100) }),
      }),
    });
  const d = new Dedup({ windowMs: 100 });
  assertEquals(d.isDuplicate(seg(1000), 0, 154, 1, 0), false);
  assertEquals(d.isDuplicate(seg(1100), 0, 154, 1, 1000), false);
  assertEquals(d.isDuplicate(seg(1000), 0, 154, 1, 2000), true);
  assertEquals(d.duplicates, 1);
});

Deno.test("dedup: any byte other than tags, TTL, checksum and hop limit makes a frame different", () => {
  for (const v6 of [false, true]) {
    const base = v6
      ? ether({
        type: 0x86dd,
        payload: ipv6({
          src: "2001:db8::1",
          dst: "2001:db8::2",
          nh: 17,
          hlim: 9,
          payload: udp(1, 2, fill(21)),
        }),
      })
      : ether({
        type: 0x0800,
        payload: ipv4({
          src: "198.18.0.1",
          dst: "198.18.0.2",
          proto: 17,
          ttl: 9,
          payload: udp(1, 2, fill(21)),
        }),
      });
    const ignored = v6 ? [14 + 7] : [14 + 8, 14 + 10, 14 + 11];
    let t = 0;
    for (let i = 0; i < base.length; i++) {
      const d = new Dedup({ windowMs: 1000, entries: DEDUP_ENTRIES_MIN });
      d.isDuplicate(base, 0, base.length, 1, 0);
      const copy = base.slice();
      copy[i] ^= 0x5a;
      const dup = d.isDuplicate(copy, 0, copy.length, 1, ++t);
      assertEquals(dup, ignored.includes(i), `${v6 ? "IPv6" : "IPv4"} byte ${i}`);
    }
    // Shorter or longer by one byte: different.
    const d = new Dedup({ windowMs: 1000 });
    d.isDuplicate(base, 0, base.length, 1, 0);
    assertEquals(d.isDuplicate(base, 0, base.length - 1, 1, 1), false);
    const longer = new Uint8Array(base.length + 1);
    longer.set(base);
    assertEquals(d.isDuplicate(longer, 0, longer.length, 1, 2), false);
  }
});

Deno.test("dedup: tags of any number and kind are ignored; MACs only with ignoreMacs", () => {
  const p = packets(4)[0];
  const d = new Dedup({ windowMs: 10 });
  const a = p([], 64);
  assertEquals(d.isDuplicate(a, 0, a.length, 1, 0), false);
  const tagSets: Tag[][] = [
    [{ tpid: 0x8100, vid: 1 }],
    [{ tpid: 0x88a8, vid: 1 }, { tpid: 0x8100, vid: 2 }],
    [{ tpid: 0x9100, vid: 1 }, { tpid: 0x8100, vid: 2 }, { tpid: 0x8100, vid: 3 }],
  ];
  for (const tags of tagSets) {
    const c = p(tags, 60);
    // At an odd offset inside a bigger buffer, as in a ring.
    const buf = new Uint8Array(c.length + 7).fill(0xee);
    buf.set(c, 3);
    assertEquals(d.isDuplicate(buf, 3, c.length, 1, 1000), true);
  }
  const routed = a.slice();
  routed.set([2, 0, 0, 0, 0, 0x99, 2, 0, 0, 0, 0, 0x98], 0); // rewritten MACs
  assertEquals(d.isDuplicate(routed, 0, routed.length, 1, 2000), false);
  const r = new Dedup({ windowMs: 10, ignoreMacs: true });
  assertEquals(r.isDuplicate(a, 0, a.length, 1, 0), false);
  assertEquals(r.isDuplicate(routed, 0, routed.length, 1, 1000), true);
});

Deno.test("dedup: a full table overwrites its oldest entries and never drops a new frame", () => {
  const d = new Dedup({ windowMs: 1000, entries: DEDUP_ENTRIES_MIN });
  const f = new Uint8Array(64);
  const dv = new DataView(f.buffer);
  for (let i = 0; i < 100_000; i++) {
    dv.setUint32(30, i);
    assertEquals(d.isDuplicate(f, 0, 64, 5, i), false);
  }
  assertEquals(d.duplicates, 0);
  assert(d.evictions >= 100_000 - DEDUP_ENTRIES_MIN, `${d.evictions}`);
  // The most recent frames are still there.
  dv.setUint32(30, 99_999);
  assertEquals(d.isDuplicate(f, 0, 64, 5, 100_000), true);
  // Short frames, 0..13 bytes, all distinct from each other.
  const s = new Dedup({ windowMs: 10 });
  const bytes = fill(14, 3);
  for (let n = 0; n < 14; n++) assertEquals(s.isDuplicate(bytes, 0, n, 1, n), false, `${n} bytes`);
  for (let n = 0; n < 14; n++) assertEquals(s.isDuplicate(bytes, 0, n, 1, 100 + n), true, `${n} bytes again`);
  assertEquals(s.isDuplicate(bytes, 10, 5, 1, 0), false, "outside the buffer: never a duplicate");
});

Deno.test("dedup: window and table size rules", () => {
  assertEquals(validateDedupMs(1), null);
  assertEquals(validateDedupMs(1000), null);
  for (const bad of [0, 1001, 1.5, -1, NaN, "10"]) assert(validateDedupMs(bad) instanceof Error, `${bad}`);
  assertThrows(() => new Dedup({ windowMs: 0 }), RangeError, "out of range 1..1000");
  assertThrows(() => new Dedup({ windowMs: 10, entries: 5000 }), RangeError, "power of two");
  assertThrows(() => new Dedup({ windowMs: 10, rate: 0 }), RangeError, "rate");
  assertEquals(dedupEntries(1_000_000, 10), 1 << 15);
  assertEquals(dedupEntries(1_000_000, 1000), 1 << 21);
  assertEquals(dedupEntries(10_000_000, 1000), DEDUP_ENTRIES_MAX);
  assertEquals(dedupEntries(1, 1), DEDUP_ENTRIES_MIN);
  const d = new Dedup({ windowMs: 10 });
  assertEquals(d.entries, 1 << 15);
  assertEquals(d.tableBytes, (1 << 15) * DEDUP_ENTRY_BYTES);
});

Deno.test("dedup: the fingerprint is the same at every alignment (word and byte paths agree)", () => {
  const p = packets(6);
  for (const make of p) {
    for (
      const tags of [[], [{ tpid: 0x8100, vid: 5 }], [{ tpid: 0x88a8, vid: 5 }, { tpid: 0x8100, vid: 6 }]]
    ) {
      const f = make(tags, 64);
      const d = new Dedup({ windowMs: 10, entries: DEDUP_ENTRIES_MIN });
      const seen = new Set<string>();
      for (let align = 0; align < 8; align++) {
        // A fresh buffer per alignment, and a subarray with its own byteOffset, to cover both.
        const backing = new Uint8Array(f.length + 16).fill(0xa5);
        backing.set(f, align);
        const view = backing.subarray(align & 4);
        d.isDuplicate(view, align & 3, f.length, 1, align);
        seen.add(`${d.lastHash1},${d.lastHash2}`);
      }
      assertEquals(seen.size, 1, `${f.length} bytes, ${tags.length} tags`);
      assertEquals(d.duplicates, 7);
    }
  }
});
