/**
 * The tunnel transmit loop (`-tx -E …`), run in a Worker: ring batch → frame operations → GRE, GRETAP
 * or VXLAN encapsulation → `sendmmsg` (UDP sockets for VXLAN, a packet socket or raw IP sockets for GRE,
 * raw IP sockets for fragments:
 * see `lib/io/tunnel_tx.ts`), the inner frames read straight from the ring mapping. Every frame that does not go out is counted under its reason in the reader's slot,
 * exactly as the NIC transmit loop does.
 *
 * @module
 */
import { AddResult, TunnelSender } from "../io/tunnel_tx.ts";
import { addrOf } from "../io/sender.ts";
import { formatIp } from "../io/tunnel.ts";
import { FramePipeline } from "../ops/mod.ts";
import { DropReason, ReaderKind, RingReader } from "../ring/mod.ts";
import { errnoName, errnoText } from "../../ffi/mod.ts";
import { type LoopContext, nap, stopping } from "./worker.ts";
import { settleBatch, throttle } from "./settle.ts";
import type { TunnelTxJob } from "./tunnel_tx.ts";

const WARN_EVERY_MS = 60_000;

/** Runs until the stop flag is set. */
export function run(job: TunnelTxJob, ctx: LoopContext): void {
  const sender = new TunnelSender({
    kind: job.tunnel,
    dst: job.dst,
    key: job.key,
    port: job.port,
    fragment: job.fragment,
  });
  let reader: RingReader;
  try {
    reader = RingReader.open(
      job.ring,
      { desc: `tx ${job.tunnel}:${job.host}`, kind: ReaderKind.tunnel, fromOldest: job.fromOldest },
      job.ring,
    );
  } catch (e) {
    sender.close();
    throw e;
  }
  ctx.post({ type: "ready" });
  const pipe = new FramePipeline(job.ops, "tx");
  // the tag -V inserts, off-heap so an iovec can point at it
  const tag = new Uint8Array(new ArrayBuffer(16), 0, 4);
  tag.set(pipe.tagBytes.subarray(0, 4));
  const tagAddr = addrOf(tag);
  const passthrough = job.passthrough;
  const batch = Math.min(sender.maxBatch, reader.maxBatch);
  const verdict = new Int8Array(batch); // -1 staged, else drop reason
  const peer = formatIp(job.dst);
  const warn = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  const warnError = throttle(WARN_EVERY_MS, (message) => ctx.post({ type: "warn", message }));
  let lastMtu = performance.now();
  const warnOversize = (len: number) =>
    warn(() =>
      `Frame of ${len} bytes does not fit in one ${job.tunnel.toUpperCase()} packet to ${peer} ` +
      `(path MTU ${sender.mtu}, ${sender.overhead} bytes of outer headers): counted as oversize and ` +
      `skipped. Truncate frames with -s ${sender.maxUnfragmented}` +
      (job.tunnel === "vxlan"
        ? `, or allow IP fragmentation with --fragment (RFC 7348 advises against it)`
        : "")
    );
  try {
    while (!stopping(ctx)) {
      const now = performance.now();
      if (now - lastMtu > 1000) {
        sender.refreshMtu();
        lastMtu = now;
      }
      const n = reader.poll(batch);
      if (n === 0) {
        reader.flush();
        reader.wait(100);
        continue;
      }
      const data = reader.data;
      const base = reader.dataAddr;
      for (let i = 0; i < n; i++) {
        const off = reader.offs[i];
        const len = reader.lens[i];
        let headLen = len, tagLen = 0, tailOff = 0, tailLen = 0;
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
        }
        const r = sender.add(data, base, off, headLen, tag, tagAddr, tagLen, tailOff, tailLen, i);
        if (r === AddResult.staged) verdict[i] = -1;
        else if (r === AddResult.oversize) {
          verdict[i] = DropReason.oversize;
          warnOversize(headLen + tagLen + tailLen);
        } else verdict[i] = DropReason.malformed;
      }
      const staged = sender.staged;
      const res = sender.flush();
      settleBatch(reader, { staged, tags: sender.tags, status: sender.status }, verdict, n, warnOversize);
      if (res.errors > 0) {
        warnError(() =>
          `Cannot send to ${peer}: ${errnoText(res.lastErrno)} (${errnoName(res.lastErrno)}); ` +
          `frames counted as send errors, still running`
        );
        if (res.unreachable) nap(ctx, 20);
      }
    }
  } finally {
    sender.close();
    reader.close();
  }
}
