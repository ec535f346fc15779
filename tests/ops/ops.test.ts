import { deepStrictEqual as assertDeep, ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import {
  DROP_REASON_COUNT,
  DROP_REASONS,
  DropCounters,
  DropReason,
  dropReasonOf,
  FramePipeline,
  MAX_GROWTH,
  type OpsConfig,
  type OpsSide,
  parseVlanFilter,
  validateOps,
  VlanAction,
} from "../../lib/ops/mod.ts";

// ---------------------------------------------------------------------------------------------------
// Fixtures. Written as tcpdump -xx would print them (hex, spaces ignored).

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const MACS = "ffffffffffff 020000000001";
/** ARP who-has 198.18.0.2 tell 198.18.0.1, padded to 60 bytes. */
const ARP_BODY = "0001 0800 0604 0001 020000000001 c6120001 000000000000 c6120002" + " 00".repeat(18);
const ARP = hex(`${MACS} 0806 ${ARP_BODY}`);
/** The same ARP on VLAN 100 with PCP 5 (TCI 0xa064): 64 bytes. */
const ARP_V100 = hex(`${MACS} 8100 a064 0806 ${ARP_BODY}`);
/** QinQ: 802.1ad outer VID 10 (PCP 3) around 802.1Q VID 100. 68 bytes. */
const ARP_QINQ = hex(`${MACS} 88a8 600a 8100 0064 0806 ${ARP_BODY}`);

function rx(cfg: OpsConfig, frame: Uint8Array): Uint8Array | number {
  const p = new FramePipeline(cfg, "rx");
  const dst = new Uint8Array(frame.length + MAX_GROWTH + 16);
  const v = p.applyRx(frame, 0, frame.length, dst, 8);
  return v < 0 ? v : dst.slice(8, 8 + v);
}

/** Sends a tx verdict through its iovecs, as the transmit side will. */
function txBytes(p: FramePipeline, frame: Uint8Array, off = 0): Uint8Array {
  const out = new Uint8Array(p.outLen);
  out.set(frame.subarray(off, off + p.headLen), 0);
  out.set(p.tag.subarray(0, p.tagLen), p.headLen);
  out.set(frame.subarray(off + p.tailOff, off + p.tailOff + p.tailLen), p.headLen + p.tagLen);
  return out;
}

function tx(cfg: OpsConfig, frame: Uint8Array): Uint8Array | number {
  const p = new FramePipeline(cfg, "tx");
  const copy = frame.slice();
  const v = p.decide(frame, 0, frame.length);
  assertEquals(toHex(frame), toHex(copy), "tx must not write the frame");
  return v < 0 ? v : txBytes(p, frame);
}

const drop = (reason: number) => -1 - reason;

/** A simple frame of `len` bytes whose bytes after the header count up, optionally with tags. */
function frameOf(len: number, tags: number[][] = []): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + 3) & 0xff;
  f[0] = 0x02;
  f[6] = 0x02;
  let o = 12;
  for (const [tpid, tci] of tags) {
    if (o + 4 > len) break;
    f[o] = tpid >> 8;
    f[o + 1] = tpid & 0xff;
    f[o + 2] = tci >> 8;
    f[o + 3] = tci & 0xff;
    o += 4;
  }
  if (o + 2 <= len) {
    f[o] = 0x88;
    f[o + 1] = 0xb5;
  }
  return f;
}

// ---------------------------------------------------------------------------------------------------
// Drop reasons

Deno.test("DROP_REASONS: the ring's slots in order (version 1's eight, then appended), name to index", () => {
  assertDeep([...DROP_REASONS], [
    "filtered",
    "sampled",
    "oversize",
    "send_error",
    "malformed",
    "key_mismatch",
    "reassembly",
    "other",
    "duplicate",
  ]);
  assertEquals(DROP_REASON_COUNT, 9);
  DROP_REASONS.forEach((name, i) => assertEquals(DropReason[name], i));
  assertEquals(Object.keys(DropReason).length, 9);
});

Deno.test("dropReasonOf and DropCounters", () => {
  assertEquals(dropReasonOf(-1), DropReason.filtered);
  assertEquals(dropReasonOf(-1 - DropReason.other), DropReason.other);
  assertEquals(dropReasonOf(0), -1);
  assertEquals(dropReasonOf(1514), -1);
  const c = new DropCounters();
  c.add(DropReason.sampled);
  c.add(DropReason.sampled, 2);
  c.addVerdict(drop(DropReason.malformed));
  c.addVerdict(60);
  c.add(99); // out of range → other
  assertEquals(c.total(), 5);
  assertEquals(c.toRecord().sampled, 3);
  assertEquals(c.toRecord().malformed, 1);
  assertEquals(c.toRecord().other, 1);
  c.reset();
  assertEquals(c.total(), 0);
});

