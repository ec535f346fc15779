/**
 * A rate-controlled frame generator for the replication benchmark, run inside a lab namespace:
 * `deno run -A bench/gen.ts IFACE`. It prints `ready`, then reads one JSON command a line on stdin,
 * `{"len":64,"pps":100000,"ms":1500}` (`pps` 0 = as fast as it can), sends prebuilt test frames with
 * `sendmmsg` on an AF_PACKET socket (PACKET_QDISC_BYPASS), paced against a monotonic clock in small
 * bursts with sub-millisecond futex sleeps, and answers one JSON line
 * `{"sent":…,"failed":…,"ms":…}`. `failed` counts frames the kernel refused (ENOBUFS: the receiving
 * veth's backlog was full) — they were offered and lost. It exits at the end of stdin.
 *
 * Every trial is bounded: at most {@link MAX_TRIAL_MS} long and `pps × ms` frames (or
 * {@link MAX_FRAMES} unpaced); the process refuses new trials after {@link MAX_LIFE_MS}.
 *
 * @module
 */
import { bind, C, errno, if_nametoindex, sendmmsg, setsockopt, socket, syscall } from "../ffi/mod.ts";
import { makeFrame } from "../lib/lab/mod.ts";

/** Longest trial accepted. */
export const MAX_TRIAL_MS = 10_000;
/** Most frames of one unpaced trial. */
export const MAX_FRAMES = 50_000_000;
/** The generator stops accepting trials after this long. */
export const MAX_LIFE_MS = 20 * 60_000;

const BATCH = 256;
/** Pacing tick: the generator sleeps this long when it is ahead of schedule. */
const TICK_NS = 100_000;
const ENOBUFS = 105;
const EAGAIN = 11;
const EINTR = 4;

/** One trial's command. */
export interface GenCommand {
  len: number;
  /** Frames a second; 0 = unpaced. */
  pps: number;
  ms: number;
}

/** One trial's result. */
export interface GenResult {
  /** Frames the kernel accepted. */
  sent: number;
  /** Frames the kernel refused (ENOBUFS/EAGAIN), counted as offered and lost. */
  failed: number;
  /** Other send errors (none expected). */
  errors: number;
  /** Length of the sending window. */
  ms: number;
}

