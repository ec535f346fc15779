/**
 * The message arena of a tunnel sender: per staged message an `mmsghdr`, up to {@link IOV_PER_MSG}
 * iovecs and a {@link SLOT}-byte header slot, all off-heap (the kernel reads them by address during
 * `sendmmsg`), and what the send paths need to know of each message: its frame, its socket, whether
 * it was handed to the kernel. `sender.ts` fills it per packet, `transmit.ts` sends it.
 *
 * A header slot holds the outer IP header built here in `[0, TUN_AT)` (an IPv6 header and fragment
 * header at most), then the tunnel header in `[TUN_AT, SLOT)` (UDP and VXLAN at most). The packet path
 * puts its Ethernet and IPv4 headers right before the tunnel header (from {@link LINK_AT}), so that one
 * iovec carries all three. A frame's tunnel header is in the slot of its first message; the other
 * fragments of the frame use their slots for their IP headers only.
 *
 * @module
 */
import { addrOf, C, putIov } from "../../../ffi/mod.ts";
import {
  ETH_HEADER_LENGTH,
  FRAG_HEADER_LENGTH,
  IPV4_HEADER_LENGTH,
  IPV6_HEADER_LENGTH,
  UDP_HEADER_LENGTH,
  VXLAN_HEADER_LENGTH,
} from "../../codec/mod.ts";

/** Messages one arena holds; a flush sends them in one or a few `sendmmsg` calls. */
export const MAX_MSGS = 1024;
/** iovecs per message: IP header, tunnel header, up to three frame segments. */
export const IOV_PER_MSG = 5;
/** Where the tunnel header starts in a header slot: after the largest IP header built here. */
export const TUN_AT = IPV6_HEADER_LENGTH + FRAG_HEADER_LENGTH;
/** Header bytes per message: the IP header room, then the largest tunnel header (UDP + VXLAN: 16; GRE: 8). */
export const SLOT = TUN_AT + UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH;
/** Bytes of the Ethernet and IPv4 headers of the packet path. */
export const LINK_LEN = ETH_HEADER_LENGTH + IPV4_HEADER_LENGTH;
/** Where the packet path's Ethernet header starts in a slot (the IPv4 header ends at {@link TUN_AT}). */
export const LINK_AT = TUN_AT - LINK_LEN;
/** Socket id of a message for the IP_HDRINCL socket (the others index the sender's sockets). */
export const HDRINCL = 255;

/** Messages being staged: headers, iovecs and per-message facts. */
export class MessageArena {
  /** The `mmsghdr` array (off-heap) and a 32-bit view of it. */
  readonly msgs: Uint8Array;
  readonly msgU32: Uint32Array;
  /** Native address of the iovec array. */
  readonly iovAddr: number;
  /** Header slots (off-heap), {@link SLOT} bytes per message, and their native address. */
  readonly headers: Uint8Array;
  readonly headersAddr: number;
  /** Per message: index of its frame among the staged frames. */
  readonly frame: Uint16Array = new Uint16Array(MAX_MSGS);
  /** Per message: index of its socket in the sender's sockets, or {@link HDRINCL}. */
  readonly sock: Uint8Array = new Uint8Array(MAX_MSGS);
  /** Per message: handed to the kernel (or given up on). */
  readonly sent: Uint8Array = new Uint8Array(MAX_MSGS);
  /** Messages staged. */
  count = 0;
  /** Bytes of the peer's socket address every message points to (a packet socket takes none). */
  readonly peerLen: number;
  readonly #iov: Uint8Array;
  readonly #iovU32: Uint32Array;
  readonly #peer: Uint8Array;
  // pieces of the current frame's IP payload when it is fragmented: tunnel header, then what is
  // carried of the frame
  readonly #pieceAddr = new Float64Array(4);
  readonly #pieceLen = new Int32Array(4);
  #pieces = 0;

