/**
 * Snapshot fixtures for the watch tests.
 * @module
 */
import type { DropCounts, RingSnapshot } from "../../lib/ring/stats.ts";
import { DROP_REASONS } from "../../lib/ring/layout.ts";

/** Drop counts, all zero unless given. */
export function drops(over: Partial<DropCounts> = {}): DropCounts {
  const d = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounts;
  return { ...d, ...over };
}

/** A snapshot with a writer and one reader, counters as given. */
export function snap(at: number, frames: number, o: { lost?: number; read?: number } = {}): RingSnapshot {
  return {
    name: "cisco",
    at,
    sizeBytes: 1 << 20,
    dataBytes: (1 << 20) - 20480,
    frames,
    bytes: frames * 100,
    wireBytes: frames * 125,
    kernelDrops: frames / 100,
    kernelPackets: frames * 1.01,
    usedBytes: 4096,
    writer: { pid: 10, desc: "rx eth1", alive: true, drops: drops() },
    readers: [{
      slot: 0,
      pid: 11,
      desc: "tx eth2",
      kind: "nic",
      group: -1,
      lagBytes: 0,
      framesRead: o.read ?? frames,
      bytesRead: (o.read ?? frames) * 100,
      framesLost: o.lost ?? 0,
      framesSent: o.read ?? frames,
      drops: drops(),
    }],
  };
}
