/**
 * What a capture side reads from: a NIC, a tunnel, a capture file. A source hands frames to the
 * receive loop's {@linkcode Ingest} (which applies the frame operations and writes the ring); it counts
 * nothing itself except what it alone can see (a malformed tunnel packet, a kernel drop).
 *
 * @module
 */

/** Where a source puts frames: the receive loop (frame operations, then the ring). */
export interface Ingest {
  /**
   * One frame: `buf[off, off + len)`, its original length on the wire (`wire`, without an out-of-band
   * tag) and capture time. `tpid`/`tci`: an outer VLAN tag the kernel held out of band (0 = none), put
   * back at byte 12 unless the frame operations say otherwise. Returns -1 when the frame went into the
   * ring, else the drop reason it was counted under.
   */
  frame(
    buf: Uint8Array,
    off: number,
    len: number,
    wire: number,
    sec: number,
    nsec: number,
    tpid: number,
    tci: number,
  ): number;
  /** A frame or packet the source could not use, counted under `reason` (a drop-reason index). */
  drop(reason: number): number;
  /** Publishes what was written so far (sources call it inside long batches and before they sleep). */
  commit(): void;
}

/** Kernel counters since the previous call. */
export interface KernelStats {
  /** Packets the kernel dropped before the source saw them. */
  drops: number;
  /** Packets the kernel handed over or dropped. */
  packets: number;
  /** Packets lost to IP reassembly that failed in the kernel (fragments that timed out or overlapped). */
  reassembly?: number;
}

/** Returned by {@linkcode Source.read} when the source has no more frames, ever (a replayed file). */
export const SOURCE_DONE = -1;

/** A capture input. Opened in the worker; owns its sockets or files. */
export interface Source extends Disposable {
  /** Describes the source for the ring's writer entry (`rx eth1`). */
  readonly desc: string;
  /**
   * Hands every frame that is ready to `into`; returns how many frames it handed (0: nothing ready) or
   * {@linkcode SOURCE_DONE}. Never blocks for long; may nap through `nap` (file pacing), which returns
   * false when the loop must stop.
   */
  read(into: Ingest, nap: (ms: number) => boolean): number;
  /** Sleeps until frames may be ready, at most `ms`. */
  wait(ms: number): void;
  /** Kernel counters since the last call, or null when the source has none. */
  kernelStats(): KernelStats | null;
  /** Housekeeping about ten times a second; throws when the source is gone for good. */
  tick(now: number): void;
  /** A last line for the log when the source ends (or null). */
  summary(): string | null;
  /** Releases its sockets, mappings or files. Safe to call twice. */
  close(): void;
}
