import { assert, assertEquals } from "../assert.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { makeRingDir, rmrf } from "../helpers.ts";

const PROC = new URL("./ring_proc.ts", import.meta.url).pathname;

interface ReaderReport {
  read: number;
  lost: number;
  corrupt: number;
  disorder: number;
  firstSeq: number;
  lastSeq: number;
  startSeq: number;
}

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PROC, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function report(child: Deno.ChildProcess): Promise<ReaderReport> {
  const out = await child.output();
  assertEquals(out.code, 0, "child exit status");
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

async function waitForReaders(path: string, n: number): Promise<void> {
  const { RingFile } = await import("../../lib/ring/mod.ts");
  const L = await import("../../lib/ring/layout.ts");
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ring = RingFile.open(path);
    let live = 0;
    for (let i = 0; i < L.MAX_READERS; i++) if (ring.isLocked(1 + i)) live++;
    ring.close();
    if (live >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${live} of ${n} readers attached`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (
  const [label, size] of [["ring that holds them all", "512m"], [
    "small ring that laps its readers",
    "256k",
  ]] as const
) {
  Deno.test(`ring, multi-process: 1 writer, 3 readers, a million checksummed records (${label})`, async () => {
    const dir = makeRingDir();
    try {
      const path = `${dir}/r`;
      createRing(path, { size: size === "512m" ? 512 << 20 : 256 << 10 });
      const total = 1_000_000;
      const readers = [0, 1, 2].map(() => spawn(["reader", path, String(total)]));
      await waitForReaders(path, 3);
      const w = await report(spawn(["writer", path, String(total)]));
      assertEquals((w as unknown as { written: number }).written, total);
      let anyLost = 0;
      for (const r of await Promise.all(readers.map(report))) {
        assertEquals(r.corrupt, 0, "no corrupt record returned");
        assertEquals(r.disorder, 0, "records in order");
        assertEquals(r.startSeq, 0, "attached before the first frame");
        if (size === "512m") assertEquals(r.firstSeq, 0);
        assertEquals(r.lastSeq, total - 1);
        assertEquals(r.read + r.lost, total, "read + lost = written, for each reader");
        anyLost += r.lost;
      }
      if (size === "512m") assertEquals(anyLost, 0, "a ring that holds every record loses nothing");
    } finally {
      rmrf(dir);
    }
  });
}

Deno.test("ring, multi-process: readers and writers SIGKILLed midway; the ring stays usable, nothing corrupt", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 512 << 10 });
    const stopAt = 3_000_000; // readers run until the second writer has finished its share
    const steady = spawn(["reader", path, String(stopAt)]);
    const victim = spawn(["reader", path, String(stopAt)]);
    await waitForReaders(path, 2);
    const w1 = spawn(["writer", path, "100000000", "7"]); // would run for minutes: killed midway
    await new Promise((r) => setTimeout(r, 1500));
    victim.kill("SIGKILL");
    await victim.status;
    const late = spawn(["reader", path, String(stopAt)]);
    await new Promise((r) => setTimeout(r, 1000));
    w1.kill("SIGKILL");
    assertEquals((await w1.status).signal, "SIGKILL");
    const { RingFile } = await import("../../lib/ring/mod.ts");
    const L = await import("../../lib/ring/layout.ts");
    const ring = RingFile.open(path);
    const done = Number(Atomics.load(ring.i64, L.H_FRAMES / 8));
    ring.close();
    assert(done > 0 && done < stopAt, `first writer wrote ${done} frames before it was killed`);
    // A new writer carries on where the dead one stopped.
    const w2 = await report(spawn(["writer", path, String(stopAt - done), "9"]));
    assertEquals((w2 as unknown as { written: number }).written, stopAt - done);
    for (const r of [await report(steady), await report(late)]) {
      assertEquals(r.corrupt, 0, "nothing corrupt is ever returned");
      assertEquals(r.disorder, 0);
      assertEquals(r.lastSeq, stopAt - 1);
      assert(r.startSeq >= 0 && r.startSeq <= r.firstSeq);
      assertEquals(
        r.read + r.lost,
        r.lastSeq - r.startSeq + 1,
        "read + lost covers every frame since attach",
      );
    }
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring, multi-process: a reader preempted at random while the writer laps it returns nothing corrupt", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 128 << 10 });
    const total = 3_000_000;
    const reader = spawn(["reader", path, String(total)]);
    await waitForReaders(path, 1);
    const writer = spawn(["writer", path, String(total), "3"]);
    // Stop and continue the reader at sub-millisecond random intervals, so the writer overtakes it in
    // the middle of a batch, for as long as the writer runs (bounded by 30 s). Timers are too coarse
    // for this: the waits spin on performance.now().
    let writerDone = false;
    const writerOut = writer.output().finally(() => writerDone = true);
    let x = 7;
    const rand = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const spin = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) { /* spin */ }
    };
    let stops = 0;
    const end = Date.now() + 30_000;
    while (!writerDone && Date.now() < end) {
      for (let k = 0; k < 20 && !writerDone; k++) {
        spin(0.2 + rand() * 2.8);
        try {
          Deno.kill(reader.pid, "SIGSTOP");
        } catch {
          break; // the reader ended early: report() below says how
        }
        stops++;
        spin(0.5 + rand() * 3.5);
        Deno.kill(reader.pid, "SIGCONT");
      }
      await new Promise((r) => setTimeout(r, 0)); // let the writer's exit be noticed
    }
    await writerOut;
    const r = await report(reader);
    assert(stops > 20, `the reader was preempted (${stops} times)`);
    assertEquals(r.corrupt, 0, "nothing corrupt is ever returned");
    assertEquals(r.disorder, 0);
    assertEquals(r.lastSeq, total - 1);
    assertEquals(r.read + r.lost, r.lastSeq - r.startSeq + 1, "read + lost = written since attach");
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring, multi-process: opening a ring while -cr replaces it with another size never faults", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 4 << 20 });
    const code = `
      import { RingFile } from "${new URL("../../lib/ring/mod.ts", import.meta.url).href}";
      const until = Date.now() + 2500;
      let opened = 0;
      while (Date.now() < until) {
        try {
          const f = RingFile.open(${JSON.stringify(path)});
          f.data[f.data.length - 1] ^= 0; // touch the last byte of the mapping
          f.close();
          opened++;
        } catch { /* between unlink and rename */ }
      }
      console.log(opened);`;
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped" }).spawn();
    const until = Date.now() + 2500;
    let k = 0;
    while (Date.now() < until) createRing(path, { size: k++ % 2 ? 4 << 20 : 128 << 10 });
    const out = await child.output();
    assertEquals(out.signal, null, "no SIGBUS");
    assertEquals(out.code, 0);
    assert(Number(new TextDecoder().decode(out.stdout)) > 10);
  } finally {
    rmrf(dir);
  }
});
