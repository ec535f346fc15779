/**
 * Tunnel transmit: GRE, GRETAP and VXLAN over IPv4 or IPv6, sent with `sendmmsg` on a raw
 * `IPPROTO_RAW` socket whose packets carry headers built here, so fragmentation is ours to control.
 *
 * Each message is an iovec list: the outer IP header (and IPv6 fragment header) from a header arena,
 * the tunnel header (GRE, or UDP + VXLAN) from the same arena, then the inner frame as up to three
 * segments pointing straight into the ring mapping (head, VLAN tag, tail — as the frame pipeline cut
 * it). Nothing of the frame is copied, fragments included: a fragment's iovecs are the slices of those
 * pieces that fall in its range.
 *
 * Per packet:
 * - IPv4: version 4, no options, TTL 64, DF clear; the kernel fills the header checksum (and the IP id
 *   when 0, which is what unfragmented packets carry); fragments carry our own id.
 * - IPv6: hop limit 64, flow label 0; fragments carry a fragment header with our own 32-bit id.
 * - GRE: RFC 2784 with the RFC 2890 key when `-K` is given. GRETAP carries the whole frame with
 *   protocol 0x6558; plain GRE drops the Ethernet header (and any VLAN tags) and carries the innermost
 *   EtherType as protocol type. GRE packets larger than the path MTU are fragmented.
 * - VXLAN: UDP to port 4789 (or the port chosen), source port from a hash of the inner flow
 *   (49152..65535), I flag and 24-bit VNI. UDP checksum 0 over IPv4 (RFC 7348), computed over IPv6
 *   (mandatory there). Packets larger than the path MTU are not sent (counted as oversize) unless
 *   fragmentation was allowed.
 *
 * @module
 */
import { C, check, close, errno, poll, sendmmsg, setsockopt, socket, SysError } from "../../ffi/mod.ts";
import { checksumAdd, vxlanSourcePort } from "../codec/mod.ts";
import { addrOf } from "./sender.ts";
import { formatIp, type IpAddress, routeTo, sockaddr } from "./tunnel.ts";

/** Outcome of a staged frame after `flush()` (same values as the NIC sender's SendStatus). */
export const TunnelStatus = { sent: 0, oversize: 1, error: 2 } as const;

/** What `add` did with a frame. */
export const AddResult = { staged: 0, oversize: 1, malformed: 2 } as const;

/** Settings of a {@link TunnelSender}. */
export interface TunnelTxConfig {
  kind: "gre" | "gretap" | "vxlan";
  /** Peer address. */
  dst: IpAddress;
  /** GRE key or VXLAN VNI (VXLAN: default 0). */
  key?: number;
  /** VXLAN UDP destination port (default 4789). */
  port?: number;
  /** Allow IP fragmentation of VXLAN packets (GRE always fragments). */
  fragment?: boolean;
  /** Most frames per flush (default 256). */
  maxBatch?: number;
}

/** Counts of the last `flush()`. */
export interface TunnelFlushResult {
  /** Frames that went out (every fragment of them). */
  sent: number;
  errors: number;
  oversize: number;
  /** Packets (fragments count one each) handed to the kernel. */
  packets: number;
  lastErrno: number;
  /** The route is gone (ENETUNREACH, EHOSTUNREACH, ENETDOWN): back off briefly. */
  unreachable: boolean;
}

const EINTR = 4;
const EAGAIN = 11;
const EMSGSIZE = 90;
const ENOBUFS = 105;
const ENETDOWN = 100;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;

const MAX_MSGS = 1024;
const IOV_PER_MSG = 5; // IP header, tunnel header, up to three frame segments
const SLOT = 64; // header arena bytes per message: IP (≤ 48) then the tunnel header (≤ 16)
const TUN_AT = 48;

