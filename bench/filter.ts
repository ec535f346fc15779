/**
 * Packet-broker operations, cost per frame: the filter expression translated into JavaScript against
 * libpcap's `pcap_offline_filter` through FFI on the same frames in the same run (three expressions),
 * then duplicate removal at three frame sizes and the flow hash with a rendezvous pick over 3 members.
 * No network, no root. Each figure is the best of 5 timed passes after a warm-up.
 * @module
 */
import { compileExpression } from "../lib/ops/bpf.ts";
import { compileFilter, libpcapVersion, OfflineFilter } from "../ffi/libpcap.ts";
import { Dedup } from "../lib/ops/dedup.ts";
import { FlowHasher, Rendezvous } from "../lib/ops/flow.ts";
import { buildCorpus, ether, fill, ipv4, type Tag, udp } from "../tests/ops/corpus.ts";

/** The three expressions measured: a simple one, the tagged one, and one with an indexed load. */
export const BENCH_EXPRESSIONS = ["not port 22", "vlan 100 and tcp port 443", "tcp[tcpflags] & tcp-syn != 0"];

interface Frames {
  buf: Uint8Array;
  offs: Int32Array;
  lens: Int32Array;
  views: Uint8Array[];
}

/**
 * All frames in one buffer, like a ring: starting on 8-byte boundaries as ring records do
 * (`aligned`), or 2 bytes past one (the dedup's byte path).
 */
function pack(frames: Uint8Array[], aligned = true): Frames {
  const slot = (n: number) => (n + 2 + 7) & ~7;
  const buf = new Uint8Array(frames.reduce((a, f) => a + slot(f.length), 8));
  const offs = new Int32Array(frames.length);
  const lens = new Int32Array(frames.length);
  let at = aligned ? 0 : 2;
  frames.forEach((f, i) => {
    buf.set(f, at);
    offs[i] = at;
    lens[i] = f.length;
    at += slot(f.length);
  });
  const views = frames.map((_, i) => buf.subarray(offs[i], offs[i] + lens[i]));
  return { buf, offs, lens, views };
}

/**
 * A loop compiled afresh for each use: closures of one function literal share V8's type feedback, so a
 * loop reused for three filters would see a polymorphic call and measure that instead. `body` runs per
 * frame with `i` the frame index and must give a number; the loop returns the sum, so that nothing is
 * optimised away.
 */
function freshLoop(body: string): (ctx: Record<string, unknown>, rounds: number) => number {
  return new Function(
    "ctx",
    "rounds",
    `const { fn, obj, buf, offs, lens, views, extra } = ctx; let acc = 0; const n = offs.length;
     for (let r = 0; r < rounds; r++) for (let i = 0; i < n; i++) acc = (acc + (${body})) | 0;
     return acc;`,
  ) as (ctx: Record<string, unknown>, rounds: number) => number;
}

/** Best ns per frame of `pass` (which handles `frames` frames), over 5 timed passes after 2 warm-ups. */
function best(frames: number, pass: () => number): { ns: number; sink: number } {
  let sink = 0;
  for (let i = 0; i < 2; i++) sink ^= pass();
  let min = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    sink ^= pass();
    const dt = performance.now() - t0;
    if (dt < min) min = dt;
  }
  return { ns: (min * 1e6) / frames, sink };
}

function filterRows(rounds: number): string[] {
  const corpus = buildCorpus();
  const fr = pack(corpus.map((c) => c.bytes));
  const n = fr.offs.length;
  const rows: string[] = [];
  for (const expr of BENCH_EXPRESSIONS) {
    const compiled = compileExpression(expr, compileFilter);
    if (compiled.kind !== "bpf") throw new Error(`${expr} did not compile to BPF`);
    const js = compiled.filter;
    using ref = new OfflineFilter(expr);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const a = js(fr.buf, fr.offs[i], fr.lens[i]) !== 0;
      if (a !== (ref.match(fr.views[i]) !== 0)) throw new Error(`${expr}: verdicts differ on frame ${i}`);
      if (a) kept++;
    }
    const jsLoop = freshLoop("fn(buf, offs[i], lens[i])");
    const libLoop = freshLoop("obj.match(views[i])");
    const jsPass = () => jsLoop({ ...fr, fn: js }, rounds);
    const libPass = () => libLoop({ ...fr, obj: ref }, rounds);
    const a = best(rounds * n, jsPass);
    const b = best(rounds * n, libPass);
    rows.push(
      `| \`${expr}\` | ${compiled.program.length} | ${kept}/${n} | ${a.ns.toFixed(1)} | ${
        b.ns.toFixed(1)
      } | ${(b.ns / a.ns).toFixed(1)}x |`,
    );
  }
  return rows;
}

