/**
 * Tunnel receive and the kernel: a receiver stopped (SIGSTOP) while a burst arrives on a small socket
 * buffer loses datagrams in the kernel, and every one of them is counted: datagrams sent = frames in
 * the ring + kernel drops + other counted drops, exactly (VXLAN over a UDP socket from the kernel's
 * VXLAN device, GRETAP over a raw socket from fluxcap -tx). Each ring record carries its packet's own
 * kernel receive time: two packets sent 80 ms apart to a stopped receiver land ≥ 40 ms apart.
 */
import { assert, assertEquals } from "../assert.ts";
import { fluxcapCommand } from "../helpers.ts";
import { type Lab, type LabProcess, makeFrame, parseTestFrame } from "../lab.ts";
import { RingReader, RingWriter } from "../../lib/ring/mod.ts";
import {
  A4,
  accounted,
  B4,
  emptyRing,
  fillRing,
  fluxcapIn,
  labTest,
  MAC_B,
  must,
  type Pair,
  pair,
  snap,
  until,
  writerUp,
} from "./common.ts";

/** Socket receive buffer for the drop tests (the kernel doubles it: 32 KiB, a few dozen packets). */
const SMALL_RCVBUF = "16384";

function frames(n: number, seq0: number, maxLen = 1200): Uint8Array[] {
  return Array.from(
    { length: n },
    (_, i) => makeFrame({ len: 60 + ((i * 277) % (maxLen - 60 + 1)), seq: seq0 + i }),
  );
}

/** fluxcap -rx in `ns` with a receive buffer of `rcvbuf` bytes (FLUXCAP_TUNNEL_RCVBUF). */
function receiver(lab: Lab, ns: string, args: string[], rcvbuf?: string): LabProcess {
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (rcvbuf !== undefined) env.FLUXCAP_TUNNEL_RCVBUF = rcvbuf;
  return lab.spawn(ns, [...fluxcapCommand(), "-rx", ...args], { env });
}

