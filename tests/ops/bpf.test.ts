/**
 * The BPF translation against tcpdump and libpcap: on a mixed corpus, for each expression, the frames
 * kept by the JavaScript translation are exactly the frames `tcpdump -r corpus.pcap -w - EXPR` writes
 * and exactly those `pcap_offline_filter` accepts. Plus the validator, the error messages, and a
 * differential fuzz of hand-built programs against libpcap's interpreter.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { FluxError } from "../../lib/errors.ts";
import {
  BPF_MAX_INSNS,
  type BpfInsn,
  compileBpf,
  compileExpression,
  translateBpf,
  validateBpf,
  vlanOnly,
} from "../../lib/ops/bpf.ts";
import { compileFilter, LIBPCAP_PACKAGE, OfflineFilter, openLibpcap } from "../../ffi/libpcap.ts";
import { buildCorpus, type CorpusFrame, EXPRESSIONS, indicesOfPcap, writeCorpusPcap } from "./corpus.ts";

function frameOf(f: CorpusFrame): Uint8Array {
  return f.bytes;
}

async function tcpdumpKeeps(file: string, expr: string): Promise<number[]> {
  const out = await new Deno.Command("tcpdump", {
    args: ["-r", file, "-w", "-", expr],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  if (out.code !== 0) throw new Error(`tcpdump failed on "${expr}": ${new TextDecoder().decode(out.stderr)}`);
  return indicesOfPcap(out.stdout);
}

async function tcpdumpProgram(file: string, expr: string): Promise<BpfInsn[]> {
  const out = await new Deno.Command("tcpdump", {
    args: ["-ddd", "-r", file, expr],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const n = Number(lines[0]);
  assertEquals(lines.length, n + 1, `tcpdump -ddd ${expr}`);
  return lines.slice(1).map((l) => {
    const [code, jt, jf, k] = l.trim().split(/\s+/).map(Number);
    return { code, jt, jf, k };
  });
}

Deno.test("filter: JS translation, tcpdump and pcap_offline_filter keep the same frames", async () => {
  const corpus = buildCorpus();
  const dir = await Deno.makeTempDir({ prefix: "fluxcap-bpf-" });
  try {
    const file = `${dir}/corpus.pcap`;
    writeCorpusPcap(file, corpus);
    assertEquals(indicesOfPcap(await Deno.readFile(file)), corpus.map((_, i) => i));
    // All frames in one buffer, at odd offsets, as in a ring: the filter must honour off/len.
    const big = new Uint8Array(corpus.reduce((a, f) => a + f.bytes.length + 3, 0));
    const offs: number[] = [];
    let o = 1;
    for (const f of corpus) {
      big.set(f.bytes, o);
      offs.push(o);
      o += f.bytes.length + 3;
    }
    let proper = 0;
    for (const expr of EXPRESSIONS) {
      const compiled = compileExpression(expr, compileFilter);
      const js: number[] = [];
      const lib: number[] = [];
      using ref = new OfflineFilter(expr);
      corpus.forEach((f, i) => {
        const keep = compiled.kind === "vlan" ? -1 : compiled.filter(big, offs[i], f.bytes.length, f.origLen);
        if (keep !== 0) js.push(i);
        if (ref.match(frameOf(f), f.origLen) !== 0) lib.push(i);
        // Same values, not just same verdicts (the program's return value is the snap length).
        if (compiled.kind === "bpf") {
          assertEquals(keep, ref.match(frameOf(f), f.origLen), `${expr} frame ${i}`);
        }
      });
      const td = await tcpdumpKeeps(file, expr);
      if (compiled.kind === "bpf") assertEquals(js, td, `JS vs tcpdump for "${expr}"`);
      assertEquals(lib, td, `pcap_offline_filter vs tcpdump for "${expr}"`);
      if (td.length > 0 && td.length < corpus.length) proper++;
    }
    // The corpus splits (nearly) every expression: a test that keeps all or nothing proves little.
    assert(proper >= EXPRESSIONS.length - 2, `only ${proper} expressions split the corpus`);
    assert(EXPRESSIONS.length >= 30);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("filter: compileFilter gives the program tcpdump -ddd prints", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxcap-bpf-" });
  try {
    const file = `${dir}/corpus.pcap`;
    writeCorpusPcap(file, buildCorpus().slice(0, 3));
    for (const expr of ["arp", "vlan 100 and tcp port 443", "tcp[tcpflags] & tcp-syn != 0", "len > 100"]) {
      assertEquals(compileFilter(expr), await tcpdumpProgram(file, expr), expr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("filter: a syntax error is one line with libpcap's message and the expression", () => {
  for (const expr of ["tcp port", "host 999.1.1.1", "vlan 100 and\nfoo"]) {
    let msg = "";
    try {
      compileExpression(expr, compileFilter);
    } catch (e) {
      assert(e instanceof FluxError, `${e}`);
      msg = e.message;
    }
    assert(!msg.includes("\n"), msg);
    assert(msg.startsWith(`Cannot compile filter "${expr.replace(/\s+/g, " ")}": `), msg);
  }
  assertThrows(() => compileFilter("tcp port"), FluxError, "syntax error");
  // "ip6 protochain" compiles (libpcap loops with a backward jump) but is refused, in one line.
  assertThrows(() => compileExpression("ip6 protochain 6", compileFilter), FluxError, "protochain");
});

Deno.test("filter: a missing libpcap is one line naming the library and the Debian package", () => {
  let msg = "";
  try {
    openLibpcap(["libpcap-absent.so.9", "libpcap-absent.so"]);
  } catch (e) {
    assert(e instanceof FluxError);
    msg = e.message;
  }
  assert(!msg.includes("\n"));
  assert(msg.includes("libpcap-absent.so.9") && msg.includes(LIBPCAP_PACKAGE), msg);
});

Deno.test("filter: 'vlan n' alone keeps its 3.2 meaning and needs no library", () => {
  const never = (): BpfInsn[] => {
    throw new Error("compiler must not be called");
  };
  assertEquals(compileExpression("vlan 100", never), { kind: "vlan", expr: "vlan 100", vid: 100 });
  assertEquals(compileExpression(" VLAN  0 ", never).kind, "vlan");
  assertEquals(vlanOnly("vlan 4095"), 4095);
  assertThrows(() => compileExpression("vlan 4096", never), FluxError, "out of range");
  for (const e of ["vlan", "vlan 100 and tcp", "not vlan 100", "vlan 0x64"]) {
    assertEquals(vlanOnly(e), undefined);
  }
  assertEquals(compileExpression("vlan", compileFilter).kind, "bpf");
});

const RET = (k: number): BpfInsn => ({ code: 0x06, jt: 0, jf: 0, k });
const I = (code: number, k = 0, jt = 0, jf = 0): BpfInsn => ({ code, jt, jf, k });

Deno.test("filter: the validator refuses malicious programs", () => {
  const cases: [string, BpfInsn[], string][] = [
    ["empty", [], "0 instructions"],
    ["backward ja", [I(0x00, 1), I(0x05, 0xffffffff), RET(1)], "backward"],
    ["ja to itself", [I(0x05, 0xffffffff), RET(1)], "backward"],
    ["ja past the end", [I(0x05, 1), RET(1)], "past the end"],
    ["jeq jt past the end", [I(0x28, 12), I(0x15, 0x800, 2, 0), RET(1)], "past the end"],
    ["jeq jf past the end", [I(0x28, 12), I(0x15, 0x800, 0, 1), RET(1)], "past the end"],
    ["no ret at the end", [RET(1), I(0x28, 12)], "not a return"],
    ["falls off the end", [I(0x00, 1)], "not a return"],
    ["st scratch 16", [I(0x02, 16), RET(1)], "scratch word 16"],
    ["ld scratch 16", [I(0x60, 16), RET(1)], "scratch word 16"],
    ["ldx scratch 99", [I(0x61, 99), RET(1)], "scratch word 99"],
    ["scratch read before write", [I(0x60, 3), RET(1)], "before it is written"],
    [
      "scratch written on one path only",
      [I(0x28, 12), I(0x15, 0x800, 0, 1), I(0x02, 3), I(0x60, 3), I(0x16)],
      "before it is written",
    ],
    ["stx scratch 16", [I(0x03, 16), RET(1)], "scratch word 16"],
    ["unknown opcode", [I(0xff), RET(1)], "unknown opcode"],
    ["ld h imm (not an opcode)", [I(0x08), RET(1)], "unknown opcode"],
    ["ret x", [I(0x0e)], "unknown opcode"],
    ["div by constant 0", [I(0x34, 0), RET(1)], "constant 0"],
    ["mod by constant 0", [I(0x94, 0), RET(1)], "constant 0"],
    ["lsh by 32", [I(0x64, 32), RET(1)], "shifts by 32"],
    ["jt not a byte", [I(0x15, 0, 300, 0), RET(1), RET(0)], "0..255"],
    ["k not u32", [I(0x00, -1), RET(1)], "operand"],
    ["k not an integer", [I(0x00, 1.5), RET(1)], "operand"],
  ];
  for (const [name, prog, why] of cases) {
    assertThrows(() => validateBpf(prog), FluxError, why);
    assertThrows(() => compileBpf(prog), FluxError, why);
    assert(name.length > 0);
  }
  assertThrows(
    () => validateBpf(Array.from({ length: BPF_MAX_INSNS + 1 }, () => RET(0))),
    FluxError,
    "instructions",
  );
  // A non-instruction smuggling text into the generated code never gets that far.
  const evil = [{ code: 0x00, jt: 0, jf: 0, k: "0; globalThis.pwned = 1" as unknown as number }, RET(1)];
  assertThrows(() => compileBpf(evil), FluxError, "operand");
  assertEquals((globalThis as Record<string, unknown>).pwned, undefined);
});

Deno.test("filter: libpcap's programs translate into straight-line code, no loop", () => {
  for (const expr of EXPRESSIONS) {
    if (vlanOnly(expr) !== undefined) continue;
    const src = translateBpf(compileFilter(expr));
    assert(!/\b(for|while|do|switch)\b/.test(src), src);
  }
  assert(translateBpf(compileFilter("vlan and vlan 200 and tcp port 443")).includes("break L"));
});

Deno.test("filter: long programs with many jump targets translate (deep label nesting)", () => {
  // "host h0 or host h1 or …" shaped: 4000 compares, each a jump target, each with a long jump out.
  const n = 4000;
  const prog: BpfInsn[] = [I(0x20, 26)];
  for (let i = 0; i < n; i++) prog.push(I(0x15, (0xc6120000 + i) >>> 0, 0, 1), I(0x05, 2 * n - 1 - 2 * i));
  prog.push(RET(0), RET(7));
  assert(!translateBpf(prog).includes("switch"), "4000 disjoint blocks need no switch");
  const f = compileBpf(prog);
  const pkt = new Uint8Array(60);
  assertEquals(f(pkt, 0, 60), 0);
  new DataView(pkt.buffer).setUint32(26, 0xc6120000 + 1234);
  assertEquals(f(pkt, 0, 60), 7);
  using ref = OfflineFilter.fromProgram(prog);
  assertEquals(ref.match(pkt), 7);
  // Crossing jumps: 4000 compares that each jump to the one 3 further on, so no block nests in another
  // unless the translation widens them; past MAX_BLOCK_DEPTH the switch form takes over.
  const cross: BpfInsn[] = [I(0x30, 20)];
  for (let i = 0; i < n; i++) cross.push(I(0x15, i & 0xff, 0, Math.min(3, 2 * n - i)));
  cross.push(I(0x16), RET(1), RET(2), RET(3));
  assert(translateBpf(cross).includes("switch (pc)"), "deeply nested blocks fall back to the switch form");
  const c = compileBpf(cross);
  const d = compileBpf(cross, { form: "switch" });
  using cref = OfflineFilter.fromProgram(cross);
  for (let v = 0; v < 256; v += 17) {
    pkt[20] = v;
    assertEquals(c(pkt, 0, 60), cref.match(pkt));
    assertEquals(d(pkt, 0, 60), cref.match(pkt));
  }
});

Deno.test("filter: out-of-range calls reject instead of reading outside the frame", () => {
  const f = compileBpf([RET(5)]);
  const buf = new Uint8Array(10);
  assertEquals(f(buf, 0, 10), 5);
  assertEquals(f(buf, 5, 6), 0);
  assertEquals(f(buf, -1, 2), 0);
  assertEquals(f(buf, 0, -1), 0);
  const g = compileBpf([I(0x20, 6), I(0x16)]); // ld [6]; ret a
  assertEquals(g(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 2), 0, 10), 0x102);
  assertEquals(g(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 2), 0, 9), 0);
});

/** Random valid forward-only programs against libpcap's interpreter, on random packets. */
Deno.test("filter: differential fuzz of every instruction against pcap_offline_filter", () => {
  let seed = 0x2545f491;
  const rnd = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const k32 = () =>
    [0, 1, 2, 3, 7, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff, rnd(64), rnd(0x100000000)][rnd(12)];
  const aluOps = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0];
  const jmpOps = [0x10, 0x20, 0x30, 0x40];
  const pkts = Array.from({ length: 24 }, (_, i) => {
    const p = new Uint8Array(i * 3);
    for (let j = 0; j < p.length; j++) p[j] = rnd(256);
    return p;
  });
  let programs = 0;
  for (let t = 0; t < 2000; t++) {
    const n = 2 + rnd(24);
    const prog: BpfInsn[] = [];
    for (let i = 0; i < n - 1; i++) {
      const left = n - 1 - i - 1; // instructions after this one, before the final ret
      switch (rnd(10)) {
        case 0: {
          const op = aluOps[rnd(aluOps.length)];
          let k = k32();
          if ((op === 0x30 || op === 0x90) && k === 0) k = 3;
          if ((op === 0x60 || op === 0x70) && k >= 32) k %= 32;
          prog.push(I(0x04 | op, k));
          break;
        }
        case 1:
          prog.push(I(0x0c | aluOps[rnd(aluOps.length)]));
          break;
        case 2:
          prog.push(I([0x20, 0x28, 0x30][rnd(3)], rnd(80)));
          break;
        case 3:
          prog.push(I([0x40, 0x48, 0x50][rnd(3)], rnd(40)));
          break;
        case 4:
          prog.push(I([0x00, 0x01, 0x80, 0x81, 0xb1, 0x84, 0x07, 0x87][rnd(8)], rnd(3) ? rnd(70) : k32()));
          break;
        case 5:
          prog.push(I([0x02, 0x03, 0x60, 0x61][rnd(4)], rnd(16)));
          break;
        case 6:
          prog.push(I(0x05, rnd(left + 1)));
          break;
        case 7:
        case 8:
          prog.push(I(0x05 | jmpOps[rnd(4)] | (rnd(2) ? 0x08 : 0), k32(), rnd(left + 1), rnd(left + 1)));
          break;
        default:
          prog.push(rnd(2) ? I(0x16) : RET(k32()));
      }
    }
    prog.push(rnd(2) ? I(0x16) : RET(rnd(2)));
    try {
      validateBpf(prog);
    } catch (e) {
      if (e instanceof FluxError && e.message.includes("before it is written")) continue;
      throw e;
    }
    const f = compileBpf(prog);
    const g = compileBpf(prog, { form: "switch" });
    using ref = OfflineFilter.fromProgram(prog);
    for (const p of pkts) {
      const wire = p.length + rnd(3) * 100;
      const want = ref.match(p, wire);
      const got = f(p, 0, p.length, wire);
      const got2 = g(p, 0, p.length, wire);
      if (got !== want || got2 !== want) {
        throw new Error(
          `program ${JSON.stringify(prog)} on ${p.length} bytes: JS ${got}/${got2}, libpcap ${want}`,
        );
      }
    }
    programs++;
  }
  assert(programs >= 1000, `only ${programs} programs ran`);
});
