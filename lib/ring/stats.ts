/**
 * Reading a ring's counters, from any process, without attaching: what the watch view, the metrics
 * endpoint, `-v` and the tests show.
 *
 * @module
 */
import { RingFile } from "./file.ts";
import * as L from "./layout.ts";

/** Drops by reason name. */
export type DropCounts = Record<L.DropReasonName, number>;

/** One attached reader. */
export interface ReaderSnapshot {
  /** Its slot in the ring's reader table. */
  slot: number;
  /** The reading process. */
  pid: number;
  /** What it is (`tx eth2`). */
  desc: string;
  /** The kind of output. */
  kind: ReaderKindName;
  /** For a `member` reader: the slot of its group's reader; else -1. */
  group: number;
  /** Bytes between this reader and the writer's head. */
  lagBytes: number;
  /** Frames read since it attached. */
  framesRead: number;
  /** Bytes read since it attached. */
  bytesRead: number;
  /** Frames lost to overwrite (lapped by the writer). */
  framesLost: number;
  /** Frames delivered to the output. */
  framesSent: number;
  /** Frames dropped on the way to the output, by reason. */
  drops: DropCounts;
}

/** A ring's counters at one instant. */
export interface RingSnapshot {
  /** The ring's name as given. */
  name: string;
  /** ms since the epoch when taken. */
  at: number;
  /** Size of the file. */
  sizeBytes: number;
  /** Size of its data area. */
  dataBytes: number;
  /** Frames written since the ring was created. */
  frames: number;
  /** Bytes written (stored lengths). */
  bytes: number;
  /** Bytes written (original lengths on the wire). */
  wireBytes: number;
  /** Packets the capture side's kernel dropped. */
  kernelDrops: number;
  /** Packets the capture side's kernel saw, drops included. */
  kernelPackets: number;
  /** Bytes currently held (head − tail). */
  usedBytes: number;
  /** The current or last writer (alive: it holds the writer lock), or null when there never was one. */
  writer: WriterSnapshot | null;
  /** The attached readers. */
  readers: ReaderSnapshot[];
}

/** A ring's writer. */
export interface WriterSnapshot {
  /** The writing process. */
  pid: number;
  /** What it is (`rx eth1`). */
  desc: string;
  /** True while it holds the writer lock. */
  alive: boolean;
  /** Frames it dropped on the way into the ring, by reason. */
  drops: DropCounts;
}

/** The name of a reader's kind. */
export type ReaderKindName = "other" | "nic" | "tunnel" | "file" | "member";

/** The drop counters of the writer (`base` -1) or of the reader slot at byte `base`. */
function drops(i64: BigInt64Array, base: number): DropCounts {
  const out = {} as DropCounts;
  L.DROP_REASONS.forEach((r, k) => {
    const at = base < 0 ? L.writerDropAt(k) : base + L.readerDropAt(k);
    out[r] = Number(Atomics.load(i64, at / 8));
  });
  return out;
}

/** Takes a snapshot of `ring`'s header, writer and live readers (slots whose lock is held). */
export function snapshot(ring: RingFile): RingSnapshot {
  ring.assertOpen();
  const i64 = ring.i64;
  const i32 = ring.i32;
  const n = (off: number) => Number(Atomics.load(i64, off / 8));
  const head = n(L.H_HEAD);
  const writerAlive = ring.isLocked(0);
  const pid = Atomics.load(i32, L.H_WRITER_PID / 4);
  const readers: ReaderSnapshot[] = [];
  for (let s = 0; s < L.MAX_READERS; s++) {
    const base = L.SLOTS_OFFSET + s * L.SLOT_SIZE;
    if (Atomics.load(i32, (base + L.S_STATE) / 4) === 0) continue;
    if (!ring.isLocked(1 + s)) continue;
    const kind = L.splitKind(ring.u32[(base + L.S_KIND) / 4]);
    readers.push({
      slot: s,
      pid: Atomics.load(i32, (base + L.S_PID) / 4),
      desc: ring.text(base + L.S_DESC),
      kind: L.READER_KIND_NAMES[kind.kind] ?? "other",
      group: kind.group,
      lagBytes: Math.max(0, head - n(base + L.S_POS)),
      framesRead: n(base + L.S_READ),
      bytesRead: n(base + L.S_BYTES),
      framesLost: n(base + L.S_LOST),
      framesSent: n(base + L.S_SENT),
      drops: drops(i64, base),
    });
  }
  return {
    name: ring.name,
    at: Date.now(),
    sizeBytes: ring.geometry.fileSize,
    dataBytes: ring.geometry.dataSize,
    frames: n(L.H_FRAMES),
    bytes: n(L.H_BYTES),
    wireBytes: n(L.H_WIRE_BYTES),
    kernelDrops: n(L.H_KERNEL_DROPS),
    kernelPackets: n(L.H_KERNEL_PACKETS),
    usedBytes: head - n(L.H_TAIL),
    writer: pid === 0 && !writerAlive
      ? null
      : { pid, desc: ring.text(L.H_WRITER_DESC), alive: writerAlive, drops: drops(i64, -1) },
    readers,
  };
}

/** Opens the ring at `path`, takes a {@link snapshot} and closes it again. */
export function snapshotOf(path: string, name = path): RingSnapshot {
  const ring = RingFile.open(path, name);
  try {
    return snapshot(ring);
  } finally {
    ring.close();
  }
}
