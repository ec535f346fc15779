/**
 * Flow-balanced output groups: a symmetric flow hash ({@linkcode FlowHasher}) and rendezvous member
 * choice with failover ({@linkcode Rendezvous}). Pure and allocation-free per frame.
 *
 * ## What is hashed (mode `"flows"`, the default)
 * The frame is read as it is in the ring (tags in place). Up to two VLAN tags (TPID 0x8100, 0x88a8 or
 * 0x9100) are skipped; the tags themselves are never hashed, so two SPAN copies tagged differently
 * still go to one member.
 * - IPv4 / IPv6 with TCP, UDP, SCTP, UDP-Lite or DCCP, not fragmented: addresses, protocol and ports.
 * - IPv4 / IPv6 fragments, and other protocols (ICMP, GRE, ESP, …): addresses and protocol. A packet is
 *   a fragment when IPv4's MF flag is set or its offset is not 0, or when an IPv6 fragment header has M
 *   set or a non-zero offset; its protocol is then the IPv4 protocol field / the fragment header's next
 *   header. The *first* fragment carries the ports but is hashed without them, like the others, so
 *   every fragment of a packet goes to one member.
 *   Consequence: a flow whose packets are only sometimes fragmented (e.g. large UDP datagrams among small
 *   ones) may have its fragmented packets on another member than its whole ones. Mode `"addresses"`
 *   avoids that.
 * - IPv6 extension headers hop-by-hop, routing, destination options and AH (and an atomic fragment
 *   header: offset 0, M clear) are walked, at most 8 of them, to find the protocol and ports.
 * - Anything else (ARP, LLDP, MPLS, more than two tags, a frame too short for its IP header): the two
 *   MAC addresses. Frames under 14 bytes all hash alike.
 *
 * Mode `"addresses"`: every IP frame on its two addresses only (no protocol, no ports), so a sensor sees
 * whole conversations between two hosts, fragments included; non-IP frames as above.
 *
 * Both directions hash alike: the two endpoints (address, then port) are put in a fixed order first.
 *
 * ## Member choice
 * {@linkcode Rendezvous.pick} gives each up member a score `fmix32(mix32(seed_i, hash))` and takes the
 * highest (highest random weight). A member going down moves only the flows it had (each to the member
 * with its second-highest score); when it comes back exactly those flows return. Nobody else's flows
 * move.
 *
 * @module
 */

import { fmix32, mix32 } from "./hash.ts";
import { isVlanTpid } from "../codec/mod.ts";

/** `--balance` mode: whole flows (default) or host pairs (`addresses`). */
export type BalanceMode = "flows" | "addresses";

/** The most members a group may have (the up set is a 64-bit mask). */
export const MAX_MEMBERS = 64;

/** What the last frame was hashed on (for tests and diagnostics). */
export const FlowKind = {
  /** Under 14 bytes, or outside its buffer. */
  short: 0,
  /** The MAC pair (not IP, or IP too short to read). */
  mac: 1,
  /** IP addresses, protocol and ports. */
  ports: 2,
  /** IP addresses and protocol (fragment, or a protocol without ports). */
  protocol: 3,
  /** IP addresses only (mode `addresses`). */
  addresses: 4,
} as const;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const MAX_TAGS = 2;
const MAX_IPV6_EXT = 8;

// Distinct starting states, so that an IPv4 and an IPv6 or MAC key never hash alike by construction.
const SEED_MAC = 0x6d616321;
const SEED_V4 = 0x69707634;
const SEED_V6 = 0x69707636;

/**
 * Big-endian 32-bit word at `p`, as a signed int32: V8 keeps int32 values unboxed (small integers)
 * across calls, where an unsigned value ≥ 2^31 returned from a function that is not inlined is a heap
 * number (measured: ~11 bytes allocated per frame with unsigned words and results). Signed order is as
 * good a total order as unsigned for putting two endpoints in a fixed order.
 */
function w32(buf: Uint8Array, p: number): number {
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

/** Protocols whose first 4 bytes are source and destination ports. */
function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132 || proto === 136 || proto === 33;
}

/**
 * Symmetric flow hash of Ethernet frames (see the module doc for what is hashed). One instance per
 * worker; `hash` allocates nothing.
 *
 * @example
 * ```ts
 * import { FlowHasher } from "./flow.ts";
 * const h = new FlowHasher("flows");
 * const frame = new Uint8Array(54);
 * frame[12] = 0x08, frame[14] = 0x45, frame[23] = 6; // IPv4, TCP
 * console.assert(h.hash(frame, 0, 54) === h.hash(frame, 0, 54));
 * ```
 */
export class FlowHasher {
  /** The mode given. */
  readonly mode: BalanceMode;
  /** What the last frame was hashed on: a {@linkcode FlowKind} value. */
  kind = 0;
  #addressesOnly: boolean;
  #seed: number;

