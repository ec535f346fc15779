/**
 * The lab's traffic generator: prebuilt frames sent with `sendmmsg` on an AF_PACKET socket inside a lab
 * namespace, paced against a monotonic clock in small bursts with sub-millisecond futex sleeps. It is
 * deliberately independent of fluxcap's own senders, so that a benchmark measures fluxcap against a
 * fixed load and not against itself. `bench/replicate/gen.ts` runs it as a process.
 *
 * Every frame the kernel refuses (ENOBUFS, EAGAIN: the receiving veth's backlog was full) is either
 * counted as offered and lost (a benchmark's view), or, with `retryRefused`, sent again after a short
 * sleep (a demo or test that wants every frame to arrive).
 *
 * @example
 * ```ts ignore
 * import { FrameGenerator, makeFrame } from "./mod.ts";
 * using gen = new FrameGenerator("g0"); // inside a lab namespace
 * gen.load(Array.from({ length: 256 }, (_, i) => makeFrame({ len: 64, seq: i })));
 * const r = gen.run({ pps: 100_000, ms: 500 }); // { sent, refused, errors, ms }
 * ```
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
  pointerOf,
  sendmmsg,
  setsockopt,
  sockaddrLl,
  socket,
  syscall,
} from "../../ffi/mod.ts";
import { labNamespacePid } from "./names.ts";

/** Longest run accepted. */
export const MAX_RUN_MS = 10 * 60_000;
/** Most frames of one unpaced run without a `count`. */
export const MAX_FRAMES = 50_000_000;
/** Most frames {@linkcode FrameGenerator.load} takes (they are sent cyclically). */
export const MAX_LOADED = 1 << 20;

/** Most messages of one `sendmmsg` call. */
const BATCH = 256;
/** Pacing tick: the generator sleeps this long when it is ahead of schedule or was refused. */
const TICK_NS = 100_000;

/** One run of {@linkcode FrameGenerator.run}. */
export interface GeneratorRun {
  /** Frames a second; 0 = as fast as the kernel takes them. */
  pps: number;
  /** Longest the run may take (capped at {@linkcode MAX_RUN_MS}). */
  ms: number;
  /** Frames to send (default: `pps × ms`, or {@linkcode MAX_FRAMES} unpaced). */
  count?: number;
  /** Send a refused frame again after a short sleep instead of counting it as refused. */
  retryRefused?: boolean;
}

/** What one run did. */
export interface GeneratorResult {
  /** Frames the kernel accepted. */
  sent: number;
  /** Frames the kernel refused (ENOBUFS/EAGAIN), offered and lost; 0 with `retryRefused`. */
  refused: number;
  /** Other send errors (none expected). */
  errors: number;
  /** Length of the sending window. */
  ms: number;
}

/** A transmit-only packet socket bound to one interface (PACKET_QDISC_BYPASS, 4 MiB send buffer). */
export class FrameGenerator implements Disposable {
  #fd: number;
  #arena = new Uint8Array(0);
  #msgs = new Uint8Array(0);
  #iov = new Uint8Array(0);
  #loaded = 0;
  #word = new Int32Array(new ArrayBuffer(4)); // its own buffer: its address is stable
  #wordPtr = pointerOf(this.#word);
  #ts = new BigInt64Array(2);
  #tsBuf = new Uint8Array(this.#ts.buffer);

