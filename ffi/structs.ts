/**
 * Builders for the C structs fluxcap passes to the kernel, over the offsets in `consts.ts`: each
 * returns a fresh, zeroed `Uint8Array` laid out as the struct (x86_64, little-endian host order for
 * host fields; network order where the kernel wants it).
 *
 * @module
 */
import * as C from "./consts.ts";
import { addressable } from "./memory.ts";

function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

/** `struct sockaddr_ll` for `bind(2)` on a packet socket: family, protocol (host order in), ifindex. */
export function sockaddrLl(ifindex: number, protocol = 0): Uint8Array {
  const b = new Uint8Array(C.SOCKADDR_LL_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, C.AF_PACKET, true);
  v.setUint16(2, protocol, false);
  v.setInt32(4, ifindex, true);
  return b;
}

/** `struct packet_mreq` for PACKET_ADD_MEMBERSHIP. */
export function packetMreq(ifindex: number, type: number): Uint8Array {
  const b = new Uint8Array(C.PACKET_MREQ_SIZE);
  const v = new DataView(b.buffer);
  v.setInt32(0, ifindex, true);
  v.setUint16(4, type, true);
  return b;
}

/** `struct sockaddr_in` / `sockaddr_in6` for raw address bytes (4 or 16) and a port. */
export function sockaddrIp(bytes: ArrayLike<number>, port = 0): Uint8Array {
  const v4 = bytes.length === 4;
  const b = new Uint8Array(v4 ? C.SOCKADDR_IN_SIZE : C.SOCKADDR_IN6_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, v4 ? C.AF_INET : C.AF_INET6, true);
  v.setUint16(2, port, false);
  b.set(bytes, v4 ? 4 : 8);
  return b;
}

/** The address bytes (4 or 16) of a `sockaddr_in`/`sockaddr_in6` as `getsockname` filled it. */
export function sockaddrIpBytes(sa: Uint8Array): number[] {
  const fam = sa[0] | (sa[1] << 8);
  if (fam === C.AF_INET) return Array.from(sa.subarray(4, 8));
  if (fam === C.AF_INET6) return Array.from(sa.subarray(8, 24));
  throw new RangeError(`not an IP socket address (family ${fam})`);
}

/** An array of `struct pollfd`, one per descriptor, all asking for `events`. */
export class PollFds {
  /** The structs, for `poll(2)`. */
  readonly bytes: Uint8Array;
  readonly #v: DataView;
  readonly count: number;

  constructor(fds: readonly number[], events: number) {
    this.count = fds.length;
    this.bytes = new Uint8Array(Math.max(1, fds.length) * C.POLLFD_SIZE);
    this.#v = new DataView(this.bytes.buffer);
    fds.forEach((fd, i) => {
      this.#v.setInt32(i * C.POLLFD_SIZE, fd, true);
      this.#v.setInt16(i * C.POLLFD_SIZE + 4, events, true);
    });
  }

  /** The `poll(2)` argument for the structs from index `i` on. */
  from(i: number): Uint8Array {
    return i === 0 ? this.bytes : this.bytes.subarray(i * C.POLLFD_SIZE);
  }

  /** `revents` of entry `i`. */
  revents(i: number): number {
    return this.#v.getUint16(i * C.POLLFD_SIZE + 6, true);
  }

