/**
 * A capture killed (SIGKILL) and restarted on the same ring: the ring's kernel packet count still
 * covers every frame it holds, its kernel drops and its writer drops (a new socket's counters add to it).
 */
import { assert, assertEquals } from "./assert.ts";
import { Lab, labAvailable, makeFrame } from "./lab.ts";
import { fluxcapCommand } from "./helpers.ts";
import { createRing, snapshotOf } from "../lib/ring/mod.ts";

const reason = await labAvailable(["ip", "tcpreplay"]);
if (reason) console.log(`restart tests skipped: ${reason}`);

Deno.test({
  name: "capture restart after SIGKILL: kernel packets ≥ frames + kernel drops + writer drops",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("rstrt");
    try {
      const gen = await lab.ns("gen");
      const fx = await lab.ns("fx");
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "in0" });
      const ring = `${lab.dir}/r`;
      createRing(ring, { size: 4 << 20 });
      const frames = (n: number, base: number) =>
        Array.from({ length: n }, (_, i) => makeFrame({ len: 60 + (i % 200), seq: base + i }));
      const alive = async () => {
        for (let i = 0; i < 200 && !snapshotOf(ring).writer?.alive; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      for (let round = 0; round < 3; round++) {
        const rx = lab.spawn(fx, [...fluxcapCommand(), "-rx", "-i", "in0", "-f", "vlan 7", ring]);
        await alive();
        await lab.sendFrames(gen, "g0", frames(3000, round * 3000)); // untagged: all filtered
        await lab.sendFrames(gen, "g0", frames(500, 100_000 + round * 500).map((f) => tag7(f)));
        Deno.kill(rx.pid, "SIGKILL"); // no chance to report its last kernel counters
        await rx.done;
      }
      const rx = lab.spawn(fx, [...fluxcapCommand(), "-rx", "-i", "in0", ring]);
      await alive();
      const s = snapshotOf(ring);
      assertEquals((await rx.stop("SIGINT")).code, 0);
      const writerDrops = Object.values(s.writer!.drops).reduce((a, b) => a + b, 0);
      assert(s.frames > 0 && writerDrops > 0, "frames kept and filtered");
      assert(
        s.kernelPackets >= s.frames + s.kernelDrops + writerDrops,
        `kernel packets ${s.kernelPackets} < frames ${s.frames} + kernel drops ${s.kernelDrops} + writer drops ${writerDrops}`,
      );
    } finally {
      await lab.close();
    }
  },
});

/** `f` with an 802.1Q tag of VLAN 7 after its MACs. */
function tag7(f: Uint8Array): Uint8Array {
  const o = new Uint8Array(f.length + 4);
  o.set(f.subarray(0, 12));
  o.set([0x81, 0x00, 0x00, 0x07], 12);
  o.set(f.subarray(12), 16);
  return o;
}
