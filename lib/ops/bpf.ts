/**
 * Classic BPF (the programs `pcap_compile` produces) translated once into straight-line JavaScript.
 *
 * A cBPF program only jumps forward, so its control flow is a DAG in instruction order and needs no
 * loop: every jump target `t` gets a labelled block `Lt: { … }` that opens before instruction 0 and
 * closes just before instruction `t`; a jump to `t` is `break Lt`. Blocks all open at instruction 0, so
 * they nest (the largest target outermost). The result is compiled by V8 like any other function:
 * no dispatch loop, no per-instruction switch, registers in locals, scratch words in locals.
 *
 * ## Semantics (those of libpcap's `bpf_filter`, which `pcap_offline_filter` runs)
 * - A, X and the 16 scratch words start at 0; arithmetic is on unsigned 32-bit values, wrapping.
 * - A packet load outside `[0, len)` ends the program with 0 (reject); `len` is the captured length,
 *   `BPF_LEN` loads the length on the wire (`wirelen`, the optional fourth argument, default `len`).
 * - Division or modulo by X = 0 ends the program with 0; by a constant 0 the program is refused.
 *   A shift by X ≥ 32 gives 0; a constant shift ≥ 32 is refused.
 * - The value returned is the program's (0 = reject, anything else = keep; libpcap uses it as a snap
 *   length, fluxcap only as a verdict).
 *
 * ## Validation
 * {@linkcode validateBpf} runs before any translation and refuses: an empty or over-long program, an
 * unknown opcode, a scratch index ≥ 16, a constant division/modulo by 0 or shift ≥ 32, a jump that goes
 * backward (libpcap emits those only for `protochain`) or past the end, a program whose last
 * instruction is not a return, and a read of a scratch word not written before on every path (the
 * kernel's rule; libpcap ≤ 1.10 leaves scratch memory uninitialised, so such a read has no meaning). The generated code only ever contains numbers derived from validated
 * fields, never text from the program.
 *
 * Pure: no FFI, no Deno APIs. The libpcap compiler itself is in `ffi/libpcap.ts`; callers pass its
 * result in ({@linkcode compileExpression}).
 *
 * @module
 */

import { FluxError } from "../errors.ts";
import { parseVlanFilter } from "./config.ts";

/** One classic BPF instruction, as in `struct bpf_insn` (code u16, jt u8, jf u8, k u32). */
export interface BpfInsn {
  /** Opcode: class | size | mode, or class | op | source. */
  code: number;
  /** Instructions to skip when a conditional jump is taken. */
  jt: number;
  /** Instructions to skip when a conditional jump is not taken. */
  jf: number;
  /** Constant operand (unsigned 32 bits). */
  k: number;
}

/**
 * A compiled filter: returns 0 to reject the frame `buf[off, off + len)`, non-zero to keep it.
 * `wirelen` (length on the wire, for `len`/`greater`/`less`) defaults to `len`.
 */
export type BpfFilter = (buf: Uint8Array, off: number, len: number, wirelen?: number) => number;

/** Longest program accepted (libpcap's optimised output stays far below; the kernel's limit is 4096). */
export const BPF_MAX_INSNS = 65536;
/** Number of scratch memory words (`BPF_MEMWORDS`). */
export const BPF_MEMWORDS = 16;

// Opcode fields (linux/filter.h, pcap/bpf.h).
const CLASS_LD = 0x00;
const CLASS_LDX = 0x01;
const CLASS_ST = 0x02;
const CLASS_STX = 0x03;
const CLASS_ALU = 0x04;
const CLASS_JMP = 0x05;
const CLASS_RET = 0x06;
const CLASS_MISC = 0x07;

const SIZE_W = 0x00;
const SIZE_H = 0x08;
const SIZE_B = 0x10;

const MODE_IMM = 0x00;
const MODE_ABS = 0x20;
const MODE_IND = 0x40;
const MODE_MEM = 0x60;
const MODE_LEN = 0x80;
const MODE_MSH = 0xa0;

