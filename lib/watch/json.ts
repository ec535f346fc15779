/**
 * The JSON line `fluxcap -io --json` prints for each ring every second. Field names are stable and
 * documented in `lib/watch/README.md`; add fields, never rename them.
 *
 * @module
 */
import type { DropCounts } from "../ring/stats.ts";
import { readerKey } from "./rates.ts";
import type { RingRates } from "./rates.ts";
import type { WatchSample } from "./source.ts";

/** One reader in a {@link RingJson}. */
export interface ReaderJson {
  pid: number;
  slot: number;
  desc: string;
  kind: string;
  /** For a `member` of an output group: the slot of the group's reader; else null. */
  group_slot: number | null;
  frames_read_total: number;
  bytes_read_total: number;
  frames_sent_total: number;
  frames_lost_total: number;
  lag_bytes: number;
  frames_per_sec: number;
  bits_per_sec: number;
  lost_per_sec: number;
  drops: DropCounts;
}

/** One ring at one instant, with rates over the sliding window. */
export interface RingJson {
  ring: string;
  time: string;
  gone: boolean;
  reason?: string;
  size_bytes: number | null;
  used_bytes: number | null;
  frames_total: number | null;
  bytes_total: number | null;
  wire_bytes_total: number | null;
  frames_per_sec: number;
  bits_per_sec: number;
  kernel_drops_total: number | null;
  kernel_packets_total: number | null;
  kernel_drops_per_sec: number;
  writer: { pid: number; desc: string; alive: boolean; drops: DropCounts } | null;
  readers: ReaderJson[];
}

/** Rounds a rate to 3 decimals (rates are estimates; counters stay exact integers). */
function r3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/**
 * Builds the JSON object for one sample and its rates.
 *
 * @example
 * ```ts
 * import { ringJson } from "./json.ts";
 * import { RateWindow, sampleRates } from "./rates.ts";
 * import { RingWatch } from "./source.ts";
 * using w = RingWatch.open("/dev/shm/demo");
 * const s = w.sample();
 * const rates = sampleRates(new RateWindow(), s.snap!);
 * console.log(JSON.stringify(ringJson(s, rates)));
 * ```
 */
export function ringJson(sample: WatchSample, rates: RingRates): RingJson {
  const s = sample.snap;
  const base = {
    ring: sample.name,
    time: new Date(sample.at).toISOString(),
    gone: sample.gone || s === null,
  };
  if (s === null) {
    return {
      ...base,
      reason: sample.reason ?? "gone",
      size_bytes: null,
      used_bytes: null,
      frames_total: null,
      bytes_total: null,
      wire_bytes_total: null,
      frames_per_sec: 0,
      bits_per_sec: 0,
      kernel_drops_total: null,
      kernel_packets_total: null,
      kernel_drops_per_sec: 0,
      writer: null,
      readers: [],
    };
  }
  return {
    ...base,
    size_bytes: s.sizeBytes,
    used_bytes: s.usedBytes,
    frames_total: s.frames,
    bytes_total: s.bytes,
    wire_bytes_total: s.wireBytes,
    frames_per_sec: r3(rates.framesPerSec),
    bits_per_sec: r3(rates.bitsPerSec),
    kernel_drops_total: s.kernelDrops,
    kernel_packets_total: s.kernelPackets,
    kernel_drops_per_sec: r3(rates.kernelDropsPerSec),
    writer: s.writer ? { ...s.writer, drops: { ...s.writer.drops } } : null,
    readers: s.readers.map((r) => {
      const rr = rates.readers.get(readerKey(r));
      return {
        pid: r.pid,
        slot: r.slot,
        desc: r.desc,
        kind: r.kind,
        group_slot: r.kind === "member" ? r.group : null,
        frames_read_total: r.framesRead,
        bytes_read_total: r.bytesRead,
        frames_sent_total: r.framesSent,
        frames_lost_total: r.framesLost,
        lag_bytes: r.lagBytes,
        frames_per_sec: r3(rr?.framesPerSec ?? 0),
        bits_per_sec: r3(rr?.bitsPerSec ?? 0),
        lost_per_sec: r3(rr?.lostPerSec ?? 0),
        drops: { ...r.drops },
      };
    }),
  };
}
