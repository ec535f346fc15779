/**
 * Native memory: shared mappings, addresses of JS buffers, pointer arithmetic. The only place (with the
 * symbol table) that touches `Deno.UnsafePointer`; everything above works with `ArrayBuffer`s and plain
 * numeric addresses.
 *
 * @module
 */
import * as C from "./consts.ts";
import { SysError } from "./errors.ts";
import { errno, mmap, munmap } from "./libc.ts";

/** Options for {@linkcode mapShared}. */
export interface MapOptions {
  /** Map read-only (PROT_READ); default read-write. */
  readOnly?: boolean;
  /** MAP_POPULATE: fault every page in now. */
  populate?: boolean;
  /** For the error message: what is mapped ("ring", "the kernel RX ring of"). */
  what: string;
  /** For the error message: its name. */
  name: string;
}

/**
 * A `MAP_SHARED` mapping of a descriptor. Owns the mapping: {@linkcode Mapping.unmap} releases it once;
 * the caller must drop every view of {@linkcode Mapping.buffer} first (touching it afterwards is a
 * SIGSEGV, not an exception).
 */
export class Mapping {
  /** The mapped bytes. */
  readonly buffer: ArrayBuffer;
  /** Numeric address of the first byte (exact: user-space addresses are below 2^53). */
  readonly addr: number;
  /** Length in bytes. */
  readonly length: number;
  #ptr: Deno.PointerObject | null;

  constructor(ptr: Deno.PointerObject, length: number) {
    this.#ptr = ptr;
    this.length = length;
    this.buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, length);
    this.addr = Number(Deno.UnsafePointer.value(ptr));
  }

  /** Pointer to byte `off` of the mapping (for calls that take a pointer, such as futex). */
  pointerAt(off: number): Deno.PointerObject {
    if (this.#ptr === null) throw new RangeError("mapping released");
    if (!(off >= 0 && off < this.length)) throw new RangeError(`offset ${off} outside the mapping`);
    return Deno.UnsafePointer.offset(this.#ptr, off) as Deno.PointerObject;
  }

  /** Unmaps. Safe to call twice. */
  unmap(): void {
    if (this.#ptr === null) return;
    munmap(this.#ptr, BigInt(this.length));
    this.#ptr = null;
  }
}

/** Maps `length` bytes of `fd` shared; throws {@linkcode SysError} `Cannot map <what> "<name>": …`. */
export function mapShared(fd: number, length: number, opts: MapOptions): Mapping {
  const prot = opts.readOnly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE;
  const flags = C.MAP_SHARED | (opts.populate ? C.MAP_POPULATE : 0);
  const p = mmap(null, BigInt(length), prot, flags, fd, 0n);
  if (p === null || Deno.UnsafePointer.value(p) === C.MAP_FAILED) {
    throw new SysError("map", opts.what, opts.name, errno());
  }
  return new Mapping(p, length);
}

/**
 * Numeric address of a typed array's first byte. Keep the array referenced while C may use the
 * address (~300 ns: compute it once per buffer, never per batch).
 */
export function addrOf(buf: ArrayBufferView): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/**
 * A buffer of `n` bytes whose address C may keep (an iovec, a control buffer): its own ArrayBuffer, so
 * the address stays valid as long as `bytes` is referenced.
 */
export function addressable(n: number): { bytes: Uint8Array; addr: number } {
  const bytes = new Uint8Array(new ArrayBuffer(Math.max(n, 16)), 0, n);
  return { bytes, addr: addrOf(bytes) };
}

/** Pointer to a native address (from a struct field), or null for 0. */
export function pointerFrom(addr: bigint): Deno.PointerValue {
  return addr === 0n ? null : Deno.UnsafePointer.create(addr);
}

/** Copies `n` bytes at native address `p + off` into a new array (bounded reads of C structs). */
export function readNative(p: Deno.PointerValue, off: number, n: number): Uint8Array {
  if (p === null) throw new RangeError("NULL pointer");
  const out = new Uint8Array(n);
  new Deno.UnsafePointerView(p).copyInto(out, off);
  return out;
}

/** A 64-bit pointer field at byte `off` of native memory at `p`. */
export function readPointer(p: Deno.PointerValue, off: number): Deno.PointerValue {
  if (p === null) return null;
  return new Deno.UnsafePointerView(p).getPointer(off);
}

/** Pointer to a typed array's first byte, for `pointer` parameters (a futex word, say). */
export function pointerOf(buf: ArrayBufferView): Deno.PointerValue {
  return Deno.UnsafePointer.of(buf);
}