const SRC_X = 0x08;

const ALU_ADD = 0x00;
const ALU_SUB = 0x10;
const ALU_MUL = 0x20;
const ALU_DIV = 0x30;
const ALU_OR = 0x40;
const ALU_AND = 0x50;
const ALU_LSH = 0x60;
const ALU_RSH = 0x70;
const ALU_NEG = 0x80;
const ALU_MOD = 0x90;
const ALU_XOR = 0xa0;

const JMP_JA = 0x00;
const JMP_JEQ = 0x10;
const JMP_JGT = 0x20;
const JMP_JGE = 0x30;
const JMP_JSET = 0x40;

const RET_K = 0x00;
const RET_A = 0x10;

const MISC_TAX = 0x00;
const MISC_TXA = 0x80;

/** Every opcode libpcap's interpreter runs (the list in its `bpf_filter`), and nothing else. */
const VALID = new Set<number>([
  CLASS_RET | RET_K,
  CLASS_RET | RET_A,
  CLASS_LD | SIZE_W | MODE_ABS,
  CLASS_LD | SIZE_H | MODE_ABS,
  CLASS_LD | SIZE_B | MODE_ABS,
  CLASS_LD | SIZE_W | MODE_LEN,
  CLASS_LDX | SIZE_W | MODE_LEN,
  CLASS_LD | SIZE_W | MODE_IND,
  CLASS_LD | SIZE_H | MODE_IND,
  CLASS_LD | SIZE_B | MODE_IND,
  CLASS_LDX | MODE_MSH | SIZE_B,
  CLASS_LD | MODE_IMM,
  CLASS_LDX | MODE_IMM,
  CLASS_LD | MODE_MEM,
  CLASS_LDX | MODE_MEM,
  CLASS_ST,
  CLASS_STX,
  CLASS_JMP | JMP_JA,
  ...[JMP_JEQ, JMP_JGT, JMP_JGE, JMP_JSET].flatMap((op) => [CLASS_JMP | op, CLASS_JMP | op | SRC_X]),
  ...[ALU_ADD, ALU_SUB, ALU_MUL, ALU_DIV, ALU_MOD, ALU_AND, ALU_OR, ALU_XOR, ALU_LSH, ALU_RSH].flatMap((
    op,
  ) => [CLASS_ALU | op, CLASS_ALU | op | SRC_X]),
  CLASS_ALU | ALU_NEG,
  CLASS_MISC | MISC_TAX,
  CLASS_MISC | MISC_TXA,
]);

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

function isU32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function isU8(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xff;
}

/**
 * Checks a program before it is translated or run. Throws a {@linkcode FluxError} naming the first
 * offending instruction; returns nothing when the program is safe to translate.
 *
 * @example
 * ```ts
 * import { validateBpf } from "./bpf.ts";
 * validateBpf([{ code: 0x06, jt: 0, jf: 0, k: 262144 }]); // "ret #262144": fine
 * try {
 *   validateBpf([{ code: 0x05, jt: 0, jf: 0, k: 0xffffffff }, { code: 0x06, jt: 0, jf: 0, k: 0 }]);
 * } catch (e) {
 *   console.assert((e as Error).message.includes("backward"));
 * }
 * ```
 */
