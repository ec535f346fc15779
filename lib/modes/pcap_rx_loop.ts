/**
 * The replay loop (`-rx --read FILE RING`), run in a Worker: file chunks (1 MiB blocking reads) → pcap
 * or pcapng records → frame operations → ring, one commit per chunk, or before each sleep with
 * `--pace`. Ends by itself after the last pass; a corrupt or truncated file ends it with a one-line
 * error after the good frames before the damage are committed.
 *
 * @module
 */
import { CaptureReader } from "../codec/pcap.ts";
import { CodecError } from "../codec/error.ts";
import { FluxError } from "../errors.ts";
import { CaptureSource, describeLinkType } from "../io/pcapfile.ts";
import { FramePipeline, type OpsConfig, VlanAction } from "../ops/mod.ts";
import { DropReason, RingWriter } from "../ring/mod.ts";
import { type LoopContext, nap, stopping } from "./worker.ts";

/** Job description posted by `runPcapReceive`. */
export interface RxPcapJob {
  kind: "rx-pcap";
  file: string;
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  /** Replay at the recorded inter-frame gaps. */
  pace: boolean;
  /** Passes over the file; 0 = until stopped. */
  loops: number;
  verbose: boolean;
}

const CHUNK = 1 << 20;
/** Gaps shorter than this (ms) are not slept: the frames go out in the same batch. */
const MIN_SLEEP_MS = 0.05;
/** Longest single sleep, so the stop flag is seen promptly even if notify is missed. */
const MAX_SLEEP_MS = 200;
/** Ethernet header length: shorter records are malformed. */
const ETH_HLEN = 14;

