/**
 * What a transmit side sends to: a NIC (`sendmmsg` or a TX ring), a tunnel, capture files. The
 * transmit loop stages the frames of a ring batch, flushes them, and counts each frame once, under the
 * outcome the sink reports for it.
 *
 * ## A frame, as staged
 * `buf[off, off + headLen) ++ tag[0, tagLen) ++ buf[off + tailOff, off + tailOff + tailLen)`, as the
 * frame pipeline cut it (`tag` is the one `setTag` gave). `addr` is the native address of `buf[0]`:
 * a zero-copy sink hands the kernel pointers into `buf` and reads them during `flush()`, so the caller
 * keeps those bytes unchanged until `flush()` returns.
 *
 * @module
 */
import type { RingReader } from "../ring/mod.ts";

/** What {@linkcode Sink.stage} did with a frame. */
export const Staged = { staged: 0, oversize: 1, malformed: 2 } as const;

/** Outcome of a staged frame after {@linkcode Sink.flush} (in `status`). */
export const Outcome = { sent: 0, oversize: 1, error: 2 } as const;

/** What the last {@linkcode Sink.flush} met. */
export interface FlushResult {
  /** Staged frames that failed (counted `send_error`). */
  errors: number;
  /** errno of the last failure (0 if none). */
  lastErrno: number;
  /** The output is unreachable for now (link down, no route): the loop naps briefly. */
  backoff: boolean;
}

/** What the ring reader of an output has counted since it attached (for capture-file statistics). */
export interface SinkCounters {
  /** Frames the ring offered this output: read plus lost. */
  received: number;
  /** Frames the capture side's kernel dropped before they reached the ring. */
  kernelDrops: number;
  /** Frames overwritten in the ring before this output read them. */
  lost: number;
  /** Frames fluxcap dropped on the way (filter, sampling, oversize, send errors…). */
  dropped: number;
}

/** What a sink may use of the loop that runs it. */
export interface SinkEnv {
  /** Occasional one-line messages (a file finished, a `-z` command failed). */
  log(message: string): void;
  /** The ring reader's counters, once it is attached. */
  counters(): SinkCounters | undefined;
  /**
   * The ring reader that feeds the sink, once it is attached (the sink is opened first): an output
   * group claims its members' slots through it ({@linkcode RingReader.addMember}).
   */
  reader?(): RingReader | undefined;
}

/** The cut of one frame (the frame pipeline's result fields have these names). */
export interface FrameCut {
  /** Bytes taken from the start of the frame. */
  headLen: number;
  /** Bytes of the inserted tag that follow them (0..4). */
  tagLen: number;
  /** Offset in the frame where the tail segment starts. */
  tailOff: number;
  /** Bytes of the tail segment. */
  tailLen: number;
  /**
   * Length of the frame in `buf` the cut was made from, when known (the pipeline's `origLen`); else it
   * is at least `max(headLen, tailOff + tailLen)`. An output group hashes that whole frame.
   */
  origLen?: number;
}

/** A transmit output. Opened in the worker; owns its sockets or files. */
export interface Sink extends Disposable {
  /** For messages: `on "eth2"`, `to 198.18.0.2`, `to "/data/x.pcap"`. */
  readonly what: string;
  /** Ring reader description (`tx eth2`) and kind (see ReaderKind). */
  readonly desc: string;
  /** The ring reader's kind (a `ReaderKind` value). */
  readonly readerKind: number;
  /** Most frames one flush takes. */
  readonly maxBatch: number;
  /** True when `flush()` reads the staged frames from their memory (see the module doc). */
  readonly zeroCopy: boolean;
  /** Frames staged since the last flush. */
  readonly staged: number;
  /** After `flush()`: the outcome of each staged frame, in staging order. */
  readonly status: Uint8Array;
  /** After `flush()`: the caller's tag of each staged frame (its index in the ring batch). */
  readonly tags: Uint32Array;
  /** The 4 bytes (TPID, TCI) a `-V` on transmit inserts after the MACs. */
  setTag(tag: Uint8Array): void;
  /** Stages one frame (see the module doc); returns a {@linkcode Staged} value. */
  stage(
    buf: Uint8Array,
    addr: number,
    off: number,
    cut: FrameCut,
    wire: number,
    sec: number,
    nsec: number,
    tag: number,
  ): number;
  /** Forgets every frame staged since the last flush (they were overwritten while being copied). */
  discard(): void;
  /** Hands the staged frames to the output. Never throws for a frame: outcomes are in `status`. */
  flush(): FlushResult;
  /** Housekeeping, at least every `dueIn()` ms: MTU refresh, link check (throws when gone), rotation. */
  tick(now: number): void;
  /**
   * Why the output cannot deliver for now although it is open (a tunnel whose next hop does not
   * answer ARP), or null; an output group keeps such a member out. Looked at after `tick`.
   */
  readonly down?: string | null;
  /** Milliseconds until `tick` is due. */
  dueIn(now: number): number;
  /** The warning for a frame of `len` bytes too large for the output (once a minute at most). */
  oversizeText(len: number): string;
  /**
   * Frames a past `flush()` reported sent that the output then failed to take (a capture file whose
   * write failed after they were buffered): the loop counts them again, as send errors, when it closes
   * the sink.
   */
  readonly unsent?: number;
  /** A last line for the log when the sink closes (or null). */
  summary(): string | null;
  /** Flushes what it still holds and releases its sockets or files. Safe to call twice. */
  close(): void;
}
