/**
 * Flow-balanced output groups, black-box: `-tx -i out1,out2,out3 RING` in a lab namespace, sensors
 * capturing beyond each member with tcpdump; the ring written from the test with 10,000 flows both ways
 * (TCP, UDP, ICMP over IPv4 and IPv6, some tagged), fragmented datagrams and non-IP frames. Each flow on
 * exactly one member, both directions together, every fragment with its packet, each member within
 * ±15% of a third; a member's link set down mid-stream: its flows move, nobody else's, and they come
 * back with the link; sent + counted = offered, exactly, on the group and on each member's slot.
 * Then a tunnel group of two GRETAP peers with `--balance addresses`.
 */
import { assert, assertEquals } from "../assert.ts";
import { fluxcap, fluxcapCommand } from "../helpers.ts";
import { Lab, labAvailable } from "../lab.ts";
import { createRing, type RingSnapshot, snapshotOf } from "../../lib/ring/mod.ts";
import { dropsTotal, ringRecords, until, writeRing } from "./common.ts";
import { type FlowFrame, flowTraffic, hex } from "./traffic.ts";

const reason = await labAvailable(["ip", "tcpdump"]);
if (reason) console.log(`group tests skipped: ${reason}`);
const labTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: reason !== null, fn, sanitizeResources: false, sanitizeOps: false });

const FLOWS = 10_000;

