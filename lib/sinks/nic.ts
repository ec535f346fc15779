/**
 * Transmit on a NIC with `sendmmsg` (`-tx -i IF`): one call per batch, each frame's iovecs pointing
 * straight into the memory it was staged from (the ring mapping; no copy), a VLAN tag to insert being
 * one more iovec.
 *
 * @module
 */
import { addressable, addrOf, C, close, E, errno, putIov, sendmmsg } from "../../ffi/mod.ts";
import { ReaderKind } from "../ring/mod.ts";
import { fitsLink, linkDownErrno, LinkWatch, txPacketSocket } from "./packet_socket.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, Staged } from "./sink.ts";

/** Settings of a NIC output. */
export interface NicSinkConfig {
  /** The kind of sink. */
  kind: "nic";
  /** The interface (`-i`). */
  iface: string;
  /** `-R`: send through a PACKET_TX_RING (see `nic_tx_ring.ts`). */
  txRing: boolean;
  /** `-q`: PACKET_QDISC_BYPASS. */
  qdiscBypass: boolean;
  /** `-Z` with `-R`: TX ring slot size. */
  frameSize?: number;
  /** `-B` with `-R`: TX ring blocks. */
  blocks?: number;
  /** `-S` with `-R`: log2 of the TX ring's block size. */
  blockSizeLog2?: number;
}

/** Segments (iovecs) per frame: head, tag, tail. */
const IOV_PER_FRAME = 3;

const napCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps `ms` (fractions allowed) without giving up the thread to JS tasks. */
function backoff(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

/** Zero-copy batched transmit with `sendmmsg`. */
export class PacketSender implements Sink {
  readonly what: string;
  readonly desc: string;
  readonly readerKind: number = ReaderKind.nic;
  readonly zeroCopy = true;
  readonly ifname: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly maxBatch: number;
  readonly status: Uint8Array;
  readonly tags: Uint32Array;
  #msgs: Uint8Array;
  #msgU32: Uint32Array;
  #iovU32: Uint32Array;
  #iovKeep: Uint8Array;
  #tag = addressable(4);
  #n = 0;
  #link: LinkWatch;
  #closed = false;

  constructor(cfg: { iface: string; qdiscBypass?: boolean; maxBatch?: number }) {
    this.ifname = cfg.iface;
    this.what = `on "${cfg.iface}"`;
    this.desc = `tx ${cfg.iface}`;
    const { fd, ifindex } = txPacketSocket(cfg.iface, cfg.qdiscBypass ?? false);
    this.fd = fd;
    this.ifindex = ifindex;
    this.#link = new LinkWatch(cfg.iface, ifindex);
    this.maxBatch = cfg.maxBatch ?? 256;
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#msgs = new Uint8Array(this.maxBatch * C.MMSGHDR_SIZE);
    this.#msgU32 = new Uint32Array(this.#msgs.buffer);
    this.#iovKeep = new Uint8Array(this.maxBatch * IOV_PER_FRAME * C.IOVEC_SIZE);
    this.#iovU32 = new Uint32Array(this.#iovKeep.buffer);
    const iovBase = addrOf(this.#iovKeep);
    for (let i = 0; i < this.maxBatch; i++) {
      const a = iovBase + i * IOV_PER_FRAME * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE + C.MSGHDR_IOV) >>> 2;
      this.#msgU32[w] = a >>> 0;
      this.#msgU32[w + 1] = Math.floor(a / 4294967296);
    }
  }

  get staged(): number {
    return this.#n;
  }

  setTag(tag: Uint8Array): void {
    this.#tag.bytes.set(tag.subarray(0, 4));
  }

  stage(
    buf: Uint8Array,
    addr: number,
    off: number,
    cut: FrameCut,
    _wire: number,
    _s: number,
    _ns: number,
    tag: number,
  ): number {
    if (!fitsLink(buf, off, cut, this.mtu)) return Staged.oversize;
    const headLen = cut.headLen;
    const tagLen = cut.tagLen;
    const tailLen = cut.tailLen;
    const i = this.#n++;
    this.tags[i] = tag;
    const a = addr + off;
    let w = (i * IOV_PER_FRAME * C.IOVEC_SIZE) >>> 2;
    const first = w;
    const v = this.#iovU32;
    if (headLen > 0) w = putIov(v, w, a, headLen);
    if (tagLen > 0) w = putIov(v, w, this.#tag.addr, tagLen);
    if (tailLen > 0) w = putIov(v, w, a + cut.tailOff, tailLen);
    this.#msgU32[((i * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2)] = (w - first) >>> 2;
    return Staged.staged;
  }

  discard(): void {
    this.#n = 0;
  }

  /** Sends the staged frames. Never throws on a send error: outcomes are in `status`. */
  flush(): FlushResult {
    const n = this.#n;
    const res: FlushResult = { errors: 0, lastErrno: 0, backoff: false };
    let i = 0;
    let retries = 0;
    while (i < n) {
      const rc = sendmmsg(this.fd, i === 0 ? this.#msgs : this.#msgs.subarray(i * C.MMSGHDR_SIZE), n - i, 0);
      if (rc > 0) {
        this.status.fill(Outcome.sent, i, i + rc);
        i += rc;
        retries = 0;
        continue;
      }
      const e = errno();
      if (e === E.EINTR) continue;
      if ((e === E.ENOBUFS || e === E.EAGAIN) && retries < 60) {
        // The device queue is full (a veth peer's backlog, a NIC ring): POLLOUT on a packet socket is
        // always ready, so really sleep, 50 µs doubling to 2 ms (about 100 ms in all), then give up.
        retries++;
        backoff(Math.min(2, 0.05 * 2 ** Math.min(retries, 6)));
        continue;
      }
      res.lastErrno = e;
      if (e === E.EMSGSIZE) {
        this.status[i++] = Outcome.oversize;
        continue;
      }
      if (linkDownErrno(e)) {
        // The link is down: the rest of the batch cannot go out now; count it and let the caller back off.
        this.status.fill(Outcome.error, i, n);
        res.errors += n - i;
        res.backoff = true;
        break;
      }
      this.status[i++] = Outcome.error;
      res.errors++;
      retries = 0;
    }
    this.#n = 0;
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
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