/** Runs until the file is replayed `loops` times, the file turns out corrupt, or the stop flag is set. */
export function run(job: RxPcapJob, ctx: LoopContext): void {
  const src = new CaptureSource(job.file);
  let writer: RingWriter;
  try {
    writer = RingWriter.open(job.ring, { desc: `rx file ${job.file}` }, job.ring);
  } catch (e) {
    src.close();
    throw e;
  }
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "rx");
  const passthrough = job.passthrough;
  // Two read buffers, used in turn: the capture reader may still hold the previous one (see below).
  const chunks = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  let turn = 0;
  let written = 0;
  // Time base: nanoseconds relative to the first record of the first pass.
  let sec0 = -1;
  let nsec0 = 0;
  let firstNs = 0;
  let lastNs = 0;
  let records = 0; // records of the first pass
  let periodNs = 0; // shift of the timestamps of each later pass
  let prevNs = 0; // (shifted) time of the previous frame, for --pace
  let dueMs = 0; // wall time (performance.now) when the previous frame was due
  let pass = 0;
  try {
    for (; job.loops === 0 || pass < job.loops; pass++) {
      if (pass > 0) {
        if (pass === 1) {
          const span = lastNs - firstNs;
          const gap = records > 1 ? span / (records - 1) : 0;
          periodNs = Math.round(span + Math.max(gap, 1000));
        }
        src.rewind();
      }
      const shiftNs = pass * periodNs;
      const shiftSec = Math.floor(shiftNs / 1e9);
      const shiftNsec = shiftNs - shiftSec * 1e9;
      const reader = new CaptureReader();
      let frames = 0;
      let first = true;
      for (;;) {
        if (stopping(ctx)) return;
        // The reader keeps the chunk it was given as its buffer when nothing was left over, and copies
        // its unread tail out of it at the next push: so the next read must go to the other buffer.
        const chunk = chunks[turn];
        turn ^= 1;
        const got = src.read(chunk);
        if (got === 0) {
          const err = reader.end();
          if (err) throw fail(job.file, err, frames);
          break;
        }
        if (first) {
          first = false;
          const lt = classicLinkType(chunk.subarray(0, got));
          if (lt !== undefined && lt !== 1) throw notEthernet(job.file, lt);
        }
        reader.push(chunk.subarray(0, got));
        for (;;) {
          const rec = reader.next();
          if (rec === undefined) break;
          if (rec instanceof CodecError) throw fail(job.file, rec, frames);
          if (rec.linkType !== 1) {
            throw notEthernet(job.file, rec.linkType);
          }
          frames++;
          let sec = rec.tsSec;
          let nsec = rec.tsNsec;
          if (sec0 < 0) {
            sec0 = sec;
            nsec0 = nsec;
          }
          if (pass === 0) {
            const t = (sec - sec0) * 1e9 + (nsec - nsec0);
            if (records === 0) firstNs = lastNs = t;
            else lastNs = Math.max(lastNs, t);
            records++;
          } else {
            nsec += shiftNsec;
            sec += shiftSec;
            if (nsec >= 1e9) {
              nsec -= 1e9;
              sec++;
            }
          }
          if (job.pace) {
            const t = (sec - sec0) * 1e9 + (nsec - nsec0);
            const now = performance.now();
            if (dueMs === 0) dueMs = now;
            else dueMs += Math.max(0, t - prevNs) / 1e6;
            prevNs = t;
            if (dueMs - now > MIN_SLEEP_MS) {
              writer.commit();
              for (let left = dueMs - now; left > MIN_SLEEP_MS; left = dueMs - performance.now()) {
                if (stopping(ctx)) return;
                nap(ctx, Math.min(left, MAX_SLEEP_MS));
              }
              if (stopping(ctx)) return;
            }
          }
          const caplen = rec.caplen;
          const wire = rec.origLen; // as in the file, even below caplen (as Wireshark shows it)
          const buf = rec.buffer;
          const off = rec.dataOffset;
          if (caplen < ETH_HLEN) {
            writer.addDrop(DropReason.malformed);
            continue;
          }
          if (passthrough) {
            const at = writer.reserve(caplen);
            if (at < 0) {
              writer.addDrop(DropReason.oversize);
              continue;
            }
            writer.data.set(buf.subarray(off, off + caplen), at);
            writer.finish(caplen, wire, sec >>> 0, nsec);
          } else {
            const at = writer.reserve(caplen + 4);
            if (at < 0) {
              writer.addDrop(DropReason.oversize);
              continue;
            }
            const out = pipe.applyRx(buf, off, caplen, writer.data, at);
            if (out < 0) {
              writer.cancel();
              writer.addDrop(-1 - out);
              continue;
            }
            const a = pipe.vlanAction;
            const grow = a === VlanAction.insert ? 4 : a === VlanAction.strip ? -4 : 0;
            writer.finish(out, Math.max(out, wire + grow), sec >>> 0, nsec);
          }
          written++;
        }
        // A classic pcap's link type is known from its header, even with no record (or a split header).
        const lt = reader.format === "pcap" ? reader.linkType : undefined;
        if (lt !== undefined && lt !== 1) throw notEthernet(job.file, lt);
        writer.commit();
      }
      if (!src.seekable || records === 0) break; // stdin, or nothing to repeat: one pass
    }
  } finally {
    writer.close();
    src.close();
  }
  if (job.verbose) {
    ctx.post({
      type: "warn",
      message: `fluxcap -rx: ${written} frames from "${job.file}" into ring "${job.ring}" (${pass} passes)`,
    });
  }
}

function fail(file: string, err: CodecError, frames: number): FluxError {
  const reason = err.reason.replace(/^./, (c) => c.toLowerCase());
  return new FluxError(`Cannot read capture "${file}": ${reason} (after ${frames} frames)`);
}

function notEthernet(file: string, linkType: number): FluxError {
  return new FluxError(
    `Cannot read capture "${file}": link type ${describeLinkType(linkType)} is not Ethernet`,
  );
}

/** The link type in a classic pcap header at the start of `b` (either byte order), else undefined. */
function classicLinkType(b: Uint8Array): number | undefined {
  if (b.length < 24) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const be = dv.getUint32(0, false);
  const le = dv.getUint32(0, true);
  const magics = [0xa1b2c3d4, 0xa1b23c4d];
  if (magics.includes(be) && dv.getUint16(4, false) === 2) return dv.getUint32(20, false) & 0x03ffffff;
  if (magics.includes(le) && dv.getUint16(4, true) === 2) return dv.getUint32(20, true) & 0x03ffffff;
  return undefined;
}