// ---------------------------------------------------------------------------------------------------
// Configuration

Deno.test("parseVlanFilter accepts 'vlan n' as typed for 3.2", () => {
  assertEquals(parseVlanFilter("vlan 100"), 100);
  assertEquals(parseVlanFilter("  VLAN\t7 "), 7);
  assertEquals(parseVlanFilter("vlan 0"), 0);
  assertEquals(parseVlanFilter("vlan 4095"), 4095);
  assertEquals(parseVlanFilter("vlan 007"), 7);
});

Deno.test("parseVlanFilter rejects everything else with a quoted message", () => {
  const msg = (s: string) => {
    const r = parseVlanFilter(s);
    assert(r instanceof Error, `expected an error for ${s}`);
    return r.message;
  };
  assertEquals(msg("vlan"), `Cannot parse filter "vlan": a VLAN id is required, e.g. 'vlan 100'`);
  assertEquals(msg("vlan 4096"), `Cannot parse filter "vlan 4096": VLAN id "4096" is out of range 0..4095`);
  assertEquals(
    msg("vlan -1"),
    `Cannot parse filter "vlan -1": the VLAN id must be a decimal number 0..4095`,
  );
  assertEquals(
    msg("vlan 0x10"),
    `Cannot parse filter "vlan 0x10": the VLAN id must be a decimal number 0..4095`,
  );
  assertEquals(msg("vlan 100 and host 1.2.3.4").startsWith(`Cannot parse filter "vlan 100 and`), true);
  assertEquals(
    msg("host 198.18.0.1"),
    `Cannot parse filter "host 198.18.0.1": only 'vlan <id>' is supported`,
  );
  assertEquals(msg(""), `Cannot parse filter "": only 'vlan <id>' is supported`);
});

Deno.test("validateOps: valid configurations", () => {
  assertEquals(validateOps({}), null);
  assertEquals(validateOps({ vlan: 1 }), null);
  assertEquals(validateOps({ vlan: 4094 }, "tx"), null);
  assertEquals(
    validateOps({ stripVlan: true, filterVlan: 0, keepPercent: 0, snaplen: 0, trimTail: 0 }),
    null,
  );
  assertEquals(validateOps({ keepPercent: 12.5, snaplen: 65535, trimTail: 4, seed: -3 }, "rx"), null);
});

Deno.test("validateOps: errors name the value", () => {
  const msg = (cfg: OpsConfig, side?: OpsSide) => validateOps(cfg, side)?.message;
  assertEquals(msg({ vlan: 5000 }), `VLAN id "5000" is out of range 1..4094`);
  assertEquals(msg({ vlan: 0 }), `VLAN id "0" is out of range 1..4094`);
  assertEquals(msg({ vlan: 4095 }), `VLAN id "4095" is out of range 1..4094`);
  assertEquals(msg({ vlan: 1.5 }), `VLAN id "1.5" is not an integer`);
  assertEquals(msg({ vlan: NaN }), `VLAN id "NaN" is not an integer`);
  assertEquals(
    msg({ vlan: 10, stripVlan: true }),
    `Cannot combine VLAN tagging "10" with VLAN stripping: -V already replaces the outer tag on rx`,
  );
  assertEquals(msg({ filterVlan: 4096 }), `VLAN filter id "4096" is out of range 0..4095`);
  assertEquals(msg({ filterVlan: -1 }), `VLAN filter id "-1" is out of range 0..4095`);
  assertEquals(msg({ keepPercent: 101 }), `Sampling percentage "101" is out of range 0..100`);
  assertEquals(msg({ keepPercent: -0.5 }), `Sampling percentage "-0.5" is out of range 0..100`);
  assertEquals(msg({ keepPercent: NaN }), `Sampling percentage "NaN" is out of range 0..100`);
  assertEquals(msg({ snaplen: -1 }), `Snap length "-1" is not a non-negative integer`);
  assertEquals(msg({ snaplen: 96.5 }), `Snap length "96.5" is not a non-negative integer`);
  assertEquals(msg({ trimTail: -4 }), `Tail trim length "-4" is not a non-negative integer`);
  assertEquals(msg({ trimTail: 2.5 }), `Tail trim length "2.5" is not a non-negative integer`);
  assertEquals(msg({ seed: Infinity }), `Sampling seed "Infinity" is not a finite number`);
  assertEquals(msg({}, "both" as OpsSide), `Side "both" is not "rx" or "tx"`);
  // deno-lint-ignore no-explicit-any
  assertEquals(msg({ vlan: "100" as any }), `VLAN id "100" is not an integer`);
});

Deno.test("FramePipeline constructor throws the validation error (configuration time only)", () => {
  let caught: unknown;
  try {
    new FramePipeline({ vlan: 5000 }, "rx");
  } catch (e) {
    caught = e;
  }
  assert(caught instanceof Error);
  assertEquals(caught.message, `VLAN id "5000" is out of range 1..4094`);
});

