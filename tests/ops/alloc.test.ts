/**
 * The per-frame functions allocate nothing: each runs over the corpus millions of times in a child
 * process with V8's GC trace on, and no collection may happen while it runs (a single 8-byte
 * allocation per frame would cause dozens of scavenges over these 4.5 M frames).
 */
import { assert } from "../assert.ts";

const PROBE = new URL("./alloc_probe.ts", import.meta.url).pathname;

async function collections(which: string): Promise<{ gcs: number; frames: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    // Optimising on the main thread: on a loaded machine a background compile can land late, and the
    // unoptimised code meanwhile allocates (boxed numbers) where the optimised code does not.
    args: [
      "run",
      "-A",
      "--v8-flags=--trace-gc,--no-concurrent-recompilation,--no-concurrent-osr",
      PROBE,
      which,
      "20000",
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) throw new Error(`probe ${which} failed: ${new TextDecoder().decode(out.stderr)}`);
  const start = text.indexOf("PROBE-START");
  const end = text.indexOf("PROBE-END");
  assert(start >= 0 && end > start, text);
  const between = text.slice(start, end);
  const gcs = (between.match(/Scavenge|Mark-Compact|Mark-sweep|Minor Mark/g) ?? []).length;
  const frames = Number(/frames (\d+)/.exec(text)?.[1]);
  return { gcs, frames };
}

for (const which of ["filter", "dedup", "flow"]) {
  Deno.test(`alloc: ${which} allocates nothing per frame`, async () => {
    const { gcs, frames } = await collections(which);
    assert(frames > 4_000_000, `${frames} frames`);
    assert(gcs === 0, `${gcs} garbage collections while running ${which} on ${frames} frames`);
  });
}