  /** `seed` varies the hash between deployments (the same seed gives the same member choice). */
  constructor(mode: BalanceMode = "flows", seed = 0) {
    if (mode !== "flows" && mode !== "addresses") throw new RangeError(`Unknown balance mode "${mode}"`);
    this.mode = mode;
    this.#addressesOnly = mode === "addresses";
    this.#seed = seed | 0;
  }

  /**
   * The flow hash of the frame `buf[off, off + len)`: a signed 32-bit integer (int32, so that it stays
   * a V8 small integer and the call allocates nothing).
   */
  hash(buf: Uint8Array, off: number, len: number): number {
    if (!(off >= 0 && len >= 14 && off + len <= buf.length)) {
      this.kind = FlowKind.short;
      return fmix32(this.#seed) | 0;
    }
    const end = off + len;
    let p = off + 12;
    let type = (buf[p] << 8) | buf[p + 1];
    for (let t = 0; t < MAX_TAGS && isVlanTpid(type); t++) {
      if (p + 8 > end) return this.#macs(buf, off);
      p += 4;
      type = (buf[p] << 8) | buf[p + 1];
    }
    p += 2;
    if (type === ETHERTYPE_IPV4) return this.#ipv4(buf, off, p, end);
    if (type === ETHERTYPE_IPV6) return this.#ipv6(buf, off, p, end);
    return this.#macs(buf, off);
  }

  #macs(buf: Uint8Array, off: number): number {
    this.kind = FlowKind.mac;
    let a1 = w32(buf, off);
    let a2 = (buf[off + 4] << 8) | buf[off + 5];
    let b1 = w32(buf, off + 6);
    let b2 = (buf[off + 10] << 8) | buf[off + 11];
    if (a1 > b1 || (a1 === b1 && a2 > b2)) {
      const t1 = a1, t2 = a2;
      a1 = b1, a2 = b2, b1 = t1, b2 = t2;
    }
    let h = this.#seed ^ SEED_MAC;
    h = mix32(h, a1);
    h = mix32(h, (a2 << 16) | b2);
    h = mix32(h, b1);
    return fmix32(h ^ 12) | 0;
  }

  #ipv4(buf: Uint8Array, off: number, p: number, end: number): number {
    if (p + 20 > end || buf[p] >> 4 !== 4 || (buf[p] & 15) < 5) return this.#macs(buf, off);
    let a = w32(buf, p + 12);
    let b = w32(buf, p + 16);
    let h = this.#seed ^ SEED_V4;
    if (this.#addressesOnly) {
      this.kind = FlowKind.addresses;
      if (a > b) h = mix32(mix32(h, b), a);
      else h = mix32(mix32(h, a), b);
      return fmix32(h ^ 8) | 0;
    }
    const proto = buf[p + 9];
    const fragment = (((buf[p + 6] << 8) | buf[p + 7]) & 0x3fff) !== 0;
    const l4 = p + ((buf[p] & 15) << 2);
    if (!fragment && hasPorts(proto) && l4 + 4 <= end) {
      this.kind = FlowKind.ports;
      let pa = (buf[l4] << 8) | buf[l4 + 1];
      let pb = (buf[l4 + 2] << 8) | buf[l4 + 3];
      if (a > b || (a === b && pa > pb)) {
        const t = a, tp = pa;
        a = b, pa = pb, b = t, pb = tp;
      }
      h = mix32(mix32(mix32(mix32(h, a), b), (pa << 16) | pb), proto);
      return fmix32(h ^ 13) | 0;
    }
    this.kind = FlowKind.protocol;
    if (a > b) h = mix32(mix32(h, b), a);
    else h = mix32(mix32(h, a), b);
    return fmix32(mix32(h, proto) ^ 9) | 0;
  }

  #ipv6(buf: Uint8Array, off: number, p: number, end: number): number {
    if (p + 40 > end || buf[p] >> 4 !== 6) return this.#macs(buf, off);
    // Source and destination as four words each; put the smaller address first.
    let s = p + 8;
    let d = p + 24;
    let pa = 0;
    let pb = 0;
    let order = 0; // < 0: source first, > 0: destination first, 0: equal addresses (ports decide)
    for (let i = 0; i < 16 && order === 0; i += 4) {
      const x = w32(buf, s + i);
      const y = w32(buf, d + i);
      if (x !== y) order = x < y ? -1 : 1;
    }
    let h = this.#seed ^ SEED_V6;
    if (this.#addressesOnly) {
      this.kind = FlowKind.addresses;
      if (order > 0) {
        const t = s;
        s = d, d = t;
      }
      h = mix32(mix32(mix32(mix32(h, w32(buf, s)), w32(buf, s + 4)), w32(buf, s + 8)), w32(buf, s + 12));
      h = mix32(mix32(mix32(mix32(h, w32(buf, d)), w32(buf, d + 4)), w32(buf, d + 8)), w32(buf, d + 12));
      return fmix32(h ^ 32) | 0;
    }
    // Walk the extension headers to the protocol; stop at a (non-atomic) fragment header.
    let nh = buf[p + 6];
    let q = p + 40;
    let ports = true;
    for (let i = 0; i < MAX_IPV6_EXT; i++) {
      if (nh === 0 || nh === 43 || nh === 60) {
        if (q + 2 > end) {
          ports = false;
          break;
        }
        nh = buf[q];
        q += (buf[q + 1] + 1) << 3;
      } else if (nh === 51) {
        if (q + 2 > end) {
          ports = false;
          break;
        }
        nh = buf[q];
        q += (buf[q + 1] + 2) << 2;
      } else if (nh === 44) {
        if (q + 8 > end) {
          ports = false;
          break;
        }
        nh = buf[q];
        if ((((buf[q + 2] << 8) | buf[q + 3]) & 0xfff9) !== 0) {
          ports = false; // offset ≠ 0 or M set: a real fragment
          break;
        }
        q += 8;
      } else break;
    }
    if (ports && hasPorts(nh) && q + 4 <= end) {
      this.kind = FlowKind.ports;
      pa = (buf[q] << 8) | buf[q + 1];
      pb = (buf[q + 2] << 8) | buf[q + 3];
      if (order > 0 || (order === 0 && pa > pb)) {
        const t = s, tp = pa;
        s = d, pa = pb, d = t, pb = tp;
      }
    } else {
      this.kind = FlowKind.protocol;
      if (order > 0) {
        const t = s;
        s = d, d = t;
      }
    }
    h = mix32(mix32(mix32(mix32(h, w32(buf, s)), w32(buf, s + 4)), w32(buf, s + 8)), w32(buf, s + 12));
    h = mix32(mix32(mix32(mix32(h, w32(buf, d)), w32(buf, d + 4)), w32(buf, d + 8)), w32(buf, d + 12));
    h = mix32(mix32(h, (pa << 16) | pb), nh);
    return fmix32(h ^ 37) | 0;
  }
}