// ---------------------------------------------------------------------------------------------------
// Each operation alone, over fixed bytes

Deno.test("no operations: passthrough copies the frame", () => {
  const p = new FramePipeline({}, "rx");
  assert(p.passthrough);
  assertEquals(toHex(rx({}, ARP) as Uint8Array), toHex(ARP));
  assertEquals(toHex(tx({}, ARP_QINQ) as Uint8Array), toHex(ARP_QINQ));
  const q = new FramePipeline({}, "tx");
  assertEquals(q.decide(ARP, 0, 60), 60);
  assertDeep([q.headLen, q.tagLen, q.tailLen, q.insertTag, q.vlanAction], [
    60,
    0,
    0,
    false,
    VlanAction.none,
  ]);
});

Deno.test("rx -V inserts 0x8100 + vid after the MACs into an untagged frame", () => {
  const p = new FramePipeline({ vlan: 100 }, "rx");
  const dst = new Uint8Array(128);
  assertEquals(p.applyRx(ARP, 0, 60, dst, 0), 64);
  assertEquals(toHex(dst.subarray(0, 64)), toHex(hex(`${MACS} 8100 0064 0806 ${ARP_BODY}`)));
  assertEquals(p.vlanAction, VlanAction.insert);
  assertEquals(p.origLen, 60);
  assertEquals(toHex(p.tagBytes), "81000064");
});

Deno.test("rx -V replaces the whole outer tag (PCP cleared), keeping the length", () => {
  assertEquals(
    toHex(rx({ vlan: 200 }, ARP_V100) as Uint8Array),
    toHex(hex(`${MACS} 8100 00c8 0806 ${ARP_BODY}`)),
  );
  // 802.1ad outer tag becomes 802.1Q; the inner tag stays.
  assertEquals(
    toHex(rx({ vlan: 4094 }, ARP_QINQ) as Uint8Array),
    toHex(hex(`${MACS} 8100 0ffe 8100 0064 0806 ${ARP_BODY}`)),
  );
  const p = new FramePipeline({ vlan: 200 }, "rx");
  p.decide(ARP_V100, 0, 64);
  assertEquals(p.vlanAction, VlanAction.replace);
  // 0x9100 is an outer tag too
  const legacy = hex(`${MACS} 9100 0005 0800 ${" 00".repeat(46)}`);
  assertEquals(toHex((rx({ vlan: 6 }, legacy) as Uint8Array).subarray(12, 18)), "810000060800");
});

Deno.test("rx -Q strips the outer tag; an untagged frame is unchanged", () => {
  assertEquals(toHex(rx({ stripVlan: true }, ARP_V100) as Uint8Array), toHex(ARP));
  assertEquals(toHex(rx({ stripVlan: true }, ARP) as Uint8Array), toHex(ARP));
  assertEquals(
    toHex(rx({ stripVlan: true }, ARP_QINQ) as Uint8Array),
    toHex(ARP_V100.map((b, i) => i === 14 ? 0x00 : b)),
  );
  const p = new FramePipeline({ stripVlan: true }, "rx");
  p.decide(ARP_V100, 0, 64);
  assertDeep([p.vlanAction, p.outLen, p.origLen], [VlanAction.strip, 60, 64]);
  p.decide(ARP, 0, 60);
  assertEquals(p.vlanAction, VlanAction.none);
});

Deno.test("tx -V reports insertTag and segments, never writes the frame (also on tagged frames)", () => {
  const p = new FramePipeline({ vlan: 100 }, "tx");
  assertEquals(p.decide(ARP, 0, 60), 64);
  assertDeep([p.insertTag, p.headLen, p.tagLen, p.tailOff, p.tailLen], [true, 12, 4, 12, 48]);
  assertEquals(toHex(txBytes(p, ARP)), toHex(hex(`${MACS} 8100 0064 0806 ${ARP_BODY}`)));
  // tx inserts in front of an existing tag (3.2 behaviour): double tagged
  assertEquals(
    toHex(tx({ vlan: 5 }, ARP_V100) as Uint8Array),
    toHex(hex(`${MACS} 8100 0005 8100 a064 0806 ${ARP_BODY}`)),
  );
  // the same tagBytes object every time
  const tag = p.tagBytes;
  p.decide(ARP_V100, 0, 64);
  assert(tag === p.tagBytes);
});

Deno.test("tx -Q strips through segments", () => {
  assertEquals(toHex(tx({ stripVlan: true }, ARP_V100) as Uint8Array), toHex(ARP));
  const p = new FramePipeline({ stripVlan: true }, "tx");
  p.decide(ARP_V100, 0, 64);
  assertDeep([p.insertTag, p.headLen, p.tagLen, p.tailOff, p.tailLen], [false, 12, 0, 16, 48]);
});

