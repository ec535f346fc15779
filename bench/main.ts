/**
 * `deno task bench`: the ring, replication, drain, encapsulation and packet-broker (filter, dedup, flow
 * hash) benchmarks, each against peers measured in the same run. `--only replicate,drain` runs the
 * parts named (a comma list of ring, replicate, drain, encap, filter); `--quick` shortens the
 * replication, drain and filter parts. Needs root for the parts that build network namespaces.
 * @module
 */
import { parseArgs } from "node:util";
import { benchRing } from "./ring.ts";
import { benchReplicate } from "./replicate/mod.ts";
import { benchDrain } from "./drain.ts";
import { benchEncap } from "./encap.ts";
import { benchFilter } from "./filter.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { only: { type: "string" }, quick: { type: "boolean", default: false } },
});
const parts: [string, () => Promise<string>][] = [
  ["ring", benchRing],
  ["replicate", () => benchReplicate({ quick: values.quick })],
  ["drain", () => benchDrain({ rounds: values.quick ? 2 : undefined })],
  ["encap", benchEncap],
  ["filter", () => benchFilter({ quick: values.quick })],
];
const only = values.only?.split(",").map((s) => s.trim()).filter((s) => s !== "");
const unknown = only?.filter((name) => !parts.some(([p]) => p === name)) ?? [];
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark part "${unknown[0]}" in --only: use a comma list of ${
      parts.map(([p]) => p).join(", ")
    }`,
  );
  Deno.exit(2);
}
console.log(
  `# fluxcap benchmarks (${
    new Date().toISOString()
  }, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)\n`,
);
for (const [name, run] of parts) {
  if (only && !only.includes(name)) continue;
  console.log(`## ${name}\n`);
  const t0 = performance.now();
  try {
    console.log(await run());
  } catch (e) {
    console.log(`(${name} failed: ${e instanceof Error ? e.message : e})`);
  }
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