export function validateBpf(prog: ArrayLike<BpfInsn>): void {
  const n = prog.length;
  if (!Number.isInteger(n) || n < 1 || n > BPF_MAX_INSNS) {
    throw new FluxError(`Invalid BPF program: ${n} instructions (must be 1..${BPF_MAX_INSNS})`);
  }
  for (let i = 0; i < n; i++) {
    const ins = prog[i];
    const bad = (why: string) =>
      new FluxError(`Invalid BPF program: instruction ${i} (code ${hex(Number(ins?.code))}) ${why}`);
    if (ins === null || typeof ins !== "object") throw bad("is not an instruction");
    const { code, jt, jf, k } = ins;
    if (!Number.isInteger(code) || code < 0 || code > 0xffff || !VALID.has(code)) {
      throw bad("has an unknown opcode");
    }
    if (!isU8(jt) || !isU8(jf)) throw bad("has a jump offset outside 0..255");
    if (!isU32(k)) throw bad("has an operand outside 0..2^32-1");
    const cls = code & 0x07;
    switch (cls) {
      case CLASS_LD:
      case CLASS_LDX:
        if ((code & 0xe0) === MODE_MEM && k >= BPF_MEMWORDS) throw bad(`reads scratch word ${k} (0..15)`);
        break;
      case CLASS_ST:
      case CLASS_STX:
        if (k >= BPF_MEMWORDS) throw bad(`writes scratch word ${k} (0..15)`);
        break;
      case CLASS_ALU: {
        const op = code & 0xf0;
        if ((code & SRC_X) === 0) {
          if ((op === ALU_DIV || op === ALU_MOD) && k === 0) throw bad("divides by the constant 0");
          if ((op === ALU_LSH || op === ALU_RSH) && k >= 32) throw bad(`shifts by ${k} (0..31)`);
        }
        break;
      }
      case CLASS_JMP:
        if ((code & 0xf0) === JMP_JA) {
          if (k >= 0x80000000) {
            throw bad("jumps backward (libpcap does that only for 'protochain', which fluxcap cannot run)");
          }
          if (i + 1 + k >= n) throw bad(`jumps to ${i + 1 + k}, past the end (${n} instructions)`);
        } else if (i + 1 + Math.max(jt, jf) >= n) {
          throw bad(`jumps to ${i + 1 + Math.max(jt, jf)}, past the end (${n} instructions)`);
        }
        break;
    }
  }
  if ((prog[n - 1].code & 0x07) !== CLASS_RET) {
    throw new FluxError(`Invalid BPF program: the last instruction (${n - 1}) is not a return`);
  }
  checkScratchWrites(prog);
}

/**
 * Refuses a program that may read a scratch word before writing it on some path (as the kernel's
 * checker does): libpcap's own interpreter leaves scratch memory uninitialised in older versions, so
 * such a program has no single meaning. Forward data flow over the jump DAG: a word is "written" at an
 * instruction when it is written on every path reaching it.
 */
function checkScratchWrites(prog: ArrayLike<BpfInsn>): void {
  const n = prog.length;
  const written = new Int32Array(n); // words written on every path reaching i (bit w = word w)
  const reached = new Uint8Array(n);
  reached[0] = 1;
  const flow = (to: number, mask: number) => {
    written[to] = reached[to] ? written[to] & mask : mask;
    reached[to] = 1;
  };
  for (let i = 0; i < n; i++) {
    if (!reached[i]) continue;
    const { code, jt, jf, k } = prog[i];
    const cls = code & 0x07;
    let mask = written[i];
    if ((cls === CLASS_LD || cls === CLASS_LDX) && (code & 0xe0) === MODE_MEM && (mask & (1 << k)) === 0) {
      throw new FluxError(
        `Invalid BPF program: instruction ${i} (code ${
          hex(code)
        }) reads scratch word ${k} before it is written`,
      );
    }
    if (cls === CLASS_ST || cls === CLASS_STX) mask |= 1 << k;
    if (cls === CLASS_RET) continue;
    if (cls === CLASS_JMP) {
      if ((code & 0xf0) === JMP_JA) flow(i + 1 + k, mask);
      else {
        flow(i + 1 + jt, mask);
        flow(i + 1 + jf, mask);
      }
    } else flow(i + 1, mask);
  }
}

/** Code that loads `size` bytes at `base + at` of `buf` into `dst` (bound already checked). */
function load(dst: string, size: number, base: string, at: number): string {
  const b = (i: number) => `buf[${base}${at + i === 0 ? "" : ` + ${at + i}`}]`;
  if (size === SIZE_B) return `${dst} = ${b(0)};`;
  if (size === SIZE_H) return `${dst} = (${b(0)} << 8) | ${b(1)};`;
  return `${dst} = ((${b(0)} << 24) | (${b(1)} << 16) | (${b(2)} << 8) | ${b(3)}) >>> 0;`;
}