Deno.test("-f 'vlan n' keeps only frames whose outer VID is n", () => {
  assertEquals(toHex(rx({ filterVlan: 100 }, ARP_V100) as Uint8Array), toHex(ARP_V100));
  assertEquals(rx({ filterVlan: 100 }, ARP), drop(DropReason.filtered));
  assertEquals(rx({ filterVlan: 101 }, ARP_V100), drop(DropReason.filtered));
  // outer tag only: QinQ outer VID 10, inner 100
  assertEquals(rx({ filterVlan: 100 }, ARP_QINQ), drop(DropReason.filtered));
  assertEquals(toHex(rx({ filterVlan: 10 }, ARP_QINQ) as Uint8Array), toHex(ARP_QINQ));
  assertEquals(tx({ filterVlan: 10 }, ARP_QINQ) instanceof Uint8Array, true);
  // vid 0 = priority tagged
  const prio = ARP_V100.slice();
  prio[14] = 0xa0;
  prio[15] = 0x00;
  assertEquals((rx({ filterVlan: 0 }, prio) as Uint8Array).length, 64);
  const p = new FramePipeline({ filterVlan: 100 }, "rx");
  assertEquals(p.applyRx(ARP, 0, 60, new Uint8Array(100), 0), -1);
  assertEquals(p.reason, DropReason.filtered);
  assertEquals(p.outLen, 0);
});

Deno.test("-s truncates to the snap length and reports the original length", () => {
  const f = frameOf(1514);
  const p = new FramePipeline({ snaplen: 96 }, "rx");
  const dst = new Uint8Array(2048);
  assertEquals(p.applyRx(f, 0, 1514, dst, 0), 96);
  assertEquals(p.origLen, 1514);
  assertEquals(toHex(dst.subarray(0, 96)), toHex(f.subarray(0, 96)));
  assertEquals(toHex(rx({ snaplen: 96 }, ARP) as Uint8Array), toHex(ARP));
  assertEquals((rx({ snaplen: 60 }, ARP) as Uint8Array).length, 60);
  assertEquals((rx({ snaplen: 59 }, ARP) as Uint8Array).length, 59);
  assertEquals((rx({ snaplen: 0 }, f) as Uint8Array).length, 1514);
  assertEquals((rx({ snaplen: 1 }, f) as Uint8Array).length, 1);
});

Deno.test("-D trims the tail but never below the output's Ethernet header; a frame no longer than n stays whole", () => {
  const f = frameOf(64);
  assertEquals(toHex(rx({ trimTail: 4 }, f) as Uint8Array), toHex(f.subarray(0, 60)));
  assertEquals(toHex(rx({ trimTail: 50 }, f) as Uint8Array), toHex(f.subarray(0, 14)));
  assertEquals((rx({ trimTail: 60 }, ARP_V100) as Uint8Array).length, 18);
  // 3.2: a frame of n bytes or fewer is left as it is
  assertEquals((rx({ trimTail: 64 }, f) as Uint8Array).length, 64);
  assertEquals((rx({ trimTail: 1000 }, f) as Uint8Array).length, 64);
  assertEquals((tx({ trimTail: 1000 }, ARP_V100) as Uint8Array).length, 64);
  assertEquals((rx({ trimTail: 0 }, f) as Uint8Array).length, 64);
  // a frame shorter than a header (no header op configured) is left as it is
  assertEquals((rx({ trimTail: 4 }, f.subarray(0, 10)) as Uint8Array).length, 10);
  assertEquals((rx({ trimTail: 4 }, f.subarray(0, 16)) as Uint8Array).length, 14);
});

// ---------------------------------------------------------------------------------------------------
// Combinations and order: filter → sample → vlan → snaplen → trim (fluxcap 3.2's)

Deno.test("order: filter before -V, snaplen after -V, trim last (-s 100 -D 4 gives 96, as 3.2)", () => {
  // filter sees the original VID 100, then -V 7 replaces it
  assertEquals(
    toHex(rx({ filterVlan: 100, vlan: 7 }, ARP_V100) as Uint8Array),
    toHex(hex(`${MACS} 8100 0007 0806 ${ARP_BODY}`)),
  );
  assertEquals(rx({ filterVlan: 7, vlan: 7 }, ARP_V100), drop(DropReason.filtered));
  // filtered wins over sampled
  assertEquals(rx({ filterVlan: 7, keepPercent: 0 }, ARP_V100), drop(DropReason.filtered));
  assertEquals(rx({ filterVlan: 100, keepPercent: 0 }, ARP_V100), drop(DropReason.sampled));
  // insert (+4) then snaplen 50 then trim 10
  const f = frameOf(100);
  const out = rx({ vlan: 9, trimTail: 10, snaplen: 50 }, f) as Uint8Array;
  assertEquals(out.length, 40);
  assertEquals(toHex(out.subarray(12, 16)), "81000009");
  assertEquals(toHex(out.subarray(16)), toHex(f.subarray(12, 36)));
  const out2 = rx({ vlan: 9, trimTail: 10, snaplen: 500 }, f) as Uint8Array;
  assertEquals(out2.length, 94);
  assertEquals((rx({ snaplen: 100, trimTail: 4 }, frameOf(1514)) as Uint8Array).length, 96);
  assertEquals((tx({ snaplen: 100, trimTail: 4 }, frameOf(1514)) as Uint8Array).length, 96);
  // strip then trim
  const out3 = rx({ stripVlan: true, trimTail: 4 }, ARP_V100) as Uint8Array;
  assertEquals(toHex(out3), toHex(ARP.subarray(0, 56)));
});

