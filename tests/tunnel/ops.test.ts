/**
 * Frame operations around tunnels: `-tx -E vxlan -V 7 -s 100 -d 50` (tagged, cut and sampled before
 * encapsulation, checked on the kernel's VXLAN device) and `-rx -E gretap -Q -f 'vlan 10'` (filtered and
 * stripped after decapsulation). Every frame is accounted for, drops by reason, exactly.
 */
import { assert, assertEquals } from "../assert.ts";
import { makeFrame, type VlanSpec } from "../lab.ts";
import {
  accounted,
  assertFrames,
  B4,
  emptyRing,
  fillRing,
  fluxcapIn,
  hex,
  labTest,
  must,
  pair,
  readRing,
  snap,
  until,
  writerUp,
} from "./common.ts";

/** Sum of every drop counter except `except`. */
function otherDrops(drops: Record<string, number>, except: string): number {
  return Object.entries(drops).filter(([k]) => k !== except).reduce((x, [, v]) => x + v, 0);
}

labTest(
  "ops: -tx -E vxlan -V 7 -s 100 -d 50: tagged, cut, sampled, sampled frames counted exactly",
  async () => {
    const p = await pair("opstx");
    try {
      const { lab, a, b, dir } = p;
      await must(lab, b, [
        "ip",
        "link",
        "add",
        "vx4",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        B4,
        "dev",
        "vb",
      ]);
      await must(lab, b, ["ip", "link", "set", "vx4", "up"]);
      const cap = await lab.tcpdump(b, "vx4", { direction: "in", snaplen: 2048 });
      const n = 200;
      const sent = Array.from({ length: n }, (_, i) =>
        makeFrame({
          len: 60 + ((i * 173) % 1341),
          seq: i,
          src: `02:66:78:00:01:${(i % 16).toString(16).padStart(2, "0")}`,
        }));
      // what -V 7 -s 100 makes of each frame: a tag after the MACs, then at most 100 bytes
      const expect = new Map(sent.map((f) => {
        const t = new Uint8Array(f.length + 4);
        t.set(f.subarray(0, 12));
        t.set([0x81, 0x00, 0x00, 0x07], 12);
        t.set(f.subarray(12), 16);
        return [hex(t.subarray(0, 100)), t.subarray(0, 100)] as const;
      }));
      const ring = `${dir}/tx`;
      fillRing(ring, sent);
      const fx = fluxcapIn(lab, a, [
        "-tx",
        "-E",
        `vxlan:${B4}`,
        "-K",
        "42",
        "-V",
        "7",
        "-s",
        "100",
        "-d",
        "50",
        "--from-oldest",
        ring,
      ]);
      const s = await accounted(ring, n, fx);
      const r = s.readers[0];
      assertEquals(r.framesSent + r.drops.sampled, n, "every frame sent or sampled out");
      assertEquals(otherDrops(r.drops, "sampled"), 0, `no other drop: ${JSON.stringify(r.drops)}`);
      assertEquals(r.framesLost, 0);
      // 50 % of 200 at random: anything but the extremes (each 2^-200 likely) shows sampling works
      assert(r.drops.sampled > 20 && r.drops.sampled < 180, `sampled ${r.drops.sampled} of ${n}`);
      await cap.waitForFrames(r.framesSent, 3000);
      const got = await cap.stop();
      await fx.stop();
      assertEquals(got.length, r.framesSent, "the kernel decapsulated exactly the frames counted as sent");
      const seen = new Set<string>();
      for (const g of got) {
        const h = hex(g);
        assert(expect.has(h), `unexpected frame out of the tunnel: ${h.slice(0, 80)}`);
        assert(!seen.has(h), "no frame twice");
        seen.add(h);
      }
    } finally {
      await p.lab.close();
    }
  },
);

labTest(
  "ops: -rx -E gretap -Q -f 'vlan 10': filtered frames counted exactly, the others stripped",
  async () => {
    const p = await pair("opsrx");
    try {
      const { lab, a, b, dir } = p;
      const rxRing = `${dir}/rx`;
      emptyRing(rxRing);
      const rx = fluxcapIn(lab, b, ["-rx", "-E", "gretap", "-Q", "-f", "vlan 10", rxRing]);
      await writerUp(rxRing, rx);
      const tags = (i: number): VlanSpec | VlanSpec[] | undefined =>
        [
          { tpid: 0x8100, vid: 10 },
          { tpid: 0x8100, vid: 11 },
          undefined,
          [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20 }], // QinQ, outer 10: kept, outer tag stripped
          [{ tpid: 0x88a8, vid: 20 }, { tpid: 0x8100, vid: 10 }], // inner 10 only: filtered
        ][i % 5];
      const n = 60;
      const sent = Array.from(
        { length: n },
        (_, i) => makeFrame({ len: 64 + ((i * 97) % 1300), seq: i, vlan: tags(i) }),
      );
      const strip = (f: Uint8Array) => {
        const t = new Uint8Array(f.length - 4);
        t.set(f.subarray(0, 12));
        t.set(f.subarray(16), 12);
        return t;
      };
      const want = sent.filter((_, i) => i % 5 === 0 || i % 5 === 3).map(strip);
      const ring = `${dir}/tx`;
      fillRing(ring, sent);
      const fx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${B4}`, "--from-oldest", ring]);
      const s = await accounted(ring, n, fx);
      assertEquals(s.readers[0].framesSent, n);
      await until(() => {
        const w = snap(rxRing);
        return w.frames + (w.writer?.drops.filtered ?? 0) >= n;
      }, 10_000);
      await fx.stop();
      await rx.stop();
      const w = snap(rxRing);
      assertEquals(w.writer?.drops.filtered, n - want.length, "frames not on VLAN 10 counted as filtered");
      assertEquals(
        otherDrops(w.writer?.drops ?? {}, "filtered"),
        0,
        `no other drop: ${JSON.stringify(w.writer?.drops)}`,
      );
      assertFrames(readRing(rxRing), want, "VLAN 10 frames, outer tag stripped");
    } finally {
      await p.lab.close();
    }
  },
);
