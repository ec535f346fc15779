/**
 * Benchmark child process for the ring: `writer RING COUNT LEN` appends COUNT records of LEN bytes as
 * fast as it can; `reader RING COUNT` reads until it has seen COUNT frames (read + lost) and prints
 * {read, lost, bytes, ms} measured from its first to its last record.
 */
import { RingReader, RingWriter } from "../lib/ring/mod.ts";

const [mode, path, countText, lenText] = Deno.args;
const count = Number(countText);
if (mode === "writer") {
  const len = Number(lenText);
  const w = RingWriter.open(path, { desc: "bench writer" });
  const frame = new Uint8Array(len);
  for (let i = 0; i < len; i++) frame[i] = i & 255;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    w.write(frame, 0, len, len, 0, 0);
    if ((i & 63) === 63) w.commit();
  }
  w.commit();
  const ms = performance.now() - t0;
  w.close();
  console.log(JSON.stringify({ written: count, ms }));
} else {
  const r = RingReader.open(path, { desc: "bench reader" });
  console.log("ready");
  let t0 = 0;
  let bytes = 0;
  let sum = 0;
  const deadline = Date.now() + 60_000;
  while (r.framesRead + r.framesLost < count && Date.now() < deadline) {
    const n = r.poll();
    if (n === 0) {
      r.wait(50);
      continue;
    }
    if (t0 === 0) t0 = performance.now();
    const data = r.data;
    for (let i = 0; i < n; i++) {
      bytes += r.lens[i];
      sum += data[r.offs[i]]; // touch the frame
    }
    r.release();
  }
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ read: r.framesRead, lost: r.framesLost, bytes, ms, sum: sum & 1 }));
  r.close();
}