Deno.test("snaplen cutting into the inserted tag: tx segments stay consistent", () => {
  for (let snap = 1; snap <= 20; snap++) {
    const p = new FramePipeline({ vlan: 0xabc, snaplen: snap }, "tx");
    assertEquals(p.decide(ARP, 0, 60), snap);
    assertEquals(p.headLen + p.tagLen + p.tailLen, snap);
    assertEquals(p.insertTag, snap > 12);
    const full = hex(`${MACS} 8100 0abc 0806 ${ARP_BODY}`);
    assertEquals(toHex(txBytes(p, ARP)), toHex(full.subarray(0, snap)));
    assertEquals(toHex(rx({ vlan: 0xabc, snaplen: snap }, ARP) as Uint8Array), toHex(full.subarray(0, snap)));
  }
});

// ---------------------------------------------------------------------------------------------------
// Edge lengths

Deno.test("edge lengths 60, 64, 1514, 9000 with every VLAN operation", () => {
  for (const len of [60, 64, 1514, 9000]) {
    const plain = frameOf(len);
    const tagged = frameOf(len, [[0x8100, 0x0123]]);
    const qinq = frameOf(len, [[0x88a8, 0x0456], [0x8100, 0x0123]]);
    assertEquals((rx({}, plain) as Uint8Array).length, len);
    assertEquals((rx({ vlan: 1 }, plain) as Uint8Array).length, len + 4);
    assertEquals((rx({ vlan: 1 }, tagged) as Uint8Array).length, len);
    assertEquals((rx({ vlan: 1 }, qinq) as Uint8Array).length, len);
    assertEquals((rx({ stripVlan: true }, tagged) as Uint8Array).length, len - 4);
    assertEquals((rx({ stripVlan: true }, qinq) as Uint8Array).length, len - 4);
    assertEquals((tx({ vlan: 1 }, tagged) as Uint8Array).length, len + 4);
    const stripped = rx({ stripVlan: true }, qinq) as Uint8Array;
    assertEquals(toHex(stripped.subarray(12, 16)), "81000123");
    assertEquals(toHex(stripped.subarray(16)), toHex(qinq.subarray(20)));
    assertEquals((rx({ filterVlan: 0x456 }, qinq) as Uint8Array).length, len);
    assertEquals((rx({ filterVlan: 0x123 }, tagged) as Uint8Array).length, len);
    assertEquals((rx({ trimTail: 4, snaplen: 1514 }, plain) as Uint8Array).length, Math.min(len, 1514) - 4);
  }
});

Deno.test("short frames: malformed only when a header operation needs the header", () => {
  for (let len = 0; len < 14; len++) {
    const f = frameOf(len);
    assertEquals((rx({}, f) as Uint8Array).length, len);
    assertEquals((rx({ snaplen: 5, trimTail: 3 }, f) as Uint8Array).length, Math.min(len, 5));
    assertEquals(rx({ vlan: 3 }, f), drop(DropReason.malformed));
    assertEquals(rx({ stripVlan: true }, f), drop(DropReason.malformed));
    assertEquals(tx({ filterVlan: 3 }, f), drop(DropReason.malformed));
  }
  // a TPID with a truncated tag (14..17 bytes)
  for (let len = 14; len < 18; len++) {
    const f = frameOf(len, [[0x8100, 3]]);
    f[12] = 0x81;
    f[13] = 0x00;
    if (len >= 16) [f[14], f[15]] = [0, 3];
    // `vlan n` needs the TCI only (tcpdump's 'vlan 3' keeps a 16-byte frame tagged 3); -Q needs it all
    if (len >= 16) assertEquals((rx({ filterVlan: 3 }, f) as Uint8Array).length, len);
    else assertEquals(rx({ filterVlan: 3 }, f), drop(DropReason.filtered));
    assertEquals(rx({ filterVlan: 4 }, f), drop(DropReason.filtered));
    assertEquals(rx({ stripVlan: true }, f), drop(DropReason.malformed));
    assertEquals(rx({ vlan: 5 }, f), drop(DropReason.malformed));
    assertEquals((rx({}, f) as Uint8Array).length, len);
  }
  // 14 untagged bytes are fine to tag
  assertEquals((rx({ vlan: 3 }, frameOf(14)) as Uint8Array).length, 18);
});

