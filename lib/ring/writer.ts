/**
 * The ring writer: one per ring at a time, never waits for readers.
 *
 * Frames are appended as records; `commit()` publishes a batch with one store of the head position,
 * and wakes sleeping readers with a futex only when one sleeps. Before a record overwrites old data the
 * writer advances the tail past it (in chunks of 1/16 of the ring), so readers can tell whether what
 * they read was overwritten meanwhile.
 *
 * @module
 */
import { C, getpid, syscall } from "../../ffi/mod.ts";
import { nowNs, RingError, RingFile } from "./file.ts";
import * as L from "./layout.ts";

/** Options for {@link RingWriter.open}. */
export interface WriterOptions {
  /** What feeds the ring, for the watch view ("rx eth1"). */
  desc?: string;
}

const I_FRAMES = L.H_FRAMES / 8;
const I_BYTES = L.H_BYTES / 8;
const I_WIRE = L.H_WIRE_BYTES / 8;
const I_KDROPS = L.H_KERNEL_DROPS / 8;
const I_KPACKETS = L.H_KERNEL_PACKETS / 8;
/** BigInt64Array index of the writer's counter of each drop reason. */
const I_WDROP = L.DROP_REASONS.map((_, r) => L.writerDropAt(r) / 8);

/**
 * Appends frames to a ring.
 *
 * @example
 * ```ts
 * import { createRing, RingWriter } from "../../mod.ts";
 * createRing("/dev/shm/demo", { size: 1 << 20 });
 * using w = RingWriter.open("/dev/shm/demo");
 * const frame = new Uint8Array(60);
 * w.write(frame, 0, frame.length);
 * w.commit();
 * ```
 */
export class RingWriter {
  /** The mapped ring file. */
  readonly ring: RingFile;
  /** Largest frame a record holds. */
  readonly maxFrame: number;
  #ds: number;
  #data: Uint8Array;
  #u32: Uint32Array;
  #i64: BigInt64Array;
  #i32: Int32Array;
  /** lap start (multiple of dataSize) that the numeric positions below are relative to */
  #base: bigint;
  #head: number; // relative logical position of the next record
  #off: number; // physical offset of the next record
  #committed: number; // relative position published as head
  #tail: number; // relative logical tail
  #tailOff: number;
  #frames: number; // sequence number of the next record
  #bytes = 0;
  #wire = 0;
  #framesBase: number;
  #bytesBase: bigint;
  #wireBase: bigint;
  #chunk: number;
  #commitEvery: number;
  #pendingOff = -1;
  #undoHead = 0; // position before the last reserve(), for cancel()
  #undoOff = 0;
  #drops = new Float64Array(L.DROP_REASONS.length);
  #dropsDirty = false;
  #futexAddr: Deno.PointerObject;
  #closed = false;