/** A SPAN-like stream of `size`-byte IPv4/UDP frames: 4096 distinct packets, each twice, retagged, TTL − 1. */
function spanFrames(size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const payload = fill(size - 14 - 4 - 20 - 8, size);
  const copies: Tag[][] = [[{ tpid: 0x8100, vid: 10 }], [{ tpid: 0x8100, vid: 20 }]];
  for (let i = 0; i < 4096; i++) {
    payload[0] = i >> 8;
    payload[1] = i;
    for (const [k, tags] of copies.entries()) {
      out.push(ether({
        tags,
        type: 0x0800,
        payload: ipv4({
          src: "198.18.0.1",
          dst: `198.19.${(i >> 8) & 255}.${i & 255}`,
          proto: 17,
          ttl: 64 - k,
          payload: udp(4000, 5000, payload),
        }),
      }));
    }
  }
  return out;
}

function dedupRows(rounds: number): string[] {
  const rows: string[] = [];
  for (const [size, aligned] of [[64, true], [590, true], [1514, true], [1514, false]] as const) {
    const fr = pack(spanFrames(size), aligned);
    const n = fr.offs.length;
    const d = new Dedup({ windowMs: 10 });
    // Frame i of round r at (r × 20 ms + i µs): a round's two copies of a packet are a few µs apart, and
    // rounds are 20 ms apart, so every packet is new again in each round (half the frames duplicates).
    const loop = freshLoop(
      "obj.isDuplicate(buf, offs[i], lens[i], 1700000000 + ((extra[0] + r) / 50 | 0), ((extra[0] + r) % 50) * 20000000 + i * 1000) ? 1 : 0",
    );
    const ctx = { ...fr, obj: d, extra: [0] };
    const pass = () => {
      const acc = loop(ctx, rounds);
      ctx.extra[0] += rounds;
      return acc;
    };
    const before = d.duplicates;
    const { ns } = best(rounds * n, pass);
    const dupShare = (d.duplicates - before) / d.frames;
    rows.push(
      `| dedup, ${size} B${aligned ? "" : ", unaligned"} | ${ns.toFixed(1)} | ${
        (dupShare * 100).toFixed(0)
      }% duplicates, table ${d.entries} |`,
    );
  }
  return rows;
}

function flowRows(rounds: number): string[] {
  const fr = pack(buildCorpus().map((c) => c.bytes));
  const n = fr.offs.length;
  const rows: string[] = [];
  for (const mode of ["flows", "addresses"] as const) {
    const h = new FlowHasher(mode);
    const g = new Rendezvous(3);
    const loop = freshLoop("extra.pick(obj.hash(buf, offs[i], lens[i]))");
    const ctx = { ...fr, obj: h, extra: g };
    const { ns } = best(rounds * n, () => loop(ctx, rounds));
    rows.push(`| flow hash (${mode}) + pick of 3 | ${ns.toFixed(1)} | mixed corpus, ${n} frames |`);
  }
  return rows;
}

/** Runs the packet-broker benchmark and returns markdown tables. */
export function benchFilter(opts: { quick?: boolean } = {}): Promise<string> {
  const scale = opts.quick ? 1 : 4;
  const out = [
    `Filter: JavaScript translation vs libpcap (${libpcapVersion()}) \`pcap_offline_filter\` through FFI, ` +
    `same ${buildCorpus().length}-frame mixed corpus, same run.`,
    "",
    "| expression | BPF insns | kept | JS ns/frame | libpcap ns/frame | libpcap / JS |",
    "|---|---|---|---|---|---|",
    ...filterRows(500 * scale),
    "",
    "| operation | ns/frame | note |",
    "|---|---|---|",
    ...dedupRows(3 * scale),
    ...flowRows(500 * scale),
  ];
  return Promise.resolve(out.join("\n"));
}

if (import.meta.main) console.log(await benchFilter({ quick: Deno.args.includes("--quick") }));
