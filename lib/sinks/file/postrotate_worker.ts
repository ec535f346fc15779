/**
 * The helper Worker of `postrotate.ts`: takes jobs from the shared job slots as soon as they are posted
 * (`Atomics.waitAsync`, so the writer's event loop is never needed), spawns each `-z` command, awaits its
 * exit (this Worker's event loop is free, so children are reaped at once) and reports it in the shared
 * result slots.
 *
 * @module
 */
import { type PostRotateJob, SHARED, spawnReason } from "./postrotate.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function describe(job: PostRotateJob, what: string): string {
  return `-z command "${job.argv.join(" ")}" on "${job.file}" ${what}`;
}

async function report(i32: Int32Array, id: number, text: string): Promise<void> {
  const u8 = new Uint8Array(i32.buffer);
  let t = enc.encode(text);
  if (t.length > SHARED.TEXT_BYTES) t = t.subarray(0, SHARED.TEXT_BYTES);
  for (;;) {
    for (let s = 0; s < SHARED.SLOTS; s++) {
      const o = SHARED.result(s);
      if (Atomics.load(i32, o / 4) !== SHARED.FREE) continue;
      i32[o / 4 + 1] = id;
      i32[o / 4 + 2] = t.length;
      u8.set(t, o + SHARED.SLOT_HEADER);
      Atomics.store(i32, o / 4, SHARED.FULL);
      return;
    }
    // Every slot full: the writer has not polled for a while. Wait without blocking other exits.
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runJob(i32: Int32Array, id: number, job: PostRotateJob): Promise<void> {
  let text: string;
  try {
    const child = new Deno.Command(job.argv[0], {
      args: [...job.argv.slice(1), job.file],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const st = await child.status;
    if (st.signal !== null) text = describe(job, `was killed by ${st.signal}`);
    else if (st.code !== 0) text = describe(job, `exited with status ${st.code}`);
    else text = job.verbose ? describe(job, "exited with status 0") : "";
  } catch (e) {
    text = describe(job, `could not start: ${spawnReason(e)}`);
  }
  await report(i32, id, text);
}

async function serve(i32: Int32Array): Promise<void> {
  const u8 = new Uint8Array(i32.buffer);
  Atomics.store(i32, 0, 1); // ready
  for (let seen = Atomics.load(i32, 1);;) {
    for (let s = 0; s < SHARED.SLOTS; s++) {
      const o = SHARED.job(s);
      if (Atomics.compareExchange(i32, o / 4, SHARED.FULL, SHARED.TAKEN) !== SHARED.FULL) continue;
      const id = i32[o / 4 + 1];
      const len = i32[o / 4 + 2];
      const job = JSON.parse(dec.decode(u8.slice(o + SHARED.SLOT_HEADER, o + SHARED.SLOT_HEADER + len)));
      Atomics.store(i32, o / 4, SHARED.FREE);
      runJob(i32, id, job).catch(() => {/* report() cannot fail; a lost report leaves "still running" */});
    }
    const w = Atomics.waitAsync(i32, 1, seen);
    if (w.async) await w.value;
    seen = Atomics.load(i32, 1);
  }
}

self.onmessage = (ev: MessageEvent<{ shared: Int32Array }>) => {
  serve(ev.data.shared);
};
