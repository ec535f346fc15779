/**
 * The sweep of stale lab namespaces: those whose creating process (named in the namespace, see
 * `names.ts`) no longer exists, left behind by a test run that was killed before its teardown.
 *
 * @module
 */
import { labNamespacePid } from "./names.ts";
import { runCommand } from "./process.ts";

/**
 * Deletes lab namespaces (`fx<pid36>_…`) whose creating process no longer exists. Never touches a
 * namespace of a live process or one not named by this lab.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const list = await runCommand(["ip", "netns", "list"], { timeoutMs: 5000 });
  const removed: string[] = [];
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0];
    const pid = labNamespacePid(name);
    if (pid === null || pid === Deno.pid) continue;
    try {
      await Deno.stat(`/proc/${pid}`);
      continue; // alive
    } catch {
      // dead: remove
    }
    const del = await runCommand(["ip", "netns", "del", name], { timeoutMs: 5000 });
    if (del.code === 0) removed.push(name);
  }
  return removed;
}
