/**
 * `fluxcap -cr -s <size> <ring>...`: create (or with -k keep) ring files.
 * @module
 */
import { createRing, formatSize } from "../ring/mod.ts";
import type { CreateSettings } from "../settings/mod.ts";

/** Runs the create mode; returns the exit status. */
export function runCreate(s: CreateSettings, log: (s: string) => void): number {
  for (const name of s.rings) {
    const r = createRing(name, { size: s.size, keep: s.keep, force: s.force }, name);
    if (s.verbose) {
      log(
        `${r.action} ring "${name}": ${formatSize(r.fileSize)} file, ${formatSize(r.dataSize)} of frames ` +
          `(about ${Math.floor(r.dataSize / 1538)} full-size or ${Math.floor(r.dataSize / 88)} ` +
          `minimum-size frames), frames up to ${r.maxFrame} bytes`,
      );
    }
  }
  return 0;
}
