/**
 * libpcap through Deno FFI, for filter expressions only: `pcap_compile` turns a pcap-filter expression
 * into classic BPF (which `lib/ops/bpf.ts` translates into JavaScript), and `pcap_offline_filter` runs a
 * compiled program the way tcpdump does (the reference for tests and the benchmark).
 *
 * The library is a separate `Deno.dlopen`, opened only when first needed, so fluxcap runs without
 * libpcap as long as no expression other than `vlan <id>` is given. Names tried, in order:
 * `libpcap.so.0.8` (Debian/Ubuntu's soname), `libpcap.so.1`, `libpcap.so`.
 *
 * Struct layouts (x86_64, LP64): `struct bpf_program` 16 bytes: `bf_len` u32 @0, `bf_insns` pointer @8;
 * `struct bpf_insn` 8 bytes: code u16 @0, jt u8 @2, jf u8 @3, k u32 @4; `struct pcap_pkthdr` 24 bytes:
 * `ts` (timeval) @0, caplen u32 @16, len u32 @20.
 *
 * @module
 */

import { FluxError } from "./flux_error.ts";

/** Link type of Ethernet, the only one fluxcap compiles for. */
export const DLT_EN10MB = 1;
/** `PCAP_NETMASK_UNKNOWN`: `ip broadcast` then fails to compile, everything else works. */
export const PCAP_NETMASK_UNKNOWN = 0xffffffff;
/** Snap length given to `pcap_open_dead` by default (tcpdump's default, and the return value of "keep"). */
export const DEFAULT_SNAPLEN = 262144;
/** Library names tried in order. */
export const LIBPCAP_NAMES = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"] as const;
/** Debian package that provides the library. */
export const LIBPCAP_PACKAGE = "libpcap0.8";
/** Longest program read back from libpcap (bounds the read of `bf_insns`). */
export const MAX_PROGRAM_INSNS = 1 << 20;

const BPF_PROGRAM_SIZE = 16;
const BPF_INSN_SIZE = 8;
const PKTHDR_SIZE = 24;
/** Marks the private construction path of {@linkcode OfflineFilter.fromProgram}. */
const PROGRAM_GIVEN = "\0program";

