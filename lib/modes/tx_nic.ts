/**
 * The transmit loop (`-tx -i IF RING`), run in a Worker: ring batch → frame operations → one
 * `sendmmsg` whose iovecs point into the ring (or a PACKET_TX_RING with `-R`). Every frame that does
 * not go out is counted under its reason in the reader's slot.
 *
 * @module
 */
import { maxFrameLen, PacketSender, stillThere, TxRingSender } from "../io/sender.ts";
import { throwInterfaceGone } from "../errors.ts";
import { FramePipeline, type OpsConfig, TPID_8021AD, TPID_8021Q, TPID_QINQ } from "../ops/mod.ts";
import { DropReason, ReaderKind, RingReader } from "../ring/mod.ts";
import { errnoName, errnoText } from "../../ffi/mod.ts";
import { type LoopContext, nap, stopping } from "./worker.ts";
import { settleBatch, throttle } from "./settle.ts";

/** Job description posted by the transmit mode. */
export interface TxNicJob {
  kind: "tx-nic";
  iface: string;
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  txRing: boolean;
  qdiscBypass: boolean;
  fromOldest: boolean;
  frameSize?: number;
}

const WARN_EVERY_MS = 60_000;

/** Runs until the stop flag is set. */
export function run(job: TxNicJob, ctx: LoopContext): void {
  const reader = RingReader.open(
    job.ring,
    { desc: `tx ${job.iface}`, kind: ReaderKind.nic, fromOldest: job.fromOldest },
    job.ring,
  );
  let sender: PacketSender | TxRingSender;
  try {
    sender = job.txRing
      ? new TxRingSender(job.iface, { qdiscBypass: job.qdiscBypass, frameSize: job.frameSize })
      : new PacketSender(job.iface, { qdiscBypass: job.qdiscBypass });
  } catch (e) {
    reader.close();
    throw e;
  }
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "tx");
  if (pipe.tagBytes.length === 4) {
    const t = pipe.tagBytes;
    sender.setVlanTag((t[0] << 8) | t[1], (t[2] << 8) | t[3]);
  }
  const passthrough = job.passthrough;
  const verdict = new Int8Array(reader.maxBatch); // -1 staged, else drop reason
  const warn = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  const warnError = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  let lastMtu = performance.now();
  const warnOversize = (len: number) =>
    warn(() =>
      `Frame of ${len} bytes is larger than "${job.iface}" can carry (MTU ${sender.mtu}): counted as ` +
      `oversize and skipped. The usual cause is receive offloads left on where it was captured: ` +
      `ethtool -K IF gro off lro off`
    );
  try {
    while (!stopping(ctx)) {
      const now = performance.now();
      if (now - lastMtu > 1000) {
        sender.refreshMtu();
        lastMtu = now;
        if (!stillThere(job.iface, sender.ifindex)) throwInterfaceGone(job.iface);
      }
      const n = reader.poll(sender.maxBatch);
      if (n === 0) {
        reader.flush();
        reader.wait(100);
        continue;
      }
      const data = reader.data;
      const base = reader.dataAddr;
      const mtu = sender.mtu;
      for (let i = 0; i < n; i++) {
        const off = reader.offs[i];
        const len = reader.lens[i];
        let headLen = len, tagLen = 0, tailOff = 0, tailLen = 0, outLen = len, tagged = false;
        if (!passthrough) {
          const v = pipe.decide(data, off, len);
          if (v < 0) {
            verdict[i] = -1 - v;
            continue;
          }
          headLen = pipe.headLen;
          tagLen = pipe.tagLen;
          tailOff = pipe.tailOff;
          tailLen = pipe.tailLen;
          outLen = v;
          tagged = pipe.insertTag;
        }
        if (!tagged && len >= 14) {
          const t = (data[off + 12] << 8) | data[off + 13];
          tagged = t === TPID_8021Q || t === TPID_8021AD || t === TPID_QINQ;
        }
        if (outLen > maxFrameLen(mtu, tagged)) {
          verdict[i] = DropReason.oversize;
          warnOversize(outLen);
          continue;
        }
        verdict[i] = -1;
        if (sender instanceof PacketSender) {
          sender.addSegments(base + off, headLen, tagLen, tailOff, tailLen, i);
        } else sender.addSegmentsCopy(data, off, headLen, tagLen, tailOff, tailLen, i);
      }
      const staged = sender.staged;
      const res = sender.flush();
      settleBatch(reader, { staged, tags: sender.tags, status: sender.status }, verdict, n, warnOversize);
      if (res.errors > 0) {
        warnError(() =>
          `Cannot send on "${job.iface}": ${errnoText(res.lastErrno)} (${errnoName(res.lastErrno)}); ` +
          `frames counted as send errors, still running`
        );
        if (res.linkDown) nap(ctx, 20);
      }
    }
  } finally {
    sender.close();
    reader.close();
  }
}