function sizeBytes(size: number): number {
  return size === SIZE_W ? 4 : size === SIZE_H ? 2 : 1;
}

/** The JavaScript statement(s) of one ALU instruction. */
function alu(code: number, k: number): string {
  const op = code & 0xf0;
  const x = (code & SRC_X) !== 0;
  const v = x ? "X" : String(k);
  switch (op) {
    case ALU_ADD:
      return `A = (A + ${v}) >>> 0;`;
    case ALU_SUB:
      return `A = (A - ${v}) >>> 0;`;
    case ALU_MUL:
      return `A = Math.imul(A, ${v}) >>> 0;`;
    case ALU_DIV:
      // Both operands are below 2^32, so the double quotient never rounds across an integer.
      return x ? `if (X === 0) return 0; A = (A / X) >>> 0;` : `A = (A / ${k}) >>> 0;`;
    case ALU_MOD:
      return x ? `if (X === 0) return 0; A = A % X;` : `A = A % ${k};`;
    case ALU_AND:
      return `A = (A & ${v}) >>> 0;`;
    case ALU_OR:
      return `A = (A | ${v}) >>> 0;`;
    case ALU_XOR:
      return `A = (A ^ ${v}) >>> 0;`;
    case ALU_LSH:
      return x ? `A = X < 32 ? (A << X) >>> 0 : 0;` : `A = (A << ${k}) >>> 0;`;
    case ALU_RSH:
      return x ? `A = X < 32 ? A >>> X : 0;` : `A = A >>> ${k};`;
    default: // ALU_NEG (validated)
      return `A = (0 - A) >>> 0;`;
  }
}

/** The condition of a conditional jump, as a JavaScript expression over A, X and constants. */
function condition(code: number, k: number): string {
  const v = (code & SRC_X) !== 0 ? "X" : String(k);
  switch (code & 0xf0) {
    case JMP_JEQ:
      return `A === ${v}`;
    case JMP_JGT:
      return `A > ${v}`;
    case JMP_JGE:
      return `A >= ${v}`;
    default: // JMP_JSET (validated)
      return `(A & ${v}) !== 0`;
  }
}

/**
 * Deepest nesting of labelled blocks emitted; a program that would need more is translated into the
 * {@link TranslateOptions.form switch form} instead. V8's parser recurses per nested block and overflows
 * its stack near 2,500 levels on the main thread (less in a Worker); libpcap's programs need a handful.
 */
export const MAX_BLOCK_DEPTH = 256;

/** Options of {@linkcode translateBpf}. */
export interface TranslateOptions {
  /**
   * `"blocks"`: straight-line code, each jump a `break` out of a labelled block (the default, used when
   * the nesting stays within {@linkcode MAX_BLOCK_DEPTH}). `"switch"`: one `case` per jump target in a
   * `switch` inside a loop, each jump `pc = t; continue` (any size; used for programs too deeply nested
   * for blocks). `"auto"` (default) picks.
   */
  form?: "auto" | "blocks" | "switch";
}

/** The blocks `[start, target)` of the labelled form, properly nested; `start[t] = -1` when t is no target. */
function blockStarts(prog: ArrayLike<BpfInsn>): Int32Array {
  const n = prog.length;
  const start = new Int32Array(n + 1).fill(-1);
  const target = (i: number, t: number) => {
    if (t !== i + 1 && (start[t] === -1 || i < start[t])) start[t] = i;
  };
  for (let i = 0; i < n; i++) {
    const { code, jt, jf, k } = prog[i];
    if ((code & 0x07) !== CLASS_JMP) continue;
    if ((code & 0xf0) === JMP_JA) target(i, i + 1 + k);
    else {
      target(i, i + 1 + jt);
      target(i, i + 1 + jf);
    }
  }
  // Blocks must not cross: when [sa, a) and [sb, b) with a < b have sa < sb < a, b starts at sa instead.
  // Targets in ascending order; `roots` holds the outermost blocks so far (disjoint, in order). Only a
  // root can be the outermost block crossing b (a block inside a root that crosses b makes the root
  // cross it too), and roots ending after sb become b's children.
  const roots: number[] = [];
  for (let b = 1; b <= n; b++) {
    let sb = start[b];
    if (sb === -1) continue;
    while (roots.length > 0 && roots[roots.length - 1] > sb) {
      const r = roots.pop()!;
      if (start[r] < sb) sb = start[r];
    }
    start[b] = sb;
    roots.push(b);
  }
  return start;
}