/** Writes frames into the ring in paced chunks (about 50,000 frames a second: no veth backlog drops). */
async function offer(ring: string, frames: FlowFrame[], t0: number): Promise<void> {
  for (let i = 0; i < frames.length; i += 1000) {
    writeRing(ring, frames.slice(i, i + 1000).map((f, j) => ({ bytes: f.bytes, sec: t0, nsec: i + j })));
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The group's reader and its members in a snapshot. */
function groupOf(s: RingSnapshot, desc: string) {
  const g = s.readers.find((r) => r.desc === desc && r.kind !== "member");
  if (!g) throw new Error(`no reader "${desc}" on the ring: ${JSON.stringify(s.readers.map((r) => r.desc))}`);
  const members = s.readers.filter((r) => r.kind === "member" && r.group === g.slot);
  return { g, members };
}

/**
 * Namespace `a` (198.18.1.1) and `b` (198.18.1.2 and .3, each received by `fluxcap -rx -E gretap` into a
 * ring of its own), and `fluxcap -tx -E gretap:198.18.1.2,198.18.1.3 ARGS RING` in `a` with both members
 * attached.
 */
async function gretapPeers(lab: Lab, args: string[]) {
  const a = await lab.ns("a");
  const b = await lab.ns("b");
  await lab.veth({ ns: a, name: "va", ip: "198.18.1.1/24" }, {
    ns: b,
    name: "vb",
    ip: ["198.18.1.2/24", "198.18.1.3/24"],
  });
  const [ring, r2, r3] = [`${lab.dir}/ring`, `${lab.dir}/peer2`, `${lab.dir}/peer3`];
  for (const r of [ring, r2, r3]) createRing(r, { size: 16 << 20 });
  const env = { env: { NO_COLOR: "1" } };
  const rx2 = lab.spawn(b, [...fluxcapCommand(), "-rx", "-E", "gretap:198.18.1.2", r2], env);
  const rx3 = lab.spawn(b, [...fluxcapCommand(), "-rx", "-E", "gretap:198.18.1.3", r3], env);
  await until(() => (snapshotOf(r2).writer?.alive && snapshotOf(r3).writer?.alive) === true, 20_000);
  const desc = "tx gretap:198.18.1.2,198.18.1.3";
  const tx = lab.spawn(
    a,
    [...fluxcapCommand(), "-tx", "-E", "gretap:198.18.1.2,198.18.1.3", ...args, ring],
    env,
  );
  await until(
    () => snapshotOf(ring).readers.filter((r) => r.kind === "member").length === 2 || tx.exited,
    20_000,
  );
  assert(!tx.exited, tx.stderr);
  return { a, b, ring, r2, r3, rx2, rx3, tx, desc };
}

/**
 * Namespace `fx` with out1 and out2, veths to s1 and s2 in `sn` where tcpdump listens, and
 * `fluxcap -tx ARGS RING` in `fx` replicating to both (its two member slots attached).
 */
async function twoOutputs(lab: Lab, args: string[]) {
  const fx = await lab.ns("fx");
  const sn = await lab.ns("sn");
  for (const i of [1, 2]) await lab.veth({ ns: fx, name: `out${i}` }, { ns: sn, name: `s${i}` });
  const ring = `${lab.dir}/ring`;
  createRing(ring, { size: 32 << 20 });
  const caps = await Promise.all([1, 2].map((i) => lab.tcpdump(sn, `s${i}`, { direction: "in" })));
  const tx = lab.spawn(fx, [...fluxcapCommand(), "-tx", ...args, ring], { env: { NO_COLOR: "1" } });
  const desc = "tx out1,out2";
  await until(
    () => snapshotOf(ring).readers.filter((r) => r.kind === "member").length === 2 || tx.exited,
    20_000,
  );
  assert(!tx.exited, tx.stderr);
  return { fx, sn, ring, caps, tx, desc };
}

/** Waits until the group's reader accounted for `n` frames (sent + dropped + lost). */
async function accounted(ring: string, desc: string, n: number): Promise<RingSnapshot> {
  let s = snapshotOf(ring);
  const ok = await until(() => {
    s = snapshotOf(ring);
    const g = s.readers.find((r) => r.desc === desc && r.kind !== "member");
    return g !== undefined && g.framesSent + dropsTotal(g.drops) + g.framesLost >= n;
  }, 20_000);
  if (!ok) throw new Error(`group did not account for ${n} frames: ${JSON.stringify(s.readers)}`);
  return s;
}

labTest(
  "group: 3 NIC members, 10,000 flows both ways: whole flows per member, failover and return",
  async () => {
    const lab = await Lab.create("grp");
    try {
      const fx = await lab.ns("fx");
      const sn = await lab.ns("sn");
      for (const i of [1, 2, 3]) await lab.veth({ ns: fx, name: `out${i}` }, { ns: sn, name: `s${i}` });
      const ring = `${lab.dir}/ring`;
      createRing(ring, { size: 32 << 20 });
      const caps = await Promise.all([1, 2, 3].map((i) => lab.tcpdump(sn, `s${i}`, { direction: "in" })));
      const tx = lab.spawn(fx, [...fluxcapCommand(), "-tx", "-v", "-i", "out1,out2,out3", ring], {
        env: { NO_COLOR: "1" },
      });
      const desc = "tx out1,out2,out3";
      await until(
        () => snapshotOf(ring).readers.filter((r) => r.kind === "member").length === 3 || tx.exited,
        20_000,
      );
      assert(!tx.exited, tx.stderr);

      // Phase 1: every flow both ways, fragments, non-IP pairs.
      const p1 = flowTraffic(FLOWS, 1, true);
      // Phase 2 (out2 set down just before): one frame each way per flow.
      const p2 = flowTraffic(FLOWS, 2, false);
      // Phase 3 (out2 back): the same again.
      const p3 = flowTraffic(FLOWS, 3, false);
      const origin = new Map<string, FlowFrame>();
      for (const f of [...p1, ...p2, ...p3]) origin.set(hex(f.bytes), f);
      assertEquals(origin.size, p1.length + p2.length + p3.length, "every frame is unique");

      await offer(ring, p1, 100);
      let s = await accounted(ring, desc, p1.length);
      await lab.run(fx, ["ip", "link", "set", "out2", "down"]);
      await offer(ring, p2, 200); // mid-stream: the group may still try out2 once before it notices
      s = await accounted(ring, desc, p1.length + p2.length);
      await tx.waitFor(/member "out2" left \(link down\)/, { timeoutMs: 5000 });
      await lab.run(fx, ["ip", "link", "set", "out2", "up"]);
      await tx.waitFor(/member "out2" is back/, { timeoutMs: 10_000 });
      await offer(ring, p3, 300);
      const total = p1.length + p2.length + p3.length;
      s = await accounted(ring, desc, total);
      await new Promise((r) => setTimeout(r, 300)); // the last frames reach the sensors' sockets
      const json = await fluxcap(["-io", "--json", "--once", ring]);
      s = snapshotOf(ring);
      const res = await tx.stop("SIGINT", 3000);
      assertEquals(res.code, 0, res.stderr);
      const got = await Promise.all(caps.map((c) => c.stop()));

      assert(
        res.stderr.includes('to an output group of 3, each frame to one member by its flow (on "out1"'),
        res.stderr,
      );

      // Where each frame went (member 0..2), from the sensors.
      const where = new Map<FlowFrame, number>();
      got.forEach((frames, m) => {
        for (const b of frames) {
          const f = origin.get(hex(b));
          assert(f !== undefined, `sensor ${m + 1} got a frame that was not offered`);
          assert(!where.has(f), `a frame went out twice (sensor ${m + 1}, flow ${f.flow})`);
          where.set(f, m);
        }
      });

      // Accounting: the group's slot and each member's.
      const { g, members } = groupOf(s, desc);
      assertEquals(members.length, 3);
      assertEquals(g.framesRead + g.framesLost, total, "the group read everything");
      assertEquals(g.framesSent + dropsTotal(g.drops) + g.framesLost, total, "sent + counted = offered");
      assertEquals(g.framesSent, where.size, "every frame sent arrived (and nothing else)");
      const byDesc = new Map(members.map((m) => [m.desc, m]));
      let memberSent = 0;
      for (let m = 0; m < 3; m++) {
        const slot = byDesc.get(`tx out${m + 1}`)!;
        assertEquals(slot.framesSent, got[m].length, `member out${m + 1}: sent = captured`);
        assertEquals(
          slot.framesRead,
          slot.framesSent + dropsTotal(slot.drops),
          `member out${m + 1}: offered`,
        );
        memberSent += slot.framesSent;
      }
      assertEquals(memberSent, g.framesSent, "members' sent add up to the group's");
      assertEquals(g.drops.send_error, byDesc.get("tx out2")!.drops.send_error, "errors only on out2");
      assertEquals(dropsTotal(g.drops), g.drops.send_error, "no other drop");

      // Phase 1: each flow on one member, both directions together, fragments with their packet.
      const flowAt = (phase: number) => {
        const at = new Map<number, number>();
        for (const [f, m] of where) {
          if (f.phase !== phase || f.packet !== "") continue;
          const was = at.get(f.flow);
          assert(was === undefined || was === m, `phase ${phase}: flow ${f.flow} on members ${was} and ${m}`);
          at.set(f.flow, m);
        }
        return at;
      };
      const a1 = flowAt(1);
      for (const f of p1) assert(where.has(f), `phase 1: flow ${f.flow} dir ${f.dir} was not delivered`);
      const packets = new Map<string, number>();
      for (const f of p1.filter((x) => x.packet !== "")) {
        const m = where.get(f)!;
        const was = packets.get(f.packet);
        assert(was === undefined || was === m, `fragments of ${f.packet} on members ${was} and ${m}`);
        packets.set(f.packet, m);
      }
      assert(packets.size >= 500, `${packets.size} fragmented packets`);
      const load = [0, 1, 2].map((m) => [...a1.values()].filter((x) => x === m).length);
      for (const n of load) {
        assert(Math.abs(n - a1.size / 3) <= 0.15 * (a1.size / 3), `member load ${load} is not within ±15%`);
      }

      // Phase 2: out2's flows moved (or were counted), nobody else's moved.
      const a2 = flowAt(2);
      let moved = 0, lost = 0;
      for (const f of p2) {
        const before = a1.get(f.flow)!;
        const now = where.get(f);
        if (before !== 1) assertEquals(now, before, `flow ${f.flow} (not out2's) stayed on its member`);
        else if (now === undefined) lost++;
        else {
          assert(now !== 1, `flow ${f.flow} still went to out2 while its link was down`);
          moved++;
        }
      }
      assertEquals(lost, g.drops.send_error, "out2's frames not sent are the ones counted");
      assert(moved > 2000, `${moved} frames of out2's flows moved`);
      for (const [flow, m] of a2) if (a1.get(flow) === 1) assert(m === 0 || m === 2);

      // Phase 3: out2 is back: every flow is where it was in phase 1.
      for (const f of p3) assertEquals(where.get(f), a1.get(f.flow), `phase 3: flow ${f.flow} returned`);

      // The watch view's JSON shows the members under the group.
      assertEquals(json.code, 0, json.stderr);
      const j = JSON.parse(json.stdout.trim().split("\n")[0]);
      const gj = j.readers.find((r: { desc: string }) => r.desc === desc);
      const mj = j.readers.filter((r: { kind: string }) => r.kind === "member");
      assertEquals(mj.length, 3);
      for (const m of mj) assertEquals(m.group_slot, gj.slot);
    } finally {
      await lab.close();
    }
  },
);

labTest(
  "group: a tunnel group of two GRETAP peers, --balance addresses: each host pair on one peer",
  async () => {
    const lab = await Lab.create("grpt");
    try {
      const { ring, r2, r3, rx2, rx3, tx, desc } = await gretapPeers(lab, ["--balance", "addresses"]);
      const frames = flowTraffic(2000, 1, true);
      const origin = new Map(frames.map((f) => [hex(f.bytes), f]));
      await offer(ring, frames, 100);
      const s = await accounted(ring, desc, frames.length);
      await until(() => snapshotOf(r2).frames + snapshotOf(r3).frames >= frames.length, 10_000);
      for (const p of [tx, rx2, rx3]) assertEquals((await p.stop("SIGINT", 3000)).code, 0);
      const peer = new Map<string, number>();
      let n = 0;
      for (const [k, path] of [r2, r3].entries()) {
        for (const rec of ringRecords(path)) {
          const f = origin.get(hex(rec.bytes));
          assert(f !== undefined, "the peer got a frame that was not offered");
          const was = peer.get(f.hosts);
          assert(was === undefined || was === k, `host pair ${f.hosts} on both peers`);
          peer.set(f.hosts, k);
          n++;
        }
      }
      assertEquals(n, frames.length, "every frame reached one peer");
      const { g, members } = groupOf(s, desc);
      assertEquals(g.framesSent, frames.length);
      assertEquals(dropsTotal(g.drops), 0);
      assertEquals(
        members.map((m) => m.framesSent).sort(),
        [snapshotOf(r2).frames, snapshotOf(r3).frames].sort(),
      );
      const onFirst = [...peer.values()].filter((k) => k === 0).length;
      assert(
        onFirst > peer.size * 0.35 && onFirst < peer.size * 0.65,
        `${onFirst} of ${peer.size} pairs on peer 1`,
      );
    } finally {
      await lab.close();
    }
  },
);

labTest(
  "group --all: every frame to every member from one process; a member down counts what it missed",
  async () => {
    const lab = await Lab.create("grpall");
    try {
      const { fx, ring, caps, tx, desc } = await twoOutputs(lab, ["-v", "-i", "out1,out2", "--all"]);
      const a = flowTraffic(1000, 1, false); // both members up
      const b = flowTraffic(1000, 2, false); // out2 down
      await offer(ring, a, 100);
      await accounted(ring, desc, a.length);
      await lab.run(fx, ["ip", "link", "set", "out2", "down"]);
      await tx.waitFor(/member "out2" left \(link down\)/, { timeoutMs: 5000 });
      await offer(ring, b, 200);
      await accounted(ring, desc, a.length + b.length);
      await new Promise((r) => setTimeout(r, 300));
      const s = snapshotOf(ring);
      const res = await tx.stop("SIGINT", 3000);
      assertEquals(res.code, 0, res.stderr);
      assert(res.stderr.includes("to an output group of 2, every frame to every member"), res.stderr);
      const [got1, got2] = await Promise.all(caps.map((c) => c.stop()));
      // out1 has everything, out2 the first part only, byte-exact
      assertEquals(got1.map(hex).sort(), [...a, ...b].map((f) => hex(f.bytes)).sort(), "out1: every frame");
      assertEquals(
        got2.map(hex).sort(),
        a.map((f) => hex(f.bytes)).sort(),
        "out2: the frames before it went down",
      );
      const { g, members } = groupOf(s, desc);
      assertEquals(g.framesSent, a.length + b.length, "the group: each frame sent (by at least one member)");
      const [m1, m2] = members.sort((x, y) => x.desc.localeCompare(y.desc));
      assertEquals([m1.framesSent, m1.framesRead], [a.length + b.length, a.length + b.length], "out1's slot");
      // out2: sent what it received; what it missed while down is counted, not lost silently
      assertEquals(m2.framesSent, a.length, "out2 sent");
      assertEquals(
        m2.framesSent + dropsTotal(m2.drops),
        a.length + b.length,
        "out2: sent + counted = offered",
      );
    } finally {
      await lab.close();
    }
  },
);

labTest("-tx -i out1 -i out2 RING replicates every frame to both, like -i out1,out2 --all", async () => {
  const lab = await Lab.create("grprep");
  try {
    const { ring, caps, tx, desc } = await twoOutputs(lab, ["-i", "out1", "-i", "out2"]);
    const a = flowTraffic(1000, 3, false);
    await offer(ring, a, 100);
    await accounted(ring, desc, a.length);
    await new Promise((r) => setTimeout(r, 300));
    const s = snapshotOf(ring);
    const res = await tx.stop("SIGINT", 3000);
    assertEquals(res.code, 0, res.stderr);
    const [got1, got2] = await Promise.all(caps.map((c) => c.stop()));
    const want = a.map((f) => hex(f.bytes)).sort();
    assertEquals(got1.map(hex).sort(), want, "out1: every frame, byte-exact");
    assertEquals(got2.map(hex).sort(), want, "out2: every frame, byte-exact");
    const { members } = groupOf(s, desc);
    for (const m of members) assertEquals(m.framesSent, a.length, `${m.desc} sent`);
  } finally {
    await lab.close();
  }
});

labTest(
  "group: a GRETAP peer that stops answering ARP leaves (only its flows move) and comes back",
  async () => {
    const lab = await Lab.create("grpa");
    try {
      const { a, b, ring, r2, r3, rx2, rx3, tx, desc } = await gretapPeers(lab, []);
      const [p1, p2, p3] = [1, 2, 3].map((phase) => flowTraffic(1000, phase, false));
      const origin = new Map<string, FlowFrame>();
      for (const f of [...p1, ...p2, ...p3]) origin.set(hex(f.bytes), f);
      const peerOf = () => { // where each frame arrived so far: 0 = .2, 1 = .3
        const at = new Map<FlowFrame, number>();
        for (const [k, path] of [r2, r3].entries()) {
          for (const rec of ringRecords(path)) {
            const f = origin.get(hex(rec.bytes));
            assert(f !== undefined, "a peer got a frame that was not offered");
            assert(!at.has(f), `frame of flow ${f.flow} arrived twice`);
            at.set(f, k);
          }
        }
        return at;
      };

      await offer(ring, p1, 100);
      await accounted(ring, desc, p1.length);
      await until(() => peerOf().size === p1.length, 10_000);
      // The host of .3 goes away: nothing answers ARP for it. (Its neighbour entry is flushed rather
      // than left to expire, which takes the kernel 15–45 s.)
      await lab.run(b, ["ip", "addr", "del", "198.18.1.3/24", "dev", "vb"]);
      await lab.run(a, ["ip", "neigh", "flush", "dev", "va"]);
      await offer(ring, p2.slice(0, 100), 200); // frames towards .3 make the kernel ask
      await tx.waitFor(/member "198\.18\.1\.3" left \(next hop 198\.18\.1\.3 does not answer ARP\)/, {
        timeoutMs: 10_000,
      });
      await offer(ring, p2.slice(100), 201);
      await accounted(ring, desc, p1.length + p2.length);
      await lab.run(b, ["ip", "addr", "add", "198.18.1.3/24", "dev", "vb"]);
      await tx.waitFor(/member "198\.18\.1\.3" is back/, { timeoutMs: 10_000 });
      await offer(ring, p3, 300);
      const total = p1.length + p2.length + p3.length;
      const s = await accounted(ring, desc, total);
      await new Promise((r) => setTimeout(r, 500)); // the last packets reach the peers
      const res = await tx.stop("SIGINT", 3000);
      assertEquals(res.code, 0, res.stderr);
      for (const p of [rx2, rx3]) assertEquals((await p.stop("SIGINT", 3000)).code, 0);
      assert(res.stderr.includes("next hop 198.18.1.3 answers ARP again"), res.stderr);

      const at = peerOf();
      const flowAt = (frames: FlowFrame[]) =>
        new Map(frames.filter((f) => at.has(f)).map((f) => [f.flow, at.get(f)!]));
      const [a1, a3] = [flowAt(p1), flowAt(p3)];
      assertEquals(a1.size, 1000, "phase 1: every flow delivered");
      const onThree = [...a1.values()].filter((k) => k === 1).length;
      assert(onThree > 300 && onThree < 700, `${onThree} of 1000 flows on .3`);
      // While .3 is out (after the first 100 frames that made the kernel ask): every frame reaches .2,
      // and the flows that were on .2 stayed there.
      for (const f of p2.slice(100)) assertEquals(at.get(f), 0, `phase 2: flow ${f.flow} went to .2`);
      // Back: every flow where it was.
      for (const f of p3) assertEquals(a3.get(f.flow), a1.get(f.flow), `phase 3: flow ${f.flow} returned`);
      // Every frame sent or counted; what the group counted sent and did not arrive was sent to .3
      // while the kernel was still asking (before fluxcap could know), never to .2.
      const { g, members } = groupOf(s, desc);
      assertEquals(g.framesSent + dropsTotal(g.drops) + g.framesLost, total, "sent + counted = offered");
      assertEquals(dropsTotal(g.drops), g.drops.send_error, "only send errors");
      const m2 = members.find((m) => m.desc === "tx gretap:198.18.1.2")!;
      assertEquals(m2.framesSent, [...at.values()].filter((k) => k === 0).length, ".2: sent = received");
      assert(g.framesSent - at.size <= 100, `${g.framesSent - at.size} frames sent into the void`);
    } finally {
      await lab.close();
    }
  },
);