/** Stops `p` (SIGSTOP) and waits until the kernel shows it stopped. */
async function freeze(p: LabProcess): Promise<void> {
  Deno.kill(p.pid, "SIGSTOP");
  const ok = await until(() => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p.pid}/stat`);
      return /^\d+ \(.*\) T /.test(stat);
    } catch {
      return false;
    }
  }, 5000);
  if (!ok) throw new Error(`receiver ${p.pid} did not stop`);
}

function thaw(p: LabProcess): void {
  try {
    Deno.kill(p.pid, "SIGCONT");
  } catch { /* gone */ }
}

/** A VXLAN device `dev` (VNI `vni`) in namespace a sending to B4; the neighbour entry fixed, no ARP. */
async function vxlanTo(p: Pair, dev: string, vni: number): Promise<void> {
  const { lab, a } = p;
  await must(lab, a, ["ip", "neigh", "replace", B4, "lladdr", MAC_B, "dev", "va", "nud", "permanent"]);
  await must(lab, a, [
    "ip",
    "link",
    "add",
    dev,
    "type",
    "vxlan",
    "id",
    String(vni),
    "dstport",
    "4789",
    "remote",
    B4,
    "local",
    A4,
    "dev",
    "va",
  ]);
  await must(lab, a, ["ip", "link", "set", dev, "up"]);
}

/** frames + kernel drops + every writer-side drop of the ring. */
function total(
  ring: string,
): { frames: number; kdrops: number; other: number; kpackets: number; sum: number } {
  const s = snap(ring);
  const other = Object.values(s.writer?.drops ?? {}).reduce((x, y) => x + y, 0);
  return {
    frames: s.frames,
    kdrops: s.kernelDrops,
    other,
    kpackets: s.kernelPackets,
    sum: s.frames + s.kernelDrops + other,
  };
}

/** Every ring frame is one of `sent` (by test sequence number), in order, no duplicates. */
function assertSubsequence(ring: string, sent: Uint8Array[], what: string): number {
  const bySeq = new Map<number, Uint8Array>();
  for (const f of sent) bySeq.set(parseTestFrame(f)!.seq, f);
  const r = RingReader.open(ring, { fromOldest: true, desc: "test" });
  let last = -1;
  let n = 0;
  try {
    for (let guard = 0; guard < 10_000; guard++) {
      const k = r.poll();
      if (k === 0) break;
      for (let i = 0; i < k; i++) {
        const f = r.data.subarray(r.offs[i], r.offs[i] + r.lens[i]);
        const seq = parseTestFrame(f)?.seq ?? -1;
        const want = bySeq.get(seq);
        assert(
          want !== undefined && seq > last,
          `${what}: frame ${n} (seq ${seq}) not expected after ${last}`,
        );
        assertEquals(Array.from(f), Array.from(want!), `${what}: frame seq ${seq} intact`);
        last = seq;
        n++;
      }
      r.release();
    }
  } finally {
    r.close();
  }
  return n;
}

labTest(
  "kernel: VXLAN burst into a stopped receiver: sent = ring + kernel drops + other drops, exactly",
  async () => {
    const p = await pair("kdvx");
    let fx: LabProcess | undefined;
    try {
      const { lab, b, dir } = p;
      await vxlanTo(p, "vx42", 42);
      await vxlanTo(p, "vx9", 9);
      const ring = `${dir}/rx`;
      emptyRing(ring);
      fx = receiver(lab, b, ["-E", `vxlan:${B4}`, "-K", "42", ring], SMALL_RCVBUF);
      await writerUp(ring, fx);
      const warm = frames(5, 0);
      await lab.sendFrames(p.a, "vx42", warm);
      assert(await until(() => snap(ring).frames === 5), "warm-up frames received");
      assertEquals(total(ring).kdrops, 0, "no kernel drops while the receiver keeps up");

      await freeze(fx);
      const burst = frames(300, 1000);
      await lab.sendFrames(p.a, "vx42", burst);
      await lab.sendFrames(p.a, "vx9", frames(20, 5000, 200)); // another VNI, dropped by the kernel too
      thaw(fx);
      // Drops after the last queued datagram: only SO_MEMINFO can see them, within ~100 ms.
      const sent1 = 5 + 300 + 20;
      assert(await until(() => total(ring).sum >= sent1, 5000), `counted: ${JSON.stringify(total(ring))}`);
      const t1 = total(ring);
      assert(t1.kdrops > 0, `the burst overflowed the socket buffer: ${JSON.stringify(t1)}`);
      assert(t1.frames > 5, `some of the burst was queued: ${JSON.stringify(t1)}`);

      // More datagrams after the drops: these carry the drop count (SO_RXQ_OVFL); nothing counted twice.
      // VNI 9 ones are refused by fluxcap (key_mismatch): the "other drops" of the sum.
      const after = frames(5, 3000);
      await lab.sendFrames(p.a, "vx42", after);
      await lab.sendFrames(p.a, "vx9", frames(7, 6000, 200));
      const sent = sent1 + 5 + 7;
      await until(() => total(ring).sum >= sent, 5000);
      await new Promise((r) => setTimeout(r, 300)); // a few more reporting rounds: still exact
      const live = total(ring);
      assertEquals(live.sum, sent, `while running: ${JSON.stringify(live)}`);
      assertEquals(live.kpackets, sent, `kernel packets = every datagram: ${JSON.stringify(live)}`);

      await fx.stop();
      const end = total(ring);
      assertEquals(end.sum, sent, `after exit: ${JSON.stringify(end)}`);
      assertEquals(end.kpackets, sent, "kernel packets after exit");
      const s = snap(ring);
      assertEquals(s.writer?.drops.malformed, 0, "no malformed packets");
      assertEquals(s.writer?.drops.key_mismatch, 7, "the VNI 9 packets sent after the stop refused");
      assertEquals(
        s.frames + (s.writer?.drops.key_mismatch ?? 0) + s.kernelDrops,
        sent,
        "ring frames + VNI 9 refusals + kernel drops",
      );
      const n = assertSubsequence(ring, [...warm, ...burst, ...after], "VXLAN ring");
      assertEquals(n, s.frames, "every ring frame checked");
      console.log(
        `  VXLAN: sent ${sent}, ring ${s.frames}, kernel drops ${s.kernelDrops}, other ${end.other}`,
      );
    } finally {
      if (fx) thaw(fx);
      await p.lab.close();
    }
  },
);

labTest(
  "kernel: GRETAP burst into a stopped receiver (raw socket): sent = ring + kernel drops, exactly",
  async () => {
    const p = await pair("kdgt");
    let fx: LabProcess | undefined;
    try {
      const { lab, a, b, dir } = p;
      await must(lab, a, ["ip", "neigh", "replace", B4, "lladdr", MAC_B, "dev", "va", "nud", "permanent"]);
      const ring = `${dir}/rx`;
      emptyRing(ring);
      fx = receiver(lab, b, ["-E", `gretap:${B4}`, ring], SMALL_RCVBUF);
      await writerUp(ring, fx);
      await freeze(fx);
      const want = frames(400, 0);
      const txRing = `${dir}/tx`;
      fillRing(txRing, want);
      const tx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${B4}`, "--from-oldest", txRing]);
      const st = await accounted(txRing, want.length, tx);
      const sent = st.readers[0].framesSent;
      assertEquals(sent, want.length, "fluxcap -tx sent every frame");
      await tx.stop();
      thaw(fx);
      assert(await until(() => total(ring).sum >= sent, 5000), `counted: ${JSON.stringify(total(ring))}`);
      await new Promise((r) => setTimeout(r, 300));
      const live = total(ring);
      assert(live.kdrops > 0, `the burst overflowed the socket buffer: ${JSON.stringify(live)}`);
      assertEquals(live.sum, sent, `while running: ${JSON.stringify(live)}`);
      assertEquals(live.kpackets, sent, "kernel packets = every datagram");
      await fx.stop();
      const end = total(ring);
      assertEquals(end.sum, sent, `after exit: ${JSON.stringify(end)}`);
      assertEquals(end.other, 0, "no other drops");
      assertEquals(assertSubsequence(ring, want, "GRETAP ring"), end.frames, "every ring frame checked");
      console.log(`  GRETAP: sent ${sent}, ring ${end.frames}, kernel drops ${end.kdrops}`);
    } finally {
      if (fx) thaw(fx);
      await p.lab.close();
    }
  },
);