/**
 * Translates a program into the source of a JavaScript function body (parameters `buf, off, len,
 * wirelen`), after {@linkcode validateBpf}. Exposed for tests and for looking at what runs.
 *
 * @example
 * ```ts
 * import { translateBpf } from "./bpf.ts";
 * // tcpdump -d 'arp': ldh [12]; jeq #0x806 jt 2 jf 3; ret #262144; ret #0
 * const src = translateBpf([
 *   { code: 0x28, jt: 0, jf: 0, k: 12 },
 *   { code: 0x15, jt: 0, jf: 1, k: 0x806 },
 *   { code: 0x06, jt: 0, jf: 0, k: 262144 },
 *   { code: 0x06, jt: 0, jf: 0, k: 0 },
 * ]);
 * console.assert(src.includes("break L3"));
 * ```
 */
export function translateBpf(prog: ArrayLike<BpfInsn>, opts: TranslateOptions = {}): string {
  validateBpf(prog);
  const n = prog.length;
  let usesX = false;
  let usesLen = false;
  let usesO = false;
  const mem = new Uint8Array(BPF_MEMWORDS);
  for (let i = 0; i < n; i++) {
    const { code, k } = prog[i];
    const cls = code & 0x07;
    const mode = code & 0xe0;
    const isLoad = cls === CLASS_LD || cls === CLASS_LDX;
    if (
      cls === CLASS_LDX || cls === CLASS_STX || cls === CLASS_MISC ||
      ((cls === CLASS_ALU || cls === CLASS_JMP) && (code & SRC_X) !== 0) ||
      (cls === CLASS_LD && mode === MODE_IND)
    ) {
      usesX = true;
    }
    if (isLoad && mode === MODE_LEN) usesLen = true;
    if (cls === CLASS_LD && mode === MODE_IND) usesO = true;
    if ((isLoad && mode === MODE_MEM) || cls === CLASS_ST || cls === CLASS_STX) mem[k] = 1;
  }

  // Labelled blocks: which open and close where, and how deep they nest.
  const start = blockStarts(prog);
  const opensAt: number[][] = Array.from({ length: n }, () => []);
  for (let t = n; t > 0; t--) if (start[t] !== -1) opensAt[start[t]].push(t); // outermost (largest t) first
  let depth = 0;
  let maxDepth = 0;
  for (let i = 0; i < n; i++) {
    if (start[i] !== -1) depth--;
    depth += opensAt[i].length;
    if (depth > maxDepth) maxDepth = depth;
  }
  const form = opts.form === "blocks" || opts.form === "switch"
    ? opts.form
    : maxDepth <= MAX_BLOCK_DEPTH
    ? "blocks"
    : "switch";
  // In the switch form, every jump target is a case.
  const isCase = new Uint8Array(n + 1);
  if (form === "switch") { for (let t = 1; t <= n; t++) if (start[t] !== -1) isCase[t] = 1; }

  const out: string[] = [];
  out.push("if (!(off >= 0 && len >= 0 && off + len <= buf.length)) return 0;");
  out.push("let A = 0;");
  if (usesX) out.push("let X = 0;");
  if (usesO) out.push("let o = 0;");
  if (usesLen) out.push("const wl = wirelen === undefined ? len : wirelen >>> 0;");
  for (let w = 0; w < BPF_MEMWORDS; w++) if (mem[w]) out.push(`let m${w} = 0;`);
  if (form === "switch") out.push("let pc = 0;", "for (;;) {", "switch (pc) {", "case 0:");
  const nest: number[] = []; // labels open during emission, to prove the blocks nest
  for (let i = 0; i < n; i++) {
    if (form === "blocks") {
      if (start[i] !== -1) {
        if (nest.pop() !== i) throw new Error(`BPF translation: block L${i} does not nest`);
        out.push(`} // L${i}`);
      }
      for (const t of opensAt[i]) {
        if (nest.length > 0 && nest[nest.length - 1] < t) throw new Error(`BPF translation: L${t} crosses`);
        nest.push(t);
        out.push(`L${t}: {`);
      }
    } else if (isCase[i]) out.push(`case ${i}:`);
    const { code, jt, jf, k } = prog[i];
    const cls = code & 0x07;
    const size = code & 0x18;
    const mode = code & 0xe0;
    const jump = (
      t: number,
    ) => (t === i + 1 ? "" : form === "blocks" ? `break L${t};` : `{ pc = ${t}; continue; }`);
    let s: string;
    switch (cls) {
      case CLASS_LD:
        if (mode === MODE_ABS) {
          s = `if (len < ${k + sizeBytes(size)}) return 0; ${load("A", size, "off", k)}`;
        } else if (mode === MODE_IND) {
          s = `if (X + ${k + sizeBytes(size)} > len) return 0; o = off + X; ${load("A", size, "o", k)}`;
        } else if (mode === MODE_LEN) s = "A = wl;";
        else if (mode === MODE_MEM) s = `A = m${k};`;
        else s = `A = ${k};`;
        break;
      case CLASS_LDX:
        if (mode === MODE_MSH) s = `if (len <= ${k}) return 0; X = (buf[off + ${k}] & 15) << 2;`;
        else if (mode === MODE_LEN) s = "X = wl;";
        else if (mode === MODE_MEM) s = `X = m${k};`;
        else s = `X = ${k};`;
        break;
      case CLASS_ST:
        s = `m${k} = A;`;
        break;
      case CLASS_STX:
        s = `m${k} = X;`;
        break;
      case CLASS_ALU:
        s = alu(code, k);
        break;
      case CLASS_JMP:
        if ((code & 0xf0) === JMP_JA) s = jump(i + 1 + k);
        else {
          const t = jump(i + 1 + jt);
          const f = jump(i + 1 + jf);
          const cond = condition(code, k);
          if (t === "" && f === "") s = "";
          else if (t === "") s = `if (!(${cond})) ${f}`;
          else if (f === "") s = `if (${cond}) ${t}`;
          else s = `if (${cond}) ${t} else ${f}`;
        }
        break;
      case CLASS_RET:
        s = (code & 0x18) === RET_A ? "return A;" : `return ${k};`;
        break;
      default: // CLASS_MISC
        s = (code & 0xf8) === MISC_TXA ? "A = X;" : "X = A;";
    }
    out.push(`${s} // ${i}`);
  }
  if (form === "switch") out.push("}", "return 0;", "}");
  // Unreachable after validation (the last instruction returns); keeps the function's result a number.
  out.push("return 0;");
  return out.join("\n");
}

