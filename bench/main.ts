/**
 * `deno task bench`: the ring, replication, encapsulation and packet-broker (filter, dedup, flow hash)
 * benchmarks, each against peers measured in the same run. `--only ring|replicate|encap|filter` runs one
 * part; `--quick` shortens the replication and filter parts.
 * Needs root for the parts that build network namespaces.
 * @module
 */
import { parseArgs } from "node:util";
import { benchRing } from "./ring.ts";
import { benchReplicate } from "./replicate/mod.ts";
import { benchEncap } from "./encap.ts";
import { benchFilter } from "./filter.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { only: { type: "string" }, quick: { type: "boolean", default: false } },
});
const parts: [string, () => Promise<string>][] = [
  ["ring", benchRing],
  ["replicate", () => benchReplicate({ quick: values.quick })],
  ["encap", benchEncap],
  ["filter", () => benchFilter({ quick: values.quick })],
];
console.log(
  `# fluxcap benchmarks (${
    new Date().toISOString()
  }, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)\n`,
);
for (const [name, run] of parts) {
  if (values.only && values.only !== name) continue;
  console.log(`## ${name}\n`);
  const t0 = performance.now();
  try {
    console.log(await run());
  } catch (e) {
    console.log(`(${name} failed: ${e instanceof Error ? e.message : e})`);
  }
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