/** The two records' times in ms since the epoch (float). */
function ringTimes(ring: string): number[] {
  const r = RingReader.open(ring, { fromOldest: true, desc: "test" });
  const out: number[] = [];
  try {
    for (let guard = 0; guard < 100; guard++) {
      const k = r.poll();
      if (k === 0) break;
      for (let i = 0; i < k; i++) out.push(r.secs[i] * 1000 + r.nsecs[i] / 1e6);
      r.release();
    }
  } finally {
    r.close();
  }
  return out;
}

function assertTimes(times: number[], t0: number, t1: number, what: string): void {
  assertEquals(times.length, 2, `${what}: two records`);
  const gap = times[1] - times[0];
  assert(gap >= 40, `${what}: records ${gap.toFixed(1)} ms apart, want ≥ 40 (per-packet times)`);
  for (const t of times) {
    assert(t >= t0 - 1000 && t <= t1 + 1000, `${what}: time ${t} not within a second of [${t0}, ${t1}]`);
  }
}

labTest("kernel: VXLAN records carry each packet's kernel receive time, not the batch's", async () => {
  const p = await pair("tsvx");
  let fx: LabProcess | undefined;
  try {
    const { lab, b, dir } = p;
    await vxlanTo(p, "vx42", 42);
    const ring = `${dir}/rx`;
    emptyRing(ring);
    fx = receiver(lab, b, ["-E", "vxlan", ring]);
    await writerUp(ring, fx);
    await freeze(fx); // both packets wait in the socket and are read in one batch
    const t0 = Date.now();
    await lab.sendFrames(p.a, "vx42", frames(1, 0));
    await new Promise((r) => setTimeout(r, 80));
    await lab.sendFrames(p.a, "vx42", frames(1, 1));
    const t1 = Date.now();
    thaw(fx);
    assert(await until(() => snap(ring).frames === 2), "both frames received");
    await fx.stop();
    assertTimes(ringTimes(ring), t0, t1, "VXLAN");
  } finally {
    if (fx) thaw(fx);
    await p.lab.close();
  }
});

labTest("kernel: GRETAP (raw socket) records carry each packet's kernel receive time", async () => {
  const p = await pair("tsgt");
  let fx: LabProcess | undefined;
  try {
    const { lab, a, b, dir } = p;
    const ring = `${dir}/rx`;
    emptyRing(ring);
    fx = receiver(lab, b, ["-E", "gretap", ring]);
    await writerUp(ring, fx);
    // fluxcap -tx reads a ring this test writes into, one frame now and one 80 ms later
    const txRing = `${dir}/tx`;
    emptyRing(txRing);
    const tx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${B4}`, txRing]);
    assert(await until(() => snap(txRing).readers.length === 1 || tx.exited), "sender attached");
    await freeze(fx);
    const w = RingWriter.open(txRing, { desc: "test" });
    let t0 = 0, t1 = 0;
    try {
      const [f0, f1] = frames(2, 0);
      t0 = Date.now();
      w.write(f0, 0, f0.length);
      w.commit();
      assert(await until(() => snap(txRing).readers[0]?.framesSent === 1, 5000), "first frame sent");
      await new Promise((r) => setTimeout(r, 80));
      w.write(f1, 0, f1.length);
      w.commit();
      assert(await until(() => snap(txRing).readers[0]?.framesSent === 2, 5000), "second frame sent");
      t1 = Date.now();
    } finally {
      w.close();
    }
    thaw(fx);
    assert(await until(() => snap(ring).frames === 2), "both frames received");
    await tx.stop();
    await fx.stop();
    assertTimes(ringTimes(ring), t0, t1, "GRETAP");
  } finally {
    if (fx) thaw(fx);
    await p.lab.close();
  }
});
