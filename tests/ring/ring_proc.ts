/**
 * A separate process for the multi-process ring tests: `writer` appends checksummed records,
 * `reader` verifies every record it gets and reports counts as one JSON line.
 *
 *   deno run -A ring_proc.ts writer RING COUNT [SEED]
 *   deno run -A ring_proc.ts reader RING STOP_AT_FRAMES [--from-oldest]
 */
import { RingFile, RingReader, RingWriter } from "../../lib/ring/mod.ts";
import * as L from "../../lib/ring/layout.ts";

/** Fills `buf[0, len)` with a record whose content is derived from `id` and ends with a checksum. */
export function fillRecord(buf: Uint8Array, len: number, id: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  dv.setUint32(0, len, true);
  dv.setUint32(4, id, true);
  let sum = 0x811c9dc5;
  for (let i = 8; i < len - 4; i++) {
    const b = (id * 31 + i * 7) & 255;
    buf[i] = b;
    sum = Math.imul(sum ^ b, 16777619);
  }
  dv.setUint32(len - 4, sum >>> 0, true);
}

/** True if `buf[off, off+len)` is an intact record made by {@link fillRecord}. */
export function checkRecord(buf: Uint8Array, off: number, len: number): boolean {
  if (len < 12) return false;
  const dv = new DataView(buf.buffer, buf.byteOffset + off, len);
  if (dv.getUint32(0, true) !== len) return false;
  const id = dv.getUint32(4, true);
  let sum = 0x811c9dc5;
  for (let i = 8; i < len - 4; i++) {
    const b = buf[off + i];
    if (b !== ((id * 31 + i * 7) & 255)) return false;
    sum = Math.imul(sum ^ b, 16777619);
  }
  return dv.getUint32(len - 4, true) === sum >>> 0;
}

async function writer(path: string, count: number, seed: number): Promise<void> {
  const w = RingWriter.open(path, { desc: "test writer" });
  const buf = new Uint8Array(2048);
  let x = seed >>> 0 || 1;
  let id = 0;
  while (id < count) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const batch = 1 + ((x >>> 0) % 64);
    for (let j = 0; j < batch && id < count; j++, id++) {
      const len = 12 + ((id * 2654435761) >>> 0) % 500;
      fillRecord(buf, len, id);
      w.write(buf, 0, len);
    }
    w.commit();
    if ((id & 0xffff) < batch) await new Promise((r) => setTimeout(r, 0));
  }
  w.close();
  console.log(JSON.stringify({ written: count }));
}

function reader(path: string, stopAt: number, fromOldest: boolean): void {
  const r = RingReader.open(path, { desc: "test reader", fromOldest });
  const ring = RingFile.open(path);
  const ok = new Uint8Array(r.maxBatch);
  let corrupt = 0;
  let disorder = 0;
  let lastSeq = -1;
  let firstSeq = -1;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const n = r.poll();
    if (n === 0) {
      const frames = Number(Atomics.load(ring.i64, L.H_FRAMES / 8));
      if (frames >= stopAt && r.backlog() === 0) break;
      if (Date.now() > deadline) break;
      r.wait(50);
      continue;
    }
    for (let i = 0; i < n; i++) ok[i] = checkRecord(r.data, r.offs[i], r.lens[i]) ? 1 : 0;
    const bad = r.release();
    for (let i = bad; i < n; i++) {
      if (!ok[i]) corrupt++;
      const s = r.seq(i);
      if (s <= lastSeq) disorder++;
      if (firstSeq < 0) firstSeq = s;
      lastSeq = s;
    }
  }
  console.log(JSON.stringify({
    read: r.framesRead,
    lost: r.framesLost,
    corrupt,
    disorder,
    firstSeq,
    lastSeq,
    startSeq: r.startSeq,
    ringCorrupt: r.corrupt,
  }));
  r.close();
  ring.close();
}

if (import.meta.main) {
  const [mode, path, n, extra] = Deno.args;
  if (mode === "writer") await writer(path, Number(n), Number(extra ?? 1));
  else if (mode === "reader") reader(path, Number(n), extra === "--from-oldest");
  else throw new Error(`unknown mode ${mode}`);
}