  /** Clears every `revents` (before a poll whose result is read per entry). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.#v.setUint16(i * C.POLLFD_SIZE + 6, 0, true);
  }
}

/** `struct tpacket_req3` (TPACKET_V3 RX ring): geometry and the block retire timeout in ms. */
export function tpacketReq3(
  geo: { blockSize: number; blockNr: number; frameSize: number; frameNr: number; retireMs: number },
): Uint8Array {
  const b = new Uint8Array(C.TPACKET_REQ3_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, geo.blockSize, true);
  v.setUint32(4, geo.blockNr, true);
  v.setUint32(8, geo.frameSize, true);
  v.setUint32(12, geo.frameNr, true);
  v.setUint32(16, geo.retireMs, true);
  return b;
}

/** `struct tpacket_req` (TPACKET_V2 TX ring). */
export function tpacketReq(
  geo: { blockSize: number; blockNr: number; frameSize: number; frameNr: number },
): Uint8Array {
  const b = new Uint8Array(C.TPACKET_REQ_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, geo.blockSize, true);
  v.setUint32(4, geo.blockNr, true);
  v.setUint32(8, geo.frameSize, true);
  v.setUint32(12, geo.frameNr, true);
  return b;
}

/** `struct ifreq` with `ifr_name` set (at most 15 bytes); the union is read at `IFREQ_UNION`. */
export function ifreq(name: string): Uint8Array {
  const b = new Uint8Array(C.IFREQ_SIZE);
  b.set(new TextEncoder().encode(name).subarray(0, 15));
  return b;
}

/** `struct flock` for an OFD lock on `len` bytes at `start`. */
export function flock(type: number, start: number, len: number): Uint8Array {
  const b = new Uint8Array(C.FLOCK_SIZE);
  const v = new DataView(b.buffer);
  v.setInt16(C.FLOCK_TYPE, type, true);
  v.setBigInt64(C.FLOCK_START, BigInt(start), true);
  v.setBigInt64(C.FLOCK_LEN, BigInt(len), true);
  return b;
}

/** A C `int` as 4 bytes (socket option values). */
export function int32(v: number): Uint8Array {
  return new Uint8Array(new Int32Array([v]).buffer);
}

export { htons };

/**
 * Writes one `struct iovec` (base `addr`, length `len`) at index `w` of a Uint32Array over an iovec
 * array; returns the index after it. For the hot loops that fill iovecs in place.
 */
export function putIov(v: Uint32Array, w: number, addr: number, len: number): number {
  v[w] = addr >>> 0;
  v[w + 1] = Math.floor(addr / 4294967296);
  v[w + 2] = len;
  v[w + 3] = 0;
  return w + 4;
}

/** Room for the path in `struct sockaddr_un` (108 bytes, NUL included for a path). */
export const SUN_PATH_MAX = 108;
/** `offsetof(struct sockaddr_un, sun_path)`: after the 2-byte family. */
const SUN_PATH_OFFSET = 2;

/**
 * `struct sockaddr_un` for `name` and its length: a path (NUL-terminated), or `@name` for the abstract
 * namespace (a leading NUL, and the length counts only the bytes of the name). Null for an empty path or
 * one longer than {@linkcode SUN_PATH_MAX} − 1 bytes.
 */
export function sockaddrUn(name: string): { addr: Uint8Array; len: number } | null {
  const abstract = name.startsWith("@");
  const bytes = new TextEncoder().encode(abstract ? name.slice(1) : name);
  if ((bytes.length === 0 && !abstract) || bytes.length + 1 > SUN_PATH_MAX) return null;
  const addr = new Uint8Array(SUN_PATH_OFFSET + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, C.AF_UNIX, true);
  // Abstract: sun_path[0] stays 0 and the name follows; the length ends exactly after it.
  addr.set(bytes, SUN_PATH_OFFSET + (abstract ? 1 : 0));
  const len = SUN_PATH_OFFSET + (abstract ? 1 + bytes.length : bytes.length + 1);
  return { addr, len };
}

/** Off-heap buffers that must stay alive while a struct points at them. */
const keep: Uint8Array[] = [];

/**
 * `struct sock_fprog` of a one-instruction classic BPF program, "return 0": a socket with it attached
 * (`SO_ATTACH_FILTER`) never queues anything to read. The instruction lives off-heap for the life of
 * the process (the kernel copies it at attach).
 */
export const DROP_ALL_FILTER: Uint8Array = (() => {
  const insn = addressable(8);
  insn.bytes[0] = 0x06; // BPF_RET | BPF_K, k = 0
  keep.push(insn.bytes);
  const prog = new Uint8Array(16);
  const pv = new DataView(prog.buffer);
  pv.setUint16(0, 1, true);
  pv.setBigUint64(8, BigInt(insn.addr), true);
  return prog;
})();