/** Batched tunnel transmit on a raw IP socket. */
export class TunnelSender {
  readonly kind: "gre" | "gretap" | "vxlan";
  readonly family: 4 | 6;
  readonly dst: IpAddress;
  readonly src: IpAddress;
  readonly fd: number;
  readonly maxBatch: number;
  /** Outcome per staged frame after flush (TunnelStatus). */
  readonly status: Uint8Array;
  /** Caller's tag per staged frame. */
  readonly tags: Uint32Array;
  /** Path MTU in use. */
  mtu: number;
  /** Bytes of outer headers in front of the inner frame (IP + GRE, or IP + UDP + VXLAN). */
  readonly overhead: number;
  readonly #ipLen: number;
  readonly #tunLen: number;
  readonly #proto: number;
  readonly #fragOk: boolean;
  readonly #sa: Uint8Array;
  readonly #ipTpl: Uint8Array;
  readonly #tunTpl: Uint8Array;
  #msgs: Uint8Array;
  #msgU32: Uint32Array;
  #iov: Uint8Array;
  #iovU32: Uint32Array;
  #arena: Uint8Array;
  #arenaAddr: number;
  #msgFrame: Uint16Array;
  #nMsg = 0;
  #nFrames = 0;
  #fragId: number;
  #pfd = new Uint8Array(C.POLLFD_SIZE);
  #pseudo: number; // IPv6 pseudo-header partial sum (addresses + next header)
  // pieces of the current frame's IP payload
  #pAddr = new Float64Array(4);
  #pLen = new Int32Array(4);
  #np = 0;
  #closed = false;
  #last: TunnelFlushResult = newResult();

