/**
 * Byte layout of a fluxcap ring file. Documented in `lib/ring/README.md`; this file is the one place
 * the offsets live. All integers little-endian; 64-bit fields are read and written with `Atomics` on a
 * `BigInt64Array`, 32-bit ones on an `Int32Array`/`Uint32Array`.
 *
 * @module
 */

/** "FLUXRNG1" */
export const MAGIC: Uint8Array = new Uint8Array([0x46, 0x4c, 0x55, 0x58, 0x52, 0x4e, 0x47, 0x31]);
/** Format version written at creation (see `lib/ring/README.md`, "Versions"). */
export const VERSION = 2;
/** Format versions this fluxcap opens: 1 (eight drop-reason slots) and 2 (sixteen). */
export const VERSIONS_READ: readonly number[] = [1, 2];

// ---- header: geometry (written once at creation, validated at every open) ----
export const H_MAGIC = 0; // 8 bytes
export const H_VERSION = 8; // u32
export const H_HEADER_SIZE = 12; // u32, = data offset
export const H_FILE_SIZE = 16; // u64
export const H_DATA_OFFSET = 24; // u64
export const H_DATA_SIZE = 32; // u64
export const H_MAX_READERS = 40; // u32
export const H_SLOT_SIZE = 44; // u32
export const H_CREATED_NS = 48; // u64, CLOCK_REALTIME
export const H_MAX_FRAME = 56; // u32, largest frame a record may hold

// ---- header: live state (cache line of its own) ----
export const H_HEAD = 128; // u64 logical byte position of the end of the last committed record
export const H_TAIL = 136; // u64 logical byte position of the oldest record still intact
export const H_FRAMES = 144; // u64 frames written (= sequence number of the next record)
export const H_BYTES = 152; // u64 frame bytes written (captured length)
export const H_KERNEL_DROPS = 160; // u64 drops the capture side's kernel reported
export const H_WRITER_PID = 168; // i32 pid of the current (or last) writer
export const H_WAKE = 172; // i32 futex word, incremented at every commit
export const H_SLEEPERS = 176; // i32 readers sleeping in FUTEX_WAIT
export const H_WRITER_GEN = 180; // u32 incremented at each writer attach
export const H_WIRE_BYTES = 184; // u64 original (wire) bytes written
export const H_WRITER_DESC = 192; // 64 bytes UTF-8, NUL padded ("rx eth1")
export const H_WRITER_DROPS = 256; // 8 × u64, writer-side drops by reason (see DROP_REASONS)
export const H_KERNEL_PACKETS = 320; // u64 packets the kernel saw (tp_packets, drops included)
export const H_COMMIT_SEQ = 328; // i32 seqlock over (FRAMES, HEAD): odd while a commit updates them
export const H_WRITER_DROPS_EXT = 384; // 8 × u64, writer-side drops by reason 8..15 (version 2; zero in 1)
export const DESC_LEN = 64;

/** Index of the head (u64) in a BigInt64Array over the header. */
export const I_HEAD = H_HEAD / 8;
/** Index of the tail (u64) in a BigInt64Array over the header. */
export const I_TAIL = H_TAIL / 8;
/** Index of the futex wake word in an Int32Array over the header. */
export const W_WAKE = H_WAKE / 4;
/** Index of the sleeper count in an Int32Array over the header. */
export const W_SLEEPERS = H_SLEEPERS / 4;
/** Index of the commit seqlock in an Int32Array over the header. */
export const W_COMMIT_SEQ = H_COMMIT_SEQ / 4;
/**
 * Logical positions are kept in float64 in the hot loops; past this (2^50 bytes) writer and readers
 * rebase them, long before 2^53 makes them inexact.
 */
export const REBASE_AT = 2 ** 50;

// ---- reader slots ----
export const SLOTS_OFFSET = 1024;
export const SLOT_SIZE = 256;
export const MAX_READERS = 64;
export const S_PID = 0; // i32
export const S_STATE = 4; // i32: 0 free, 1 attached (liveness is the slot's lock, see README)
export const S_POS = 8; // u64 logical position
export const S_READ = 16; // u64 frames read (returned to the reader's user)
export const S_BYTES = 24; // u64 bytes read
export const S_LOST = 32; // u64 frames lost to overwrite (lapped)
export const S_DROPS = 40; // 8 × u64 drops by reason on the reader side
export const S_SENT = 104; // u64 frames delivered to the output
export const S_ATTACHED_NS = 112; // u64 CLOCK_REALTIME at attach
export const S_KIND = 120; // u32 ReaderKind
export const S_SLEEPING = 124; // i32 1 while in FUTEX_WAIT
export const S_DESC = 128; // 64 bytes UTF-8
export const S_DROPS_EXT = 192; // 8 × u64 drops by reason 8..15 (version 2; zero in version 1)

