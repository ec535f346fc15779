/**
 * `fluxcap run` killed with SIGKILL (outside systemd, nothing cleans up after it): its pipelines notice
 * their parent is gone and stop by themselves, so no orphan keeps a ring's writer lock.
 */
import { assert } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { pcapOf, timedFrames, until } from "../pcap/common.ts";
import { alive, allRunning, pids, startRun } from "./common.ts";

Deno.test({
  name: "run: pipelines of a SIGKILLed supervisor stop by themselves",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = makeRingDir();
    try {
      // a slow replay (one frame a second) and a capture-file output: no network needed
      const frames = timedFrames(600).map((f, i) => ({ ...f, sec: 1_700_000_000 + i, nsec: 0 }));
      Deno.writeFileSync(`${dir}/slow.pcap`, pcapOf(frames));
      const cfg = `${dir}/fluxcap.yaml`;
      const state = `${dir}/state.json`;
      Deno.writeTextFileSync(
        cfg,
        `state: ${state}
rings:
  r: { path: ${dir}/r, size: 1m }
captures:
  replay: { ring: r, read: ${dir}/slow.pcap, pace: true }
outputs:
  archive: { ring: r, write: ${dir}/out.pcap }
`,
      );
      const run = startRun(cfg);
      await allRunning(state, ["replay", "archive"]);
      const children = Object.values(pids(state)).filter((p): p is number => p !== null);
      assert(children.length === 2 && children.every(alive), `children ${children}`);
      Deno.kill(run.pid, "SIGKILL");
      await run.done;
      await until(() => !children.some(alive), "the orphaned pipelines stopped", 10_000);
    } finally {
      rmrf(dir);
    }
  },
});
