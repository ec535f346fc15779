/**
 * `-f EXPR` and `--dedup` on real inputs and outputs, in a lab:
 * - NIC: the corpus sent with tcpreplay into `-rx -i` (where the kernel lifts 802.1Q and 802.1ad outer
 *   tags out of band, so the program runs on the frame rebuilt with its tag) with three expressions at
 *   once, and out of `-tx -i` with a fourth, captured by tcpdump; kept = tcpdump's, exactly.
 * - NIC `--dedup`: a SPAN stream of a router's two sides into `-rx -i --dedup 50` (tags out of band),
 *   retransmissions sent 300 ms later: each packet once, retransmissions kept, copies counted.
 * - Tunnel: `-tx -E gretap -f EXPR` into `-rx -E gretap -f EXPR2`: kept = both expressions' frames.
 */
import { assert, assertEquals } from "../assert.ts";
import { fluxcapCommand } from "../helpers.ts";
import { Lab, labAvailable, type LabProcess } from "../lab.ts";
import { createRing, snapshotOf } from "../../lib/ring/mod.ts";
import { BASE_SEC, buildCorpus, type CorpusFrame, writeCorpusPcap } from "../ops/corpus.ts";
import { drainAndStop, ringRecords, tcpdumpKeeps, until, writeRing } from "./common.ts";
import { spanStream } from "./span.ts";
import { hex } from "./traffic.ts";

const reason = await labAvailable(["ip", "tcpdump", "tcpreplay"]);
if (reason) console.log(`filter lab tests skipped: ${reason}`);
const labTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: reason !== null, fn, sanitizeResources: false, sanitizeOps: false });

/**
 * The corpus frames a NIC carries unchanged: whole (not snapped), at least an Ethernet header, and no
 * outer 802.1Q/802.1ad tag without 2 bytes after it (the kernel drops those as it lifts the tag, before
 * any packet socket sees them).
 */
function wireFrames(): CorpusFrame[] {
  return buildCorpus().filter((f) => {
    if (f.bytes.length < 14 || f.bytes.length !== f.origLen) return false;
    const t = (f.bytes[12] << 8) | f.bytes[13];
    return !((t === 0x8100 || t === 0x88a8) && f.bytes.length < 20);
  });
}

function sorted(frames: Uint8Array[]): string[] {
  return frames.map(hex).sort();
}

/** Frames of `frames` whose indices are in `keep`. */
function pick(frames: CorpusFrame[], keep: number[]): Uint8Array[] {
  return keep.map((i) => frames[i].bytes);
}

function start(lab: Lab, ns: string, args: string[]): LabProcess {
  return lab.spawn(ns, [...fluxcapCommand(), ...args], { env: { NO_COLOR: "1" } });
}

