/**
 * The filter and dedup stages inside the frame pipeline: a BPF program sees the frame as it was on
 * the wire whether its outer tag came in band or out of band (the scratch-buffer path of `-rx -i`),
 * with its wire length; the dedup stage uses the frame's own time stamp and counts `duplicate`.
 */
import { assert, assertEquals } from "../assert.ts";
import { compileFilter, LibpcapMissing, openLibpcap } from "../../ffi/libpcap.ts";
import {
  compileExpression,
  DropReason,
  dropReasonOf,
  FramePipeline,
  type OpsConfig,
} from "../../lib/ops/mod.ts";
import { buildCorpus, ether, EXPRESSIONS, ipv4, tcp } from "./corpus.ts";

function bpfConfig(expr: string): OpsConfig {
  const c = compileExpression(expr, compileFilter);
  if (c.kind !== "bpf") throw new Error(`${expr} is not a BPF expression`);
  return { filter: { expr, program: c.program.map((i) => ({ ...i })) } };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test("pipeline filter: an out-of-band outer tag is put back for the program (rx -i), same verdicts and bytes", () => {
  const corpus = buildCorpus();
  const tagged = corpus.filter((f) => {
    const t = (f.bytes[12] << 8) | f.bytes[13];
    return f.bytes.length >= 18 && (t === 0x8100 || t === 0x88a8 || t === 0x9100);
  });
  assert(tagged.length > 50, `${tagged.length} tagged frames`);
  let checked = 0;
  let kept = 0;
  for (const expr of EXPRESSIONS) {
    if (/^\s*vlan\s+[0-9]+\s*$/.test(expr)) continue; // 3.2's VLAN filter, not a program
    const inBand = new FramePipeline(bpfConfig(expr), "rx");
    const outOfBand = new FramePipeline(bpfConfig(expr), "rx");
    for (const f of tagged) {
      const full = f.bytes;
      const tpid = (full[12] << 8) | full[13];
      const tci = (full[14] << 8) | full[15];
      // what the kernel hands over: the frame without its outer tag, the tag in metadata
      const inner = new Uint8Array(full.length - 4);
      inner.set(full.subarray(0, 12));
      inner.set(full.subarray(16), 12);
      const a = new Uint8Array(2048);
      const b = new Uint8Array(2048);
      const va = inBand.applyRx(full, 0, full.length, a, 0, f.origLen);
      const vb = outOfBand.applyRxVlan(inner, 0, inner.length, tpid, tci, b, 0, f.origLen - 4);
      assertEquals(vb, va, `${expr}: ${f.note}`);
      if (va >= 0) {
        assertEquals(hex(b.subarray(0, vb)), hex(a.subarray(0, va)), `${expr}: ${f.note} bytes`);
        kept++;
      } else assertEquals(dropReasonOf(va), DropReason.filtered);
      checked++;
    }
  }
  assert(
    kept > 100 && kept < checked - 100,
    `kept ${kept} of ${checked}: the expressions split the tagged frames`,
  );
});

Deno.test("pipeline filter: len, greater and less see the wire length, not the snapped one", () => {
  const frame = ether({
    type: 0x0800,
    payload: ipv4({ src: "198.18.0.1", dst: "198.18.0.2", proto: 6, payload: tcp({ sport: 1, dport: 2 }) }),
  });
  const p = new FramePipeline(bpfConfig("greater 1000"), "tx");
  assert(p.decide(frame, 0, frame.length) < 0, "54 bytes on the wire");
  assertEquals(p.decide(frame, 0, frame.length, 1514), frame.length, "snapped from 1514");
  assert(!p.passthrough);
});

Deno.test("pipeline dedup: a copy within the window is 'duplicate', after the filter, by the frame's time", () => {
  const pkt = (ttl: number) =>
    ipv4({ src: "198.18.0.1", dst: "198.18.0.2", proto: 17, ttl, payload: new Uint8Array(30).fill(7) });
  const a = ether({
    src: "02:00:00:00:00:01",
    dst: "02:00:00:00:00:aa",
    tags: [{ tpid: 0x8100, vid: 10 }],
    type: 0x0800,
    payload: pkt(64),
  });
  const b = ether({
    src: "02:00:00:00:00:aa",
    dst: "02:00:00:00:00:02",
    tags: [{ tpid: 0x8100, vid: 20 }],
    type: 0x0800,
    payload: pkt(63),
  });
  const p = new FramePipeline({ dedupMs: 10, ...bpfConfig("vlan and udp") }, "tx");
  assertEquals(p.decide(a, 0, a.length, a.length, 100, 0), a.length);
  assertEquals(dropReasonOf(p.decide(b, 0, b.length, b.length, 100, 5_000_000)), DropReason.duplicate);
  assertEquals(p.decide(a, 0, a.length, a.length, 100, 20_000_000), a.length, "20 ms later: kept");
  // An ARP frame (not IP): its MACs count.
  const arp1 = ether({ src: "02:00:00:00:00:01", type: 0x0806, payload: new Uint8Array(28).fill(1) });
  const arp2 = ether({ src: "02:00:00:00:00:03", type: 0x0806, payload: new Uint8Array(28).fill(1) });
  const q = new FramePipeline({ dedupMs: 10 }, "rx");
  assert(q.decide(arp1, 0, arp1.length, arp1.length, 5, 0) >= 0);
  assert(q.decide(arp2, 0, arp2.length, arp2.length, 5, 1000) >= 0, "other MACs: another frame");
  assertEquals(dropReasonOf(q.decide(arp1, 0, arp1.length, arp1.length, 5, 2000)), DropReason.duplicate);
});

Deno.test("libpcap missing: one line naming the library and its Debian package, a runtime failure (exit 1)", () => {
  try {
    openLibpcap(["libpcap-absent.so.9"]);
    throw new Error("loaded a library that does not exist");
  } catch (e) {
    assert(e instanceof LibpcapMissing, String(e));
    assertEquals(e.exitCode, 1);
    assert(!e.message.includes("\n"));
    assert(e.message.includes("libpcap0.8") && e.message.includes("libpcap-absent.so.9"), e.message);
  }
});