  /**
   * Opens the socket on `ifname` of the network namespace this process runs in, which must not be the
   * default one (the process must have been started inside a lab namespace, e.g. by `Lab.spawn`).
   */
  constructor(ifname: string) {
    if (!inLabNetns()) {
      throw new Error(`Cannot send on "${ifname}": the generator runs only inside a lab network namespace`);
    }
    const ifindex = if_nametoindex(cstr(ifname));
    if (ifindex === 0) throw new Error(`Cannot find interface "${ifname}"`);
    const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`Cannot open a packet socket: errno ${errno()}`);
    const sll = sockaddrLl(ifindex);
    if (bind(fd, sll, sll.length) < 0) {
      const e = errno();
      close(fd);
      throw new Error(`Cannot bind to "${ifname}": errno ${e}`);
    }
    setsockopt(fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, int32(1), 4);
    const buf = new Int32Array([4 << 20]);
    setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUF, new Uint8Array(buf.buffer), 4);
    this.#fd = fd;
  }

  /**
   * Copies `frames` into one arena with a prebuilt message (one iovec) each; runs send them in order,
   * cyclically, so a run costs no per-frame set-up.
   */
  load(frames: readonly Uint8Array[]): void {
    if (frames.length === 0 || frames.length > MAX_LOADED) {
      throw new RangeError(`Cannot load ${frames.length} frames: 1..${MAX_LOADED}`);
    }
    const n = frames.length;
    const arena = offHeap(frames.reduce((s, f) => s + f.length, 0));
    const msgs = offHeap(n * C.MMSGHDR_SIZE);
    const iov = offHeap(n * C.IOVEC_SIZE);
    const msgU32 = new Uint32Array(msgs.buffer);
    const iovU32 = new Uint32Array(iov.buffer);
    const arenaBase = addrOf(arena);
    const iovBase = addrOf(iov);
    let off = 0;
    for (let i = 0; i < n; i++) {
      arena.set(frames[i], off);
      const a = arenaBase + off;
      iovU32[i * 4] = a >>> 0;
      iovU32[i * 4 + 1] = Math.floor(a / 4294967296);
      iovU32[i * 4 + 2] = frames[i].length;
      const v = iovBase + i * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE + C.MSGHDR_IOV) >>> 2;
      msgU32[w] = v >>> 0;
      msgU32[w + 1] = Math.floor(v / 4294967296);
      msgU32[(i * C.MMSGHDR_SIZE + C.MSGHDR_IOVLEN) >>> 2] = 1;
      off += frames[i].length;
    }
    // the kernel reads these through the addresses above: keep them referenced
    this.#arena = arena;
    this.#msgs = msgs;
    this.#iov = iov;
    this.#loaded = n;
  }

  /** Sleeps about `ns` (FUTEX_WAIT on a private word that never changes). */
  #sleep(ns: number): void {
    this.#ts[0] = 0n;
    this.#ts[1] = BigInt(ns);
    syscall(C.SYS_futex, this.#wordPtr, C.FUTEX_WAIT | 128, 0, this.#tsBuf, null, 0);
  }

  /** Sends the loaded frames, paced, until `count` frames were offered or `ms` passed. */
  run(r: GeneratorRun): GeneratorResult {
    const n = this.#loaded;
    if (n === 0) throw new Error("Cannot run the generator: no frames loaded");
    if (this.#fd < 0) throw new Error("Cannot run the generator: it is closed");
    const ms = Math.min(Math.max(0, r.ms), MAX_RUN_MS);
    const pps = Math.max(0, r.pps);
    const limit = r.count ?? (pps > 0 ? Math.round((pps * ms) / 1000) : MAX_FRAMES);
    const retry = r.retryRefused ?? false;
    let sent = 0, refused = 0, errors = 0;
    const msgs = this.#msgs;
    const fd = this.#fd;
    const t0 = performance.now();
    const end = t0 + ms;
    let slot = 0; // next message (frame) to send
    for (;;) {
      const now = performance.now();
      if (now >= end) break;
      const done = sent + refused + errors;
      if (done >= limit) break;
      let due = pps > 0 ? Math.min(limit, Math.floor(((now - t0) * pps) / 1000)) - done : limit - done;
      if (due <= 0) {
        this.#sleep(TICK_NS);
        continue;
      }
      due = Math.min(due, BATCH);
      while (due > 0) {
        const k = Math.min(due, n - slot);
        const rc = sendmmsg(fd, slot === 0 ? msgs : msgs.subarray(slot * C.MMSGHDR_SIZE), k, 0);
        let used: number;
        if (rc > 0) {
          sent += rc;
          used = rc;
        } else {
          const e = errno();
          if (e === E.EINTR) continue;
          if (e === E.ENOBUFS || e === E.EAGAIN) {
            if (retry) {
              this.#sleep(TICK_NS); // the same frame again, after the clock was checked
              break;
            }
            refused++;
          } else errors++;
          used = 1;
        }
        due -= used;
        slot = (slot + used) % n;
      }
    }
    return { sent, refused, errors, ms: performance.now() - t0 };
  }

  /** Closes the socket; idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    close(this.#fd);
    this.#fd = -1;
    this.#arena = this.#msgs = this.#iov = new Uint8Array(0);
    this.#loaded = 0;
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** True when this process runs in a lab's network namespace (one named by `names.ts` in /run/netns). */
function inLabNetns(): boolean {
  try {
    const self = Deno.statSync("/proc/self/ns/net");
    for (const e of Deno.readDirSync("/run/netns")) {
      if (labNamespacePid(e.name) === null) continue;
      const ns = Deno.statSync(`/run/netns/${e.name}`);
      if (ns.ino === self.ino && ns.dev === self.dev) return true;
    }
  } catch {
    // no /run/netns: not in a lab namespace
  }
  return false;
}

/**
 * `n` bytes in their own ArrayBuffer, whose address does not move (V8 keeps a small typed array made
 * with a length inside the JS heap, where the garbage collector may move it).
 */
function offHeap(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(n));
}
