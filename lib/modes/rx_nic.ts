/**
 * The capture loop (`-rx -i IF RING`), run in a Worker: TPACKET_V3 blocks → frame operations → ring,
 * one ring commit per kernel block, kernel drop counts into the ring ten times a second.
 *
 * @module
 */
import { C } from "../../ffi/mod.ts";
import { PacketCapture } from "../io/capture.ts";
import { FramePipeline, type OpsConfig, VlanAction } from "../ops/mod.ts";
import { DropReason, RingWriter } from "../ring/mod.ts";
import { type LoopContext, stopping } from "./worker.ts";
import { throwInterfaceGone } from "../errors.ts";

/** Job description posted by the receive mode. */
export interface RxNicJob {
  kind: "rx-nic";
  iface: string;
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  frameSize?: number;
  blocks?: number;
  blockSizeLog2?: number;
}

const POLLHUP = 16;
const POLLNVAL = 32;

/** Runs until the stop flag is set. */
export function run(job: RxNicJob, ctx: LoopContext): void {
  // The socket first, then the ring: once the ring shows a live writer, frames are being captured.
  const cap = new PacketCapture(job.iface, {
    frameSize: job.frameSize,
    blocks: job.blocks,
    blockSizeLog2: job.blockSizeLog2,
  });
  let writer: RingWriter;
  try {
    writer = RingWriter.open(job.ring, { desc: `rx ${job.iface}` }, job.ring);
  } catch (e) {
    cap.close();
    throw e;
  }
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "rx");
  const passthrough = job.passthrough;
  const scratch = new Uint8Array(writer.maxFrame + 8);
  const T3_VLAN_VALID = C.TP_STATUS_VLAN_VALID;
  const T3_TPID_VALID = C.TP_STATUS_VLAN_TPID_VALID;
  let lastStats = performance.now();
  try {
    while (!stopping(ctx)) {
      const blk = cap.nextBlock();
      const now = performance.now();
      if (now - lastStats >= 100) {
        const s = cap.stats();
        writer.addKernelStats(s.drops, s.packets);
        lastStats = now;
        if (!cap.stillThere()) throwInterfaceGone(job.iface);
      }
      if (blk < 0) {
        writer.commit();
        const ev = cap.wait(50);
        if ((ev & (C.POLLERR | POLLHUP | POLLNVAL)) !== 0 && !cap.stillThere()) {
          throwInterfaceGone(job.iface);
        }
        continue;
      }
      const mem = cap.mem;
      const u32 = cap.u32;
      const u16 = cap.u16;
      const n = cap.blockFrames(blk);
      let p = cap.firstFrame(blk);
      const blkEnd = blk + cap.blockSize;
      for (let k = 0; k < n; k++) {
        if (p + 48 > blkEnd) break; // never trust an offset past the block
        const next = u32[p >>> 2];
        const sec = u32[(p + C.T3_SEC) >>> 2];
        const nsec = u32[(p + C.T3_NSEC) >>> 2];
        const snap = u32[(p + C.T3_SNAPLEN) >>> 2];
        const len = u32[(p + C.T3_LEN) >>> 2];
        const status = u32[(p + C.T3_STATUS) >>> 2];
        const mac = u16[(p + C.T3_MAC) >>> 1];
        let data = p + mac;
        if (data + snap > blkEnd) {
          writer.addDrop(DropReason.malformed);
        } else if ((status & T3_VLAN_VALID) !== 0 && snap + 4 > writer.maxFrame) {
          writer.addDrop(DropReason.oversize); // larger than a ring record can hold (and than `scratch`)
        } else {
          let src = mem;
          let srcLen = snap;
          let wire = len;
          if ((status & T3_VLAN_VALID) !== 0 && snap >= 12) {
            // Put back the tag the kernel lifted into metadata, TPID included.
            const tci = u16[(p + C.T3_VLAN_TCI) >>> 1];
            const tpid = (status & T3_TPID_VALID) !== 0 ? u16[(p + C.T3_VLAN_TPID) >>> 1] : 0x8100;
            scratch.set(mem.subarray(data, data + 12), 0);
            scratch[12] = tpid >> 8;
            scratch[13] = tpid & 0xff;
            scratch[14] = tci >> 8;
            scratch[15] = tci & 0xff;
            scratch.set(mem.subarray(data + 12, data + snap), 16);
            src = scratch;
            data = 0;
            srcLen = snap + 4;
            wire = len + 4;
          }
          if (passthrough) {
            const at = writer.reserve(srcLen);
            if (at < 0) writer.addDrop(DropReason.oversize);
            else {
              writer.data.set(src.subarray(data, data + srcLen), at);
              writer.finish(srcLen, wire, sec, nsec);
            }
          } else {
            const at = writer.reserve(srcLen + 4);
            if (at < 0) writer.addDrop(DropReason.oversize);
            else {
              const out = pipe.applyRx(src, data, srcLen, writer.data, at);
              if (out < 0) {
                writer.cancel();
                writer.addDrop(-1 - out);
              } else {
                const grow = pipe.vlanAction === VlanAction.insert
                  ? 4
                  : pipe.vlanAction === VlanAction.strip
                  ? -4
                  : 0;
                writer.finish(out, Math.max(out, wire + grow), sec, nsec);
              }
            }
          }
        }
        if (next === 0) break;
        p += next;
        // Publish often inside a block: readers start sending at once instead of in block-sized bursts
        // that overflow the queues downstream.
        if ((k & 127) === 127) writer.commit();
      }
      cap.releaseBlock();
      writer.commit();
    }
  } finally {
    const s = cap.stats();
    writer.addKernelStats(s.drops, s.packets);
    cap.close();
    writer.close();
  }
}