export const HEADER_SIZE = 20480; // SLOTS_OFFSET + MAX_READERS*SLOT_SIZE rounded up to pages
export const DATA_OFFSET = HEADER_SIZE;

// ---- records in the data area ----
export const R_CAPLEN = 0; // u32 stored bytes; WRAP marks "skip to the start of the data area"
export const R_WIRELEN = 4; // u32 original length on the wire
export const R_SEC = 8; // u32 capture time, seconds (low 32 bits)
export const R_NSEC = 12; // u32 capture time: nanoseconds in bits 0..29, seconds bits 32..33 in bits 30..31
/** Where a record keeps seconds bits 32..33 (times from 2106 to 2514): the top bits of R_NSEC. */
export const R_SEC_HI_SHIFT = 30;
/** Mask of those bits (after the shift). */
export const R_SEC_HI_MASK = 3;
/** Mask of the nanoseconds in R_NSEC. */
export const R_NSEC_MASK = 0x3fffffff;
export const R_SEQ_LO = 16; // u32 sequence number (frame index), low 32 bits
export const R_SEQ_HI = 20; // u32 high bits
export const RECORD_HEADER = 24;
export const WRAP = 0xffffffff;
export const ALIGN = 8;

/** Smallest ring file: a data area that holds several jumbo frames. */
export const MIN_RING_SIZE = 128 * 1024;
/** Largest ring file: the data area is addressed with 32-bit offsets. */
export const MAX_RING_SIZE = 4 * 1024 * 1024 * 1024 - ALIGN;
/** Frames are never larger than this, whatever the ring size (64 KiB covers GSO-less jumbo and more). */
export const MAX_FRAME_LIMIT = 65535;

/** Drop reasons, in slot order, for both the writer and each reader: part of the file format. */
export { DROP_REASON_SLOTS, DROP_REASONS, DropReason, type DropReasonName } from "./reasons.ts";

/** Byte offset (in the file) of the writer's drop counter for reason `r` (0..15). */
export function writerDropAt(r: number): number {
  return r < 8 ? H_WRITER_DROPS + 8 * r : H_WRITER_DROPS_EXT + 8 * (r - 8);
}

/** Byte offset, in a reader slot, of its drop counter for reason `r` (0..15). */
export function readerDropAt(r: number): number {
  return r < 8 ? S_DROPS + 8 * r : S_DROPS_EXT + 8 * (r - 8);
}

/**
 * What a reader is, for the watch view. `member`: one member of an output group (`-tx -i eth2,eth3`),
 * whose counters the group's process keeps; its group's own reader is the slot in bits 16..23 of the
 * kind word minus 1 (see {@linkcode memberKind}).
 */
export const ReaderKind = { other: 0, nic: 1, tunnel: 2, file: 3, member: 4 } as const;
export const READER_KIND_NAMES = ["other", "nic", "tunnel", "file", "member"] as const;

/** The kind word of a member slot whose group reads through slot `groupSlot`. */
export function memberKind(groupSlot: number): number {
  return ReaderKind.member | ((groupSlot + 1) << 16);
}

/** Splits a slot's kind word into the kind (low 16 bits) and, for a member, its group's slot (else -1). */
export function splitKind(word: number): { kind: number; group: number } {
  const kind = word & 0xffff;
  const g = (word >>> 16) & 0xff;
  return { kind, group: kind === ReaderKind.member && g > 0 ? g - 1 : -1 };
}

/** Record size in the data area for a frame of `caplen` bytes. */
export function recordSize(caplen: number): number {
  return (RECORD_HEADER + caplen + ALIGN - 1) & ~(ALIGN - 1);
}

/** Largest frame a ring with this data area holds (an eighth of it, at most MAX_FRAME_LIMIT). */
export function maxFrameFor(dataSize: number): number {
  return Math.min(MAX_FRAME_LIMIT, Math.floor(dataSize / 8) - RECORD_HEADER);
}