const SYMBOLS = {
  // pcap_t *pcap_open_dead(int linktype, int snaplen)
  pcap_open_dead: { parameters: ["i32", "i32"], result: "pointer" },
  // int pcap_compile(pcap_t *p, struct bpf_program *fp, const char *str, int optimize, bpf_u_int32 netmask)
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  // char *pcap_geterr(pcap_t *p)
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  // void pcap_freecode(struct bpf_program *fp)
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  // void pcap_close(pcap_t *p)
  pcap_close: { parameters: ["pointer"], result: "void" },
  // int pcap_offline_filter(const struct bpf_program *fp, const struct pcap_pkthdr *h, const u_char *pkt)
  pcap_offline_filter: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  // const char *pcap_lib_version(void)
  pcap_lib_version: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libpcap = Deno.DynamicLibrary<typeof SYMBOLS>;

let opened: Libpcap | undefined;

/**
 * libpcap could not be loaded: a runtime failure (exit status 1), not a mistake in the command line
 * (a filter expression libpcap refuses is one, and is reported as such by the caller).
 */
export class LibpcapMissing extends FluxError {
  constructor(message: string) {
    super(message);
    this.name = "LibpcapMissing";
  }
}

/**
 * Opens the first of `names` that loads, with fluxcap's symbol table. Throws a {@linkcode LibpcapMissing}
 * whose one-line message names the library and the Debian package when none loads. A missing
 * `--allow-ffi` permission is rethrown as is. Most callers want {@linkcode libpcap}, which caches.
 *
 * @example
 * ```ts
 * import { openLibpcap } from "./libpcap.ts";
 * try {
 *   openLibpcap(["libpcap-absent.so"]);
 * } catch (e) {
 *   console.log((e as Error).message); // Cannot load libpcap (tried libpcap-absent.so): … libpcap0.8 …
 * }
 * ```
 */
export function openLibpcap(names: readonly string[] = LIBPCAP_NAMES): Libpcap {
  for (const name of names) {
    try {
      return Deno.dlopen(name, SYMBOLS);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
    }
  }
  throw new LibpcapMissing(
    `Cannot load libpcap (tried ${names.join(", ")}): filter expressions other than 'vlan <id>' need it; ` +
      `install the Debian package ${LIBPCAP_PACKAGE}`,
  );
}

/** The process-wide libpcap, opened on first use (see {@linkcode openLibpcap}). */
export function libpcap(): Libpcap {
  opened ??= openLibpcap();
  return opened;
}

/** libpcap's version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)". Opens the library. */
export function libpcapVersion(): string {
  const p = libpcap().symbols.pcap_lib_version();
  return p === null ? "" : new Deno.UnsafePointerView(p).getCString();
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function oneLine(s: string): string {
  return String(s).replace(/\s+/g, " ").trim();
}

/** One instruction of a compiled program (`struct bpf_insn`). Same shape as `BpfInsn` in lib/ops/bpf.ts. */
export interface PcapInsn {
  /** Opcode. */
  code: number;
  /** Jump-if-true offset. */
  jt: number;
  /** Jump-if-false offset. */
  jf: number;
  /** Constant operand. */
  k: number;
}

/**
 * Compiles `prog` (a zeroed 16-byte `struct bpf_program`) in place with libpcap, optimised, for
 * Ethernet. Throws a one-line {@linkcode FluxError} with libpcap's message and the expression. On
 * success the caller owns the program and must `pcap_freecode` it.
 */
function compileInto(expr: string, snaplen: number, prog: Uint8Array<ArrayBuffer>): void {
  if (typeof expr !== "string") throw new FluxError(`Cannot compile filter "${expr}": not a string`);
  if (expr.includes("\0")) {
    throw new FluxError(`Cannot compile filter "${oneLine(expr)}": contains a NUL byte`);
  }
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
    throw new FluxError(`Cannot compile filter "${oneLine(expr)}": snap length "${snaplen}" out of range`);
  }
  const { pcap_open_dead, pcap_compile, pcap_geterr, pcap_close } = libpcap().symbols;
  const p = pcap_open_dead(DLT_EN10MB, snaplen);
  if (p === null) throw new FluxError(`Cannot compile filter "${oneLine(expr)}": pcap_open_dead failed`);
  try {
    if (pcap_compile(p, prog, cString(expr), 1, PCAP_NETMASK_UNKNOWN) !== 0) {
      const e = pcap_geterr(p);
      const why = e === null ? "unknown error" : oneLine(new Deno.UnsafePointerView(e).getCString());
      throw new FluxError(`Cannot compile filter "${oneLine(expr)}": ${why}`);
    }
  } finally {
    pcap_close(p);
  }
}

/** Reads the instructions of a compiled `struct bpf_program`, with bounds checks. */
function readProgram(expr: string, prog: Uint8Array<ArrayBuffer>): PcapInsn[] {
  const dv = new DataView(prog.buffer, prog.byteOffset, BPF_PROGRAM_SIZE);
  const n = dv.getUint32(0, true);
  const addr = dv.getBigUint64(8, true);
  if (n < 1 || n > MAX_PROGRAM_INSNS || addr === 0n) {
    throw new FluxError(
      `Cannot compile filter "${oneLine(expr)}": libpcap returned a program of ${n} instructions at 0x${
        addr.toString(16)
      }`,
    );
  }
  const ptr = Deno.UnsafePointer.create(addr);
  if (ptr === null) throw new FluxError(`Cannot compile filter "${oneLine(expr)}": null program`);
  const bytes = new Uint8Array(n * BPF_INSN_SIZE);
  new Deno.UnsafePointerView(ptr).copyInto(bytes);
  const v = new DataView(bytes.buffer);
  const out: PcapInsn[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = i * BPF_INSN_SIZE;
    out[i] = {
      code: v.getUint16(b, true),
      jt: v.getUint8(b + 2),
      jf: v.getUint8(b + 3),
      k: v.getUint32(b + 4, true),
    };
  }
  return out;
}

/**
 * Compiles a pcap-filter expression (`man pcap-filter`) with libpcap's own compiler, optimised, for
 * Ethernet (`pcap_open_dead(DLT_EN10MB, snaplen)`, `pcap_compile(…, 1, PCAP_NETMASK_UNKNOWN)`), and
 * returns its classic BPF instructions. Throws a {@linkcode FluxError} with one line: libpcap's message
 * and the expression (syntax error), or the missing library and its Debian package.
 *
 * @example
 * ```ts
 * import { compileFilter } from "./libpcap.ts";
 * const prog = compileFilter("arp"); // ldh [12]; jeq #0x806 …; ret #262144; ret #0
 * console.assert(prog[0].code === 0x28 && prog[0].k === 12);
 * ```
 */
export function compileFilter(expr: string, snaplen = DEFAULT_SNAPLEN): PcapInsn[] {
  const prog = new Uint8Array(BPF_PROGRAM_SIZE);
  compileInto(expr, snaplen, prog);
  try {
    return readProgram(expr, prog);
  } finally {
    libpcap().symbols.pcap_freecode(prog);
  }
}

/**
 * A program compiled by libpcap and run by libpcap (`pcap_offline_filter`), as tcpdump runs it on a
 * file: the reference the JavaScript translation is tested and benchmarked against. Owns native memory:
 * call {@linkcode OfflineFilter.close} (or use `using`).
 *
 * @example
 * ```ts
 * import { OfflineFilter } from "./libpcap.ts";
 * using f = new OfflineFilter("arp");
 * const frame = new Uint8Array(60);
 * frame[12] = 0x08, frame[13] = 0x06;
 * console.assert(f.match(frame) !== 0);
 * ```
 */
export class OfflineFilter {
  #prog: Uint8Array<ArrayBuffer> = new Uint8Array(BPF_PROGRAM_SIZE);
  #hdr: Uint8Array<ArrayBuffer> = new Uint8Array(PKTHDR_SIZE);
  #hdr32 = new Uint32Array(this.#hdr.buffer);
  #open = false;
  #run: Libpcap["symbols"]["pcap_offline_filter"];
  /** The expression, as given. */
  readonly expr: string;

  /** Instructions handed to libpcap by {@linkcode OfflineFilter.fromProgram}: kept referenced while in use. */
  #insns: Uint8Array<ArrayBuffer> | undefined;

  /** Compiles `expr` with libpcap (see {@linkcode compileFilter} for the errors). */
  constructor(expr: string, snaplen = DEFAULT_SNAPLEN) {
    this.expr = expr === PROGRAM_GIVEN ? "(hand-built program)" : expr;
    this.#run = libpcap().symbols.pcap_offline_filter;
    if (expr === PROGRAM_GIVEN) return;
    compileInto(expr, snaplen, this.#prog);
    this.#open = true;
  }

  /**
   * Runs a program built by hand (not by `pcap_compile`) with libpcap's interpreter: the oracle for the
   * translation's semantics on instructions libpcap rarely emits. libpcap does not validate it: pass
   * only programs `validateBpf` accepts.
   */
  static fromProgram(prog: ArrayLike<PcapInsn>): OfflineFilter {
    const n = prog.length;
    if (n < 1 || n > MAX_PROGRAM_INSNS) throw new RangeError(`program of ${n} instructions`);
    const f = new OfflineFilter(PROGRAM_GIVEN);
    const insns = new Uint8Array(n * BPF_INSN_SIZE);
    const v = new DataView(insns.buffer);
    for (let i = 0; i < n; i++) {
      const b = i * BPF_INSN_SIZE;
      v.setUint16(b, prog[i].code, true);
      v.setUint8(b + 2, prog[i].jt);
      v.setUint8(b + 3, prog[i].jf);
      v.setUint32(b + 4, prog[i].k, true);
    }
    const dv = new DataView(f.#prog.buffer);
    dv.setUint32(0, n, true);
    dv.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(insns))), true);
    f.#insns = insns;
    f.#open = true;
    return f;
  }

  /**
   * libpcap's verdict on one frame: its bytes are all of `pkt` (caplen = `pkt.length`), its length on
   * the wire `wirelen`. Returns the program's value (0 = reject). Allocation-free.
   */
  match(pkt: Uint8Array, wirelen: number = pkt.length): number {
    if (!this.#open) throw new Error(`OfflineFilter "${this.expr}" is closed`);
    this.#hdr32[4] = pkt.length;
    this.#hdr32[5] = wirelen;
    return this.#run(this.#prog, this.#hdr, pkt) >>> 0;
  }

  /** Frees the program. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#insns === undefined) libpcap().symbols.pcap_freecode(this.#prog);
    this.#insns = undefined;
  }

  /** Same as {@linkcode OfflineFilter.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
