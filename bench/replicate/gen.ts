/**
 * The replication benchmark's generator process, run inside the lab's `gen` namespace:
 * `deno run -A bench/replicate/gen.ts IFACE`. It prints `ready`, then reads one JSON command a line on
 * stdin, `{"len":64,"pps":100000,"ms":1500}` (`pps` 0 = as fast as it can), sends 256 prebuilt test
 * frames of that length cyclically with the lab's {@linkcode FrameGenerator}, and answers one JSON line
 * `{"sent":…,"refused":…,"errors":…,"ms":…}`. `refused` counts frames the kernel refused (ENOBUFS: the
 * receiving veth's backlog was full): they were offered and lost. It exits at the end of stdin.
 *
 * Every trial is bounded: at most {@link MAX_TRIAL_MS} long and `pps × ms` frames (or
 * `MAX_FRAMES` unpaced); the process refuses new trials after {@link MAX_LIFE_MS}.
 *
 * @module
 */
import { FrameGenerator, type GeneratorResult, makeFrame } from "../../lib/lab/mod.ts";

/** Longest trial accepted. */
export const MAX_TRIAL_MS = 10_000;
/** The generator stops accepting trials after this long. */
export const MAX_LIFE_MS = 20 * 60_000;
/** Frames prebuilt per size. */
const FRAMES = 256;

/** One trial's command. */
export interface GenCommand {
  len: number;
  /** Frames a second; 0 = unpaced. */
  pps: number;
  ms: number;
}

/** One trial's result: the generator's, refused frames counted as offered and lost. */
export type GenResult = GeneratorResult;

/** Runs one trial on `gen`, loading frames of the trial's length when it differs from the last one. */
function trial(gen: FrameGenerator, cmd: GenCommand, loaded: { len: number }): GenResult {
  const len = Math.trunc(cmd.len);
  if (!(len >= 60 && len <= 9000)) throw new Error(`Invalid frame length "${cmd.len}"`);
  if (len !== loaded.len) {
    gen.load(Array.from({ length: FRAMES }, (_, i) => makeFrame({ len, seq: i })));
    loaded.len = len;
  }
  return gen.run({ pps: cmd.pps, ms: Math.min(Math.max(0, cmd.ms), MAX_TRIAL_MS) });
}

if (import.meta.main) {
  const ifname = Deno.args[0];
  if (!ifname) {
    console.error("usage: gen.ts IFACE");
    Deno.exit(2);
  }
  using gen = new FrameGenerator(ifname);
  const loaded = { len: 0 };
  const born = performance.now();
  const enc = new TextEncoder();
  const say = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  say("ready");
  const dec = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === "") continue;
      if (performance.now() - born > MAX_LIFE_MS) {
        say(JSON.stringify({ error: "generator lifetime exceeded" }));
        Deno.exit(1);
      }
      try {
        say(JSON.stringify(trial(gen, JSON.parse(line) as GenCommand, loaded)));
      } catch (e) {
        say(JSON.stringify({ error: (e as Error).message }));
      }
    }
  }
}