function addrOf(buf: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/** A transmit-only packet socket bound to `ifname` with 256 prebuilt frames per size. */
class Generator {
  #fd: number;
  #msgs = new Uint8Array(BATCH * C.MMSGHDR_SIZE);
  #iov = new Uint8Array(BATCH * C.IOVEC_SIZE);
  #frames = new Map<number, Uint8Array>();
  #word = new Int32Array(1);
  #wordPtr = Deno.UnsafePointer.of(this.#word);
  #ts = new BigInt64Array(2);
  #tsBuf = new Uint8Array(this.#ts.buffer);

  constructor(ifname: string) {
    const ifindex = if_nametoindex(new TextEncoder().encode(ifname + "\0"));
    if (ifindex === 0) throw new Error(`Cannot find interface "${ifname}"`);
    const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`Cannot open a packet socket: errno ${errno()}`);
    const sll = new DataView(new ArrayBuffer(C.SOCKADDR_LL_SIZE));
    sll.setUint16(0, C.AF_PACKET, true);
    sll.setInt32(4, ifindex, true);
    if (bind(fd, new Uint8Array(sll.buffer), C.SOCKADDR_LL_SIZE) < 0) {
      throw new Error(`Cannot bind to "${ifname}": errno ${errno()}`);
    }
    const one = new Int32Array([1]);
    setsockopt(fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, new Uint8Array(one.buffer), 4);
    const buf = new Int32Array([4 << 20]);
    setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUF, new Uint8Array(buf.buffer), 4);
    this.#fd = fd;
    const msgU32 = new Uint32Array(this.#msgs.buffer);
    const iovBase = addrOf(this.#iov);
    for (let i = 0; i < BATCH; i++) {
      const a = iovBase + i * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE + C.MSGHDR_IOV) >>> 2;
      msgU32[w] = a >>> 0;
      msgU32[w + 1] = Math.floor(a / 4294967296);
      msgU32[(i * C.MMSGHDR_SIZE + C.MSGHDR_IOVLEN) >>> 2] = 1;
    }
  }

  /** Points the 256 iovecs at frames of `len` bytes (built once per size). */
  #prepare(len: number): void {
    let frames = this.#frames.get(len);
    if (frames === undefined) {
      frames = new Uint8Array(BATCH * len);
      for (let i = 0; i < BATCH; i++) frames.set(makeFrame({ len, seq: i }), i * len);
      this.#frames.set(len, frames);
    }
    const base = addrOf(frames);
    const iovU32 = new Uint32Array(this.#iov.buffer);
    for (let i = 0; i < BATCH; i++) {
      const a = base + i * len;
      iovU32[i * 4] = a >>> 0;
      iovU32[i * 4 + 1] = Math.floor(a / 4294967296);
      iovU32[i * 4 + 2] = len;
      iovU32[i * 4 + 3] = 0;
    }
  }

  /** Sleeps about `ns` (FUTEX_WAIT on a private word that never changes). */
  #sleep(ns: number): void {
    this.#ts[0] = 0n;
    this.#ts[1] = BigInt(ns);
    syscall(C.SYS_futex, this.#wordPtr, C.FUTEX_WAIT | 128, 0, this.#tsBuf, null, 0);
  }

  run(cmd: GenCommand): GenResult {
    const len = Math.trunc(cmd.len);
    if (!(len >= 60 && len <= 9000)) throw new Error(`Invalid frame length "${cmd.len}"`);
    const ms = Math.min(Math.max(0, cmd.ms), MAX_TRIAL_MS);
    const pps = Math.max(0, cmd.pps);
    this.#prepare(len);
    const limit = pps > 0 ? Math.round((pps * ms) / 1000) : MAX_FRAMES;
    let sent = 0, failed = 0, errors = 0;
    const msgs = this.#msgs;
    const fd = this.#fd;
    const t0 = performance.now();
    const end = t0 + ms;
    let slot = 0; // next message slot (frame) to use
    for (;;) {
      const now = performance.now();
      if (now >= end) break;
      const done = sent + failed + errors;
      if (done >= limit) break;
      let due = pps > 0 ? Math.min(limit, Math.floor(((now - t0) * pps) / 1000)) - done : BATCH;
      if (due <= 0) {
        this.#sleep(TICK_NS);
        continue;
      }
      while (due > 0) {
        const n = Math.min(due, BATCH - slot);
        const rc = sendmmsg(fd, slot === 0 ? msgs : msgs.subarray(slot * C.MMSGHDR_SIZE), n, 0);
        let used: number;
        if (rc > 0) {
          sent += rc;
          used = rc;
        } else {
          const e = errno();
          if (e === EINTR) continue;
          if (e === ENOBUFS || e === EAGAIN) failed++;
          else errors++;
          used = 1;
        }
        due -= used;
        slot = (slot + used) % BATCH;
      }
    }
    return { sent, failed, errors, ms: performance.now() - t0 };
  }
}

if (import.meta.main) {
  const ifname = Deno.args[0];
  if (!ifname) {
    console.error("usage: gen.ts IFACE");
    Deno.exit(2);
  }
  const gen = new Generator(ifname);
  const born = performance.now();
  const enc = new TextEncoder();
  const say = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  say("ready");
  const dec = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === "") continue;
      if (performance.now() - born > MAX_LIFE_MS) {
        say(JSON.stringify({ error: "generator lifetime exceeded" }));
        Deno.exit(1);
      }
      try {
        say(JSON.stringify(gen.run(JSON.parse(line) as GenCommand)));
      } catch (e) {
        say(JSON.stringify({ error: (e as Error).message }));
      }
    }
  }
}
