import { assert, assertEquals, assertThrows } from "../assert.ts";
import { createRing, RingError, RingReader, RingWriter } from "../../lib/ring/mod.ts";
import * as L from "../../lib/ring/layout.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { checkRecord, fillRecord } from "./ring_proc.ts";

function drain(
  r: RingReader,
  sink: (data: Uint8Array, off: number, len: number, seq: number) => void,
): number {
  let total = 0;
  for (;;) {
    const n = r.poll();
    if (n === 0) return total;
    const offs = Array.from(r.offs.subarray(0, n));
    const lens = Array.from(r.lens.subarray(0, n));
    const copies = offs.map((o, i) => r.data.slice(o, o + lens[i]));
    const seqs = offs.map((_, i) => r.seq(i));
    const bad = r.release();
    for (let i = bad; i < n; i++) sink(copies[i], 0, copies[i].length, seqs[i]);
    total += n - bad;
  }
}

Deno.test("ring: records of 1..10000 bytes wrap around intact, every size meeting the end", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 200 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    const buf = new Uint8Array(10000);
    let expectLen = 0;
    let got = 0;
    for (let len = 1; len <= 10000; len++) {
      for (let i = 0; i < len; i++) buf[i] = (len + i * 13) & 255;
      assert(w.write(buf, 0, len, len + 5, 7, 9));
      w.commit();
      expectLen = len;
      got += drain(r, (d, _o, l) => {
        assertEquals(l, expectLen);
        for (let i = 0; i < l; i++) if (d[i] !== ((l + i * 13) & 255)) throw new Error(`byte ${i} of ${l}`);
      });
    }
    // Small records at every 8-byte position near the end of the data area.
    for (let k = 0; k < 60_000; k++) {
      const len = 1 + ((k * 37) % 97);
      for (let i = 0; i < len; i++) buf[i] = (k + i) & 255;
      w.write(buf, 0, len);
      if (k % 7 === 0) {
        w.commit();
        got += drain(r, (d, _o, l, seq) => {
          assertEquals(l, 1 + (((seq - 10000) * 37) % 97));
          for (let i = 0; i < l; i++) assertEquals(d[i], (seq - 10000 + i) & 255);
        });
      }
    }
    w.commit();
    got += drain(r, () => {});
    assertEquals(got, 70_000);
    assertEquals(r.framesLost, 0);
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: a lapped reader loses the oldest frames and counts them exactly", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 256 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    const buf = new Uint8Array(2000);
    let written = 0;
    let read = 0;
    let lastSeq = -1;
    for (let round = 0; round < 300; round++) {
      const burst = (round * 7919) % 400;
      for (let j = 0; j < burst; j++) {
        const len = 12 + ((written * 131) % 1500);
        fillRecord(buf, len, written);
        w.write(buf, 0, len);
        written++;
        if (j % 50 === 0) w.commit();
      }
      w.commit();
      if (round % 4 === 0) {
        read += drain(r, (d, o, l, seq) => {
          assert(checkRecord(d, o, l), `record ${seq} intact`);
          assert(seq > lastSeq, "in order");
          lastSeq = seq;
        });
      }
    }
    read += drain(r, () => {});
    assertEquals(r.framesRead, read);
    assert(r.framesLost > 0, "the test must actually lap the reader");
    assertEquals(r.framesRead + r.framesLost, written, "written = read + lost, exactly");
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: a new reader starts at the live edge; --from-oldest starts at the oldest frame", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 1024 * 1024 });
    const w = RingWriter.open(path);
    const buf = new Uint8Array(100);
    for (let i = 0; i < 50; i++) w.write(buf, 0, 100);
    w.commit();
    const live = RingReader.open(path);
    const old = RingReader.open(path, { fromOldest: true });
    assertEquals(drain(live, () => {}), 0);
    assertEquals(drain(old, () => {}), 50);
    for (let i = 0; i < 5; i++) w.write(buf, 0, 100);
    w.commit();
    assertEquals(drain(live, () => {}), 5);
    assertEquals(drain(old, () => {}), 5);
    live.close();
    old.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: one writer at a time, with a clear error naming the writer's pid", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/cisco`;
    createRing(path, { size: 1024 * 1024 });
    const w = RingWriter.open(path, {}, "cisco");
    assertThrows(
      () => RingWriter.open(path, {}, "cisco"),
      RingError,
      `Ring "cisco" already has a writer (pid ${Deno.pid})`,
    );
    w.close();
    RingWriter.open(path).close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: frames larger than the ring's limit are refused, not written", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: L.MIN_RING_SIZE });
    const w = RingWriter.open(path);
    assert(w.maxFrame >= 9216, "a minimum-size ring still holds a jumbo frame");
    assertEquals(w.write(new Uint8Array(w.maxFrame + 1), 0, w.maxFrame + 1), false);
    assert(w.write(new Uint8Array(9216), 0, 9216));
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: reader slots are freed on close and reused", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 1024 * 1024 });
    const readers = [];
    for (let i = 0; i < L.MAX_READERS; i++) readers.push(RingReader.open(path));
    assertThrows(() => RingReader.open(path), RingError, "no free reader slot");
    const slot = readers[10].slot;
    readers[10].close();
    const again = RingReader.open(path);
    assertEquals(again.slot, slot);
    again.close();
    for (const r of readers) r.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: idle reader sleeps in the kernel and is woken by a commit, not by its timeout", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 1024 * 1024 });
    // The sleeper runs in its own process so this one can write while it sleeps.
    const code = `
      import { RingReader } from "${new URL("../../lib/ring/mod.ts", import.meta.url).href}";
      const r = RingReader.open(${JSON.stringify(path)});
      console.log("ready");
      const t0 = performance.now();
      const woke = r.wait(5000);
      console.log(JSON.stringify({ woke, ms: performance.now() - t0 }));
      r.close();`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("ready")) out += (await reader.read()).value ?? "";
    const w = RingWriter.open(path);
    await new Promise((r) => setTimeout(r, 300)); // let it fall asleep
    w.write(new Uint8Array(64), 0, 64);
    w.commit();
    while (!out.includes("}")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    await child.status;
    const res = JSON.parse(out.slice(out.indexOf("{")));
    assert(res.woke, "woke with data");
    assert(res.ms < 4500, `woken by the commit (after ${res.ms} ms), not by the 5 s timeout`);
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: a batch overwritten while in use is discarded whole and counted as lost", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 256 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    const buf = new Uint8Array(1000);
    let written = 0;
    const put = (k: number) => {
      for (let j = 0; j < k; j++) {
        fillRecord(buf, 100 + (written % 800), written);
        w.write(buf, 0, 100 + (written % 800));
        written++;
      }
      w.commit();
    };
    put(50);
    const n = r.poll(20);
    assertEquals(n, 20);
    put(2000); // the writer laps the reader while the batch is "in use"
    assertEquals(r.release(), 20, "the whole batch is discarded");
    let read = 0;
    for (;;) {
      const k = r.poll();
      if (k === 0) break;
      const ok = Array.from({ length: k }, (_, i) => checkRecord(r.data, r.offs[i], r.lens[i]));
      const bad = r.release();
      for (let i = bad; i < k; i++) assert(ok[i], "only intact records are returned");
      read += k - bad;
    }
    assertEquals(r.framesRead, read);
    assertEquals(r.framesRead + r.framesLost, written, "read + lost = written");
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: a wrap marker followed by cancel() leaves idle readers asleep, not spinning", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 256 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    const ds = w.ring.geometry.dataSize;
    const buf = new Uint8Array(2000);
    // Fill until the next 2000-byte record would not fit before the end of the data area.
    let used = 0;
    while (used + 2 * 2024 < ds) {
      w.write(buf, 0, 2000);
      used += 2024;
    }
    w.commit();
    while (r.poll() > 0) r.release();
    assert(w.reserve(20000) >= 0, "a reservation that wraps");
    w.cancel();
    w.commit();
    assertEquals(r.poll(), 0);
    assertEquals(r.backlog(), 0, "nothing to read after a cancelled reservation");
    const t0 = performance.now();
    assertEquals(r.wait(60), false);
    assert(performance.now() - t0 >= 40, "wait() slept");
    w.write(buf, 0, 100);
    w.commit();
    assertEquals(r.poll(), 1, "the next frame after the cancel is read");
    r.release();
    assertEquals(r.framesLost, 0);
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: use after close throws instead of touching unmapped memory; poll(0) reads nothing", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 256 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    w.write(new Uint8Array(64), 0, 64);
    w.commit();
    assertEquals(r.poll(0), 0);
    assertEquals(r.corrupt, 0);
    assertEquals(r.framesLost, 0);
    assertEquals(r.poll(), 1);
    r.release();
    r.close();
    assertThrows(() => r.poll(), RingError, "closed");
    assertThrows(() => r.release(), RingError, "closed");
    assertThrows(() => r.wait(1), RingError, "closed");
    assertEquals(r.backlog(), 0);
    w.close();
    assertEquals(w.data.length, 0);
    assertThrows(() => w.write(new Uint8Array(64), 0, 64), RingError, "closed");
    w.addKernelStats(1, 1);
    w.commit();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: pollInto copies whole records of every size across the wrap, in pieces, all of them", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 200 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    // the smallest destination it takes: two records of the largest frame
    const dst = new Uint8Array(r.minCopySize);
    assertThrows(() => r.pollInto(new Uint8Array(r.minCopySize - 8)), RangeError, "cannot hold");
    const buf = new Uint8Array(10000);
    let written = 0, read = 0;
    const take = () => {
      for (;;) {
        const n = r.pollInto(dst, 1 + (written % 300));
        if (n === 0) return;
        for (let i = 0; i < n; i++) {
          assertEquals(r.seq(i), read + i, "in order, none skipped");
          assert(checkRecord(dst, r.offs[i], r.lens[i]), `record ${read + i} intact in the copy`);
          assertEquals(r.wires[i], r.lens[i] + 5);
          assertEquals([r.secs[i], r.nsecs[i]], [7, 9]);
        }
        assert(r.secure(), "nothing was overwritten");
        assertEquals(r.release(), 0);
        read += n;
      }
    };
    // every size up to 10000 bytes (each record meets the end of the data area somewhere), then many
    // small ones at every 8-byte position, read in batches of varying sizes
    for (let len = 12; len <= 10000; len += 1 + (len % 13)) {
      fillRecord(buf, len, written++);
      assert(w.write(buf, 0, len, len + 5, 7, 9));
      if (written % 3 === 0) {
        w.commit();
        take();
      }
    }
    for (let k = 0; k < 20_000; k++) {
      const len = 12 + ((k * 37) % 97);
      fillRecord(buf, len, written++);
      w.write(buf, 0, len, len + 5, 7, 9);
      if (k % 11 === 0) {
        w.commit();
        take();
      }
    }
    w.commit();
    take();
    assertEquals(read, written);
    assertEquals([r.framesRead, r.framesLost], [written, 0]);
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring: a pollInto copy overwritten before secure() is discarded and counted lost; after, kept", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/r`;
    createRing(path, { size: 256 * 1024 });
    const w = RingWriter.open(path);
    const r = RingReader.open(path);
    const dst = new Uint8Array(64 << 10);
    const buf = new Uint8Array(1000);
    let written = 0;
    const put = (k: number) => {
      for (let j = 0; j < k; j++) {
        fillRecord(buf, 100 + (written % 800), written);
        w.write(buf, 0, 100 + (written % 800));
        written++;
      }
      w.commit();
    };
    put(50);
    assertEquals(r.pollInto(dst, 20), 20);
    put(2000); // the writer laps the reader while the copy is "in use"
    assertEquals(r.secure(), false, "the copy cannot be trusted");
    assertEquals(r.release(), 20, "the whole batch is discarded");
    // a batch secured before the writer laps it is kept
    const n = r.pollInto(dst, 30);
    assert(n > 0);
    assert(r.secure());
    const ok = Array.from({ length: n }, (_, i) => checkRecord(dst, r.offs[i], r.lens[i]));
    put(2000);
    assertEquals(r.release(), 0, "secured: counted as read");
    assert(ok.every((x) => x), "its copies were intact");
    let read = n;
    for (;;) {
      const k = r.pollInto(dst);
      if (k === 0) break;
      assert(r.secure());
      for (let i = 0; i < k; i++) assert(checkRecord(dst, r.offs[i], r.lens[i]), "only intact records");
      assertEquals(r.release(), 0);
      read += k;
    }
    assertEquals(r.framesRead, read);
    assertEquals(r.framesRead + r.framesLost, written, "read + lost = written");
    r.close();
    w.close();
  } finally {
    rmrf(dir);
  }
});
