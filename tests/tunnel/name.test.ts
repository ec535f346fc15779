/**
 * `-tx -E KIND:NAME`: the destination is a host name, resolved with getaddrinfo inside the sending
 * namespace. `ip netns exec NS` bind-mounts `/etc/netns/NS/hosts` over /etc/hosts, so the test gives the
 * lab's sending namespace its own hosts file (removed in `finally`). An unknown name is one clear line
 * naming it, exit 1.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { fluxcapCommand } from "../helpers.ts";
import { makeFrame } from "../lab.ts";
import { accounted, B6, fillRing, fluxcapIn, hex, labTest, must, pair, tshark } from "./common.ts";

/** A second address of `b`, so that only the hosts file can have pointed fluxcap at it. */
const NAMED4 = "198.18.1.3";

/** Writes `/etc/netns/NS/hosts`; returns a function removing it (and /etc/netns if it made it). */
function hostsFor(ns: string, lines: string[]): () => void {
  const root = "/etc/netns";
  let madeRoot = false;
  try {
    Deno.statSync(root);
  } catch {
    Deno.mkdirSync(root);
    madeRoot = true;
  }
  const dir = `${root}/${ns}`;
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(`${dir}/hosts`, ["127.0.0.1 localhost", ...lines, ""].join("\n"));
  return () => {
    Deno.removeSync(dir, { recursive: true });
    if (madeRoot) {
      try {
        Deno.removeSync(root); // only when empty: another run may have its own entry there
      } catch { /* not empty */ }
    }
  };
}

labTest(
  "name: -tx -E gretap:NAME resolves through the namespace's hosts file; unknown names exit 1",
  async () => {
    const p = await pair("name", { v6: true });
    let unhosts = () => {};
    try {
      const { lab, a, b, dir } = p;
      unhosts = hostsFor(a, [`${NAMED4} sensor.lab`, `${B6} sensor6.lab`]);
      await must(lab, b, ["ip", "addr", "add", `${NAMED4}/24`, "dev", "vb"]);
      const cap = await lab.tcpdump(b, "vb", {
        direction: "in",
        filter: "ip proto 47 or ip6",
        snaplen: 2048,
      });
      const want = Array.from({ length: 4 }, (_, i) => makeFrame({ len: 80 + 50 * i, seq: i }));
      for (const name of ["sensor.lab", "sensor6.lab"]) {
        const ring = `${dir}/${name}`;
        fillRing(ring, want);
        const fx = fluxcapIn(lab, a, ["-tx", "-E", `gretap:${name}`, "-K", "3", "--from-oldest", ring]);
        const s = await accounted(ring, want.length, fx);
        assertEquals(s.readers[0].framesSent, want.length, `sent to ${name}`);
        assertEquals(s.readers[0].desc, `tx gretap:${name}`, "the reader is named after the host as typed");
        await fx.stop();
      }
      await cap.waitForFrames(2 * want.length, 2000);
      await cap.stop();
      const v4 = await tshark(lab, b, cap.file, "ip && gre", ["ip.dst", "gre.key", "data.data"]);
      assertEquals(v4.map((r) => r[0]), want.map(() => NAMED4), "IPv4 destination from the hosts file");
      assertEquals(v4.map((r) => r[2]), want.map((f) => hex(f.subarray(14))), "inner frames to sensor.lab");
      const v6 = await tshark(lab, b, cap.file, "ipv6 && gre", ["ipv6.dst", "gre.key"]);
      assertEquals(v6.map((r) => r[0]), want.map(() => B6), "IPv6 destination from the hosts file");
      assert(v6.every((r) => Number(r[1]) === 3), `key 3 over IPv6: ${JSON.stringify(v6)}`);
      assert(v4.every((r) => Number(r[1]) === 3), "key 3 over IPv4");

      // an unknown name: one line naming it, exit 1, nothing sent
      const ring = `${dir}/sensor.lab`;
      for (const e of ["gretap:nosuch.lab", "vxlan:nosuch.lab"]) {
        const r = await lab.run(a, [...fluxcapCommand(), "-tx", "-E", e, "--from-oldest", ring], {
          timeoutMs: 20_000,
          env: { NO_COLOR: "1" },
        });
        assertEquals(r.code, 1, `-E ${e} exits 1: ${r.stderr}`);
        assertIncludes(r.stderr, 'Cannot resolve host "nosuch.lab"');
        assertEquals(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
        assert(!r.stderr.includes("    at "), "no stack trace");
      }
    } finally {
      try {
        unhosts();
      } finally {
        await p.lab.close();
      }
    }
  },
);