Deno.test("hostile offsets and lengths are malformed drops; a full destination is oversize", () => {
  const p = new FramePipeline({ vlan: 3 }, "rx");
  const buf = frameOf(100);
  const dst = new Uint8Array(200);
  for (
    const [off, len] of [[-1, 10], [0, 101], [90, 20], [NaN, 10], [0, NaN], [0.5, 60], [0, -5], [Infinity, 1]]
  ) {
    assertEquals(p.applyRx(buf, off, len, dst, 0), drop(DropReason.malformed), `${off},${len}`);
    assertEquals(p.decide(buf, off, len), drop(DropReason.malformed));
  }
  assertEquals(p.applyRx(buf, 0, 100, dst, 97), drop(DropReason.oversize));
  assertEquals(p.applyRx(buf, 0, 100, dst, 96), 104);
  assertEquals(p.applyRx(buf, 0, 100, dst, -1), drop(DropReason.oversize));
  assertEquals(p.applyRx(buf, 0, 100, new Uint8Array(103), 0), drop(DropReason.oversize));
  assertEquals(p.reason, DropReason.oversize);
});

Deno.test("frames at an offset inside a larger buffer", () => {
  const big = new Uint8Array(4096).fill(0xee);
  big.set(ARP_V100, 1000);
  const p = new FramePipeline({ vlan: 200 }, "tx");
  assertEquals(p.decide(big, 1000, 64), 68);
  assertEquals(
    toHex(txBytes(p, big, 1000)),
    toHex(hex(`${MACS} 8100 00c8 8100 a064 0806 ${ARP_BODY}`)),
  );
  const r = new FramePipeline({ stripVlan: true }, "rx");
  const dst = new Uint8Array(4096);
  assertEquals(r.applyRx(big, 1000, 64, dst, 3000), 60);
  assertEquals(toHex(dst.subarray(3000, 3060)), toHex(ARP));
  assertEquals(dst[3060], 0);
});

// ---------------------------------------------------------------------------------------------------
// Out-of-band (kernel metadata) tags

Deno.test("applyRxVlan: an out-of-band tag is written back in band, stripped by -Q, replaced by -V", () => {
  const dst = new Uint8Array(200);
  const untagged = ARP; // what the kernel hands over for ARP_V100 (tag 0x8100/0xa064 in metadata)
  const none = new FramePipeline({}, "rx");
  assertEquals(none.applyRxVlan(untagged, 0, 60, 0x8100, 0xa064, dst, 0), 64);
  assertEquals(toHex(dst.subarray(0, 64)), toHex(ARP_V100));
  assertEquals(none.origLen, 64);
  assertEquals(toHex(none.tag), "8100a064");
  // tpid 0: no tag, same as applyRx
  assertEquals(none.applyRxVlan(untagged, 0, 60, 0, 0, dst, 0), 60);
  assertEquals(toHex(rxMeta({ stripVlan: true }, untagged, 0x8100, 0xa064) as Uint8Array), toHex(ARP));
  assertEquals(
    toHex(rxMeta({ vlan: 200 }, untagged, 0x8100, 0xa064) as Uint8Array),
    toHex(hex(`${MACS} 8100 00c8 0806 ${ARP_BODY}`)),
  );
  assertEquals(rxMeta({ filterVlan: 101 }, untagged, 0x8100, 0xa064), drop(DropReason.filtered));
  assertEquals((rxMeta({ filterVlan: 100 }, untagged, 0x8100, 0xa064) as Uint8Array).length, 64);
  // QinQ: the kernel takes the 802.1ad outer tag, the inner stays in the data
  const inner = ARP_QINQ.slice();
  inner.copyWithin(12, 16);
  const innerFrame = inner.subarray(0, 64);
  assertEquals(toHex(rxMeta({}, innerFrame, 0x88a8, 0x600a) as Uint8Array), toHex(ARP_QINQ));
  assertEquals(
    toHex(rxMeta({ stripVlan: true, trimTail: 50 }, innerFrame, 0x88a8, 0x600a) as Uint8Array),
    toHex(ARP_V100.subarray(0, 18).map((b, i) => i === 14 ? 0 : b)),
  );
  assertEquals(rxMeta({ vlan: 3 }, frameOf(11), 0x8100, 1), drop(DropReason.malformed));
});

function rxMeta(cfg: OpsConfig, frame: Uint8Array, tpid: number, tci: number): Uint8Array | number {
  const p = new FramePipeline(cfg, "rx");
  const dst = new Uint8Array(frame.length + MAX_GROWTH + 16);
  const v = p.applyRxVlan(frame, 0, frame.length, tpid, tci, dst, 8);
  return v < 0 ? v : dst.slice(8, 8 + v);
}

