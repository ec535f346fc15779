/**
 * A metrics endpoint in a process that runs out of descriptors, for tests/watch/http.test.ts. Prints the
 * port, then opens /dev/null until the process has no descriptor left and prints "full"; once the file
 * RELEASE exists it closes 32 of them and prints "released" (a file is watched with stat, which needs no
 * descriptor: reading stdin would). Runs until killed; the endpoint's log lines go to stderr.
 *
 *   deno run -A emfile.ts RELEASE      (under a low `ulimit -n`)
 *
 * @module
 */
import { startMetrics } from "../../lib/watch/metrics.ts";

if (import.meta.main) {
  // As fluxcap -rx/-tx do at their start (Deno sets its signal handling up at the first listener and
  // panics if it has to do that without a free descriptor).
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const m = startMetrics("127.0.0.1:0", [], { log: (line) => console.error(line) });
  console.log(m.port);
  const held: Deno.FsFile[] = [];
  for (;;) {
    try {
      held.push(Deno.openSync("/dev/null"));
    } catch {
      break;
    }
  }
  console.log("full");
  for (;;) {
    try {
      Deno.statSync(Deno.args[0]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  for (const f of held.splice(0, 32)) f.close();
  console.log("released");
  await new Promise(() => setInterval(() => {}, 60_000)); // until killed
}
