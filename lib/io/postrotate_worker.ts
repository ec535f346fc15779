/**
 * The helper Worker of `postrotate.ts`: spawns each `-z` command, awaits its exit (its event loop is
 * free, so children are reaped at once) and reports it through the shared mailbox.
 *
 * @module
 */
import { MAILBOX, type PostRotateJob } from "./postrotate.ts";

let mail: Int32Array | null = null;
const enc = new TextEncoder();

function describe(job: PostRotateJob, what: string): string {
  return `-z command "${job.argv.join(" ")}" on "${job.file}" ${what}`;
}

function reason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/ \(os error \d+\).*$/, "").replace(/^./, (c) => c.toLowerCase());
}

async function post(id: number, text: string): Promise<void> {
  const m = mail!;
  const bytes = new Uint8Array(m.buffer);
  let t = enc.encode(text);
  if (t.length > MAILBOX.TEXT_BYTES) t = t.subarray(0, MAILBOX.TEXT_BYTES);
  for (;;) {
    for (let s = 0; s < MAILBOX.SLOTS; s++) {
      const w = (s * MAILBOX.SLOT_BYTES) / 4;
      if (Atomics.load(m, w) !== 0) continue;
      m[w + 1] = id;
      m[w + 2] = t.length;
      bytes.set(t, s * MAILBOX.SLOT_BYTES + MAILBOX.HEADER_WORDS * 4);
      Atomics.store(m, w, 1);
      return;
    }
    // Every slot full: the writer has not polled for a while. Wait without blocking other exits.
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runJob(job: PostRotateJob): Promise<void> {
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
    text = describe(job, `could not start: ${reason(e)}`);
  }
  await post(job.id, text);
}

self.onmessage = (ev: MessageEvent<{ mail: Int32Array } | PostRotateJob>) => {
  const d = ev.data;
  if ("mail" in d) {
    mail = d.mail;
    return;
  }
  runJob(d).catch(() => {/* post() cannot fail; a lost report only leaves the job "still running" */});
};