/**
 * Validates and translates a program into a JavaScript function, once. The function allocates nothing
 * and reads only `buf[off, off + len)`; an `off`/`len` outside `buf` rejects the frame.
 *
 * @example
 * ```ts
 * import { compileBpf } from "./bpf.ts";
 * const arp = compileBpf([
 *   { code: 0x28, jt: 0, jf: 0, k: 12 },
 *   { code: 0x15, jt: 0, jf: 1, k: 0x806 },
 *   { code: 0x06, jt: 0, jf: 0, k: 262144 },
 *   { code: 0x06, jt: 0, jf: 0, k: 0 },
 * ]);
 * const frame = new Uint8Array(60);
 * frame[12] = 0x08, frame[13] = 0x06;
 * console.assert(arp(frame, 0, 60) === 262144);
 * ```
 */
export function compileBpf(prog: ArrayLike<BpfInsn>, opts: TranslateOptions = {}): BpfFilter {
  const body = translateBpf(prog, opts);
  // The body contains only numbers from validated fields and fixed text (see translateBpf).
  return new Function("buf", "off", "len", "wirelen", `"use strict";\n${body}`) as BpfFilter;
}

/**
 * When `expr` is exactly `vlan <id>` (fluxcap 3.2's only filter, see `parseVlanFilter`), returns the id:
 * such a filter keeps its 3.2 meaning (outer tag VID n, untagged frames filtered) and needs no library.
 * Returns `undefined` for any other expression (`vlan` alone, `vlan 100 and tcp`, `not vlan 100`, …).
 *
 * @example
 * ```ts
 * import { vlanOnly } from "./bpf.ts";
 * console.assert(vlanOnly(" VLAN  100 ") === 100);
 * console.assert(vlanOnly("vlan") === undefined);
 * console.assert(vlanOnly("vlan 100 and tcp") === undefined);
 * ```
 */
