/**
 * Transmit on a NIC through a PACKET_TX_RING (`-tx -R -i IF`, TPACKET_V2): frames are copied into
 * kernel slots as they are staged and handed to the kernel together at flush, with one `sendto`.
 *
 * @module
 */
import {
  C,
  check,
  close,
  E,
  errno,
  type Mapping,
  mapShared,
  poll,
  PollFds,
  sendto,
  setsockopt,
  tpacketReq,
} from "../../ffi/mod.ts";
import { setIntOpt } from "../net/mod.ts";
import { fitsLink, linkDownErrno, LinkWatch, maxFrameLen, txPacketSocket } from "./packet_socket.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, Staged } from "./sink.ts";
import { ReaderKind } from "../ring/mod.ts";

/** The TX ring's geometry when `-Z`, `-B`, `-S` do not say (slots then grow to fit the MTU). */
export const TX_RING_DEFAULTS = { frameSize: 2048, blocks: 4, blockSizeLog2: 22 } as const;

/** tpacket2_hdr: the frame data starts this far into a slot. */
const DATA_AT = C.T2_DATA;
const NO_SLOT = 0xffffffff;
/** How long a batch waits for the kernel to free a slot (ms, in 1 ms polls). */
const HELD_WAIT_MS = 200;

/** Transmit through a PACKET_TX_RING (TPACKET_V2). */
export class TxRingSender implements Sink {
  readonly what: string;
  readonly desc: string;
  readonly readerKind: number = ReaderKind.nic;
  readonly zeroCopy = false;
  readonly ifname: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly frameSize: number;
  readonly frameNr: number;
  readonly status: Uint8Array;
  readonly tags: Uint32Array;
  readonly maxBatch: number;
  #map: Mapping;
  #mem: Uint8Array;
  #u32: Uint32Array;
  /** Next free slot. */
  #cur = 0;
  #n = 0;
  /** The kernel held every slot for a while in this batch: the rest of it does not wait again. */
  #held = false;
  /** Slot of each staged frame (NO_SLOT: none, its status says why). */
  #slots: Uint32Array;
  #tag = new Uint8Array(4);
  #pfd: PollFds;
  #link: LinkWatch;
  #closed = false;

  constructor(
    cfg: {
      iface: string;
      qdiscBypass?: boolean;
      frameSize?: number;
      blocks?: number;
      blockSizeLog2?: number;
    },
  ) {
    const ifname = cfg.iface;
    this.ifname = ifname;
    this.what = `on "${ifname}"`;
    this.desc = `tx ${ifname}`;
    const { fd, ifindex } = txPacketSocket(ifname, cfg.qdiscBypass ?? false);
    this.fd = fd;
    this.ifindex = ifindex;
    try {
      this.#link = new LinkWatch(ifname, ifindex);
      setIntOpt(
        fd,
        { level: C.SOL_PACKET, name: C.PACKET_VERSION, value: C.TPACKET_V2 },
        "TPACKET_V2 on",
        ifname,
      );
      let frameSize = cfg.frameSize ?? TX_RING_DEFAULTS.frameSize;
      while (frameSize < maxFrameLen(this.mtu, true) + DATA_AT) frameSize *= 2;
      const blockSize = Math.max(2 ** (cfg.blockSizeLog2 ?? TX_RING_DEFAULTS.blockSizeLog2), frameSize);
      const blocks = cfg.blocks ?? TX_RING_DEFAULTS.blocks;
      this.frameSize = frameSize;
      this.frameNr = (blockSize / frameSize) * blocks;
      const req = tpacketReq({ blockSize, blockNr: blocks, frameSize, frameNr: this.frameNr });
      check(
        setsockopt(fd, C.SOL_PACKET, C.PACKET_TX_RING, req, req.length),
        "set up the kernel TX ring on",
        "interface",
        ifname,
      );
      this.#map = mapShared(fd, blockSize * blocks, { what: "the kernel TX ring of", name: ifname });
      this.#mem = new Uint8Array(this.#map.buffer);
      this.#u32 = new Uint32Array(this.#map.buffer);
    } catch (e) {
      close(fd);
      throw e;
    }
    this.maxBatch = Math.min(256, this.frameNr);
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#slots = new Uint32Array(this.maxBatch);
    this.#pfd = new PollFds([fd], C.POLLOUT);
  }

  get staged(): number {
    return this.#n;
  }

  setTag(tag: Uint8Array): void {
    this.#tag.set(tag.subarray(0, 4));
  }

