/**
 * Ring readers: any number per ring, each sees every frame the writer commits, unless the writer laps
 * it, in which case it loses the oldest frames and counts exactly how many (by record sequence number).
 *
 * Reading is two-phase: `poll()` describes a batch of records in place (offsets into the data area, no
 * copy), the caller uses them (copies them, or hands their addresses to `sendmmsg`), then `release()`
 * checks the tail: records the writer reclaimed meanwhile form a prefix of the batch, and `release()`
 * returns how many leading records must be discarded because they may have been overwritten while in use.
 * A caller that copies the batch out can call `secure()` after the copy: when it returns true the
 * copies are intact, and `release()` counts the batch as read even if the writer reclaims it later.
 *
 * @module
 */
import { C, getpid, syscall } from "../../ffi/mod.ts";
import { nowNs, RingError, RingFile } from "./file.ts";
import * as L from "./layout.ts";

/** Options for {@link RingReader.open}. */
export interface ReaderOptions {
  /** Start at the oldest retained frame instead of the live edge. */
  fromOldest?: boolean;
  /** What this reader is, for the watch view ("tx eth2"). */
  desc?: string;
  /** Kind of output, see ReaderKind. */
  kind?: number;
  /** Most records one `poll` returns (default 1024). */
  maxBatch?: number;
}

/**
 * Reads frames from a ring.
 *
 * @example
 * ```ts
 * import { RingReader } from "../../mod.ts";
 * using r = RingReader.open("/dev/shm/demo");
 * const n = r.poll();
 * for (let i = 0; i < n; i++) console.log(r.lens[i]);
 * const bad = r.release(); // the first `bad` records of the batch were overwritten while in use
 * ```
 */
export class RingReader {
  /** The mapped ring file. */
  readonly ring: RingFile;
  /** Slot index in the ring's reader table. */
  readonly slot: number;
  /** Most records one `poll` returns. */
  readonly maxBatch: number;
  /** Data-area offsets of the frames of the current batch. */
  readonly offs: Uint32Array;
  /** Stored lengths of the frames of the current batch. */
  readonly lens: Uint32Array;
  /** Wire lengths. */
  readonly wires: Uint32Array;
  /** Capture time, seconds. */
  readonly secs: Float64Array;
  /** Capture time, nanoseconds. */
  readonly nsecs: Uint32Array;
  #rel: Float64Array; // relative logical start of each record
  #seq: Float64Array;
  #ds: number;
  #u32: Uint32Array;
  #i64: BigInt64Array;
  #i32: Int32Array;
  #slotI64: number;
  #slotI32: number;
  #base: bigint;
  #pos: number; // relative logical position of the next unread record
  #off: number; // physical offset of it
  #batchN = 0;
  /** The last `pollInto` destination, and a word view of it. */
  #dst: Uint8Array | null = null;
  #dstU32: Uint32Array = new Uint32Array(0);
  /** Average record size of the last `pollInto` batch: how much to copy at first. */
  #recordBytes = 128;
  #secured = false;
  #batchEnd = 0;
  #batchEndOff = 0;
  #expectSeq = -1;
  #read = 0;
  #bytes = 0;
  #lost = 0;
  #lostPublished = -1;
  #sent = 0;
  #drops = new Float64Array(L.DROP_REASONS.length);
  #dropsDirty = false;
  #timespec = new BigInt64Array(2);
  #timespecU8 = new Uint8Array(this.#timespec.buffer);
  #futexAddr: Deno.PointerObject;
  #closed = false;
  #members: MemberSlot[] = [];
  /** Records skipped because their header was invalid without the writer having lapped us. */
  corrupt = 0;
  /** Sequence number of the first frame this reader is owed (-1 if unknown): read + lost count from it. */
  readonly startSeq: number;

