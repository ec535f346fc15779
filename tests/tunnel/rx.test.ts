/**
 * Tunnel receive: VXLAN over IPv6 from the kernel's own VXLAN device, byte for byte; `-i IF` on VXLAN
 * and GRETAP receive takes only the packets that arrive on IF (two veth pairs into one namespace, one
 * receiver per interface, each ring holds exactly its own interface's frames).
 */
import { assertEquals } from "../assert.ts";
import { makeFrame } from "../lab.ts";
import {
  A4,
  A6,
  accounted,
  assertFrames,
  B4,
  B6,
  emptyRing,
  fillRing,
  fluxcapIn,
  labTest,
  must,
  pair,
  readRing,
  snap,
  until,
  writerUp,
} from "./common.ts";

function frames(n: number, seq0: number, maxLen = 1400): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const len = 60 + ((i * 331) % (maxLen - 60 + 1));
    return makeFrame({ len, seq: seq0 + i, vlan: i % 5 === 2 ? { tpid: 0x8100, vid: 30 + i } : undefined });
  });
}

function vxlanDev(dev: string, vni: number, remote: string, local: string, via: string): string[] {
  return [
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
    remote,
    "local",
    local,
    "dev",
    via,
  ];
}

labTest(
  "rx: the kernel's VXLAN device sends over IPv6, fluxcap -rx -E vxlan:[IPv6] receives byte for byte",
  async () => {
    const p = await pair("vxrx6", { v6: true });
    try {
      const { lab, a, b, dir } = p;
      await must(lab, a, vxlanDev("vx6", 42, B6, A6, "va"));
      await must(lab, a, vxlanDev("vx9", 9, B6, A6, "va"));
      for (const d of ["vx6", "vx9"]) await must(lab, a, ["ip", "link", "set", d, "up"]);
      const ring = `${dir}/rx6`;
      emptyRing(ring);
      const fx = fluxcapIn(lab, b, ["-rx", "-E", `vxlan:[${B6}]:4789`, "-K", "42", ring]);
      await writerUp(ring, fx);
      const want = frames(30, 600);
      await lab.sendFrames(a, "vx6", want);
      await lab.sendFrames(a, "vx9", frames(3, 700)); // another VNI: counted, not stored
      await until(() => {
        const s = snap(ring);
        return s.frames >= want.length && (s.writer?.drops.key_mismatch ?? 0) >= 3;
      });
      await fx.stop();
      const s = snap(ring);
      assertEquals(s.writer?.drops.key_mismatch, 3, "VNI 9 over IPv6 counted as key_mismatch");
      assertEquals(s.writer?.drops.malformed, 0, "IPv6 VXLAN packets are well formed");
      assertFrames(readRing(ring), want, "ring after -rx -E vxlan over IPv6");
    } finally {
      await p.lab.close();
    }
  },
);

