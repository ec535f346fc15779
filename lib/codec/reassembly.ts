/**
 * The fragment bookkeeping shared by `Ipv4Reassembler` and `Ipv6Reassembler`: bounded table of
 * in-progress datagrams, timeout, overlap and sanity checks, and counters. Never throws.
 *
 * @module
 */

/** Options for a reassembler. */
export interface ReassemblerOptions {
  /** Most datagrams in progress at once; the oldest is evicted to make room. Default 64. */
  maxDatagrams?: number;
  /** A datagram not complete this many ms after its first fragment is dropped. Default 30000. */
  timeoutMs?: number;
  /** Most fragments accepted for one datagram. Default 256. */
  maxFragments?: number;
}

/** Counters kept by a reassembler. */
export interface ReassemblyStats {
  /** Fragments offered (valid or not). */
  fragments: number;
  /** Datagrams returned complete. */
  completed: number;
  /** Fragments dropped because they overlapped (or duplicated) one already held. */
  overlaps: number;
  /** Fragments dropped as bogus: bad header, bad length or offset, conflicting end, too many. */
  invalid: number;
  /** Datagrams dropped because they were not complete in time. */
  timedOut: number;
  /** Datagrams dropped to make room for a new one. */
  evicted: number;
}

/** A reassembled datagram: the upper-layer protocol number and a fresh copy of the whole payload. */
export interface ReassembledDatagram {
  /** IPv4 protocol, or the IPv6 Next Header of the first fragment's fragment header. */
  protocol: number;
  /** The datagram payload (after the IP header / after the IPv6 fragment header). */
  payload: Uint8Array;
}

interface Piece {
  offset: number;
  data: Uint8Array;
}

interface Pending {
  created: number;
  pieces: Piece[];
  received: number;
  /** Payload length once the last fragment has been seen, else -1. */
  total: number;
  /** Highest end offset seen. */
  maxEnd: number;
  protocol: number;
}

/** Largest reassembled payload accepted. */
export const MAX_REASSEMBLED_PAYLOAD = 65535;

/** One fragment to add, described by offsets into a caller buffer (copied if kept). */
export interface FragmentInput {
  /** Identity of the datagram (addresses, protocol, id). */
  key: string;
  /** Fragment offset in bytes. */
  offset: number;
  /** Whether more fragments follow. */
  more: boolean;
  /** Upper-layer protocol carried. */
  protocol: number;
}

/**
 * The reassembly engine keyed by a string. Used through `Ipv4Reassembler` and `Ipv6Reassembler`.
 *
 * @example
 * ```ts
 * import { FragmentTable } from "./reassembly.ts";
 * const t = new FragmentTable({ maxDatagrams: 8 });
 * t.add({ key: "a", offset: 8, more: false, protocol: 17 }, new Uint8Array(4), 0, 4, 0); // undefined
 * t.add({ key: "a", offset: 0, more: true, protocol: 17 }, new Uint8Array(8), 0, 8, 1)!.payload.length; // 12
 * ```
 */
export class FragmentTable {
  #pending = new Map<string, Pending>();
  #maxDatagrams: number;
  #timeoutMs: number;
  #maxFragments: number;
  /** Counters; read them at any time. */
  readonly stats: ReassemblyStats = {
    fragments: 0,
    completed: 0,
    overlaps: 0,
    invalid: 0,
    timedOut: 0,
    evicted: 0,
  };

  /**
   * Creates an empty table.
   *
   * @param options Bounds and timeout.
   */
  constructor(options: ReassemblerOptions = {}) {
    this.#maxDatagrams = Math.max(1, options.maxDatagrams ?? 64);
    this.#timeoutMs = Math.max(0, options.timeoutMs ?? 30_000);
    this.#maxFragments = Math.max(1, options.maxFragments ?? 256);
  }

  /** Number of datagrams in progress. */
  get size(): number {
    return this.#pending.size;
  }

  /** Drops datagrams whose first fragment arrived `timeoutMs` or more before `now`. */
  expire(now: number): void {
    for (const [key, p] of this.#pending) {
      if (now - p.created < this.#timeoutMs) break;
      this.#pending.delete(key);
      this.stats.timedOut++;
    }
  }

  /** Counts a fragment that was rejected before reaching the table (e.g. a bad header). */
  reject(): void {
    this.stats.fragments++;
    this.stats.invalid++;
  }

  /**
   * Adds the fragment `buf[off, off + len)`; returns the datagram when this fragment completes it.
   */
  add(
    frag: FragmentInput,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): ReassembledDatagram | undefined {
    this.stats.fragments++;
    this.expire(now);
    const end = frag.offset + len;
    if (
      (frag.more && (len === 0 || len % 8 !== 0)) || end > MAX_REASSEMBLED_PAYLOAD || frag.offset % 8 !== 0
    ) {
      this.stats.invalid++;
      return undefined;
    }
    let p = this.#pending.get(frag.key);
    if (p === undefined) {
      if (this.#pending.size >= this.#maxDatagrams) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
        this.stats.evicted++;
      }
      p = { created: now, pieces: [], received: 0, total: -1, maxEnd: 0, protocol: frag.protocol };
      this.#pending.set(frag.key, p);
    }
    if (
      (!frag.more && ((p.total >= 0 && p.total !== end) || end < p.maxEnd)) ||
      (frag.more && p.total >= 0 && end > p.total) || p.pieces.length >= this.#maxFragments
    ) {
      this.stats.invalid++;
      return undefined;
    }
    for (const piece of p.pieces) {
      if (frag.offset < piece.offset + piece.data.length && piece.offset < end) {
        this.stats.overlaps++;
        return undefined;
      }
    }
    if (!frag.more) p.total = end;
    if (end > p.maxEnd) p.maxEnd = end;
    if (frag.offset === 0) p.protocol = frag.protocol;
    p.pieces.push({ offset: frag.offset, data: buf.slice(off, off + len) });
    p.received += len;
    if (p.total < 0 || p.received !== p.total) return undefined;
    const payload = new Uint8Array(p.total);
    for (const piece of p.pieces) payload.set(piece.data, piece.offset);
    this.#pending.delete(frag.key);
    this.stats.completed++;
    return { protocol: p.protocol, payload };
  }
}

/**
 * What the IPv4 and IPv6 reassemblers share: the fragment table and the accessors over it. Subclasses
 * add `push`, which parses their header and feeds {@link FragmentTable.add}.
 */
export abstract class ReassemblerBase {
  /** The datagrams in progress. */
  protected readonly table: FragmentTable;

  /**
   * Creates an empty reassembler.
   *
   * @param options Bounds and timeout (defaults: 64 datagrams, 30 s, 256 fragments each).
   */
  constructor(options: ReassemblerOptions = {}) {
    this.table = new FragmentTable(options);
  }

  /** Counters of fragments seen, datagrams completed, and drops by cause. */
  get stats(): ReassemblyStats {
    return this.table.stats;
  }

  /** Datagrams currently in progress. */
  get pending(): number {
    return this.table.size;
  }

  /** Drops datagrams older than the timeout; `push` does this too. */
  expire(now: number): void {
    this.table.expire(now);
  }
}