  private constructor(ring: RingFile, slot: number, opts: ReaderOptions) {
    this.ring = ring;
    this.slot = slot;
    this.maxBatch = opts.maxBatch ?? 1024;
    this.offs = new Uint32Array(this.maxBatch);
    this.lens = new Uint32Array(this.maxBatch);
    this.wires = new Uint32Array(this.maxBatch);
    this.secs = new Float64Array(this.maxBatch); // seconds up to 2^34 (see the record layout)
    this.nsecs = new Uint32Array(this.maxBatch);
    this.#rel = new Float64Array(this.maxBatch);
    this.#seq = new Float64Array(this.maxBatch);
    this.#ds = ring.geometry.dataSize;
    this.#u32 = ring.dataU32;
    this.#i64 = ring.i64;
    this.#i32 = ring.i32;
    this.#slotI64 = (L.SLOTS_OFFSET + slot * L.SLOT_SIZE) / 8;
    this.#slotI32 = (L.SLOTS_OFFSET + slot * L.SLOT_SIZE) / 4;
    const ds = BigInt(this.#ds);
    let start: bigint;
    if (opts.fromOldest) {
      const at = this.#seqAt(Atomics.load(this.#i64, L.I_TAIL));
      start = at.start;
      this.#expectSeq = at.seq;
    } else {
      // The sequence number of the next record is FRAMES as of the same commit as HEAD.
      const edge = this.#liveEdge();
      start = edge.head;
      this.#expectSeq = edge.frames;
    }
    this.startSeq = this.#expectSeq;
    this.#base = start - (start % ds);
    this.#pos = Number(start - this.#base);
    this.#off = this.#pos;
    this.#futexAddr = ring.pointerAt(L.H_WAKE);
    this.#publish();
  }

  /** Attaches a new reader to the ring at `path` (claims a free or dead slot). */
  static open(path: string, opts: ReaderOptions = {}, name = path): RingReader {
    const ring = RingFile.open(path, name);
    try {
      const slot = claimSlot(ring);
      const s8 = L.SLOTS_OFFSET + slot * L.SLOT_SIZE;
      ring.u8.fill(0, s8 + 8, s8 + L.SLOT_SIZE); // fresh counters
      ring.i64[(s8 + L.S_ATTACHED_NS) / 8] = nowNs();
      ring.u32[(s8 + L.S_KIND) / 4] = opts.kind ?? L.ReaderKind.other;
      ring.setText(s8 + L.S_DESC, opts.desc ?? "");
      Atomics.store(ring.i32, (s8 + L.S_PID) / 4, getpid());
      Atomics.store(ring.i32, (s8 + L.S_STATE) / 4, 1);
      return new RingReader(ring, slot, opts);
    } catch (e) {
      ring.close();
      throw e;
    }
  }

  /** Data area of the ring (frame i of a batch is `data.subarray(offs[i], offs[i] + lens[i])`). */
  get data(): Uint8Array {
    return this.ring.data;
  }

  /** Numeric address of the data area, for building iovecs. */
  get dataAddr(): number {
    return this.ring.dataAddr;
  }

  /** Frames returned so far (valid ones). */
  get framesRead(): number {
    return this.#read;
  }

  /** Frames lost to overwrite so far. */
  get framesLost(): number {
    return this.#lost;
  }

  /** Frames counted under a drop reason so far (all reasons). */
  get framesDropped(): number {
    let n = 0;
    for (let r = 0; r < this.#drops.length; r++) n += this.#drops[r];
    return n;
  }

  /** The ring's kernel-drop counter (what the capture side's kernel dropped, since the ring was made). */
  get kernelDrops(): number {
    return this.#closed ? 0 : Number(Atomics.load(this.#i64, L.H_KERNEL_DROPS / 8));
  }

  /** Sequence number (frame index in the ring) of record i of the current batch. */
  seq(i: number): number {
    return this.#seq[i];
  }

  /** Number of committed bytes not yet read (0 when at the live edge). */
  backlog(): number {
    if (this.#closed) return 0;
    return Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base) - this.#pos;
  }

  /**
   * Describes up to `max` records after the reader's position in `offs`/`lens`/…; returns their number
   * (0 when nothing new). Does not move the reader: `release()` does.
   */
  poll(max = this.maxBatch): number {
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" reader is closed`);
    if (max > this.maxBatch) max = this.maxBatch;
    if (max <= 0) {
      this.#batchN = 0;
      this.#batchEnd = this.#pos;
      this.#batchEndOff = this.#off;
      return 0;
    }
    const headRel = Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base);
    let pos = this.#pos;
    if (headRel <= pos) {
      // A position beyond the writer's head is impossible (a damaged header sent us there): start again
      // at the live edge, counting what was skipped as lost.
      if (headRel < pos) this.#resync();
      this.#batchN = 0;
      this.#batchEnd = this.#pos;
      this.#batchEndOff = this.#off;
      return 0;
    }
    const tailRel = this.#tailRel(headRel);
    let off = this.#off;
    if (tailRel > pos) { // lapped: jump to the oldest intact record
      pos = tailRel;
      off = tailRel % this.#ds;
      if (off < 0) off += this.#ds;
    }
    const u = this.#u32;
    const ds = this.#ds;
    const maxFrame = this.ring.geometry.maxFrame;
    const start = pos;
    let n = 0;
    while (pos < headRel && n < max) {
      const i = off >>> 2;
      const cap = u[i];
      if (cap === L.WRAP) {
        pos += ds - off;
        off = 0;
        continue;
      }
      if (cap > maxFrame || off + L.RECORD_HEADER + cap > ds) {
        // Either the writer is overwriting this very record (we were lapped meanwhile: release() sees
        // it) or the ring is damaged. In both cases stop here; see release().
        break;
      }
      const seq = u[i + 4] + u[i + 5] * 4294967296;
      if (n > 0 && seq !== this.#seq[n - 1] + 1) break; // a header the writer is overwriting: see release()
      this.offs[n] = off + L.RECORD_HEADER;
      this.lens[n] = cap;
      this.wires[n] = u[i + 1];
      const ns = u[i + 3];
      this.secs[n] = u[i + 2] + (ns >>> L.R_SEC_HI_SHIFT) * 4294967296;
      this.nsecs[n] = ns & L.R_NSEC_MASK;
      this.#seq[n] = seq;
      this.#rel[n] = pos;
      const size = (L.RECORD_HEADER + cap + 7) & ~7;
      pos += size;
      off += size;
      if (off >= ds) off = 0;
      n++;
    }
    this.#batchN = n;
    this.#batchEnd = pos;
    this.#batchEndOff = off;
    if (n === 0) {
      if (pos < headRel) this.#stuck(start);
      else { // only wrap markers were crossed: keep the position, or backlog() never drains
        this.#pos = pos;
        this.#off = off;
      }
    }
    return n;
  }

  /**
   * True when no record of the current batch has been reclaimed by the writer yet: whatever the caller
   * copied out of the batch before this call is intact. After a true, `release()` counts the batch as
   * read even if the writer reclaims it afterwards.
   */
  secure(): boolean {
    if (this.#batchN === 0) return true;
    const tailRel = this.#tailRel(Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base));
    this.#secured = this.#rel[0] >= tailRel;
    return this.#secured;
  }

  /**
   * Like {@linkcode poll}, but copies the records out of the ring into `dst` first (whole records, as
   * many as fit, at most `max`), a piece at a time as they are parsed, and describes them there:
   * `offs[i]` are offsets into `dst`. One streaming copy replaces parsing the ring in place, where each
   * record header is a cache (and TLB) miss that waits for the one before it. Call `secure()` before
   * the copies are used (they are private: once taken they cannot change): when it returns true they
   * are intact. `dst` must hold two records of the
   * ring's largest frame (see {@linkcode RingReader.minCopySize}).
   */
  pollInto(dst: Uint8Array, max = this.maxBatch): number {
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" reader is closed`);
    if (dst.length < this.minCopySize) {
      throw new RangeError(`pollInto: ${dst.length} bytes cannot hold a record (${this.minCopySize} needed)`);
    }
    if (max > this.maxBatch) max = this.maxBatch;
    const ds = this.#ds;
    const headRel = Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base);
    let pos = this.#pos;
    if (max <= 0 || headRel <= pos) {
      if (max > 0 && headRel < pos) this.#resync(); // see poll()
      this.#batchN = 0;
      this.#batchEnd = this.#pos;
      this.#batchEndOff = this.#off;
      return 0;
    }
    const tailRel = this.#tailRel(headRel);
    let off = this.#off;
    if (tailRel > pos) { // lapped: jump to the oldest intact record
      pos = tailRel;
      off = tailRel % ds;
      if (off < 0) off += ds;
    }
    if (this.#dst !== dst) {
      this.#dst = dst;
      this.#dstU32 = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >>> 2);
    }
    const u = this.#dstU32;
    const maxFrame = this.ring.geometry.maxFrame;
    // dst[x] holds the byte at logical position pos + x, for every x < have
    const limit = Math.min(headRel - pos, dst.length - (dst.length % 8));
    const piece = Math.max(4096, Math.ceil(max * this.#recordBytes) + 4096);
    let have = 0;
    let d = 0;
    let n = 0;
    while (d < limit && n < max) {
      if (d + L.RECORD_HEADER > have) {
        if (have >= limit) break;
        have = this.#copyOut(dst, off, have, Math.min(limit, have + piece));
        continue;
      }
      let phys = off + d;
      if (phys >= ds) phys -= ds;
      const i = d >>> 2;
      const cap = u[i];
      if (cap === L.WRAP) {
        d += ds - phys;
        if (have < d) have = Math.min(d, limit); // the unused end of the data area is not copied
        continue;
      }
      if (cap > maxFrame || phys + L.RECORD_HEADER + cap > ds) break; // see poll()
      const size = (L.RECORD_HEADER + cap + 7) & ~7;
      if (d + size > have) {
        if (d + size > limit) break; // not all committed yet (impossible) or beyond `dst`: next batch
        have = this.#copyOut(dst, off, have, Math.min(limit, Math.max(have + piece, d + size)));
        continue;
      }
      const seq = u[i + 4] + u[i + 5] * 4294967296;
      if (n > 0 && seq !== this.#seq[n - 1] + 1) break; // see poll()
      this.offs[n] = d + L.RECORD_HEADER;
      this.lens[n] = cap;
      this.wires[n] = u[i + 1];
      const ns = u[i + 3];
      this.secs[n] = u[i + 2] + (ns >>> L.R_SEC_HI_SHIFT) * 4294967296;
      this.nsecs[n] = ns & L.R_NSEC_MASK;
      this.#seq[n] = seq;
      this.#rel[n] = pos + d;
      d += size;
      n++;
    }
    if (n > 0) this.#recordBytes = d / n;
    const end = off + d;
    this.#batchN = n;
    this.#batchEnd = pos + d;
    this.#batchEndOff = end >= ds ? end - ds : end;
    if (n === 0) {
      if (pos + d < headRel) this.#stuck(pos);
      else { // only wrap markers were crossed: keep the position, or backlog() never drains
        this.#pos = this.#batchEnd;
        this.#off = this.#batchEndOff;
      }
    }
    return n;
  }

  /** Smallest `dst` {@linkcode pollInto} takes: two records of the ring's largest frame. */
  get minCopySize(): number {
    return Math.min(this.#ds, 2 * L.recordSize(this.ring.geometry.maxFrame));
  }

  /** Copies the logical bytes [from, to) after physical offset `off` to dst[from, to); returns `to`. */
  #copyOut(dst: Uint8Array, off: number, from: number, to: number): number {
    const ds = this.#ds;
    const data = this.ring.data;
    let p = off + from;
    if (p >= ds) p -= ds;
    const len = to - from;
    const first = Math.min(len, ds - p);
    dst.set(data.subarray(p, p + first), from);
    if (len > first) dst.set(data.subarray(0, len - first), from + first);
    return to;
  }

  /**
   * Ends the batch of the last `poll()`: moves past it and returns how many of its leading records
   * must be discarded because the writer overwrote them while in use: 0, or the whole batch (they are
   * counted as lost; the others as read). A batch made safe with `secure()` is never discarded.
   * `publish` false leaves the slot's counters to the next `flush()` (one publication per batch).
   */
  release(publish = true): number {
    const n = this.#batchN;
    const secured = this.#secured;
    this.#batchN = 0;
    this.#secured = false;
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" reader is closed`);
    const tailRel = this.#tailRel(Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base));
    if (n > 0 && !secured && this.#rel[0] < tailRel) {
      // The writer reclaimed the start of the batch while it was in use. Each record was found through
      // the header of the one before, so nothing after an overwritten header can be trusted either:
      // the whole batch is discarded and the reader resumes at the tail, a true record boundary. The
      // frames skipped are counted as lost from the next good record's sequence number.
      this.#pos = tailRel;
      this.#off = ((tailRel % this.#ds) + this.#ds) % this.#ds;
      this.#publish();
      return n;
    }
    if (n > 0) {
      const first = this.#seq[0];
      if (this.#expectSeq >= 0 && first > this.#expectSeq) this.#lost += first - this.#expectSeq;
      this.#expectSeq = this.#seq[n - 1] + 1;
      this.#read += n;
      for (let i = 0; i < n; i++) this.#bytes += this.lens[i];
    }
    this.#pos = this.#batchEnd;
    this.#off = this.#batchEndOff;
    if (this.#pos > L.REBASE_AT) this.#rebase();
    if (publish) this.#publish();
    return 0;
  }

  /** Counts frames of this reader that did not reach the output, by reason (see DROP_REASONS). */
  addDrop(reason: number, n = 1): void {
    this.#drops[reason] += n;
    this.#dropsDirty = true;
  }

  /** Counts frames delivered to the output. */
  addSent(n: number): void {
    this.#sent += n;
  }

  /**
   * Sleeps until the writer commits or `timeoutMs` passes (futex on the ring's wake word). Returns true
   * if there is something to read. Blocks the calling thread: call it from a Worker's loop.
   */
  wait(timeoutMs: number): boolean {
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" reader is closed`);
    const i32 = this.#i32;
    const seq = Atomics.load(i32, L.W_WAKE);
    if (this.backlog() > 0) return true;
    Atomics.add(i32, L.W_SLEEPERS, 1);
    Atomics.store(i32, this.#slotI32 + L.S_SLEEPING / 4, 1);
    let shrunk: unknown = null;
    try {
      if (this.backlog() > 0) return true;
      const ts = this.#timespec;
      ts[0] = BigInt(Math.floor(timeoutMs / 1000));
      ts[1] = BigInt((timeoutMs % 1000) * 1_000_000);
      syscall(C.SYS_futex, this.#futexAddr, C.FUTEX_WAIT, seq, this.#timespecU8, null, 0);
      // Idle is when a ring gets truncated under us: look before touching the mapping again.
      try {
        this.ring.checkSize();
      } catch (e) {
        shrunk = e;
      }
    } finally {
      if (shrunk === null) {
        Atomics.store(i32, this.#slotI32 + L.S_SLEEPING / 4, 0);
        Atomics.sub(i32, L.W_SLEEPERS, 1);
      }
    }
    if (shrunk !== null) {
      this.#abandon();
      throw shrunk;
    }
    return this.backlog() > 0;
  }

  /**
   * Throws when the ring file was truncated while in use (see {@linkcode RingFile.checkSize}); the
   * reader is then closed without touching the mapping again.
   */
  checkSize(): void {
    try {
      this.ring.checkSize();
    } catch (e) {
      if (this.ring.shrunk) this.#abandon();
      throw e;
    }
  }

  /** Closes a reader whose ring shrank: nothing is written to the mapping (its pages may be gone). */
  #abandon(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#members = [];
    this.#u32 = new Uint32Array(0);
    this.#i64 = new BigInt64Array(0);
    this.#i32 = new Int32Array(0);
    this.ring.close(); // closing the descriptor releases the slot's lock
  }

  /** Sequence number of the record at logical position `p` (the tail), or -1 if it cannot be trusted. */
  #seqAt(p: bigint): { start: bigint; seq: number } {
    for (let tries = 0; tries < 1000; tries++) {
      const edge = this.#liveEdge();
      if (p >= edge.head) return { start: edge.head, seq: edge.frames };
      let off = Number(p % BigInt(this.#ds));
      let cap = this.#u32[off >>> 2];
      if (cap === L.WRAP) {
        off = 0;
        cap = this.#u32[0];
      }
      const seq = this.#u32[(off >>> 2) + 4] + this.#u32[(off >>> 2) + 5] * 4294967296;
      const now = Atomics.load(this.#i64, L.I_TAIL);
      if (now === p && cap <= this.ring.geometry.maxFrame) return { start: p, seq };
      p = now; // the tail moved while we looked: look again at the new tail
    }
    return { start: p, seq: -1 };
  }

  /** Head and the frame count of the same commit (read under the commit seqlock). */
  #liveEdge(): { head: bigint; frames: number } {
    for (let tries = 0; tries < 10000; tries++) {
      const g = Atomics.load(this.#i32, L.W_COMMIT_SEQ);
      if (g & 1) continue;
      const f = Atomics.load(this.#i64, L.H_FRAMES / 8);
      const h = Atomics.load(this.#i64, L.I_HEAD);
      if (Atomics.load(this.#i32, L.W_COMMIT_SEQ) === g) return { head: h, frames: Number(f) };
    }
    // A writer died inside a commit (the next writer repairs the seqlock): take the values as they are.
    return {
      head: Atomics.load(this.#i64, L.I_HEAD),
      frames: Number(Atomics.load(this.#i64, L.H_FRAMES / 8)),
    };
  }

  /**
   * Claims one more slot of this ring for a member of the output this reader feeds (an output group's
   * member): kind `member` pointing at this reader's slot, the same pid, described as `desc`. Its
   * counters are the caller's ({@linkcode MemberSlot}); its position follows this reader's, so its lag
   * shows. Published with this reader's counters; freed when this reader closes (or by
   * {@linkcode MemberSlot.close}).
   */
  addMember(desc: string): MemberSlot {
    if (this.#closed) throw new RingError(`Ring "${this.ring.name}" reader is closed`);
    const ring = this.ring;
    const slot = claimSlot(ring);
    const s8 = L.SLOTS_OFFSET + slot * L.SLOT_SIZE;
    ring.u8.fill(0, s8 + 8, s8 + L.SLOT_SIZE);
    ring.i64[(s8 + L.S_ATTACHED_NS) / 8] = nowNs();
    ring.u32[(s8 + L.S_KIND) / 4] = L.memberKind(this.slot);
    ring.setText(s8 + L.S_DESC, desc);
    Atomics.store(ring.i64, (s8 + L.S_POS) / 8, this.#base + BigInt(this.#pos));
    Atomics.store(ring.i32, (s8 + L.S_PID) / 4, getpid());
    Atomics.store(ring.i32, (s8 + L.S_STATE) / 4, 1);
    const m = new MemberSlot(ring, slot, () => this.#members = this.#members.filter((x) => x !== m));
    this.#members.push(m);
    return m;
  }

  /** Writes position and counters into the reader's slot (done at every release). */
  #publish(): void {
    const i = this.#slotI64;
    const i64 = this.#i64;
    const pos = this.#base + BigInt(this.#pos);
    for (const m of this.#members) m.publish(pos);
    Atomics.store(i64, i + L.S_POS / 8, pos);
    Atomics.store(i64, i + L.S_READ / 8, BigInt(this.#read));
    Atomics.store(i64, i + L.S_BYTES / 8, BigInt(this.#bytes));
    if (this.#lost !== this.#lostPublished) {
      Atomics.store(i64, i + L.S_LOST / 8, BigInt(this.#lost));
      this.#lostPublished = this.#lost;
    }
    Atomics.store(i64, i + L.S_SENT / 8, BigInt(this.#sent));
    if (this.#dropsDirty) {
      storeDrops(i64, i, this.#drops);
      this.#dropsDirty = false;
    }
  }

  /** Flushes counters to the slot without a batch (e.g. after counting drops). */
  flush(): void {
    if (!this.#closed) this.#publish();
  }

  /**
   * No record could be read at `start` although the head is beyond it. If the writer lapped us the next
   * poll jumps to the tail; otherwise the record chain is damaged: skip to the head and count the
   * frames in between (by sequence number) as lost.
   */
  /**
   * The tail relative to the reader's base, as long as it is possible (at most the head, at most a ring
   * behind it); an impossible tail (a damaged header) is not followed: the head a ring back stands in.
   */
  #tailRel(headRel: number): number {
    const tailRel = Number(Atomics.load(this.#i64, L.I_TAIL) - this.#base);
    if (tailRel <= headRel && headRel - tailRel <= this.#ds) return tailRel;
    this.corrupt++;
    return headRel - this.#ds;
  }

  /** Moves to the live edge, counting the frames skipped (by sequence number) as lost. */
  #resync(): void {
    this.corrupt++;
    const edge = this.#liveEdge();
    const rel = Number(edge.head - this.#base);
    this.#pos = rel;
    this.#off = ((rel % this.#ds) + this.#ds) % this.#ds;
    if (this.#expectSeq >= 0 && edge.frames > this.#expectSeq) this.#lost += edge.frames - this.#expectSeq;
    this.#expectSeq = edge.frames;
    this.#publish();
  }

  #stuck(start: number): void {
    if (this.#tailRel(Number(Atomics.load(this.#i64, L.I_HEAD) - this.#base)) > start) return;
    this.#resync();
  }

  #rebase(): void {
    const shift = Math.floor(this.#pos / this.#ds) * this.#ds;
    this.#base += BigInt(shift);
    this.#pos -= shift;
  }

  /** Detaches: frees the slot and unmaps. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#publish();
    for (const m of [...this.#members]) m.close();
    this.#closed = true;
    Atomics.store(this.#i32, this.#slotI32 + L.S_STATE / 4, 0);
    this.ring.unlock(1 + this.slot);
    // Drop every view of the mapping before it goes: a later use reads nothing instead of SIGSEGV.
    this.#u32 = new Uint32Array(0);
    this.#i64 = new BigInt64Array(0);
    this.#i32 = new Int32Array(0);
    this.ring.close();
  }

  /** Closes (see `close()`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The slot of one member of an output group (see {@linkcode RingReader.addMember}): counters the group
 * keeps for that member — frames offered to it (`framesRead`), their bytes, frames it sent, and its
 * drops by reason. Published with the group's reader.
 */
export class MemberSlot {
  /** Slot index in the ring's reader table. */
  readonly slot: number;
  readonly #ring: RingFile;
  readonly #i64: number;
  readonly #onClose: () => void;
  #read = 0;
  #bytes = 0;
  #sent = 0;
  #drops = new Float64Array(L.DROP_REASONS.length);
  #dropsDirty = false;
  #closed = false;

  /** @internal Use {@linkcode RingReader.addMember}. */
  constructor(ring: RingFile, slot: number, onClose: () => void) {
    this.#ring = ring;
    this.slot = slot;
    this.#i64 = (L.SLOTS_OFFSET + slot * L.SLOT_SIZE) / 8;
    this.#onClose = onClose;
  }

  /** Counts `n` frames of `bytes` bytes offered to the member (its "frames read"). */
  addOffered(n: number, bytes: number): void {
    this.#read += n;
    this.#bytes += bytes;
  }

  /** Counts frames the member sent. */
  addSent(n: number): void {
    this.#sent += n;
  }

  /** Counts frames offered to the member that it did not send, by reason. */
  addDrop(reason: number, n = 1): void {
    this.#drops[reason] += n;
    this.#dropsDirty = true;
  }

  /** Frames offered so far. */
  get framesOffered(): number {
    return this.#read;
  }

  /** Frames sent so far. */
  get framesSent(): number {
    return this.#sent;
  }

  /** @internal Writes the counters and the group reader's position `pos` into the slot. */
  publish(pos: bigint): void {
    if (this.#closed) return;
    const i = this.#i64;
    const i64 = this.#ring.i64;
    Atomics.store(i64, i + L.S_POS / 8, pos);
    Atomics.store(i64, i + L.S_READ / 8, BigInt(this.#read));
    Atomics.store(i64, i + L.S_BYTES / 8, BigInt(this.#bytes));
    Atomics.store(i64, i + L.S_SENT / 8, BigInt(this.#sent));
    if (this.#dropsDirty) {
      storeDrops(i64, i, this.#drops);
      this.#dropsDirty = false;
    }
  }

  /** Frees the slot (the group's reader does it when it closes). Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    Atomics.store(this.#ring.i32, (L.SLOTS_OFFSET + this.slot * L.SLOT_SIZE + L.S_STATE) / 4, 0);
    this.#ring.unlock(1 + this.slot);
  }
}

/** Claims a reader slot: a free one first, else one whose owner died (its lock is gone). */
function claimSlot(ring: RingFile): number {
  const st = (i: number) => Atomics.load(ring.i32, (L.SLOTS_OFFSET + i * L.SLOT_SIZE + L.S_STATE) / 4);
  for (const wantFree of [true, false]) {
    for (let i = 0; i < L.MAX_READERS; i++) {
      if ((st(i) === 0) !== wantFree) continue;
      if (!ring.tryLock(1 + i)) continue;
      const sleepingIdx = (L.SLOTS_OFFSET + i * L.SLOT_SIZE + L.S_SLEEPING) / 4;
      if (Atomics.exchange(ring.i32, sleepingIdx, 0) === 1) {
        Atomics.sub(ring.i32, L.W_SLEEPERS, 1); // its owner died asleep
      }
      return i;
    }
  }
  throw new RingError(`Ring "${ring.name}" has no free reader slot (all ${L.MAX_READERS} in use)`);
}

/** Writes a reader's counters of each drop reason into its slot (starting at BigInt64Array index `slot`). */
function storeDrops(i64: BigInt64Array, slot: number, drops: ArrayLike<number>): void {
  for (let r = 0; r < drops.length; r++) Atomics.store(i64, slot + L.readerDropAt(r) / 8, BigInt(drops[r]));
}