labTest("rx: -i restricts -rx -E vxlan and -rx -E gretap to packets arriving on that interface", async () => {
  const p = await pair("rxif");
  try {
    const { lab, a, b, dir } = p;
    // a second link between the same namespaces: va2 (198.18.2.1) — vb2 (198.18.2.2)
    const A42 = "198.18.2.1", B42 = "198.18.2.2";
    await lab.veth(
      { ns: a, name: "va2", mac: "02:fc:00:00:02:0a", ip: `${A42}/24` },
      { ns: b, name: "vb2", mac: "02:fc:00:00:02:0b", ip: `${B42}/24` },
    );
    const rings: Record<string, string[]> = {
      vx1: ["-E", "vxlan", "-i", "vb"],
      vx2: ["-E", "vxlan", "-i", "vb2"],
      gt1: ["-E", "gretap", "-i", "vb"],
      gt2: ["-E", "gretap", "-i", "vb2"],
    };
    const rx = Object.entries(rings).map(([name, args]) => {
      const ring = `${dir}/${name}`;
      emptyRing(ring);
      return { ring, name, p: fluxcapIn(lab, b, ["-rx", ...args, ring]) };
    });
    for (const r of rx) await writerUp(r.ring, r.p);
    const want: Record<string, Uint8Array[]> = {
      vx1: frames(12, 100),
      vx2: frames(9, 200),
      gt1: frames(11, 300),
      gt2: frames(8, 400),
    };
    // VXLAN from the kernel's devices, one per link (VNI 42 over vb, 43 over vb2; the receivers take any)
    await must(lab, a, vxlanDev("vxa", 42, B4, A4, "va"));
    await must(lab, a, vxlanDev("vxb", 43, B42, A42, "va2"));
    for (const d of ["vxa", "vxb"]) await must(lab, a, ["ip", "link", "set", d, "up"]);
    await lab.sendFrames(a, "vxa", want.vx1);
    await lab.sendFrames(a, "vxb", want.vx2);
    // GRETAP from fluxcap, one sender per link
    const tx = [["gt1", B4], ["gt2", B42]].map(([name, dst]) => {
      const ring = `${dir}/tx-${name}`;
      fillRing(ring, want[name]);
      return {
        ring,
        n: want[name].length,
        p: fluxcapIn(lab, a, ["-tx", "-E", `gretap:${dst}`, "--from-oldest", ring]),
      };
    });
    for (const t of tx) {
      const s = await accounted(t.ring, t.n, t.p);
      assertEquals(s.readers[0].framesSent, t.n);
    }
    await until(() => rx.every((r) => snap(r.ring).frames >= want[r.name].length), 10_000);
    for (const t of tx) await t.p.stop();
    for (const r of rx) await r.p.stop();
    for (const r of rx) {
      assertFrames(
        readRing(r.ring),
        want[r.name],
        `${rings[r.name].join(" ")}: only its interface's packets`,
      );
    }
  } finally {
    await p.lab.close();
  }
});

labTest(
  "rx: VXLAN with bad UDP checksums and failed reassemblies is counted, never lost silently",
  async () => {
    const p = await pair("vxbad");
    try {
      const { lab, a, b, dir } = p;
      await must(lab, b, ["sysctl", "-q", "-w", "net.ipv4.ipfrag_time=1"]);
      const ring = `${dir}/r`;
      emptyRing(ring);
      const rx = fluxcapIn(lab, b, ["-rx", "-E", "vxlan", ring]);
      await writerUp(ring, rx);
      const py = `
from scapy.all import IP, UDP, Raw, send, fragment, conf
conf.verb = 0
inner = bytes.fromhex("02fc000000010202000000020800") + bytes(range(256)) * 4
vx = bytes([8, 0, 0, 0, 0, 0, 1, 0]) + inner
dst = "${B4}"
good = [IP(dst=dst, id=100 + i) / UDP(sport=5000 + i, dport=4789) / Raw(vx) for i in range(5)]
bad = [IP(dst=dst, id=200 + i) / UDP(sport=6000 + i, dport=4789, chksum=0x1234) / Raw(vx) for i in range(7)]
incomplete = []
for i in range(3):  # the last fragment never comes
    incomplete += fragment(IP(dst=dst, id=300 + i) / UDP(sport=7000 + i, dport=4789) / Raw(vx), fragsize=400)[:-1]
overlapping = []
for i in range(2):  # a second copy of the first fragment's range, shifted: an overlap
    fr = fragment(IP(dst=dst, id=400 + i) / UDP(sport=8000 + i, dport=4789) / Raw(vx), fragsize=400)
    twin = fr[1].copy()
    twin.frag = fr[1].frag - 10
    overlapping += [fr[0], twin] + fr[1:]
send(good + bad + incomplete + overlapping)
`;
      await must(lab, a, ["/usr/bin/python3", "-c", py]);
      // the kernel gives up the incomplete ones after ipfrag_time (1 s)
      await until(() => {
        const s = snap(ring);
        return s.frames === 5 && s.kernelDrops === 7 && s.writer!.drops.reassembly === 7;
      }, 8_000);
      const s = snap(ring);
      assertEquals(
        [s.frames, s.kernelDrops, s.writer!.drops.reassembly],
        [5, 7, 7],
        // an overlap kills its reassembly, and the fragments after it start another that times out: the
        // kernel counts (and fluxcap reports) two failed reassemblies for each of those packets
        "5 decapsulated, 7 bad checksums as kernel drops, 3 timed out + 2 × 2 overlapping reassemblies",
      );
      assertEquals((await rx.stop("SIGINT")).code, 0);
    } finally {
      await p.lab.close();
    }
  },
);
