/**
 * A separate process that makes traffic on a ring for the watch tests: a writer ("rx test") appending
 * 200-byte frames every 10 ms, and a NIC reader ("tx test") that drains it and counts one frame in ten
 * as filtered. Prints "ready" once both are attached; runs until killed.
 *
 *   deno run -A traffic.ts RING
 *
 * @module
 */
import { DropReason, ReaderKind, RingReader, RingWriter } from "../../lib/ring/mod.ts";

if (import.meta.main) {
  const [path] = Deno.args;
  const w = RingWriter.open(path, { desc: "rx test" });
  const r = RingReader.open(path, { desc: "tx test", kind: ReaderKind.nic });
  console.log("ready");
  const frame = new Uint8Array(200);
  for (;;) {
    for (let i = 0; i < 50; i++) w.write(frame, 0, frame.length, 214);
    w.commit();
    w.addKernelStats(1, 51);
    const n = r.poll();
    r.release();
    r.addSent(n - Math.floor(n / 10));
    r.addDrop(DropReason.filtered, Math.floor(n / 10));
    r.flush();
    await new Promise((res) => setTimeout(res, 10));
  }
}
