/**
 * A Worker for the `-z` helper test: it blocks with `Atomics.wait` between calls, as the file writer's
 * loop does, and posts back the lines PostRotate logged.
 * @module
 */
import { PostRotate } from "../../lib/sinks/file/postrotate.ts";

self.onmessage = (ev: MessageEvent<{ dir: string }>) => {
  const { dir } = ev.data;
  const logs: string[] = [];
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const wait = (pred: () => boolean) => {
    for (let i = 0; i < 1000 && !pred(); i++) Atomics.wait(nap, 0, 0, 10);
  };
  const fail = new PostRotate({ argv: ["sh", "-c", "exit 4"], log: (m) => logs.push(m) });
  const ok = new PostRotate({ argv: ["touch"], log: (m) => logs.push(m), verbose: true });
  fail.run(`${dir}/a`);
  ok.run(`${dir}/b`);
  wait(() => {
    fail.poll();
    ok.poll();
    return fail.running === 0 && ok.running === 0;
  });
  fail.close();
  ok.close();
  // Closed at once: its helper is not up yet (a Worker's Worker takes ~1 s), so the writer spawns the job.
  const early = new PostRotate({ argv: ["touch"], log: (m) => logs.push(m) });
  early.run(`${dir}/c`);
  early.close(0);
  // The job was spawned from here: let it finish before the test ends this Worker (and its children).
  wait(() => {
    try {
      Deno.statSync(`${dir}/c`);
      return true;
    } catch {
      return false;
    }
  });
  self.postMessage(logs);
};
