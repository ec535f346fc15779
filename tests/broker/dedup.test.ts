/**
 * `--dedup MS` black-box on capture files: a SPAN session of a router's two sides (each packet twice,
 * the second copy 3 frames later with another VLAN tag, other MACs, TTL − 1), replayed with
 * `-rx --read` into a ring and sent from a ring with `-tx -w`: each packet comes out once, a real
 * retransmission (same bytes, later than MS) is kept, near-duplicates are kept, and the copies dropped
 * are counted `duplicate`, exactly. (The NIC case, with tags out of band, is in filter_lab.test.ts.)
 */
import { assert, assertEquals } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { createRing, snapshotOf } from "../../lib/ring/mod.ts";
import { readPcap } from "../../lib/lab/mod.ts";
import { drainAndStop, ringRecords, startFluxcap, writeRing } from "./common.ts";
import { type SpanFrame, spanStream, writeStampedPcap } from "./span.ts";
import { hex } from "./traffic.ts";

function multiset(frames: Uint8Array[]): string[] {
  return frames.map(hex).sort();
}

function expected(all: SpanFrame[]): { kept: Uint8Array[]; dups: number } {
  return {
    kept: all.filter((f) => !f.duplicate).map((f) => f.bytes),
    dups: all.filter((f) => f.duplicate).length,
  };
}

Deno.test("dedup: -rx --read --dedup 10: each SPAN packet once, retransmissions kept, copies counted", async () => {
  const dir = makeRingDir();
  try {
    const { first, second } = spanStream(2000, 100, 50);
    const all = [...first, ...second];
    const file = `${dir}/span.pcap`;
    writeStampedPcap(file, all);
    const ring = `${dir}/r`;
    createRing(ring, { size: 4 << 20 });
    const p = startFluxcap(["-rx", "--read", file, "--dedup", "10", ring]);
    const res = await p.done;
    assertEquals(res.code, 0, res.stderr);
    const got = ringRecords(ring);
    const want = expected(all);
    assertEquals(got.length, want.kept.length, "frames kept");
    assertEquals(multiset(got.map((r) => r.bytes)), multiset(want.kept), "exactly the first copies, in full");
    assertEquals(got.map((r) => r.bytes.length), want.kept.map((f) => f.length), "in order");
    const w = snapshotOf(ring).writer!;
    assertEquals(w.drops.duplicate, want.dups, "every second copy counted as duplicate");
    assert(want.dups > 2000 && second.length === 200);
    assertEquals(w.drops.duplicate + got.length, all.length);
  } finally {
    rmrf(dir);
  }
});

Deno.test("dedup: -tx -w --dedup 10 from a ring holding the SPAN stream: same frames, counted exactly", async () => {
  const dir = makeRingDir();
  try {
    const { first, second } = spanStream(2000, 100, 50, 2_000);
    const all = [...first, ...second];
    const ring = `${dir}/r`;
    createRing(ring, { size: 4 << 20 });
    writeRing(ring, all);
    const out = `${dir}/out.pcap`;
    const p = startFluxcap(["-tx", "-w", out, "--dedup", "10", "--from-oldest", ring]);
    const r = await drainAndStop(ring, p, all.length);
    const want = expected(all);
    const got = readPcap(await Deno.readFile(out)).records.map((x) => x.data);
    assertEquals(multiset(got), multiset(want.kept), "exactly the first copies and the retransmissions");
    assertEquals(r.framesSent, want.kept.length);
    assertEquals(r.drops.duplicate, want.dups);
    assertEquals(r.framesSent + r.drops.duplicate, all.length, "sent + duplicate = offered");
  } finally {
    rmrf(dir);
  }
});
