/**
 * What the receive and transmit modes share: checking the ring up front, the frame operations as the
 * user typed them, and the once-a-second `-v` counters.
 *
 * @module
 */
import type { OpsConfig } from "../ops/mod.ts";
import { formatSize, RingFile, snapshot } from "../ring/mod.ts";
import type { RingSnapshot } from "../ring/mod.ts";

/**
 * The frame operations as command-line options (`; frame operations: -V 100 -s 128`), or "" when
 * there are none.
 */
export function opsText(ops: OpsConfig): string {
  const parts: string[] = [];
  if (ops.filterVlan !== undefined) parts.push(`-f 'vlan ${ops.filterVlan}'`);
  if (ops.filter !== undefined) parts.push(`-f '${ops.filter.expr.replace(/'/g, `'\\''`)}'`);
  if (ops.dedupMs !== undefined) parts.push(`--dedup ${ops.dedupMs}`);
  if (ops.keepPercent !== undefined) parts.push(`-d ${ops.keepPercent}`);
  if (ops.vlan !== undefined) parts.push(`-V ${ops.vlan}`);
  if (ops.stripVlan) parts.push("-Q");
  if (ops.snaplen !== undefined) parts.push(`-s ${ops.snaplen}`);
  if (ops.trimTail !== undefined) parts.push(`-D ${ops.trimTail}`);
  return parts.length === 0 ? "" : `; frame operations: ${parts.join(" ")}`;
}

/** Opens the ring once to refuse a missing or corrupt one before any socket is made. */
export function checkRing(name: string): void {
  RingFile.open(name, name).close();
}

/** Rate formatting: 1234567 → "1.23 M". */
export function human(v: number, unit = ""): string {
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${(v / 1e9).toFixed(2)} G${unit}`;
  if (abs >= 1e6) return `${(v / 1e6).toFixed(2)} M${unit}`;
  if (abs >= 1e3) return `${(v / 1e3).toFixed(2)} K${unit}`;
  return `${Math.round(v)} ${unit}`.trimEnd();
}

/**
 * A once-a-second printer of a ring's counters for `-v`: the writer's view (rx) or one reader's (tx,
 * matched by pid).
 */
export function verboseTicker(ringName: string, side: "rx" | "tx", log: (s: string) => void): () => void {
  let ring: RingFile | null = null;
  let prev: RingSnapshot | null = null;
  return () => {
    try {
      ring ??= RingFile.open(ringName, ringName);
      const s = snapshot(ring);
      if (prev) {
        const dt = (s.at - prev.at) / 1000 || 1;
        if (side === "rx") {
          const d = s.writer?.drops;
          const dropped = d
            ? Object.entries(d).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(", ")
            : "";
          log(
            `rx ${ringName}: ${human((s.frames - prev.frames) / dt)} frames/s, ` +
              `${human(((s.wireBytes - prev.wireBytes) * 8) / dt, "bit/s")}, ` +
              `${s.frames} frames, kernel drops ${s.kernelDrops}${dropped ? `, dropped: ${dropped}` : ""}`,
          );
        } else {
          const me = s.readers.find((r) => r.pid === Deno.pid && r.kind !== "member");
          const was = prev.readers.find((r) => r.pid === Deno.pid && r.kind !== "member");
          if (me && was) {
            const dropped = Object.entries(me.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`)
              .join(", ");
            log(
              `tx ${ringName}: ${
                human((me.framesSent - was.framesSent) / dt)
              } frames/s, ${me.framesSent} sent, ` +
                `${me.framesLost} lost to overwrite, lag ${formatSize(me.lagBytes)}` +
                (dropped ? `, dropped: ${dropped}` : ""),
            );
          }
        }
      }
      prev = s;
    } catch (e) {
      log(`cannot read ring "${ringName}": ${e instanceof Error ? e.message : e}`);
      ring?.close();
      ring = null;
    }
  };
}