// ---------------------------------------------------------------------------------------------------
// Sampling

function keptCount(cfg: OpsConfig, n: number): number {
  const p = new FramePipeline(cfg, "rx");
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = p.decide(ARP, 0, 60);
    if (v >= 0) kept++;
    else assertEquals(v, drop(DropReason.sampled));
  }
  return kept;
}

Deno.test("sampling: keeps about p percent with a fixed seed", () => {
  const n = 100_000;
  for (const seed of [1, 42, 0xdeadbeef, -7, 0]) {
    for (const p of [1, 10, 33.3, 50, 90, 99.5]) {
      const kept = keptCount({ keepPercent: p, seed }, n);
      const pct = kept * 100 / n;
      assert(Math.abs(pct - p) < 1, `seed ${seed} p ${p}: kept ${pct}%`);
    }
  }
  assertEquals(keptCount({ keepPercent: 100, seed: 1 }, 10_000), 10_000);
  assertEquals(keptCount({ keepPercent: 0, seed: 1 }, 10_000), 0);
  // 10 % within ±0.5 % for the seed the brief names
  const ten = keptCount({ keepPercent: 10, seed: 12345 }, n);
  assert(Math.abs(ten - 10_000) < 500, `kept ${ten}`);
});

Deno.test("sampling: same seed → same decisions, different seeds differ, no long runs", () => {
  const pattern = (seed: number) => {
    const p = new FramePipeline({ keepPercent: 50, seed }, "tx");
    let s = "";
    for (let i = 0; i < 200; i++) s += p.decide(ARP, 0, 60) >= 0 ? "1" : "0";
    return s;
  };
  assertEquals(pattern(9), pattern(9));
  assert(pattern(9) !== pattern(10));
  assert(!pattern(9).includes("0".repeat(20)) && !pattern(9).includes("1".repeat(20)));
  // unseeded pipelines work too
  const k = keptCount({ keepPercent: 50 }, 20_000);
  assert(k > 9000 && k < 11000, `${k}`);
});

// ---------------------------------------------------------------------------------------------------
// Fuzz against a naive reference model

const TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

/** Straightforward model of the documented semantics (no sampling). */
function reference(cfg: OpsConfig, side: OpsSide, f: Uint8Array): number[] | number {
  const tpidAt = (a: number[] | Uint8Array, i: number) =>
    a.length >= i + 2 && TPIDS.has((a[i] << 8) | a[i + 1]);
  const changesTag = cfg.vlan !== undefined || cfg.stripVlan === true;
  const needHeader = cfg.filterVlan !== undefined || changesTag;
  if (needHeader && f.length < 14) return drop(DropReason.malformed);
  if (changesTag && tpidAt(f, 12) && f.length < 18) return drop(DropReason.malformed);
  const tagged = f.length >= 18 && tpidAt(f, 12);
  const vid = f.length >= 16 && tpidAt(f, 12) ? ((f[14] & 15) << 8) | f[15] : -1; // as tcpdump's `vlan n`
  if (cfg.filterVlan !== undefined && vid !== cfg.filterVlan) return drop(DropReason.filtered);
  if (cfg.keepPercent === 0) return drop(DropReason.sampled);
  const a = [...f];
  let out: number[];
  if (cfg.vlan !== undefined) {
    const tag = [0x81, 0x00, cfg.vlan >> 8, cfg.vlan & 255];
    out = side === "rx" && tagged
      ? [...a.slice(0, 12), ...tag, ...a.slice(16)]
      : [...a.slice(0, 12), ...tag, ...a.slice(12)];
  } else if (cfg.stripVlan && tagged) {
    out = [...a.slice(0, 12), ...a.slice(16)];
  } else {
    out = a;
  }
  // fluxcap 3.2's order: truncate to the snap length, then trim (never into the header)
  const hdr = out.length >= 18 && tpidAt(out, 12) ? 18 : 14;
  if (cfg.snaplen) out = out.slice(0, cfg.snaplen);
  if (cfg.trimTail && out.length > cfg.trimTail) { // a frame no longer than the trim stays whole
    out = out.slice(0, Math.max(out.length - cfg.trimTail, Math.min(out.length, hdr)));
  }
  return out;
}