  private constructor(ring: RingFile) {
    this.ring = ring;
    const g = ring.geometry;
    this.#ds = g.dataSize;
    this.maxFrame = g.maxFrame;
    this.#data = ring.data;
    this.#u32 = ring.dataU32;
    this.#i64 = ring.i64;
    this.#i32 = ring.i32;
    const head = Atomics.load(this.#i64, L.I_HEAD);
    const tail = Atomics.load(this.#i64, L.I_TAIL);
    const ds = BigInt(this.#ds);
    this.#base = head - (head % ds);
    this.#head = Number(head - this.#base);
    this.#off = this.#head;
    this.#committed = this.#head;
    this.#tail = Number(tail - this.#base);
    this.#tailOff = Number(tail % ds);
    this.#framesBase = Number(Atomics.load(this.#i64, I_FRAMES));
    this.#frames = this.#framesBase;
    this.#bytesBase = Atomics.load(this.#i64, I_BYTES);
    this.#wireBase = Atomics.load(this.#i64, I_WIRE);
    this.#chunk = Math.floor(this.#ds / 16 / L.ALIGN) * L.ALIGN;
    this.#commitEvery = Math.floor(this.#ds / 4);
    this.#futexAddr = ring.pointerAt(L.H_WAKE);
  }

  /**
   * Attaches as the ring's only writer. Throws `Ring "x" already has a writer (pid N)` when another live
   * process writes it; a writer that died (even by SIGKILL) released its lock with its last descriptor.
   */
  static open(path: string, opts: WriterOptions = {}, name = path): RingWriter {
    const ring = RingFile.open(path, name, { populate: true });
    try {
      if (!ring.tryLock(0)) {
        const pid = ring.i32[L.H_WRITER_PID / 4];
        throw new RingError(`Ring "${name}" already has a writer (pid ${pid})`);
      }
      verifyChain(ring);
      // A writer that died inside a commit left the seqlock odd: make it even again.
      if (Atomics.load(ring.i32, L.H_COMMIT_SEQ / 4) & 1) Atomics.add(ring.i32, L.H_COMMIT_SEQ / 4, 1);
      repairKernelPackets(ring);
      Atomics.store(ring.i32, L.H_WRITER_PID / 4, getpid());
      Atomics.add(ring.u32, L.H_WRITER_GEN / 4, 1);
      ring.setText(L.H_WRITER_DESC, opts.desc ?? "");
      return new RingWriter(ring);
    } catch (e) {
      ring.close();
      throw e;
    }
  }

  /** Frames appended so far (committed or not) since the ring was created. */
  get frames(): number {
    return this.#frames;
  }

  /** Data area (write frame bytes at the offset `reserve` returns). */
  get data(): Uint8Array {
    return this.#data;
  }

  /**
   * Makes room for a frame of up to `maxLen` bytes and returns the data-area offset to write it at,
   * or -1 when `maxLen` exceeds the ring's frame limit (count it as oversize). Follow with `finish`.
   */
  reserve(maxLen: number): number {
    if (maxLen > this.maxFrame || maxLen < 0) return -1;
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" writer is closed`);
    const size = L.recordSize(maxLen);
    if (this.#head - this.#committed > this.#commitEvery) this.commit();
    let off = this.#off;
    this.#undoHead = this.#head;
    this.#undoOff = off;
    let end = this.#head + size;
    if (off + size > this.#ds) end += this.#ds - off; // the record goes at the start of the next lap
    const need = end - this.#ds;
    if (this.#tail < need) this.#reclaim(need + this.#chunk);
    if (off + size > this.#ds) {
      this.#u32[off >>> 2] = L.WRAP;
      this.#head += this.#ds - off;
      off = 0;
      this.#off = 0;
    }
    this.#pendingOff = off;
    return off + L.RECORD_HEADER;
  }

  /** Completes the record started by `reserve` with its stored length, wire length and time. */
  finish(caplen: number, wirelen: number, sec: number, nsec: number): void {
    const off = this.#pendingOff;
    if (off < 0) throw new RingError("finish() without reserve()");
    if (caplen > this.maxFrame || caplen < 0) {
      throw new RingError(`finish(): length ${caplen} beyond the reservation`);
    }
    this.#pendingOff = -1;
    const u = this.#u32;
    const i = off >>> 2;
    const seq = this.#frames++;
    u[i] = caplen;
    u[i + 1] = wirelen;
    u[i + 2] = sec; // the low 32 bits of the seconds (a Uint32Array store wraps)
    u[i + 3] = (nsec & L.R_NSEC_MASK) |
      ((Math.floor(sec / 4294967296) & L.R_SEC_HI_MASK) << L.R_SEC_HI_SHIFT);
    u[i + 4] = seq >>> 0;
    u[i + 5] = (seq / 4294967296) >>> 0;
    const size = L.recordSize(caplen);
    this.#head += size;
    let next = off + size;
    if (next >= this.#ds) next = 0;
    this.#off = next;
    this.#bytes += caplen;
    this.#wire += wirelen;
  }

  /** Abandons the record started by `reserve` (nothing is published for it). */
  cancel(): void {
    if (this.#pendingOff < 0) return;
    this.#pendingOff = -1;
    // reserve() may have put a wrap marker: step back in front of it, as if nothing was reserved.
    this.#head = this.#undoHead;
    this.#off = this.#undoOff;
  }

  /**
   * Appends one frame copied from `src[off, off+len)`. Returns false (nothing written) when the frame
   * exceeds the ring's frame limit. `wirelen` defaults to `len`; time defaults to now.
   */
  write(src: Uint8Array, off: number, len: number, wirelen = len, sec = -1, nsec = 0): boolean {
    const at = this.reserve(len);
    if (at < 0) return false;
    if (off === 0 && len === src.length) this.#data.set(src, at);
    else this.#data.set(src.subarray(off, off + len), at);
    if (sec < 0) {
      const ms = Date.now();
      sec = Math.floor(ms / 1000);
      nsec = (ms % 1000) * 1_000_000;
    }
    this.finish(len, wirelen, sec, nsec);
    return true;
  }

  /** Publishes everything appended since the last commit and wakes sleeping readers. */
  commit(): void {
    if (this.#closed) return;
    if (this.#head !== this.#committed) {
      const i64 = this.#i64;
      Atomics.add(this.#i32, L.W_COMMIT_SEQ, 1); // odd: (FRAMES, HEAD) being updated
      Atomics.store(i64, I_FRAMES, BigInt(this.#frames));
      Atomics.store(i64, L.I_HEAD, this.#base + BigInt(this.#head));
      Atomics.add(this.#i32, L.W_COMMIT_SEQ, 1);
      Atomics.store(i64, I_BYTES, this.#bytesBase + BigInt(this.#bytes));
      Atomics.store(i64, I_WIRE, this.#wireBase + BigInt(this.#wire));
      this.#committed = this.#head;
      Atomics.add(this.#i32, L.W_WAKE, 1);
      if (Atomics.load(this.#i32, L.W_SLEEPERS) > 0) {
        syscall(C.SYS_futex, this.#futexAddr, C.FUTEX_WAKE, 0x7fffffff, null, null, 0);
      }
      if (this.#head > L.REBASE_AT) this.#rebase();
    }
    if (this.#dropsDirty) this.#flushDrops();
  }

  /** Counts frames the writer side dropped, by reason index (see DROP_REASONS). */
  addDrop(reason: number, n = 1): void {
    this.#drops[reason] += n;
    this.#dropsDirty = true;
  }

  /**
   * Repairs the sleeper count when readers died asleep (SIGKILL in FUTEX_WAIT): their slots still say
   * "sleeping" though nobody holds their lock, and the writer would make a futex call at every commit
   * from then on. Cheap when nobody sleeps; the receive loop calls it a few times a second.
   */
  reapSleepers(): void {
    if (this.#closed || Atomics.load(this.#i32, L.W_SLEEPERS) === 0) return;
    const i32 = this.#i32;
    for (let s = 0; s < L.MAX_READERS; s++) {
      const at = (L.SLOTS_OFFSET + s * L.SLOT_SIZE + L.S_SLEEPING) / 4;
      if (Atomics.load(i32, at) !== 1 || this.ring.isLocked(1 + s)) continue;
      if (Atomics.compareExchange(i32, at, 1, 0) === 1) Atomics.sub(i32, L.W_SLEEPERS, 1);
    }
  }

  /** Throws when the ring file was truncated while in use (see {@linkcode RingFile.checkSize}). */
  checkSize(): void {
    try {
      this.ring.checkSize();
    } catch (e) {
      if (this.ring.shrunk && !this.#closed) {
        // Closed without touching the mapping again (its pages may be gone): no commit, no counters.
        this.#closed = true;
        this.#data = new Uint8Array(0);
        this.#u32 = new Uint32Array(0);
        this.#i64 = new BigInt64Array(0);
        this.#i32 = new Int32Array(0);
        this.ring.close(); // closing the descriptor releases the writer lock
      }
      throw e;
    }
  }

  /** Adds to the kernel-drop counter (and the kernel's packet count, drops included). */
  addKernelStats(drops: number, packets: number): void {
    if (this.#closed) return;
    if (drops) Atomics.add(this.#i64, I_KDROPS, BigInt(drops));
    if (packets) Atomics.add(this.#i64, I_KPACKETS, BigInt(packets));
  }

  #flushDrops(): void {
    for (let r = 0; r < this.#drops.length; r++) {
      if (this.#drops[r]) {
        Atomics.add(this.#i64, I_WDROP[r], BigInt(this.#drops[r]));
        this.#drops[r] = 0;
      }
    }
    this.#dropsDirty = false;
  }

  /** Advances the tail to at least `target` (relative), walking committed records. */
  #reclaim(target: number): void {
    const u = this.#u32;
    const ds = this.#ds;
    let t = this.#tail;
    let o = this.#tailOff;
    const limit = this.#committed;
    while (t < target && t < limit) {
      const cap = u[o >>> 2];
      if (cap === L.WRAP) {
        t += ds - o;
        o = 0;
        continue;
      }
      if (cap === undefined || cap > this.maxFrame) { // corrupt: nothing before the committed head can be trusted
        t = limit;
        o = limit % ds;
        break;
      }
      const size = L.recordSize(cap);
      t += size;
      o += size;
      if (o >= ds) o = 0;
    }
    if (t < target) {
      // Everything committed is reclaimed; the uncommitted part is ours and is never reclaimed here
      // because a batch is committed before it exceeds a quarter of the ring.
      t = Math.max(t, limit);
      o = t % ds;
    }
    this.#tail = t;
    this.#tailOff = o;
    Atomics.store(this.#i64, L.I_TAIL, this.#base + BigInt(t));
  }

  #rebase(): void {
    const shift = Math.floor(this.#tail / this.#ds) * this.#ds;
    if (shift <= 0) return;
    this.#base += BigInt(shift);
    this.#head -= shift;
    this.#committed -= shift;
    this.#tail -= shift;
  }

  /** Commits, releases the writer lock and unmaps. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.commit();
    this.#closed = true;
    this.ring.unlock(0);
    // Drop every view of the mapping before it goes: a later use reads nothing instead of SIGSEGV.
    this.#data = new Uint8Array(0);
    this.#u32 = new Uint32Array(0);
    this.#i64 = new BigInt64Array(0);
    this.#i32 = new Int32Array(0);
    this.ring.close();
  }

  /** Closes (see {@linkcode RingWriter.close}). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The kernel's packet count covers every frame of the ring, its kernel drops and the frames its writers
 * dropped; a writer killed between writing frames and reporting its kernel counters (they are read ten
 * times a second) leaves it short, and a new capture socket's counters only add to it. Raise it to that
 * floor when a writer attaches.
 */
function repairKernelPackets(ring: RingFile): void {
  const i64 = ring.i64;
  let floor = Atomics.load(i64, I_FRAMES) + Atomics.load(i64, I_KDROPS);
  for (let r = 0; r < L.DROP_REASONS.length; r++) floor += Atomics.load(i64, I_WDROP[r]);
  const kp = Atomics.load(i64, I_KPACKETS);
  if (kp > 0n && kp < floor) Atomics.store(i64, I_KPACKETS, floor);
}

/**
 * Walks the committed records from tail to head and throws if the chain is broken (a foreign or
 * damaged file whose header looks right). O(records); run once at writer attach.
 */
function verifyChain(ring: RingFile): void {
  const g = ring.geometry;
  const ds = BigInt(g.dataSize);
  const head = Atomics.load(ring.i64, L.I_HEAD);
  const tail = Atomics.load(ring.i64, L.I_TAIL);
  let left = Number(head - tail);
  let o = Number(tail % ds);
  const u = ring.dataU32;
  while (left > 0) {
    const cap = u[o >>> 2];
    let size: number;
    if (cap === L.WRAP) size = g.dataSize - o;
    else if (cap === undefined || cap > g.maxFrame) {
      throw new RingError(`Cannot open ring "${ring.name}": corrupt record at data offset ${o}`);
    } else size = L.recordSize(cap);
    if (size <= 0 || size > left || o + size > g.dataSize) {
      throw new RingError(`Cannot open ring "${ring.name}": corrupt record chain at data offset ${o}`);
    }
    left -= size;
    o += size;
    if (o >= g.dataSize) o = 0;
  }
}

export { nowNs };