  constructor(cfg: TunnelTxConfig) {
    this.kind = cfg.kind;
    this.dst = cfg.dst;
    this.family = cfg.dst.family;
    const route = routeTo(cfg.dst);
    this.src = route.src;
    this.mtu = route.mtu;
    this.maxBatch = cfg.maxBatch ?? 256;
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#fragOk = cfg.kind !== "vxlan" || (cfg.fragment ?? false);
    this.#ipLen = this.family === 4 ? 20 : 40;
    this.#proto = cfg.kind === "vxlan" ? 17 : 47;
    if (cfg.kind === "vxlan") {
      const vni = cfg.key ?? 0;
      if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
        throw new RangeError(`Bad VXLAN VNI "${vni}": must be 0..16777215`);
      }
      const t = new Uint8Array(16);
      const port = cfg.port ?? 4789;
      t[2] = port >> 8;
      t[3] = port & 0xff;
      t[8] = 0x08; // I flag
      t[12] = vni >>> 16;
      t[13] = (vni >>> 8) & 0xff;
      t[14] = vni & 0xff;
      this.#tunTpl = t;
    } else {
      const keyed = cfg.key !== undefined;
      const t = new Uint8Array(keyed ? 8 : 4);
      if (keyed) {
        const k = cfg.key!;
        if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) {
          throw new RangeError(`Bad GRE key "${k}": must be 0..4294967295`);
        }
        t[0] = 0x20; // K
        t[4] = k >>> 24;
        t[5] = (k >>> 16) & 0xff;
        t[6] = (k >>> 8) & 0xff;
        t[7] = k & 0xff;
      }
      t[2] = 0x65;
      t[3] = 0x58; // TEB; plain GRE patches it per frame
      this.#tunTpl = t;
    }
    this.#tunLen = this.#tunTpl.length;
    this.overhead = this.#ipLen + this.#tunLen;
    const ip = new Uint8Array(this.#ipLen);
    if (this.family === 4) {
      ip[0] = 0x45;
      ip[8] = 64;
      ip[9] = this.#proto;
      ip.set(this.src.bytes, 12);
      ip.set(this.dst.bytes, 16);
    } else {
      ip[0] = 0x60;
      ip[6] = this.#proto;
      ip[7] = 64;
      ip.set(this.src.bytes, 8);
      ip.set(this.dst.bytes, 24);
    }
    this.#ipTpl = ip;
    let ps = 0;
    if (this.family === 6) {
      const a = new Uint8Array(32);
      a.set(this.src.bytes, 0);
      a.set(this.dst.bytes, 16);
      ps = checksumAdd(0, a, 0, 32) + 17;
    }
    this.#pseudo = ps;
    this.#fragId = (crypto.getRandomValues(new Uint32Array(1))[0] | 1) >>> 0;
    const sa = sockaddr(cfg.dst, 0);
    this.#sa = new Uint8Array(new ArrayBuffer(32), 0, sa.length); // off-heap: the kernel reads it by address
    this.#sa.set(sa);
    // message, iovec and header arenas (off-heap: the kernel reads them by address)
    this.#msgs = new Uint8Array(MAX_MSGS * C.MMSGHDR_SIZE);
    this.#msgU32 = new Uint32Array(this.#msgs.buffer);
    this.#iov = new Uint8Array(MAX_MSGS * IOV_PER_MSG * C.IOVEC_SIZE);
    this.#iovU32 = new Uint32Array(this.#iov.buffer);
    this.#arena = new Uint8Array(MAX_MSGS * SLOT);
    this.#arenaAddr = addrOf(this.#arena);
    this.#msgFrame = new Uint16Array(MAX_MSGS);
    const iovBase = addrOf(this.#iov);
    const saAddr = addrOf(this.#sa);
    for (let i = 0; i < MAX_MSGS; i++) {
      const w = (i * C.MMSGHDR_SIZE) >>> 2;
      const a = iovBase + i * IOV_PER_MSG * C.IOVEC_SIZE;
      this.#msgU32[w + (C.MSGHDR_NAME >>> 2)] = saAddr >>> 0;
      this.#msgU32[w + (C.MSGHDR_NAME >>> 2) + 1] = Math.floor(saAddr / 4294967296);
      this.#msgU32[w + (C.MSGHDR_NAMELEN >>> 2)] = this.#sa.length;
      this.#msgU32[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      this.#msgU32[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
    }
    const af = this.family === 4 ? C.AF_INET : C.AF_INET6;
    const fd = socket(af, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_RAW);
    if (fd < 0) throw new SysError("open", "raw IP socket towards", formatIp(cfg.dst), errno());
    this.fd = fd;
    const big = new Int32Array([8 << 20]);
    if (setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUFFORCE, new Uint8Array(big.buffer), 4) < 0) {
      setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUF, new Uint8Array(big.buffer), 4);
    }
    const pfd = new DataView(this.#pfd.buffer);
    pfd.setInt32(0, fd, true);
    pfd.setInt16(4, C.POLLOUT, true);
  }

  /** Frames staged since the last flush. */
  get staged(): number {
    return this.#nFrames;
  }

  /** Largest inner frame that goes out unfragmented. */
  get maxUnfragmented(): number {
    return this.mtu - this.overhead;
  }

  /** Re-reads the path MTU (it may change while running). */
  refreshMtu(): void {
    try {
      this.mtu = routeTo(this.dst).mtu;
    } catch { /* no route for now: keep the last value */ }
  }

  /**
   * Stages one frame given as segments of `data` (the ring's data area, mapped at `dataAddr`):
   * `[off, off+headLen)`, `tag[0, tagLen)` (off-heap, at `tagAddr`), `[off+tailOff, +tailLen)`.
   * Returns an {@link AddResult}; a frame that is not staged is the caller's to count.
   */
  add(
    data: Uint8Array,
    dataAddr: number,
    off: number,
    headLen: number,
    tag: Uint8Array,
    tagAddr: number,
    tagLen: number,
    tailOff: number,
    tailLen: number,
    frameTag: number,
  ): number {
    const frameLen = headLen + tagLen + tailLen;
    let skip = 0;
    let etherType = 0x6558;
    if (this.kind === "gre") {
      // drop the Ethernet header and any VLAN tags: GRE carries the innermost EtherType
      let p = 12;
      for (let tags = 0; tags <= 8; tags++) {
        if (p + 2 > frameLen) return AddResult.malformed;
        const t = (byteAt(data, off, headLen, tag, tagLen, tailOff, p) << 8) |
          byteAt(data, off, headLen, tag, tagLen, tailOff, p + 1);
        if (t === 0x8100 || t === 0x88a8 || t === 0x9100) {
          p += 4;
          continue;
        }
        etherType = t;
        break;
      }
      skip = p + 2;
      if (skip > frameLen) return AddResult.malformed;
    }
    const innerLen = frameLen - skip;
    const payloadLen = this.#tunLen + innerLen; // IP payload
    const ipLen = this.#ipLen;
    const mtu = this.mtu;
    let nFrag = 1;
    let chunk = payloadLen;
    if (ipLen + payloadLen > mtu) {
      if (!this.#fragOk) return AddResult.oversize;
      const room = mtu - ipLen - (this.family === 6 ? 8 : 0);
      chunk = room & ~7;
      if (chunk < 8 || payloadLen > 65535 - 8) return AddResult.oversize;
      nFrag = Math.ceil(payloadLen / chunk);
    }
    if (this.#nFrames >= this.maxBatch) return AddResult.oversize; // caller's batch too large (a bug)
    if (this.#nMsg + nFrag > MAX_MSGS) this.#send();
    const fi = this.#nFrames++;
    this.tags[fi] = frameTag;
    this.status[fi] = TunnelStatus.sent;
    // tunnel header into the first message's slot
    const m0 = this.#nMsg;
    const arena = this.#arena;
    const tunAt = m0 * SLOT + TUN_AT;
    arena.set(this.#tunTpl, tunAt);
    if (this.kind === "vxlan") {
      // the flow hash reads the frame as it is in the ring (a tag inserted by -V does not change the flow)
      const sport = vxlanSourcePort(data, off, tailLen > 0 ? Math.max(headLen, tailOff + tailLen) : headLen);
      arena[tunAt] = sport >> 8;
      arena[tunAt + 1] = sport & 0xff;
      const ul = payloadLen;
      arena[tunAt + 4] = ul >> 8;
      arena[tunAt + 5] = ul & 0xff;
      if (this.family === 6) {
        let s = this.#pseudo + ul;
        s += checksumAdd(0, arena, tunAt, 16);
        let pos = 16;
        s = sumAt(s, data, off, headLen, pos);
        pos += headLen;
        s = sumAt(s, tag, 0, tagLen, pos);
        pos += tagLen;
        s = sumAt(s, data, off + tailOff, tailLen, pos);
        let c = fold(s);
        c = ~c & 0xffff;
        if (c === 0) c = 0xffff;
        arena[tunAt + 6] = c >> 8;
        arena[tunAt + 7] = c & 0xff;
      }
    } else if (this.kind === "gre") {
      arena[tunAt + 2] = etherType >> 8;
      arena[tunAt + 3] = etherType & 0xff;
    }
    // pieces of the IP payload
    let np = 0;
    this.#pAddr[np] = this.#arenaAddr + tunAt;
    this.#pLen[np++] = this.#tunLen;
    let sk = skip;
    if (headLen > sk) {
      this.#pAddr[np] = dataAddr + off + sk;
      this.#pLen[np++] = headLen - sk;
      sk = 0;
    } else sk -= headLen;
    if (tagLen > sk) {
      this.#pAddr[np] = tagAddr + sk;
      this.#pLen[np++] = tagLen - sk;
      sk = 0;
    } else sk -= tagLen;
    if (tailLen > sk) {
      this.#pAddr[np] = dataAddr + off + tailOff + sk;
      this.#pLen[np++] = tailLen - sk;
    }
    this.#np = np;
    // one message per fragment
    const tpl = this.#ipTpl;
    const id = nFrag > 1 ? this.#nextId() : 0;
    for (let k = 0; k < nFrag; k++) {
      const m = this.#nMsg++;
      this.#msgFrame[m] = fi;
      const at = m * SLOT;
      arena.set(tpl, at);
      const fo = k * chunk;
      const flen = Math.min(chunk, payloadLen - fo);
      const more = k < nFrag - 1;
      let hl = ipLen;
      if (this.family === 4) {
        const tot = 20 + flen;
        arena[at + 2] = tot >> 8;
        arena[at + 3] = tot & 0xff;
        arena[at + 4] = (id >>> 8) & 0xff;
        arena[at + 5] = id & 0xff;
        const ff = (more ? 0x2000 : 0) | (fo >>> 3);
        arena[at + 6] = ff >> 8;
        arena[at + 7] = ff & 0xff;
      } else if (nFrag === 1) {
        arena[at + 4] = flen >> 8;
        arena[at + 5] = flen & 0xff;
      } else {
        const pl = flen + 8;
        arena[at + 4] = pl >> 8;
        arena[at + 5] = pl & 0xff;
        arena[at + 6] = 44; // fragment header
        arena[at + 40] = this.#proto;
        arena[at + 41] = 0;
        const ff = fo | (more ? 1 : 0);
        arena[at + 42] = ff >> 8;
        arena[at + 43] = ff & 0xff;
        arena[at + 44] = id >>> 24;
        arena[at + 45] = (id >>> 16) & 0xff;
        arena[at + 46] = (id >>> 8) & 0xff;
        arena[at + 47] = id & 0xff;
        hl = 48;
      }
      this.#fillIov(m, this.#arenaAddr + at, hl, fo, flen);
    }
    return AddResult.staged;
  }

  #nextId(): number {
    let id = this.#fragId = (this.#fragId + 1) >>> 0;
    if (this.family === 4) {
      id &= 0xffff;
      if (id === 0) id = this.#fragId = (this.#fragId + 1) >>> 0;
      id &= 0xffff;
    }
    return id || 1;
  }

  /** iovecs of message m: its IP header, then the slice [from, from+len) of the current pieces. */
  #fillIov(m: number, hdrAddr: number, hdrLen: number, from: number, len: number): void {
    const v = this.#iovU32;
    let w = (m * IOV_PER_MSG * C.IOVEC_SIZE) >>> 2;
    const first = w;
    v[w] = hdrAddr >>> 0;
    v[w + 1] = Math.floor(hdrAddr / 4294967296);
    v[w + 2] = hdrLen;
    v[w + 3] = 0;
    w += 4;
    let pos = 0;
    const end = from + len;
    for (let i = 0; i < this.#np && pos < end; i++) {
      const pl = this.#pLen[i];
      const a = Math.max(from, pos);
      const b = Math.min(end, pos + pl);
      if (b > a) {
        const addr = this.#pAddr[i] + (a - pos);
        v[w] = addr >>> 0;
        v[w + 1] = Math.floor(addr / 4294967296);
        v[w + 2] = b - a;
        v[w + 3] = 0;
        w += 4;
      }
      pos += pl;
    }
    this.#msgU32[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2)] = (w - first) >>> 2;
    this.#msgU32[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2) + 1] = 0;
  }

  /** Sends the staged messages, folding each message's outcome into its frame's status. */
  #send(): void {
    const n = this.#nMsg;
    const r = this.#last;
    let i = 0;
    let retries = 0;
    while (i < n) {
      const rc = sendmmsg(this.fd, i === 0 ? this.#msgs : this.#msgs.subarray(i * C.MMSGHDR_SIZE), n - i, 0);
      if (rc > 0) {
        r.packets += rc;
        i += rc;
        retries = 0;
        continue;
      }
      const e = errno();
      if (e === EINTR) continue;
      if ((e === ENOBUFS || e === EAGAIN) && retries < 100) {
        retries++;
        poll(this.#pfd, 1, 1);
        continue;
      }
      r.lastErrno = e;
      if (e === ENETUNREACH || e === EHOSTUNREACH || e === ENETDOWN) {
        for (; i < n; i++) this.#mark(i, TunnelStatus.error);
        r.unreachable = true;
        break;
      }
      this.#mark(i++, e === EMSGSIZE ? TunnelStatus.oversize : TunnelStatus.error);
      retries = 0;
    }
    this.#nMsg = 0;
  }

  #mark(m: number, st: number): void {
    const f = this.#msgFrame[m];
    if (this.status[f] === TunnelStatus.sent) this.status[f] = st;
  }

  /** Sends everything staged. Never throws on a send error: outcomes are in `status`. */
  flush(): TunnelFlushResult {
    this.#send();
    const r = this.#last;
    for (let f = 0; f < this.#nFrames; f++) {
      const st = this.status[f];
      if (st === TunnelStatus.sent) r.sent++;
      else if (st === TunnelStatus.oversize) r.oversize++;
      else r.errors++;
    }
    this.#nFrames = 0;
    this.#last = newResult();
    return r;
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

function newResult(): TunnelFlushResult {
  return { sent: 0, errors: 0, oversize: 0, packets: 0, lastErrno: 0, unreachable: false };
}

/** Byte k of the frame made of head, tag and tail segments. */
function byteAt(
  data: Uint8Array,
  off: number,
  headLen: number,
  tag: Uint8Array,
  tagLen: number,
  tailOff: number,
  k: number,
): number {
  if (k < headLen) return data[off + k];
  k -= headLen;
  if (k < tagLen) return tag[k];
  return data[off + tailOff + k - tagLen];
}

function fold(s: number): number {
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** Adds `buf[off, off+len)` to a ones'-complement sum when it starts at byte `pos` of the summed data. */
function sumAt(s: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  if (len <= 0) return s;
  const part = fold(checksumAdd(0, buf, off, len));
  if ((pos & 1) === 0) return s + part;
  return s + (((part & 0xff) << 8) | (part >>> 8)); // an odd start swaps the bytes of its sum
}

/** Checks that a raw IP socket can be opened (root or CAP_NET_RAW) before starting a worker. */
export function checkRawSocket(family: 4 | 6): void {
  const fd = check(
    socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_RAW),
    "open",
    "raw IP socket",
    family === 4 ? "IPv4" : "IPv6",
  );
  close(fd);
}
