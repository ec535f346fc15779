import { assert, assertEquals } from "../assert.ts";
import { countersOf, RateWindow, readerKey, sampleRates } from "../../lib/watch/rates.ts";
import { snap } from "./fixtures.ts";

Deno.test("rates: a steady counter gives its rate per second", () => {
  const w = new RateWindow(10_000);
  for (let t = 0; t <= 3000; t += 100) w.update(t, { c: t * 5 }); // 5 per ms = 5000/s
  assertEquals(w.rate("c"), 5000);
  assertEquals(w.span("c"), 3000);
});

Deno.test("rates: fewer than two samples, or an unknown counter, give 0", () => {
  const w = new RateWindow();
  assertEquals(w.rate("c"), 0);
  w.update(0, { c: 10 });
  assertEquals(w.rate("c"), 0);
  assertEquals(w.rate("nope"), 0);
});

Deno.test("rates: the window slides (about 10 s): an old burst stops counting", () => {
  const w = new RateWindow(10_000);
  let c = 0;
  for (let t = 0; t <= 30_000; t += 100) {
    if (t === 5000) c += 1_000_000; // burst at 5 s
    w.update(t, { c });
    if (t === 10_000) assertEquals(w.rate("c"), 100_000, "burst within the window");
  }
  assertEquals(w.rate("c"), 0, "burst left the window");
  assertEquals(w.span("c"), 10_000);
});

Deno.test("rates: a counter that goes backwards restarts; a missing one is forgotten", () => {
  const w = new RateWindow();
  w.update(0, { a: 1000, b: 0 });
  w.update(1000, { a: 2000, b: 10 });
  assertEquals(w.rate("a"), 1000);
  w.update(2000, { a: 5, b: 20 }); // ring recreated: a restarts
  assertEquals(w.rate("a"), 0);
  w.update(3000, { a: 505 });
  assertEquals(w.rate("a"), 500);
  assertEquals(w.rate("b"), 0, "b forgotten");
  w.clear();
  assertEquals(w.rate("a"), 0);
});

Deno.test("rates: sparse samples (a scrape every 30 s) use the last interval", () => {
  const w = new RateWindow(10_000);
  w.update(0, { c: 0 });
  w.update(30_000, { c: 300 });
  assertEquals(w.rate("c"), 10);
});

Deno.test("rates: a ring's rates from snapshots: frames/s, wire bits/s, lost/s per reader", () => {
  const w = new RateWindow();
  sampleRates(w, snap(0, 0));
  const r = sampleRates(w, snap(2000, 20_000, { read: 19_000, lost: 1000 }));
  assertEquals(r.framesPerSec, 10_000);
  assertEquals(r.bitsPerSec, 10_000 * 125 * 8);
  assertEquals(r.kernelDropsPerSec, 100);
  const rr = r.readers.get("0/11")!;
  assert(rr);
  assertEquals(rr.framesPerSec, 9500);
  assertEquals(rr.lostPerSec, 500);
  assertEquals(rr.bitsPerSec, 9500 * 100 * 8);
  assertEquals(r.lostPerSec, 500);
  assertEquals(readerKey({ slot: 3, pid: 99 }), "3/99");
  assertEquals(countersOf(snap(0, 100)).frames, 100);
});
