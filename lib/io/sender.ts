/**
 * Transmit on a NIC. {@link PacketSender} batches frames into one `sendmmsg` whose iovecs point
 * straight into the ring mapping (no copy; a VLAN tag to insert is one more iovec). {@link TxRingSender}
 * uses PACKET_TX_RING instead (`-R`): frames are copied into kernel slots and flushed with one `sendto`.
 *
 * Both stage frames with `add()` and send them with `flush()`, which reports per frame whether it was
 * sent, too large for the link, or failed, so the caller can count every frame under its reason.
 *
 * @module
 */
import {
  bind,
  C,
  check,
  close,
  cstr,
  errno,
  if_nametoindex,
  mmap,
  munmap,
  poll,
  sendmmsg,
  sendto,
  setsockopt,
  socket,
  SysError,
} from "../../ffi/mod.ts";
import { htons, ifIndex, ifMtu, setIntOpt } from "./netdev.ts";

/** Outcome of a staged frame after `flush()`. */
export const SendStatus = { sent: 0, oversize: 1, error: 2 } as const;

const EINTR = 4;
const EAGAIN = 11;
const EMSGSIZE = 90;
const ENOBUFS = 105;
const ENETDOWN = 100;
const ENXIO = 6;
const ENODEV = 19;

/** Options shared by the senders. */
export interface SenderOptions {
  /** Set PACKET_QDISC_BYPASS (`-q`). */
  qdiscBypass?: boolean;
  /** Most frames per flush. */
  maxBatch?: number;
}

/** Counts of the last `flush()`. */
export interface FlushResult {
  sent: number;
  oversize: number;
  errors: number;
  /** errno of the last failure (0 if none). */
  lastErrno: number;
  /** True when the link was down (ENETDOWN/ENXIO): the caller should back off briefly. */
  linkDown: boolean;
}

function packetSocket(ifname: string, qdiscBypass: boolean): { fd: number; ifindex: number } {
  const ifindex = ifIndex(ifname);
  const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0); // protocol 0: transmit only
  if (fd < 0) throw new SysError("open", "packet socket on", ifname, errno());
  try {
    const sll = new DataView(new ArrayBuffer(C.SOCKADDR_LL_SIZE));
    sll.setUint16(0, C.AF_PACKET, true);
    sll.setInt32(4, ifindex, true);
    check(bind(fd, new Uint8Array(sll.buffer), C.SOCKADDR_LL_SIZE), "bind", "packet socket to", ifname);
    if (qdiscBypass) setIntOpt(fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS on", ifname);
    setIntOpt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4 << 20, "send buffer of", ifname);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, ifindex };
}

const napCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps `ms` (fractions allowed) without giving up the thread to JS tasks. */
function backoff(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

/** Largest frame the link takes: MTU + Ethernet header (+ 4 when the frame carries a VLAN tag). */
export function maxFrameLen(mtu: number, tagged: boolean): number {
  return mtu + 14 + (tagged ? 4 : 0);
}

/** Zero-copy batched transmit with `sendmmsg`. */
export class PacketSender {
  readonly ifname: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly maxBatch: number;
  /** Outcome per staged frame after flush (SendStatus). */
  readonly status: Uint8Array;
  /** Caller's tag per staged frame (e.g. its index in the ring batch). */
  readonly tags: Uint32Array;
  #msgs: Uint8Array;
  #msgU32: Uint32Array;
  #iov: Uint8Array;
  #iovU32: Uint32Array;
  #vlan = new Uint8Array(new ArrayBuffer(16), 0, 4); // off-heap: C reads it by address
  #vlanAddr: number;
  #n = 0;
  #pfd = new Uint8Array(C.POLLFD_SIZE);
  mtu: number;
  #closed = false;

  constructor(ifname: string, opts: SenderOptions = {}) {
    this.ifname = ifname;
    const { fd, ifindex } = packetSocket(ifname, opts.qdiscBypass ?? false);
    this.fd = fd;
    this.ifindex = ifindex;
    this.mtu = ifMtu(ifname);
    this.maxBatch = opts.maxBatch ?? 256;
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#msgs = new Uint8Array(this.maxBatch * C.MMSGHDR_SIZE);
    this.#msgU32 = new Uint32Array(this.#msgs.buffer);
    this.#iov = new Uint8Array(this.maxBatch * 3 * C.IOVEC_SIZE);
    this.#iovU32 = new Uint32Array(this.#iov.buffer);
    const iovBase = addrOf(this.#iov);
    for (let i = 0; i < this.maxBatch; i++) {
      const a = iovBase + i * 3 * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE + C.MSGHDR_IOV) >>> 2;
      this.#msgU32[w] = a >>> 0;
      this.#msgU32[w + 1] = Math.floor(a / 4294967296);
    }
    this.#vlanAddr = addrOf(this.#vlan);
    const pfd = new DataView(this.#pfd.buffer);
    pfd.setInt32(0, fd, true);
    pfd.setInt16(4, C.POLLOUT, true);
  }

  /** The 4 bytes (TPID, TCI) inserted after the MACs of frames added with `tagged = true`. */
  setVlanTag(tpid: number, tci: number): void {
    this.#vlan[0] = tpid >> 8;
    this.#vlan[1] = tpid & 0xff;
    this.#vlan[2] = tci >> 8;
    this.#vlan[3] = tci & 0xff;
  }

  /** Frames staged so far. */
  get staged(): number {
    return this.#n;
  }

  /** True when no more frames fit before a flush. */
  get full(): boolean {
    return this.#n >= this.maxBatch;
  }

  /**
   * Stages a frame made of up to three segments: `[addr, addr+headLen)`, the first `tagLen` bytes of
   * the VLAN tag from `setVlanTag`, and `[addr+tailOff, addr+tailOff+tailLen)`. The memory must stay
   * mapped until `flush()`; nothing is copied.
   */
  addSegments(
    addr: number,
    headLen: number,
    tagLen: number,
    tailOff: number,
    tailLen: number,
    tag: number,
  ): void {
    const i = this.#n++;
    this.tags[i] = tag;
    let w = (i * 3 * C.IOVEC_SIZE) >>> 2;
    const first = w;
    if (headLen > 0) w = this.#iovec(w, addr, headLen);
    if (tagLen > 0) w = this.#iovec(w, this.#vlanAddr, tagLen);
    if (tailLen > 0) w = this.#iovec(w, addr + tailOff, tailLen);
    this.#msgU32[((i * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2)] = (w - first) >>> 2;
  }

  #iovec(w: number, addr: number, len: number): number {
    const v = this.#iovU32;
    v[w] = addr >>> 0;
    v[w + 1] = Math.floor(addr / 4294967296);
    v[w + 2] = len;
    v[w + 3] = 0;
    return w + 4;
  }

  /** Sends the staged frames. Never throws on a send error: outcomes are in `status`. */
  flush(): FlushResult {
    const n = this.#n;
    const res: FlushResult = { sent: 0, oversize: 0, errors: 0, lastErrno: 0, linkDown: false };
    let i = 0;
    let retries = 0;
    while (i < n) {
      const rc = sendmmsg(this.fd, i === 0 ? this.#msgs : this.#msgs.subarray(i * C.MMSGHDR_SIZE), n - i, 0);
      if (rc > 0) {
        this.status.fill(SendStatus.sent, i, i + rc);
        res.sent += rc;
        i += rc;
        retries = 0;
        continue;
      }
      const e = errno();
      if (e === EINTR) continue;
      if ((e === ENOBUFS || e === EAGAIN) && retries < 60) {
        // The device queue is full (a veth peer's backlog, a NIC ring): POLLOUT on a packet socket is
        // always ready, so really sleep, 50 µs doubling to 2 ms (about 100 ms in all), then give up.
        retries++;
        backoff(Math.min(2, 0.05 * 2 ** Math.min(retries, 6)));
        continue;
      }
      res.lastErrno = e;
      if (e === EMSGSIZE) {
        this.status[i++] = SendStatus.oversize;
        res.oversize++;
        continue;
      }
      if (e === ENETDOWN || e === ENXIO || e === ENODEV) {
        // The link is down: the rest of the batch cannot go out now; count it and let the caller back off.
        this.status.fill(SendStatus.error, i, n);
        res.errors += n - i;
        res.linkDown = true;
        break;
      }
      this.status[i++] = SendStatus.error;
      res.errors++;
      retries = 0;
    }
    this.#n = 0;
    return res;
  }

  /** Re-reads the interface MTU (it may change while running). */
  refreshMtu(): void {
    try {
      this.mtu = ifMtu(this.ifname);
    } catch { /* interface gone for now: keep the last value */ }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Transmit through a PACKET_TX_RING (TPACKET_V2): frames are copied into kernel slots. */
export class TxRingSender {
  readonly ifname: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly frameSize: number;
  readonly frameNr: number;
  readonly status: Uint8Array;
  readonly tags: Uint32Array;
  readonly maxBatch: number;
  mtu: number;
  #base: Deno.PointerObject;
  #len: number;
  #mem: Uint8Array;
  #u32: Uint32Array;
  #cur = 0;
  #n = 0;
  #slots: Uint32Array;
  #vlan = new Uint8Array(4);
  #pfd = new Uint8Array(C.POLLFD_SIZE);
  #closed = false;

  constructor(
    ifname: string,
    opts: SenderOptions & { frameSize?: number; blocks?: number; blockSizeLog2?: number } = {},
  ) {
    this.ifname = ifname;
    const { fd, ifindex } = packetSocket(ifname, opts.qdiscBypass ?? false);
    this.fd = fd;
    this.ifindex = ifindex;
    try {
      this.mtu = ifMtu(ifname);
      setIntOpt(fd, C.SOL_PACKET, C.PACKET_VERSION, C.TPACKET_V2, "TPACKET_V2 on", ifname);
      let frameSize = opts.frameSize ?? 2048;
      while (frameSize < maxFrameLen(this.mtu, true) + 32) frameSize *= 2;
      const blockSize = Math.max(2 ** (opts.blockSizeLog2 ?? 22), frameSize);
      const blocks = opts.blocks ?? 4;
      this.frameSize = frameSize;
      this.frameNr = (blockSize / frameSize) * blocks;
      const req = new DataView(new ArrayBuffer(C.TPACKET_REQ_SIZE));
      req.setUint32(0, blockSize, true);
      req.setUint32(4, blocks, true);
      req.setUint32(8, frameSize, true);
      req.setUint32(12, this.frameNr, true);
      check(
        setsockoptBuf(fd, C.SOL_PACKET, C.PACKET_TX_RING, new Uint8Array(req.buffer)),
        "set up the kernel TX ring on",
        "interface",
        ifname,
      );
      this.#len = blockSize * blocks;
      const p = mmap(null, BigInt(this.#len), C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, fd, 0n);
      if (p === null || Deno.UnsafePointer.value(p) === C.MAP_FAILED) {
        throw new SysError("map", "the kernel TX ring of", ifname, errno());
      }
      this.#base = p;
      const ab = Deno.UnsafePointerView.getArrayBuffer(p, this.#len);
      this.#mem = new Uint8Array(ab);
      this.#u32 = new Uint32Array(ab);
    } catch (e) {
      close(fd);
      throw e;
    }
    this.maxBatch = Math.min(256, this.frameNr);
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#slots = new Uint32Array(this.maxBatch);
    const pfd = new DataView(this.#pfd.buffer);
    pfd.setInt32(0, fd, true);
    pfd.setInt16(4, C.POLLOUT, true);
  }

  setVlanTag(tpid: number, tci: number): void {
    this.#vlan.set([tpid >> 8, tpid & 0xff, tci >> 8, tci & 0xff]);
  }

  get staged(): number {
    return this.#n;
  }

  get full(): boolean {
    return this.#n >= this.maxBatch;
  }

  /** Copies a frame given as segments (see PacketSender.addSegments) into the next free kernel slot. */
  addSegmentsCopy(
    src: Uint8Array,
    off: number,
    headLen: number,
    tagLen: number,
    tailOff: number,
    tailLen: number,
    tag: number,
  ): void {
    const i = this.#n++;
    this.tags[i] = tag;
    const total = headLen + tagLen + tailLen;
    if (total > this.frameSize - 32) {
      this.status[i] = SendStatus.oversize;
      this.#slots[i] = 0xffffffff;
      return;
    }
    const slot = this.#cur * this.frameSize;
    let spins = 0;
    while ((Atomics.load(this.#u32, slot >>> 2) & (C.TP_STATUS_SEND_REQUEST | C.TP_STATUS_SENDING)) !== 0) {
      this.#kick();
      poll(this.#pfd, 1, 1);
      if (++spins > 1000) { // the kernel holds every slot (link down): this frame cannot go out now
        this.status[i] = SendStatus.error;
        this.#slots[i] = 0xffffffff;
        return;
      }
    }
    let d = slot + 32;
    if (headLen > 0) this.#mem.set(src.subarray(off, off + headLen), d);
    d += headLen;
    if (tagLen > 0) this.#mem.set(this.#vlan.subarray(0, tagLen), d);
    d += tagLen;
    if (tailLen > 0) this.#mem.set(src.subarray(off + tailOff, off + tailOff + tailLen), d);
    this.#u32[(slot + C.T2_LEN) >>> 2] = total;
    this.#u32[(slot + C.T2_SNAPLEN) >>> 2] = total;
    Atomics.store(this.#u32, slot >>> 2, C.TP_STATUS_SEND_REQUEST);
    this.#slots[i] = this.#cur;
    this.status[i] = SendStatus.sent;
    this.#cur = (this.#cur + 1) % this.frameNr;
  }

  #kick(): number {
    return sendto(this.fd, null, 0, C.MSG_DONTWAIT, null, 0);
  }

  /** Asks the kernel to send the staged slots. */
  flush(): FlushResult {
    const res: FlushResult = { sent: 0, oversize: 0, errors: 0, lastErrno: 0, linkDown: false };
    const n = this.#n;
    this.#n = 0;
    if (n === 0) return res;
    const rc = this.#kick();
    if (rc < 0) {
      const e = errno();
      if (e !== EAGAIN && e !== ENOBUFS && e !== EINTR) {
        res.lastErrno = e;
        res.linkDown = e === ENETDOWN || e === ENXIO || e === ENODEV;
      }
    }
    // A slot the kernel refuses (TP_STATUS_WRONG_FORMAT) stops it there: hand the slot back and ask again,
    // so the frames behind it still go out (at most one more kick per refused slot).
    for (let pass = 0, refused = true; refused && pass < n; pass++) {
      refused = false;
      for (let i = 0; i < n; i++) {
        if (this.status[i] !== SendStatus.sent || this.#slots[i] === 0xffffffff) continue;
        const s = this.#slots[i] * this.frameSize;
        if ((Atomics.load(this.#u32, s >>> 2) & C.TP_STATUS_WRONG_FORMAT) !== 0) {
          this.status[i] = SendStatus.oversize;
          Atomics.store(this.#u32, s >>> 2, 0);
          refused = true;
        }
      }
      if (refused) this.#kick();
    }
    for (let i = 0; i < n; i++) {
      if (this.status[i] === SendStatus.oversize) {
        res.oversize++;
        continue;
      }
      if (this.#slots[i] === 0xffffffff) { // never placed in a slot (see addSegmentsCopy)
        res.errors++;
        res.linkDown = true;
        continue;
      }
      if (res.linkDown) {
        const s = this.#slots[i] * this.frameSize;
        this.status[i] = SendStatus.error;
        Atomics.store(this.#u32, s >>> 2, 0);
        res.errors++;
      } else res.sent++;
    }
    return res;
  }

  refreshMtu(): void {
    try {
      this.mtu = ifMtu(this.ifname);
    } catch { /* keep */ }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = 0; i < 200; i++) { // let in-flight slots drain (bounded)
      if (this.#kick() <= 0) break;
    }
    this.#mem = new Uint8Array(0);
    this.#u32 = new Uint32Array(0);
    munmap(this.#base, BigInt(this.#len));
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function setsockoptBuf(fd: number, level: number, name: number, buf: Uint8Array): number {
  return setsockopt(fd, level, name, buf, buf.length);
}

/** True while an interface named `ifname` still has index `ifindex`. */
export function stillThere(ifname: string, ifindex: number): boolean {
  return if_nametoindex(cstr(ifname)) === ifindex;
}

/** Numeric address of a typed array's bytes (keep the array referenced while C uses it). */
export function addrOf(buf: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

export { htons };
