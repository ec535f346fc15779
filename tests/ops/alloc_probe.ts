/**
 * Child process of alloc.test.ts: warms up one hot function, prints a marker, runs it over the corpus
 * many times, prints another marker. Run with `--v8-flags=--trace-gc`: any garbage collection between
 * the markers means the function allocates per frame.
 * Usage: alloc_probe.ts filter|dedup|flow
 * @module
 */
import { compileBpf } from "../../lib/ops/bpf.ts";
import { compileFilter } from "../../ffi/libpcap.ts";
import { Dedup } from "../../lib/ops/dedup.ts";
import { FlowHasher, Rendezvous } from "../../lib/ops/flow.ts";
import { buildCorpus } from "./corpus.ts";

const corpus = buildCorpus();
const big = new Uint8Array(corpus.reduce((a, f) => a + f.bytes.length, 0));
const offs = new Int32Array(corpus.length);
const lens = new Int32Array(corpus.length);
let at = 0;
corpus.forEach((f, i) => {
  big.set(f.bytes, at);
  offs[i] = at;
  lens[i] = f.bytes.length;
  at += f.bytes.length;
});
const which = Deno.args[0];
const filter = compileBpf(compileFilter("vlan 100 and tcp port 443 or ip6 and udp"));
const dedup = new Dedup({ windowMs: 10 });
const flows = new FlowHasher();
const group = new Rendezvous(3);
let sink = 0;

function run(rounds: number): void {
  let acc = 0;
  const n = offs.length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      if (which === "filter") acc = (acc + filter(big, offs[i], lens[i])) | 0;
      else if (which === "dedup") {
        acc =
          (acc + (dedup.isDuplicate(big, offs[i], lens[i], 1000 + (r >> 8), (r & 255) * 1000 + i) ? 1 : 0)) |
          0;
      } else acc = (acc + group.pick(flows.hash(big, offs[i], lens[i]))) | 0;
    }
  }
  sink ^= acc;
}

run(2000);
run(2000); // a second pass re-optimises whatever the first one deoptimised (time going back at its start)
console.log("PROBE-START");
run(Number(Deno.args[1] ?? 20000));
console.log("PROBE-END");
console.log(`frames ${Number(Deno.args[1] ?? 20000) * offs.length} sink ${sink}`);