  /** `peer`: the socket address of the tunnel's peer (copied off-heap). */
  constructor(peer: Uint8Array) {
    this.#peer = new Uint8Array(new ArrayBuffer(32), 0, peer.length); // off-heap: the kernel reads it by address
    this.#peer.set(peer);
    this.peerLen = peer.length;
    this.msgs = new Uint8Array(MAX_MSGS * C.MMSGHDR_SIZE);
    this.msgU32 = new Uint32Array(this.msgs.buffer);
    this.#iov = new Uint8Array(MAX_MSGS * IOV_PER_MSG * C.IOVEC_SIZE);
    this.#iovU32 = new Uint32Array(this.#iov.buffer);
    this.headers = new Uint8Array(MAX_MSGS * SLOT);
    this.headersAddr = addrOf(this.headers);
    const iovAddr = this.iovAddr = addrOf(this.#iov);
    const peerAddr = addrOf(this.#peer);
    const u = this.msgU32;
    for (let i = 0; i < MAX_MSGS; i++) {
      const w = (i * C.MMSGHDR_SIZE) >>> 2;
      const a = iovAddr + i * IOV_PER_MSG * C.IOVEC_SIZE;
      u[w + (C.MSGHDR_NAME >>> 2)] = peerAddr >>> 0;
      u[w + (C.MSGHDR_NAME >>> 2) + 1] = Math.floor(peerAddr / 4294967296);
      u[w + (C.MSGHDR_NAMELEN >>> 2)] = this.peerLen;
      u[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      u[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
    }
  }

  /** Native address of message m's iovecs. */
  iovOf(m: number): number {
    return this.iovAddr + m * IOV_PER_MSG * C.IOVEC_SIZE;
  }

  /** Starts a message of frame `frame` for socket `sock`; returns its index. */
  open(frame: number, sock: number): number {
    const m = this.count++;
    this.frame[m] = frame;
    this.sock[m] = sock;
    this.sent[m] = 0;
    return m;
  }

  /**
   * iovecs of message m, an unfragmented packet: `hdrLen` header bytes at `hdrAddr`, then the frame's
   * segments from byte `skip` on: `[frameAddr, +headLen)`, `[tagAddr, +tagLen)`,
   * `[frameAddr + tailOff, +tailLen)` (empty ones left out). Positional: it runs per packet.
   */
  fillDirect(
    m: number,
    hdrAddr: number,
    hdrLen: number,
    frameAddr: number,
    headLen: number,
    tagAddr: number,
    tagLen: number,
    tailOff: number,
    tailLen: number,
    skip: number,
  ): void {
    const v = this.#iovU32;
    let w = (m * IOV_PER_MSG * C.IOVEC_SIZE) >>> 2;
    const first = w;
    w = putIov(v, w, hdrAddr, hdrLen);
    let sk = skip;
    for (let s = 0; s < 3; s++) {
      const len = s === 0 ? headLen : s === 1 ? tagLen : tailLen;
      if (len > sk) {
        w = putIov(v, w, (s === 0 ? frameAddr : s === 1 ? tagAddr : frameAddr + tailOff) + sk, len - sk);
        sk = 0;
      } else sk -= len;
    }
    this.#setIovLen(m, (w - first) >>> 2);
  }

  /**
   * Sets the current frame's pieces for its fragments ({@link fillIov}): the tunnel header (`tunLen`
   * bytes at `tunAddr`), then the frame's segments from byte `skip` on, as in {@link fillDirect}.
   */
  setPieces(
    tunAddr: number,
    tunLen: number,
    frameAddr: number,
    headLen: number,
    tagAddr: number,
    tagLen: number,
    tailOff: number,
    tailLen: number,
    skip: number,
  ): void {
    const pa = this.#pieceAddr;
    const pl = this.#pieceLen;
    let np = 0;
    pa[np] = tunAddr;
    pl[np++] = tunLen;
    let sk = skip;
    for (let s = 0; s < 3; s++) {
      const len = s === 0 ? headLen : s === 1 ? tagLen : tailLen;
      if (len > sk) {
        pa[np] = (s === 0 ? frameAddr : s === 1 ? tagAddr : frameAddr + tailOff) + sk;
        pl[np++] = len - sk;
        sk = 0;
      } else sk -= len;
    }
    this.#pieces = np;
  }

  /**
   * iovecs of message m, a fragment: its IP header, then the slice `[from, from + len)` of the
   * current pieces.
   */
  fillIov(m: number, hdrAddr: number, hdrLen: number, from: number, len: number): void {
    const v = this.#iovU32;
    let w = (m * IOV_PER_MSG * C.IOVEC_SIZE) >>> 2;
    const first = w;
    w = putIov(v, w, hdrAddr, hdrLen);
    let pos = 0;
    const end = from + len;
    const n = this.#pieces;
    for (let i = 0; i < n && pos < end; i++) {
      const pl = this.#pieceLen[i];
      const a = Math.max(from, pos);
      const b = Math.min(end, pos + pl);
      if (b > a) {
        w = putIov(v, w, this.#pieceAddr[i] + (a - pos), b - a);
      }
      pos += pl;
    }
    this.#setIovLen(m, (w - first) >>> 2);
  }

  #setIovLen(m: number, n: number): void {
    const mw = (m * C.MMSGHDR_SIZE) >>> 2;
    this.msgU32[mw + (C.MSGHDR_IOVLEN >>> 2)] = n;
    this.msgU32[mw + (C.MSGHDR_IOVLEN >>> 2) + 1] = 0;
  }

  /** Message m carries the peer's address (raw sockets) or none (a packet socket would read a sockaddr_ll). */
  setAddressed(m: number, addressed: boolean): void {
    this.msgU32[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_NAMELEN >>> 2)] = addressed ? this.peerLen : 0;
  }
}