labTest(
  "filter lab: -rx -i -f (tags out of band) and -tx -i -f keep tcpdump's frames; -rx -i --dedup",
  async () => {
    const lab = await Lab.create("flt");
    try {
      const gen = await lab.ns("gen");
      const fx = await lab.ns("fx");
      const sn = await lab.ns("sn");
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
      await lab.veth({ ns: gen, name: "g1" }, { ns: fx, name: "in1" });
      await lab.veth({ ns: fx, name: "out1" }, { ns: sn, name: "s1" });
      const frames = wireFrames();
      const file = `${lab.dir}/sent.pcap`;
      writeCorpusPcap(file, frames);
      const rxExprs = ["vlan 100 and tcp port 443", "vlan and vlan 200", "udp or arp or ether proto 0x88a8"];
      const txExpr = "vlan and ip6";
      const procs: LabProcess[] = [];
      const rings = rxExprs.map((_, i) => `${lab.dir}/rx${i}`);
      const all = `${lab.dir}/all`;
      const dd = `${lab.dir}/dedup`;
      for (const r of [...rings, all, dd]) createRing(r, { size: 4 << 20 });
      rxExprs.forEach((e, i) => procs.push(start(lab, fx, ["-rx", "-i", "in0", "-f", e, rings[i]])));
      procs.push(start(lab, fx, ["-rx", "-i", "in0", all]));
      procs.push(start(lab, fx, ["-rx", "-i", "in1", "--dedup", "50", dd]));
      const tx = start(lab, fx, ["-tx", "-i", "out1", "-f", txExpr, all]);
      procs.push(tx);
      await until(
        () =>
          [...rings, all, dd].every((r) => snapshotOf(r).writer?.alive) &&
          snapshotOf(all).readers.length === 1,
        20_000,
      );
      const cap = await lab.tcpdump(sn, "s1", { direction: "in" });

      await lab.sendFrames(gen, "g0", frames.map((f) => f.bytes));
      const span = spanStream(300, 40, 0);
      await lab.sendFrames(gen, "g1", span.first.map((f) => f.bytes));
      await new Promise((r) => setTimeout(r, 300)); // later than the 50 ms window
      await lab.sendFrames(gen, "g1", span.second.map((f) => f.bytes));

      await until(() => snapshotOf(all).frames >= frames.length, 10_000);
      const wantTx = pick(frames, await tcpdumpKeeps(file, txExpr));
      await cap.waitForFrames(wantTx.length);
      const dupes = [...span.first, ...span.second].filter((f) => f.duplicate).length;
      await until(() => {
        const s = snapshotOf(dd);
        return s.frames + s.writer!.drops.duplicate >= span.first.length + span.second.length;
      }, 10_000);
      const txReader = snapshotOf(all).readers[0];
      for (const p of procs) assertEquals((await p.stop("SIGINT", 3000)).code, 0, p.stderr);

      assertEquals(snapshotOf(all).frames, frames.length, "every frame captured");
      for (const [i, e] of rxExprs.entries()) {
        const want = pick(frames, await tcpdumpKeeps(file, e));
        assert(want.length > 0, e);
        assertEquals(sorted(ringRecords(rings[i]).map((r) => r.bytes)), sorted(want), `-rx -i -f '${e}'`);
        assertEquals(
          snapshotOf(rings[i]).writer!.drops.filtered,
          frames.length - want.length,
          `${e}: filtered`,
        );
      }
      assert(wantTx.length > 0);
      assertEquals(sorted(await cap.stop()), sorted(wantTx), `-tx -i -f '${txExpr}'`);
      assertEquals(txReader.framesSent, wantTx.length);
      assertEquals(txReader.drops.filtered, frames.length - wantTx.length);

      const kept = [...span.first, ...span.second].filter((f) => !f.duplicate).map((f) => f.bytes);
      assertEquals(
        sorted(ringRecords(dd).map((r) => r.bytes)),
        sorted(kept),
        "--dedup on a NIC: each packet once",
      );
      assertEquals(snapshotOf(dd).writer!.drops.duplicate, dupes, "copies counted as duplicate");
    } finally {
      await lab.close();
    }
  },
);

labTest("filter lab: -tx -E gretap -f into -rx -E gretap -f: both expressions applied, counted", async () => {
  const lab = await Lab.create("fltt");
  try {
    const a = await lab.ns("a");
    const b = await lab.ns("b");
    await lab.veth({ ns: a, name: "va", ip: "198.18.1.1/24" }, { ns: b, name: "vb", ip: "198.18.1.2/24" });
    const frames = wireFrames();
    const file = `${lab.dir}/sent.pcap`;
    writeCorpusPcap(file, frames);
    const [src, dst] = [`${lab.dir}/src`, `${lab.dir}/dst`];
    createRing(src, { size: 4 << 20 });
    createRing(dst, { size: 4 << 20 });
    writeRing(src, frames.map((f, i) => ({ bytes: f.bytes, sec: BASE_SEC + i, nsec: 0 })));
    const txExpr = "not arp and not stp";
    const rxExpr = "vlan or ip6";
    const rx = start(lab, b, ["-rx", "-E", "gretap", "-f", rxExpr, dst]);
    await until(() => snapshotOf(dst).writer?.alive === true || rx.exited, 20_000);
    const [cmd, ...pre] = fluxcapCommand();
    const txp = lab.spawn(a, [
      cmd,
      ...pre,
      "-tx",
      "-E",
      "gretap:198.18.1.2",
      "-f",
      txExpr,
      "--from-oldest",
      src,
    ], {
      env: { NO_COLOR: "1" },
    });
    const txKeep = new Set(await tcpdumpKeeps(file, txExpr));
    const both = (await tcpdumpKeeps(file, rxExpr)).filter((i) => txKeep.has(i));
    // drainAndStop works on any process with a pid and a done promise
    const r = await drainAndStop(src, {
      child: { kill: (s: Deno.Signal) => Deno.kill(txp.pid, s) } as unknown as Deno.ChildProcess,
      pid: txp.pid,
      done: txp.done.then((x) => ({ code: x.code, stderr: x.stderr })),
    }, frames.length);
    assertEquals(r.framesSent, txKeep.size, "tx sent what its expression keeps");
    assertEquals(r.drops.filtered, frames.length - txKeep.size, "the rest counted filtered");
    await until(() => {
      const s = snapshotOf(dst);
      return s.frames + s.writer!.drops.filtered >= txKeep.size;
    }, 10_000);
    assertEquals((await rx.stop("SIGINT", 3000)).code, 0);
    assertEquals(sorted(ringRecords(dst).map((x) => x.bytes)), sorted(pick(frames, both)));
    assertEquals(snapshotOf(dst).writer!.drops.filtered, txKeep.size - both.length);
  } finally {
    await lab.close();
  }
});