  /** Copies a frame into the next free kernel slot (handed to the kernel at `flush()`). */
  stage(
    buf: Uint8Array,
    _addr: number,
    off: number,
    cut: FrameCut,
    _w: number,
    _s: number,
    _n: number,
    tag: number,
  ): number {
    if (!fitsLink(buf, off, cut, this.mtu)) return Staged.oversize;
    const { headLen, tagLen, tailLen } = cut;
    const total = headLen + tagLen + tailLen;
    const i = this.#n++;
    this.tags[i] = tag;
    if (total > this.frameSize - DATA_AT) {
      this.status[i] = Outcome.oversize;
      this.#slots[i] = NO_SLOT;
      return Staged.staged;
    }
    const slot = this.#cur * this.frameSize;
    let spins = 0;
    while ((Atomics.load(this.#u32, slot >>> 2) & (C.TP_STATUS_SEND_REQUEST | C.TP_STATUS_SENDING)) !== 0) {
      // The kernel holds every slot (link down): this frame cannot go out now. Waited for once a batch
      // (at most HELD_WAIT_MS), so a stop is still heard within its budget.
      if (this.#held || ++spins > HELD_WAIT_MS) {
        this.#held = true;
        this.status[i] = Outcome.error;
        this.#slots[i] = NO_SLOT;
        return Staged.staged;
      }
      this.#kick(); // slots of earlier batches still queued: ask the kernel to send them
      poll(this.#pfd.bytes, 1, 1);
    }
    const mem = this.#mem;
    let d = slot + DATA_AT;
    if (headLen > 0) mem.set(buf.subarray(off, off + headLen), d);
    d += headLen;
    if (tagLen > 0) mem.set(this.#tag.subarray(0, tagLen), d);
    d += tagLen;
    if (tailLen > 0) mem.set(buf.subarray(off + cut.tailOff, off + cut.tailOff + tailLen), d);
    this.#u32[(slot + C.T2_LEN) >>> 2] = total;
    this.#u32[(slot + C.T2_SNAPLEN) >>> 2] = total;
    this.#slots[i] = this.#cur;
    this.status[i] = Outcome.sent;
    this.#cur = (this.#cur + 1) % this.frameNr;
    return Staged.staged;
  }

  /** Forgets the staged frames: their slots were never handed to the kernel and are reused. */
  discard(): void {
    for (let i = 0; i < this.#n; i++) {
      if (this.#slots[i] !== NO_SLOT) {
        this.#cur = this.#slots[i];
        break;
      }
    }
    this.#n = 0;
    this.#held = false;
  }

  #kick(): number {
    return sendto(this.fd, null, 0, C.MSG_DONTWAIT, null, 0);
  }

  /** Hands the staged slots to the kernel and asks it to send them. */
  flush(): FlushResult {
    const res: FlushResult = { errors: 0, lastErrno: 0, backoff: false };
    const n = this.#n;
    this.#n = 0;
    this.#held = false;
    if (n === 0) return res;
    for (let i = 0; i < n; i++) {
      const s = this.#slots[i];
      if (s !== NO_SLOT) Atomics.store(this.#u32, (s * this.frameSize) >>> 2, C.TP_STATUS_SEND_REQUEST);
    }
    if (this.#kick() < 0) {
      const e = errno();
      if (e !== E.EAGAIN && e !== E.ENOBUFS && e !== E.EINTR) {
        res.lastErrno = e;
        res.backoff = linkDownErrno(e);
      }
    }
    // A slot the kernel refuses (TP_STATUS_WRONG_FORMAT) stops it there: hand the slot back and ask again,
    // so the frames behind it still go out (at most one more kick per refused slot).
    for (let pass = 0, refused = true; refused && pass < n; pass++) {
      refused = false;
      for (let i = 0; i < n; i++) {
        if (this.status[i] !== Outcome.sent || this.#slots[i] === NO_SLOT) continue;
        const s = this.#slots[i] * this.frameSize;
        if ((Atomics.load(this.#u32, s >>> 2) & C.TP_STATUS_WRONG_FORMAT) !== 0) {
          this.status[i] = Outcome.oversize;
          Atomics.store(this.#u32, s >>> 2, 0);
          refused = true;
        }
      }
      if (refused) this.#kick();
    }
    for (let i = 0; i < n; i++) {
      if (this.status[i] === Outcome.oversize) continue;
      if (this.#slots[i] === NO_SLOT) { // never placed in a slot (see stage)
        res.errors++;
        res.backoff = true;
        continue;
      }
      if (res.backoff) {
        this.status[i] = Outcome.error;
        Atomics.store(this.#u32, (this.#slots[i] * this.frameSize) >>> 2, 0);
        res.errors++;
      }
    }
    return res;
  }

  /** Re-reads the MTU and notices a removed interface, once a second. */
  tick(now: number): void {
    this.#link.tick(now);
  }

  dueIn(now: number): number {
    return this.#link.dueIn(now);
  }

  oversizeText(len: number): string {
    return this.#link.oversizeText(len);
  }

  /** The link's MTU as last read. */
  get mtu(): number {
    return this.#link.mtu;
  }

  summary(): null {
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = 0; i < 200; i++) { // let in-flight slots drain (bounded)
      if (this.#kick() <= 0) break;
    }
    this.#mem = new Uint8Array(0);
    this.#u32 = new Uint32Array(0);
    this.#map.unmap();
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
