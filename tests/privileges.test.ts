/**
 * Without CAP_NET_RAW (root with the capability dropped from its bounding set), capture and transmit
 * fail with one line that says what is missing. Run inside a lab namespace.
 */
import { assertEquals, assertIncludes } from "./assert.ts";
import { Lab, labAvailable } from "./lab.ts";
import { fluxcapCommand } from "./helpers.ts";
import { createRing } from "../lib/ring/mod.ts";

const reason = await labAvailable(["ip", "setpriv"]);
if (reason) console.log(`privilege tests skipped: ${reason}`);

Deno.test({
  name: "privileges: a packet socket refused (EPERM) says to run as root or grant CAP_NET_RAW",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create("perm");
    try {
      const fx = await lab.ns("fx");
      const peer = await lab.ns("peer");
      await lab.veth({ ns: fx, name: "v0" }, { ns: peer, name: "v1" });
      const ring = `${lab.dir}/r`;
      createRing(ring, { size: 1 << 20 });
      const drop = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--"];
      for (const args of [["-rx", "-i", "v0", ring], ["-tx", "-i", "v0", ring]]) {
        const r = await lab.run(fx, [...drop, ...fluxcapCommand(), ...args]);
        assertEquals(r.code, 1, r.stderr);
        assertIncludes(r.stderr, 'Cannot open packet socket on "v0": Operation not permitted (EPERM)');
        assertIncludes(r.stderr, "run as root or grant CAP_NET_RAW");
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      }
    } finally {
      await lab.close();
    }
  },
});
