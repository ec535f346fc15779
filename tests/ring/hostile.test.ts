/**
 * Rings under mistakes and attack, through the command line: recreating a ring in use, truncating
 * it, damaging its tail while traffic flows, readers killed asleep. No network: writers replay a
 * capture file, readers write capture files.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { pcapOf, snap, spawnFluxcap, timedFrames, until } from "../pcap/common.ts";
import { createRing, RingFile, snapshot } from "../../lib/ring/mod.ts";
import * as L from "../../lib/ring/layout.ts";
import { fluxcap } from "../helpers.ts";

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });

/** A capture file that replays for a while at its recorded pace (`count` frames, `gapMs` apart). */
function pacedFile(dir: string, count: number, gapMs: number): string {
  const frames = timedFrames(count).map((f, i) => ({
    ...f,
    sec: 1_700_000_000 + Math.floor((i * gapMs) / 1000),
    nsec: ((i * gapMs) % 1000) * 1_000_000,
  }));
  const file = `${dir}/paced.pcap`;
  Deno.writeFileSync(file, pcapOf(frames));
  return file;
}

const sleepers = (path: string) => {
  const r = RingFile.openReadOnly(path);
  try {
    return Atomics.load(r.i32, L.H_SLEEPERS / 4);
  } finally {
    r.close();
  }
};

t("ring: -cr over a ring in use is refused, naming its users and pids; --force replaces it", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    const rx = spawnFluxcap(["-rx", "--read", pacedFile(dir, 50, 200), "--pace", ring]);
    const tx = spawnFluxcap(["-tx", "-w", `${dir}/out.pcap`, ring]);
    await until(() => snap(ring).writer?.alive === true && snap(ring).readers.length === 1, "attached");
    const r = await fluxcap(["-cr", "-s", "1m", ring]);
    assertEquals(r.code, 1, r.stderr);
    assertIncludes(r.stderr, `Cannot recreate ring "${ring}": in use by rx file`);
    assertIncludes(r.stderr, `(pid ${rx.child.pid})`);
    assertIncludes(r.stderr, `tx file ${dir}/out.pcap (pid ${tx.child.pid})`);
    assertEquals(r.stderr.trim().split("\n").length, 1);
    assertEquals(snap(ring).readers.length, 1, "the ring in use is untouched");
    const k = await fluxcap(["-cr", "-k", "-s", "1m", ring]);
    assertEquals(k.code, 0, "-k keeps it, in use or not");
    const f = await fluxcap(["-cr", "--force", "-s", "1m", ring]);
    assertEquals(f.code, 0, f.stderr);
    assertEquals(snap(ring).readers.length, 0, "a new ring under the name");
    rx.child.kill("SIGINT");
    tx.child.kill("SIGINT");
    await rx.done;
    await tx.done;
  } finally {
    rmrf(dir);
  }
});

t("ring: a ring shrunk under an idle reader ends it with one line at its next check", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    const tx = spawnFluxcap(["-tx", "-w", `${dir}/out.pcap`, ring]);
    await until(() => snap(ring).readers.length === 1, "reader attached");
    // the header stays (an idle reader touches only it); the data area is cut away
    Deno.truncateSync(ring, 64 << 10);
    const r = await tx.done;
    assertEquals(r.code, 1, r.stderr);
    assertIncludes(r.stderr, `Ring "${ring}" was truncated to 65536 bytes while in use`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  } finally {
    rmrf(dir);
  }
});

t(
  "ring: truncated to nothing under idle processes: each ends with one line, no SIGBUS; -io reports it",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 1 << 20 });
      const rx = spawnFluxcap(["-rx", "--read", pacedFile(dir, 50, 300), "--pace", ring]); // a frame each 300 ms
      const tx = spawnFluxcap(["-tx", "-w", `${dir}/out.pcap`, ring]);
      const io = spawnFluxcap(["-io", "--json", ring]);
      await until(() => snap(ring).writer?.alive === true && snap(ring).readers.length === 1, "attached");
      await new Promise((r) => setTimeout(r, 400));
      Deno.truncateSync(ring, 0); // the header too: any touch of the mapping would be SIGBUS
      for (const [what, p] of [["rx", rx], ["tx", tx]] as const) {
        const r = await p.done;
        assertEquals(r.code, 1, `${what}: ${r.stderr}`);
        const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith('fluxcap -rx: "'));
        assertEquals(lines, [
          `Ring "${ring}" was truncated to 0 bytes while in use (it had ${1 << 20}): ` +
          "stopping. Never truncate, rewrite or shrink a ring in use; recreate it with fluxcap -cr",
        ], what);
      }
      await new Promise((r) => setTimeout(r, 1500)); // -io samples once a second
      io.child.kill("SIGINT");
      const w = await io.done;
      assertEquals(w.code, 0, w.stderr);
      const last = JSON.parse(new TextDecoder().decode(w.stdout).trim().split("\n").at(-1)!);
      assertEquals(last.gone, true, JSON.stringify(last));
      assert(/truncated/.test(last.reason), JSON.stringify(last));
    } finally {
      rmrf(dir);
    }
  },
);

t(
  "ring: a tail damaged while traffic flows: the reader resynchronises and counts what it skipped",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 64 << 20 }); // large: the writer does not reclaim (and repair) the tail soon
      const frames = 400;
      // the reader first: it starts at the live edge and is owed every frame written after it attached
      const tx = spawnFluxcap(["-tx", "-w", `${dir}/out.pcap`, ring]);
      await until(() => snap(ring).readers.length === 1, "reader attached", 20_000);
      const rx = spawnFluxcap(["-rx", "--read", pacedFile(dir, frames, 5), "--pace", ring]);
      await until(() => snap(ring).frames > 50, "traffic flowing", 20_000);
      const m = RingFile.open(ring); // kept open: a damaged header is refused at open, not while mapped
      const look = () => snapshot(m);
      Atomics.add(m.i64, L.H_TAIL / 8, 1n << 48n); // the attacker's write
      const sentAt = look().readers[0].framesSent;
      await until(() => look().readers[0]?.framesSent > sentAt + 50, "the reader goes on sending", 20_000);
      assertEquals((await rx.done).code, 0);
      await until(() => look().readers[0].lagBytes === 0, "drained");
      const s = look();
      m.close();
      const r = s.readers[0];
      assertEquals(s.frames, frames);
      const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
      assertEquals(r.framesSent + r.framesLost + dropped, frames, "sent + lost + dropped = written");
      tx.child.kill("SIGINT");
      assertEquals((await tx.done).code, 0);
    } finally {
      rmrf(dir);
    }
  },
);

t("ring: readers SIGKILLed while asleep: the writer repairs the sleeper count", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    const readers = [0, 1, 2].map((i) => spawnFluxcap(["-tx", "-w", `${dir}/out${i}.pcap`, ring]));
    await until(() => sleepers(ring) === 3, "three readers asleep");
    for (const r of readers) r.child.kill("SIGKILL");
    for (const r of readers) await r.done;
    assertEquals(sleepers(ring), 3, "dead readers still counted as sleeping");
    const rx = spawnFluxcap(["-rx", "--read", pacedFile(dir, 40, 50), "--pace", ring]);
    await until(() => sleepers(ring) === 0, "sleeper count repaired");
    assert(snap(ring).writer?.alive, "while the writer runs");
    rx.child.kill("SIGINT");
    await rx.done;
  } finally {
    rmrf(dir);
  }
});