export function vlanOnly(expr: string): number | undefined {
  const v = parseVlanFilter(expr);
  return typeof v === "number" ? v : undefined;
}

/** Compiles a filter expression into classic BPF (in fluxcap: libpcap's `pcap_compile`, through FFI). */
export type FilterCompiler = (expr: string) => ArrayLike<BpfInsn>;

/** A filter expression ready to run: the 3.2 VLAN filter, or a translated BPF program. */
export type CompiledExpression =
  | { kind: "vlan"; expr: string; vid: number }
  | { kind: "bpf"; expr: string; program: readonly BpfInsn[]; filter: BpfFilter };

/**
 * Compiles a `-f` expression once, at configuration time. `vlan <id>` alone becomes `{ kind: "vlan" }`
 * (the existing pipeline stage; `compile` is not called, so no library is needed); any other expression
 * is compiled by `compile` and translated into a {@linkcode BpfFilter}. `vlan <n>` with an id above 4095
 * is refused here with 3.2's message. Errors (from `compile`, or an invalid program) are
 * {@linkcode FluxError}s whose one-line message names the expression.
 *
 * @example
 * ```ts
 * import { compileExpression } from "./bpf.ts";
 * const never = () => { throw new Error("no libpcap needed"); };
 * const f = compileExpression("vlan 100", never);
 * console.assert(f.kind === "vlan" && f.vid === 100);
 * const arp = compileExpression("arp", () => [
 *   { code: 0x28, jt: 0, jf: 0, k: 12 },
 *   { code: 0x15, jt: 0, jf: 1, k: 0x806 },
 *   { code: 0x06, jt: 0, jf: 0, k: 262144 },
 *   { code: 0x06, jt: 0, jf: 0, k: 0 },
 * ]);
 * console.assert(arp.kind === "bpf");
 * ```
 */
export function compileExpression(expr: string, compile: FilterCompiler): CompiledExpression {
  const vid = vlanOnly(expr);
  if (vid !== undefined) return { kind: "vlan", expr, vid };
  if (/^\s*vlan\s+[0-9]+\s*$/i.test(expr)) {
    const err = parseVlanFilter(expr);
    throw new FluxError(err instanceof Error ? err.message : `Cannot parse filter "${expr}"`);
  }
  const raw = compile(expr);
  const program: BpfInsn[] = Array.from(raw, ({ code, jt, jf, k }) => ({ code, jt, jf, k }));
  let filter: BpfFilter;
  try {
    filter = compileBpf(program);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new FluxError(`Cannot use filter "${oneLine(expr)}": ${why}`);
  }
  return { kind: "bpf", expr, program, filter };
}

/** `s` with every run of white space (newlines included) replaced by one space, trimmed. */
export function oneLine(s: string): string {
  return String(s).replace(/\s+/g, " ").trim();
}