/**
 * Rendezvous (highest-random-weight) choice of one member of a group of up to 64, with an up/down state
 * per member. Members start up.
 *
 * @example
 * ```ts
 * import { Rendezvous } from "./flow.ts";
 * const group = new Rendezvous(3);
 * const m = group.pick(0xdeadbeef); // 0, 1 or 2, always the same for this hash
 * group.setUp(m, false);
 * console.assert(group.pick(0xdeadbeef) !== m);
 * group.setUp(m, true);
 * console.assert(group.pick(0xdeadbeef) === m);
 * ```
 */
export class Rendezvous {
  /** Number of members. */
  readonly size: number;
  #seeds: Int32Array;
  #upLo = 0;
  #upHi = 0;

  /** `size` members (1..64); `seed` varies the assignment between deployments. */
  constructor(size: number, seed = 0) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_MEMBERS) {
      throw new RangeError(`Group size "${size}" is out of range 1..${MAX_MEMBERS}`);
    }
    this.size = size;
    this.#seeds = new Int32Array(size);
    for (let i = 0; i < size; i++) this.#seeds[i] = fmix32(mix32(seed | 0, 0x9e3779b9 + i) ^ i) | 0;
    this.#upLo = size >= 32 ? -1 : ((1 << size) - 1) | 0;
    this.#upHi = size <= 32 ? 0 : size === 64 ? -1 : ((1 << (size - 32)) - 1) | 0;
  }

  /** Marks member `i` up or down. */
  setUp(i: number, up: boolean): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`No member ${i}`);
    if (i < 32) this.#upLo = up ? this.#upLo | (1 << i) : this.#upLo & ~(1 << i);
    else this.#upHi = up ? this.#upHi | (1 << (i - 32)) : this.#upHi & ~(1 << (i - 32));
  }

  /** Whether member `i` is up. */
  isUp(i: number): boolean {
    return i >= 0 && i < this.size && ((i < 32 ? this.#upLo >>> i : this.#upHi >>> (i - 32)) & 1) === 1;
  }

  /** The up members as a bit mask (bit i = member i). */
  get upMask(): bigint {
    return (BigInt(this.#upHi >>> 0) << 32n) | BigInt(this.#upLo >>> 0);
  }

  /** Number of members up. */
  get upCount(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.isUp(i)) n++;
    return n;
  }

  /** The member for flow hash `hash`, or -1 when every member is down. Allocation-free. */
  pick(hash: number): number {
    let best = -1;
    let bestScore = -1;
    const seeds = this.#seeds;
    for (let i = 0; i < this.size; i++) {
      const up = i < 32 ? this.#upLo >>> i : this.#upHi >>> (i - 32);
      if ((up & 1) === 0) continue;
      const score = fmix32(mix32(seeds[i], hash));
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }
}
