/**
 * `fluxcap -cr -s <size> <ring>...`: create (or with -k keep) ring files.
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { createRing, formatSize, parseSize } from "../ring/mod.ts";

/** Runs the create mode; returns the exit status. */
export function runCreate(a: Args, log: (s: string) => void): number {
  if (a.size === undefined) {
    throw new UsageError("Creating rings needs a size: fluxcap -cr -s <size> <ring> ...");
  }
  if (a.rings.length === 0) throw new UsageError("Creating rings needs at least one ring name");
  const size = parseSize(a.size, "ring size");
  if (size instanceof Error) throw new UsageError(size.message);
  for (const name of a.rings) {
    const r = createRing(name, { size, keep: a.keep }, name);
    if (a.verbose) {
      log(
        `${r.action} ring "${name}": ${formatSize(r.fileSize)} file, ${formatSize(r.dataSize)} of frames ` +
          `(about ${Math.floor(r.dataSize / 1538)} full-size or ${
            Math.floor(r.dataSize / 88)
          } minimum-size frames), ` +
          `frames up to ${r.maxFrame} bytes`,
      );
    }
  }
  return 0;
}
