/**
 * Ring format versions: a version-1 ring (as fluxcap before the packet-broker features made it: eight
 * drop-reason slots, nothing written past them) is opened, written and read with its counters where
 * they are; a version-2 ring keeps reasons 8.. in its extension areas (header 384, slot 192); an unknown
 * version is refused with a one-line message, never misread.
 */
import { assertEquals, assertIncludes, assertThrows } from "../assert.ts";
import { fluxcap, makeRingDir, rmrf } from "../helpers.ts";
import {
  createRing,
  DROP_REASONS,
  DropReason,
  H_VERSION,
  H_WRITER_DROPS,
  H_WRITER_DROPS_EXT,
  H_WRITER_PID,
  ReaderKind,
  RingError,
  RingFile,
  RingReader,
  RingWriter,
  S_DROPS,
  S_DROPS_EXT,
  SLOT_SIZE,
  SLOTS_OFFSET,
  snapshotOf,
} from "../../lib/ring/mod.ts";

/** Writes `bytes` at `at` in the file (as another process would, through the file, not a mapping). */
function poke(path: string, at: number, bytes: Uint8Array): void {
  using f = Deno.openSync(path, { write: true });
  f.seekSync(at, Deno.SeekMode.Start);
  f.writeSync(bytes);
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function u64s(vals: number[]): Uint8Array {
  const b = new Uint8Array(vals.length * 8);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => dv.setBigUint64(i * 8, BigInt(v), true));
  return b;
}

Deno.test("ring version 1: counters read where version 1 put them, the new reasons 0, never misread", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/old`;
    createRing(path, { size: 1 << 20 });
    // What fluxcap with the version-1 format wrote: version 1, writer drops in the eight slots at 256.
    poke(path, H_VERSION, u32(1));
    poke(path, H_WRITER_DROPS, u64s([1, 2, 3, 4, 5, 6, 7, 8]));
    poke(path, H_WRITER_PID, u32(4321)); // its writer has exited
    using reader = RingReader.open(path, { desc: "tx old", kind: ReaderKind.nic });
    const slot = SLOTS_OFFSET + reader.slot * SLOT_SIZE;
    poke(path, slot + S_DROPS, u64s([10, 11, 12, 13, 14, 15, 16, 17]));
    const s = snapshotOf(path);
    const want = {
      filtered: 1,
      sampled: 2,
      oversize: 3,
      send_error: 4,
      malformed: 5,
      key_mismatch: 6,
      reassembly: 7,
      other: 8,
      duplicate: 0,
    };
    assertEquals(s.writer!.drops, want);
    assertEquals(s.readers[0].drops, {
      filtered: 10,
      sampled: 11,
      oversize: 12,
      send_error: 13,
      malformed: 14,
      key_mismatch: 15,
      reassembly: 16,
      other: 17,
      duplicate: 0,
    });
    // The same through the command line.
    const res = await fluxcap(["-io", "--json", "--once", path]);
    assertEquals(res.code, 0, res.stderr);
    const j = JSON.parse(res.stdout.trim().split("\n")[0]);
    assertEquals(j.writer.drops, want);
    assertEquals(j.readers[0].drops.other, 17);
    // A new writer on an old ring counts a duplicate where version 2 keeps it (zero in version 1, so
    // both read it right), and leaves the version alone (a running old binary keeps working).
    using w = RingWriter.open(path, { desc: "rx new" });
    w.addDrop(DropReason.duplicate, 3);
    w.commit();
    assertEquals(snapshotOf(path).writer!.drops.duplicate, 3);
    assertEquals(snapshotOf(path).writer!.drops.other, 8);
    const f = RingFile.open(path);
    assertEquals(f.geometry.version, 1);
    f.close();
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring version 2: created as 2; reasons 8.. in the header at 384 and in each slot at 192", () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/new`;
    createRing(path, { size: 1 << 20 });
    const f = RingFile.open(path);
    try {
      assertEquals(f.geometry.version, 2);
      assertEquals(DROP_REASONS[8], "duplicate");
      using w = RingWriter.open(path);
      w.addDrop(DropReason.duplicate, 5);
      w.addDrop(DropReason.other, 1);
      w.commit();
      using r = RingReader.open(path);
      r.addDrop(DropReason.duplicate, 7);
      r.flush();
      const dv = new DataView(f.u8.buffer, f.u8.byteOffset);
      assertEquals(Number(dv.getBigUint64(H_WRITER_DROPS_EXT, true)), 5);
      assertEquals(Number(dv.getBigUint64(H_WRITER_DROPS + 7 * 8, true)), 1);
      const slot = SLOTS_OFFSET + r.slot * SLOT_SIZE;
      assertEquals(Number(dv.getBigUint64(slot + S_DROPS_EXT, true)), 7);
      assertEquals(snapshotOf(path).readers[0].drops.duplicate, 7);
    } finally {
      f.close();
    }
  } finally {
    rmrf(dir);
  }
});

Deno.test("ring version 3 (or 0) is refused with one line, never read", async () => {
  const dir = makeRingDir();
  try {
    const path = `${dir}/future`;
    createRing(path, { size: 1 << 20 });
    for (const v of [3, 0]) {
      poke(path, H_VERSION, u32(v));
      assertThrows(
        () => snapshotOf(path),
        RingError,
        `unsupported ring version ${v} (this fluxcap reads versions 1 and 2)`,
      );
      const res = await fluxcap(["-io", "--json", "--once", path]);
      assertEquals(res.code, 1);
      assertIncludes(res.stderr, `unsupported ring version ${v}`);
    }
  } finally {
    rmrf(dir);
  }
});