function sameBytes(a: Uint8Array, b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function xorshift(seed: number) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

Deno.test("fuzz: 50k random frames through every configuration match the reference, never throw", () => {
  const rand = xorshift(0x5eed);
  const configs: OpsConfig[] = [];
  for (const vlanOp of [{}, { vlan: 1 }, { vlan: 4094 }, { stripVlan: true }]) {
    for (const filter of [{}, { filterVlan: 0 }, { filterVlan: 100 }]) {
      for (
        const lens of [{}, { trimTail: 4 }, { snaplen: 64 }, { trimTail: 30, snaplen: 15 }, { snaplen: 13 }]
      ) {
        for (const sample of [{}, { keepPercent: 0 }]) {
          configs.push({ ...vlanOp, ...filter, ...lens, ...sample });
        }
      }
    }
  }
  const sampled: OpsConfig[] = [{ keepPercent: 37, vlan: 5, trimTail: 3, seed: 1 }, {
    keepPercent: 1,
    seed: 2,
  }];
  const pipes = configs.map((c) => ({
    c,
    rx: new FramePipeline(c, "rx"),
    tx: new FramePipeline(c, "tx"),
  }));
  const spipes = sampled.map((c) => new FramePipeline(c, "rx"));
  const tpidList = [0x8100, 0x88a8, 0x9100, 0x0800, 0x86dd];
  const buf = new Uint8Array(10_000);
  const dst = new Uint8Array(10_100);
  let compared = 0;
  for (let i = 0; i < 50_000; i++) {
    // a random frame: random length biased to small and edge sizes, random tag stacks, VIDs near 0/100
    const r = rand();
    const len = r % 4 === 0
      ? rand() % 24
      : r % 4 === 1
      ? [60, 64, 1514, 1518, 9000][rand() % 5]
      : rand() % 2000;
    const off = rand() % 64;
    for (let k = 0; k < len; k++) buf[off + k] = rand() & 0xff;
    for (let t = 0, o = 12; t < (rand() % 4) && o + 4 <= len; t++, o += 4) {
      const tpid = tpidList[rand() % tpidList.length];
      buf[off + o] = tpid >> 8;
      buf[off + o + 1] = tpid & 0xff;
      if (rand() % 2 === 0) {
        buf[off + o + 2] = rand() & 0xf0;
        buf[off + o + 3] = rand() % 2 ? 100 : 0;
      }
    }
    const frame = buf.subarray(off, off + len);
    // every config on every 20th frame (the reference model is slow); each frame through one config
    const sel = i % 20 === 0 ? pipes : [pipes[i % pipes.length]];
    for (const { c, rx: prx, tx: ptx } of sel) {
      const want = reference(c, "rx", frame);
      const got = prx.applyRx(buf, off, len, dst, 17);
      if (typeof want === "number") {
        assertEquals(got, want, `rx ${JSON.stringify(c)} len ${len}`);
      } else {
        assertEquals(got, want.length, `rx ${JSON.stringify(c)} len ${len}`);
        if (!sameBytes(dst.subarray(17, 17 + got), want)) {
          assertEquals(toHex(dst.subarray(17, 17 + got)), toHex(Uint8Array.from(want)));
        }
      }
      const wantTx = reference(c, "tx", frame);
      const gotTx = ptx.decide(buf, off, len);
      if (typeof wantTx === "number") {
        assertEquals(gotTx, wantTx);
      } else {
        assertEquals(gotTx, wantTx.length);
        assertEquals(ptx.headLen + ptx.tagLen + ptx.tailLen, gotTx);
        assert(ptx.tailOff + ptx.tailLen <= len && ptx.headLen <= len);
        const sent = txBytes(ptx, buf, off);
        if (!sameBytes(sent, wantTx)) assertEquals(toHex(sent), toHex(Uint8Array.from(wantTx)));
      }
      compared++;
    }
    // the same frame with its outer tag out of band must give the same result (rx)
    if (len >= 18 && TPIDS.has((frame[12] << 8) | frame[13]) && i % 10 === 0) {
      const inner = new Uint8Array(len - 4);
      inner.set(frame.subarray(0, 12));
      inner.set(frame.subarray(16), 12);
      const tpid = (frame[12] << 8) | frame[13];
      const tci = (frame[14] << 8) | frame[15];
      for (const { c, rx: prx } of pipes) {
        const want = reference(c, "rx", frame);
        const got = prx.applyRxVlan(inner, 0, inner.length, tpid, tci, dst, 3);
        if (typeof want === "number") assertEquals(got, want, `meta ${JSON.stringify(c)} len ${len}`);
        else {
          assertEquals(got, want.length, `meta ${JSON.stringify(c)} len ${len}`);
          if (!sameBytes(dst.subarray(3, 3 + got), want)) {
            assertEquals(toHex(dst.subarray(3, 3 + got)), toHex(Uint8Array.from(want)));
          }
        }
      }
    }
    for (const p of spipes) {
      const v = p.applyRx(buf, off, len, dst, 0);
      assert(v === drop(DropReason.sampled) || v === drop(DropReason.malformed) || (v >= 0 && v <= len + 4));
    }
  }
  assert(compared > 50_000 + (50_000 / 20) * configs.length * 0.9);
});
