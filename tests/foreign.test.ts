/**
 * A capture that starts while another interface of its namespace is busy records nothing of it: the
 * packet socket receives nothing until it is bound to its own interface.
 */
import { assertEquals } from "./assert.ts";
import { Lab, labAvailable, makeFrame, writePcap } from "./lab.ts";
import { fluxcapCommand } from "./helpers.ts";
import { createRing, snapshotOf } from "../lib/ring/mod.ts";

const reason = await labAvailable(["ip", "tcpreplay"]);
if (reason) console.log(`foreign-frame tests skipped: ${reason}`);

Deno.test({
  name: "capture start: zero frames of another, busy interface over 20 starts",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("frgn");
    try {
      const gen = await lab.ns("gen");
      const fx = await lab.ns("fx");
      await lab.veth({ ns: gen, name: "g0" }, { ns: fx, name: "rth0" }); // idle
      await lab.veth({ ns: gen, name: "g1" }, { ns: fx, name: "busy0" }); // ~100 kpps
      const pcap = `${lab.dir}/flood.pcap`;
      Deno.writeFileSync(
        pcap,
        writePcap(Array.from({ length: 100 }, (_, i) => makeFrame({ len: 64, seq: i }))),
      );
      // about 100 kpps for up to 40 s (stopped when the starts are done)
      const flood = lab.spawn(gen, [
        "tcpreplay",
        "-q",
        "-i",
        "g1",
        "--pps",
        "100000",
        "--loop",
        "40000",
        pcap,
      ]);
      await new Promise((r) => setTimeout(r, 300));
      const ring = `${lab.dir}/r`;
      createRing(ring, { size: 1 << 20 });
      // the flood is on: busy0 counts its frames
      const rxOf = async () =>
        Number((await lab.run(fx, ["cat", "/sys/class/net/busy0/statistics/rx_packets"])).stdout);
      const before = await rxOf();
      for (let i = 0; i < 20; i++) {
        const r = await lab.run(fx, [...fluxcapCommand(), "-rx", "-i", "rth0", "--seconds", "0.2", ring]);
        assertEquals(r.code, 0, r.stderr);
      }
      const after = await rxOf();
      const busy = after - before;
      await flood.stop("SIGTERM", 2000);
      const s = snapshotOf(ring);
      assertEquals(busy > 100_000, true, `the other interface was busy meanwhile (${busy} frames)`);
      assertEquals(s.frames, 0, "frames recorded from another interface");
      assertEquals(s.writer?.drops.other ?? 0, 0);
    } finally {
      await lab.close();
    }
  },
});
