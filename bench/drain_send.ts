/**
 * The drain benchmark's ceiling: a minimal AF_PACKET sender, run inside a lab namespace as
 * `deno run -A bench/drain_send.ts IFACE LEN COUNT [-q]`. It lays out the same frames the benchmark
 * wrote into the ring ({@linkcode drainFrames}) in one plain buffer, with one prebuilt message (one
 * iovec) each, sends them all with `sendmmsg` (256 a call, 4 MiB send buffer, PACKET_QDISC_BYPASS with
 * `-q`, as fluxcap's socket) as fast as the kernel takes them, and prints one JSON line
 * `{"sent":…,"ms":…,"refusals":…}`. A call the kernel
 * refuses (ENOBUFS, EAGAIN: the receiving veth's backlog is full) is repeated at once: nothing is lost,
 * and no sender can resume sooner. Bounded: {@link MAX_MS} and COUNT frames.
 *
 * @module
 */
import {
  addrOf,
  bind,
  C,
  close,
  cstr,
  E,
  errno,
  if_nametoindex,
  int32,
  sendmmsg,
  setsockopt,
  sockaddrLl,
  socket,
} from "../ffi/mod.ts";
import { makeFrame } from "../lib/lab/mod.ts";
import { labNamespacePid } from "../lib/lab/names.ts";

/** Longest a run may take. */
export const MAX_MS = 60_000;
/** Distinct frames; frame i of a drain is template i mod TEMPLATES. */
export const TEMPLATES = 1024;
const BATCH = 256;

/** The frames of a drain benchmark of `count` frames of `len` bytes (templates, used cyclically). */
export function drainFrames(len: number): Uint8Array[] {
  return Array.from({ length: TEMPLATES }, (_, i) => makeFrame({ len, seq: i }));
}

/** True when this process runs in a lab's network namespace. */
function inLabNetns(): boolean {
  try {
    const self = Deno.statSync("/proc/self/ns/net");
    for (const e of Deno.readDirSync("/run/netns")) {
      if (labNamespacePid(e.name) === null) continue;
      const ns = Deno.statSync(`/run/netns/${e.name}`);
      if (ns.ino === self.ino && ns.dev === self.dev) return true;
    }
  } catch { /* no /run/netns */ }
  return false;
}

function main(): void {
  const [ifname, lenArg, countArg, flag] = Deno.args;
  const len = Number(lenArg), count = Number(countArg);
  if (!ifname || !(len >= 60 && len <= 9000) || !(count > 0 && count <= 4_000_000)) {
    throw new Error("usage: drain_send.ts IFACE LEN(60..9000) COUNT(1..4000000) [-q]");
  }
  if (!inLabNetns()) throw new Error(`Cannot send on "${ifname}": run only inside a lab network namespace`);
  const ifindex = if_nametoindex(cstr(ifname));
  if (ifindex === 0) throw new Error(`Cannot find interface "${ifname}"`);
  const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`Cannot open a packet socket: errno ${errno()}`);
  try {
    const sll = sockaddrLl(ifindex);
    if (bind(fd, sll, sll.length) < 0) throw new Error(`Cannot bind to "${ifname}": errno ${errno()}`);
    if (flag === "-q") setsockopt(fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, int32(1), 4);
    setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUF, int32(4 << 20), 4);
    // one plain buffer with every frame, one message and one iovec a frame
    const frames = drainFrames(len);
    const arena = new Uint8Array(new ArrayBuffer(count * len));
    const msgs = new Uint8Array(new ArrayBuffer(count * C.MMSGHDR_SIZE));
    const iov = new Uint8Array(new ArrayBuffer(count * C.IOVEC_SIZE));
    const msgU32 = new Uint32Array(msgs.buffer);
    const iovU32 = new Uint32Array(iov.buffer);
    const arenaBase = addrOf(arena), iovBase = addrOf(iov);
    for (let i = 0; i < count; i++) {
      arena.set(frames[i % TEMPLATES], i * len);
      const a = arenaBase + i * len;
      iovU32[i * 4] = a >>> 0;
      iovU32[i * 4 + 1] = Math.floor(a / 4294967296);
      iovU32[i * 4 + 2] = len;
      const v = iovBase + i * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE + C.MSGHDR_IOV) >>> 2;
      msgU32[w] = v >>> 0;
      msgU32[w + 1] = Math.floor(v / 4294967296);
      msgU32[(i * C.MMSGHDR_SIZE + C.MSGHDR_IOVLEN) >>> 2] = 1;
    }
    let sent = 0, refusals = 0;
    const t0 = performance.now();
    const end = t0 + MAX_MS;
    while (sent < count) {
      const k = Math.min(BATCH, count - sent);
      const rc = sendmmsg(fd, msgs.subarray(sent * C.MMSGHDR_SIZE), k, 0);
      if (rc > 0) {
        sent += rc;
        continue;
      }
      const e = errno();
      if (e === E.ENOBUFS || e === E.EAGAIN || e === E.EINTR) {
        refusals++;
        if ((refusals & 1023) === 0 && performance.now() > end) break;
        continue;
      }
      throw new Error(`Cannot send on "${ifname}": errno ${e}`);
    }
    const ms = performance.now() - t0;
    // keep the buffers alive until here: the kernel read them through the addresses above
    if (arena.length + msgs.length + iov.length < 0) throw new Error("unreachable");
    console.log(JSON.stringify({ sent, ms, refusals }));
  } finally {
    close(fd);
  }
}

if (import.meta.main) {
  try {
    main();
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
