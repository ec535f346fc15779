/**
 * Tunnel transmit: GRE, GRETAP and VXLAN over IPv4 or IPv6, batched with `sendmmsg`. Three sockets,
 * chosen per packet:
 * - VXLAN: a pool of {@link UDP_BUCKETS} UDP sockets, each bound to one source port in 49152..65535
 *   and connected to the peer. A flow's hash picks its socket, hence its source port. A connected
 *   socket keeps its route; the kernel builds the IP and UDP headers.
 * - GRE and GRETAP over IPv4 when the route to the peer leaves on an Ethernet device and the next hop's
 *   MAC is known (`linkHopTo`): a packet socket bound to that device, the Ethernet, IPv4 and GRE headers
 *   built here in one iovec (~1.5× the raw socket below at 64 bytes: no per-packet route and neighbour
 *   lookup, no IP header built by the kernel). Packets skip netfilter. While the neighbour entry is gone,
 *   packets go through the raw socket below (its socket index {@link RAW}).
 * - GRE and GRETAP otherwise (and VXLAN when the pool cannot be opened): a raw socket of protocol 47 (17) bound
 *   to the route's source address; the kernel builds the IP header from the route it caches per next
 *   hop.
 * - Fragments: a raw `IPPROTO_RAW` socket (IP_HDRINCL) with every header built here, so fragmentation
 *   is ours to control. (Every packet could go that way, but the kernel then allocates and frees a
 *   route per packet: ~25% of the sending CPU at 64 bytes.)
 *
 * Each message is an iovec list: the outer IP header (and IPv6 fragment header) from a header arena
 * (fragments only), the tunnel header (GRE, VXLAN, and UDP for fragments) from the same arena, then
 * the inner frame as up to three segments pointing straight into the ring mapping (head, VLAN tag,
 * tail — as the frame pipeline cut it). Nothing of the frame is copied, fragments included: a
 * fragment's iovecs are the slices of those pieces that fall in its range. A batch goes out in staging
 * order, except that VXLAN messages between two fragmented frames are grouped by socket (one
 * `sendmmsg` per socket): flows may interleave differently, a flow's packets keep their order.
 *
 * Per packet:
 * - IPv4: version 4, no options, TTL 64, DF clear, the IP id and header checksum the kernel's;
 *   fragments and the packet path carry our own id (one incrementing counter) and checksum.
 * - IPv6: hop limit 64, flow label 0; fragments carry a fragment header with our own 32-bit id.
 * - GRE: RFC 2784 with the RFC 2890 key when `-K` is given. GRETAP carries the whole frame with
 *   protocol 0x6558; plain GRE drops the Ethernet header (and any VLAN tags) and carries the innermost
 *   EtherType as protocol type. GRE packets larger than the path MTU are fragmented.
 * - VXLAN: UDP to port 4789 (or the port chosen), source port picked by a hash of the inner flow
 *   (one of the pool's ports; 49152..65535 on the raw path), I flag and 24-bit VNI. UDP checksum 0 over IPv4 (RFC 7348), computed over IPv6
 *   (mandatory there). Packets larger than the path MTU are not sent (counted as oversize) unless
 *   fragmentation was allowed.
 *
 * @module
 */
import {
  addressable,
  addrOf,
  C,
  close,
  E,
  errno,
  poll,
  PollFds,
  sendmmsg,
  sockaddrIp,
  socket,
  SysError,
} from "../../../ffi/mod.ts";
import {
  checksumAdd,
  checksumAddAt,
  checksumFold,
  formatIp,
  type IpAddress,
  isVlanTpid,
  VXLAN_SOURCE_PORT_MIN,
  vxlanSourcePort,
} from "../../codec/mod.ts";
import { arpLookup, type LinkHop, linkHopTo, routeTo } from "../../net/mod.ts";
import { ReaderKind } from "../../ring/mod.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, Staged } from "../sink.ts";
import {
  bindLink,
  isIcmpErrno,
  linkSocket,
  protoSocket,
  setSndBuf,
  UDP_BUCKETS,
  udpPool,
} from "./sockets.ts";

/** How a {@link TunnelSender} sends unfragmented packets. */
export type TunnelPath = "udp" | "packet" | "raw" | "hdrincl";

/** Settings of a {@link TunnelSender}. */
export interface TunnelSinkConfig {
  kind: "tunnel";
  tunnel: "gre" | "gretap" | "vxlan";
  /** Peer address. */
  dst: IpAddress;
  /** The destination as the user typed it (for the reader's description). */
  host?: string;
  /** GRE key or VXLAN VNI (VXLAN: default 0). */
  key?: number;
  /** VXLAN UDP destination port (default 4789). */
  port?: number;
  /** Allow IP fragmentation of VXLAN packets (GRE always fragments). */
  fragment?: boolean;
  /** Most frames per flush (default 256). */
  maxBatch?: number;
}

const MAX_MSGS = 1024;
/** Socket id of a message for the IP_HDRINCL socket. */
const HDR = 255;
const IOV_PER_MSG = 5; // IP header, tunnel header, up to three frame segments
const SLOT = 64; // header arena bytes per message: IP (≤ 48) then the tunnel header (≤ 16)
const TUN_AT = 48;
/** Where the Ethernet and IPv4 headers of the packet path start in a slot (they end at TUN_AT). */
const LINK_AT = TUN_AT - 34;
/** Socket index of the raw protocol socket on the packet path (0 is the packet socket). */
const RAW = 1;

const napCell = new Int32Array(new SharedArrayBuffer(4));
/** The path MTU and the next hop are looked at this often (ms). */
const CHECK_MS = 1000;

/** Batched tunnel transmit. */
export class TunnelSender implements Sink {
  readonly what: string;
  readonly desc: string;
  readonly readerKind: number = ReaderKind.tunnel;
  readonly zeroCopy = true;
  readonly kind: "gre" | "gretap" | "vxlan";
  readonly family: 4 | 6;
  readonly dst: IpAddress;
  readonly src: IpAddress;
  /** How unfragmented packets go out (fragments always go through the IP_HDRINCL socket). */
  readonly path: TunnelPath;
  /** VXLAN source port of each UDP socket (`path` "udp"), else empty. */
  readonly sourcePorts: Uint16Array;
  /**
   * Sockets of `path` "udp" (one per bucket), "packet" (the packet socket, then the raw protocol socket
   * used while the next hop is unknown) or "raw" (one); empty for "hdrincl".
   */
  readonly #socks: number[];
  /** Raw `IPPROTO_RAW` socket (IP_HDRINCL) for fragments, which carry headers built here. */
  readonly #hdrFd: number;
  readonly maxBatch: number;
  /** Outcome per staged frame after flush (Outcome). */
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
  /** Per message: index of its socket in #socks, or HDR. */
  #msgSock: Uint8Array;
  /** Per message: handed to the kernel. */
  #msgSent: Uint8Array;
  // messages of the UDP path, grouped by socket (no address: the sockets are connected)
  #grouped: Uint8Array;
  #groupedU32: Uint32Array;
  #groupedMsg: Uint16Array;
  #bucketAt = new Uint16Array(UDP_BUCKETS + 1);
  #iovBase = 0;
  #nMsg = 0;
  #nFrames = 0;
  #fragId: number;
  #pfd: PollFds;
  #pseudo: number; // IPv6 pseudo-header partial sum (addresses + next header)
  // pieces of the current frame's IP payload
  #pAddr = new Float64Array(4);
  #pLen = new Int32Array(4);
  #np = 0;
  #closed = false;
  #last: FlushResult = { errors: 0, lastErrno: 0, backoff: false };
  #tag = addressable(4);
  #nextCheck = 0;
  // packet path: egress device and next hop, Ethernet + IPv4 header template and its partial sum
  #hop: LinkHop | null = null;
  #hopOk = false;
  #linkTpl = new Uint8Array(34);
  #linkSum = 0;
  #refreshes = 0;

  constructor(cfg: TunnelSinkConfig) {
    this.kind = cfg.tunnel;
    this.dst = cfg.dst;
    this.what = `to ${formatIp(cfg.dst)}`;
    this.desc = `tx ${cfg.tunnel}:${cfg.host ?? formatIp(cfg.dst)}`;
    this.family = cfg.dst.family;
    const route = routeTo(cfg.dst);
    this.src = route.src;
    this.mtu = route.mtu;
    this.maxBatch = cfg.maxBatch ?? 256;
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#fragOk = cfg.tunnel !== "vxlan" || (cfg.fragment ?? false);
    this.#ipLen = this.family === 4 ? 20 : 40;
    this.#proto = cfg.tunnel === "vxlan" ? 17 : 47;
    if (cfg.tunnel === "vxlan") {
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
    const sa = sockaddrIp(cfg.dst.bytes, 0);
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
    this.#msgSock = new Uint8Array(MAX_MSGS);
    this.#msgSent = new Uint8Array(MAX_MSGS);
    this.#grouped = new Uint8Array(MAX_MSGS * C.MMSGHDR_SIZE);
    this.#groupedU32 = new Uint32Array(this.#grouped.buffer);
    this.#groupedMsg = new Uint16Array(MAX_MSGS);
    const iovBase = this.#iovBase = addrOf(this.#iov);
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
    const peer = formatIp(cfg.dst);
    const hdrFd = socket(
      this.family === 4 ? C.AF_INET : C.AF_INET6,
      C.SOCK_RAW | C.SOCK_CLOEXEC,
      C.IPPROTO_RAW,
    );
    if (hdrFd < 0) throw new SysError("open", "raw IP socket towards", peer, errno());
    this.#hdrFd = hdrFd;
    setSndBuf(hdrFd, 8 << 20);
    // the fastest path that opens: UDP pool (VXLAN), raw protocol socket, IP_HDRINCL only
    let path: TunnelPath = "hdrincl";
    let socks: number[] = [];
    let ports: Uint16Array = new Uint16Array(0);
    if (cfg.tunnel === "vxlan") {
      const pool = udpPool(this.family, this.src, cfg.dst, cfg.port ?? 4789);
      if (pool) [path, socks, ports] = ["udp", pool.fds, pool.ports];
    }
    if (path === "hdrincl") {
      const fd = protoSocket(this.family, this.#proto, this.src);
      if (fd >= 0) [path, socks] = ["raw", [fd]];
    }
    if (path === "raw" && cfg.tunnel !== "vxlan" && this.family === 4) {
      // GRE over an Ethernet link: whole frames on a packet socket, every header built here
      const hop = linkHopTo(cfg.dst);
      const pfd = hop === null ? -1 : linkSocket(hop.ifindex);
      if (pfd >= 0) {
        [path, socks] = ["packet", [pfd, socks[0]]];
        this.#setHop(hop!);
      }
    }
    this.path = path;
    this.#socks = socks;
    this.sourcePorts = ports;
    this.#pfd = new PollFds([...socks, hdrFd], C.POLLOUT);
    for (let i = 0; i < MAX_MSGS; i++) {
      const a = iovBase + i * IOV_PER_MSG * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE) >>> 2;
      this.#groupedU32[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      this.#groupedU32[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
    }
  }

  /** Frames staged since the last flush. */
  get staged(): number {
    return this.#nFrames;
  }

  /** Largest inner frame that goes out unfragmented. */
  get maxUnfragmented(): number {
    return this.mtu - this.overhead;
  }

  /** The 4 bytes a `-V` inserts. */
  setTag(tag: Uint8Array): void {
    this.#tag.bytes.set(tag.subarray(0, 4));
  }

  /** Stages one frame (see `Sink.stage`); the frame's bytes are sent from where they are. */
  stage(
    buf: Uint8Array,
    addr: number,
    off: number,
    cut: FrameCut,
    _w: number,
    _s: number,
    _n: number,
    tag: number,
  ): number {
    return this.add(
      buf,
      addr,
      off,
      cut.headLen,
      this.#tag.bytes,
      this.#tag.addr,
      cut.tagLen,
      cut.tailOff,
      cut.tailLen,
      tag,
    );
  }

  /** Forgets the staged frames (nothing of them was handed to the kernel). */
  discard(): void {
    this.#nMsg = 0;
    this.#nFrames = 0;
  }

  /** Re-reads the path MTU and the next hop about once a second. */
  tick(now: number): void {
    if (now < this.#nextCheck) return;
    this.#nextCheck = now + CHECK_MS;
    this.refreshMtu();
  }

  dueIn(now: number): number {
    return Math.max(0, this.#nextCheck - now);
  }

  oversizeText(len: number): string {
    return `Frame of ${len} bytes does not fit in one ${this.kind.toUpperCase()} packet ${this.what} ` +
      `(path MTU ${this.mtu}, ${this.overhead} bytes of outer headers): counted as oversize and ` +
      `skipped. Truncate frames with -s ${this.maxUnfragmented}` +
      (this.kind === "vxlan"
        ? `, or allow IP fragmentation with --fragment (RFC 7348 advises against it)`
        : "");
  }

  summary(): null {
    return null;
  }

  /**
   * Re-reads the path MTU (it may change while running); on the packet path also the next hop's MAC,
   * and every tenth call the route (egress device, gateway).
   */
  refreshMtu(): void {
    try {
      this.mtu = routeTo(this.dst).mtu;
    } catch { /* no route for now: keep the last value */ }
    if (this.path !== "packet") return;
    const hop = this.#hop!;
    if (++this.#refreshes % 10 === 0) {
      const h = linkHopTo(this.dst, 0);
      if (h === null) this.#hopOk = false;
      else if (h.ifindex === hop.ifindex || bindLink(this.#socks[0], h.ifindex)) this.#setHop(h);
      else this.#hopOk = false;
      return;
    }
    const mac = arpLookup(hop.nextHop, hop.ifname);
    if (mac === null) this.#hopOk = false; // the raw socket meanwhile: the kernel resolves it again
    else this.#setHop({ ...hop, dstMac: mac });
  }

  /** Uses `hop` for the packet path: Ethernet header, IPv4 header template and its partial sum. */
  #setHop(hop: LinkHop): void {
    this.#hop = hop;
    this.#hopOk = true;
    const t = this.#linkTpl;
    t.set(hop.dstMac, 0);
    t.set(hop.srcMac, 6);
    t[12] = 0x08;
    t[13] = 0x00;
    t.set(this.#ipTpl, 14); // total length, id and checksum 0
    this.#linkSum = checksumAdd(0, t, 14, 20);
  }

  /**
   * Stages one frame given as segments of `data` (the ring's data area, mapped at `dataAddr`):
   * `[off, off+headLen)`, `tag[0, tagLen)` (off-heap, at `tagAddr`), `[off+tailOff, +tailLen)`.
   * Returns a {@link Staged} value; a frame that is not staged is the caller's to count.
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
        if (p + 2 > frameLen) return Staged.malformed;
        const t = (byteAt(data, off, headLen, tag, tagLen, tailOff, p) << 8) |
          byteAt(data, off, headLen, tag, tagLen, tailOff, p + 1);
        if (isVlanTpid(t)) {
          p += 4;
          continue;
        }
        etherType = t;
        break;
      }
      skip = p + 2;
      if (skip > frameLen) return Staged.malformed;
    }
    const innerLen = frameLen - skip;
    const payloadLen = this.#tunLen + innerLen; // IP payload
    const ipLen = this.#ipLen;
    const mtu = this.mtu;
    let nFrag = 1;
    let chunk = payloadLen;
    if (ipLen + payloadLen > mtu) {
      if (!this.#fragOk) return Staged.oversize;
      const room = mtu - ipLen - (this.family === 6 ? 8 : 0);
      chunk = room & ~7;
      if (chunk < 8 || payloadLen > 65535 - 8) return Staged.oversize;
      nFrag = Math.ceil(payloadLen / chunk);
    }
    if (this.#nFrames >= this.maxBatch) return Staged.oversize; // caller's batch too large (a bug)
    if (this.#nMsg + nFrag > MAX_MSGS) this.#send();
    const direct = nFrag === 1 && this.path !== "hdrincl"; // the kernel builds the IP header
    const link = direct && this.path === "packet" && this.#hopOk; // ... or every header is built here
    let sock = this.path === "packet" && !link ? RAW : 0;
    const fi = this.#nFrames++;
    this.tags[fi] = frameTag;
    this.status[fi] = Outcome.sent;
    // tunnel header into the first message's slot
    const m0 = this.#nMsg;
    const arena = this.#arena;
    const tunAt = m0 * SLOT + TUN_AT;
    arena.set(this.#tunTpl, tunAt);
    if (this.kind === "vxlan") {
      // the flow hash reads the frame as it is in the ring (a tag inserted by -V does not change the flow)
      const h = vxlanSourcePort(data, off, tailLen > 0 ? Math.max(headLen, tailOff + tailLen) : headLen) -
        VXLAN_SOURCE_PORT_MIN;
      let sport = VXLAN_SOURCE_PORT_MIN + h;
      if (this.path === "udp") {
        sock = h & (UDP_BUCKETS - 1);
        sport = this.sourcePorts[sock];
      }
      arena[tunAt] = sport >> 8;
      arena[tunAt + 1] = sport & 0xff;
      const ul = payloadLen;
      arena[tunAt + 4] = ul >> 8;
      arena[tunAt + 5] = ul & 0xff;
      if (this.family === 6 && !(direct && this.path === "udp")) {
        // (a UDP socket computes it itself)
        let s = this.#pseudo + ul;
        s += checksumAdd(0, arena, tunAt, 16);
        let pos = 16;
        s = checksumAddAt(s, data, off, headLen, pos);
        pos += headLen;
        s = checksumAddAt(s, tag, 0, tagLen, pos);
        pos += tagLen;
        s = checksumAddAt(s, data, off + tailOff, tailLen, pos);
        let c = checksumFold(s);
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
    if (direct) {
      const m = this.#nMsg++;
      this.#msgFrame[m] = fi;
      this.#msgSock[m] = sock;
      this.#msgSent[m] = 0;
      if (this.path === "udp") this.#fillIov(m, 0, 0, 8, payloadLen - 8); // the socket adds UDP
      else if (link) {
        // Ethernet and IPv4 headers right before the tunnel header: one iovec for all of them
        const at = m * SLOT + LINK_AT;
        arena.set(this.#linkTpl, at);
        const tot = 20 + payloadLen;
        const id = this.#nextId();
        let c = this.#linkSum + tot + id;
        c = (c & 0xffff) + (c >>> 16);
        c = ~((c & 0xffff) + (c >>> 16)) & 0xffff;
        arena[at + 16] = tot >> 8;
        arena[at + 17] = tot & 0xff;
        arena[at + 18] = id >> 8;
        arena[at + 19] = id & 0xff;
        arena[at + 24] = c >> 8;
        arena[at + 25] = c & 0xff;
        this.#pAddr[0] = this.#arenaAddr + at;
        this.#pLen[0] = 34 + this.#tunLen;
        this.#fillIov(m, 0, 0, 0, 34 + payloadLen);
      } else this.#fillIov(m, 0, 0, 0, payloadLen);
      // a packet socket takes no address (it would read a sockaddr_ll); the raw sockets need the peer's
      if (this.path === "packet") this.#setNameLen(m, link ? 0 : this.#sa.length);
      return Staged.staged;
    }
    // one message per fragment, with the IP header built here
    const tpl = this.#ipTpl;
    const id = nFrag > 1 ? this.#nextId() : 0;
    for (let k = 0; k < nFrag; k++) {
      const m = this.#nMsg++;
      this.#msgFrame[m] = fi;
      this.#msgSock[m] = HDR;
      this.#msgSent[m] = 0;
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
      if (this.path === "packet") this.#setNameLen(m, this.#sa.length);
    }
    return Staged.staged;
  }

  #setNameLen(m: number, len: number): void {
    this.#msgU32[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_NAMELEN >>> 2)] = len;
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

  /**
   * iovecs of message m: its IP header (none when `hdrLen` is 0), then the slice [from, from+len) of
   * the current pieces.
   */
  #fillIov(m: number, hdrAddr: number, hdrLen: number, from: number, len: number): void {
    const v = this.#iovU32;
    let w = (m * IOV_PER_MSG * C.IOVEC_SIZE) >>> 2;
    const first = w;
    if (hdrLen > 0) {
      v[w] = hdrAddr >>> 0;
      v[w + 1] = Math.floor(hdrAddr / 4294967296);
      v[w + 2] = hdrLen;
      v[w + 3] = 0;
      w += 4;
    }
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

  /**
   * Sends the staged messages, folding each message's outcome into its frame's status: runs of
   * fragments on the IP_HDRINCL socket in order, the messages between them on the fast path (UDP ones
   * grouped by socket).
   */
  #send(): void {
    const n = this.#nMsg;
    const sock = this.#msgSock;
    let i = 0;
    let ok = true;
    const udp = this.path === "udp";
    while (i < n && ok) {
      const s = sock[i];
      const hdr = s === HDR;
      let j = i + 1;
      // runs of one socket (UDP: of the UDP sockets, grouped below)
      while (j < n && (udp ? (sock[j] === HDR) === hdr : sock[j] === s)) j++;
      if (hdr) ok = this.#sendRange(this.#hdrFd, this.#socks.length, this.#msgs, i, j, null);
      else if (!udp) ok = this.#sendRange(this.#socks[s], s, this.#msgs, i, j, null);
      else ok = this.#sendGrouped(i, j);
      i = j;
    }
    if (!ok) {
      // the route is gone: nothing after the failure was sent
      for (let m = 0; m < n; m++) if (this.#msgSent[m] === 0) this.#mark(m, Outcome.error);
    }
    this.#nMsg = 0;
  }

  /** Messages [i, j) of the UDP path: grouped by socket (a counting sort), one sendmmsg each. */
  #sendGrouped(i: number, j: number): boolean {
    const at = this.#bucketAt;
    at.fill(0);
    const sock = this.#msgSock;
    for (let m = i; m < j; m++) at[sock[m] + 1]++;
    for (let b = 1; b <= UDP_BUCKETS; b++) at[b] += at[b - 1];
    const g = this.#groupedU32;
    const msg = this.#msgU32;
    for (let m = i; m < j; m++) {
      const k = at[sock[m]]++;
      this.#groupedMsg[k] = m;
      const w = (k * C.MMSGHDR_SIZE) >>> 2;
      const a = this.#iovBase + m * IOV_PER_MSG * C.IOVEC_SIZE;
      g[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      g[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
      g[w + (C.MSGHDR_IOVLEN >>> 2)] = msg[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2)];
    }
    // after the sort, at[b] is where bucket b ends
    let from = 0;
    for (let b = 0; b < UDP_BUCKETS; b++) {
      const to = at[b];
      if (to > from && !this.#sendRange(this.#socks[b], b, this.#grouped, from, to, this.#groupedMsg)) {
        return false;
      }
      from = to;
    }
    return true;
  }

  /**
   * Sends entries [i, end) of the mmsghdr array `arr` on `fd` (`map`: entry → message, or identity).
   * False when the route is gone.
   */
  #sendRange(
    fd: number,
    pollAt: number,
    arr: Uint8Array,
    i: number,
    end: number,
    map: Uint16Array | null,
  ): boolean {
    const r = this.#last;
    let retries = 0;
    let icmpAt = -1;
    while (i < end) {
      const rc = sendmmsg(fd, i === 0 ? arr : arr.subarray(i * C.MMSGHDR_SIZE), end - i, 0);
      if (rc > 0) {
        for (let k = i; k < i + rc; k++) this.#msgSent[map === null ? k : map[k]] = 1;
        i += rc;
        retries = 0;
        continue;
      }
      const e = errno();
      if (e === E.EINTR) continue;
      if ((e === E.ENOBUFS || e === E.EAGAIN) && this.path === "packet" && pollAt === 0 && retries < 60) {
        // the device queue is full (a veth peer's backlog, a NIC ring): POLLOUT on a packet socket is
        // always ready, so really sleep, 50 µs doubling to 2 ms (about 100 ms in all), as PacketSender
        retries++;
        Atomics.wait(napCell, 0, 0, Math.min(2, 0.05 * 2 ** Math.min(retries, 6)));
        continue;
      }
      if ((e === E.ENOBUFS || e === E.EAGAIN) && retries < 100) {
        retries++;
        poll(this.#pfd.from(pollAt), 1, 1);
        continue;
      }
      // a connected UDP socket reports an ICMP error once, on the next send: that packet did not go,
      // and trying again tells a past ICMP error from a present one
      if (icmpAt !== i && this.path === "udp" && fd !== this.#hdrFd && isIcmpErrno(e)) {
        icmpAt = i;
        continue;
      }
      r.lastErrno = e;
      if (
        e === E.ENETUNREACH || e === E.EHOSTUNREACH || e === E.ENETDOWN || e === E.ENXIO || e === E.ENODEV
      ) {
        r.backoff = true;
        return false;
      }
      const m = map === null ? i : map[i];
      this.#mark(m, e === E.EMSGSIZE ? Outcome.oversize : Outcome.error);
      this.#msgSent[m] = 1;
      i++;
      retries = 0;
    }
    return true;
  }

  #mark(m: number, st: number): void {
    const f = this.#msgFrame[m];
    if (this.status[f] === Outcome.sent) this.status[f] = st;
  }

  /** Sends everything staged. Never throws on a send error: outcomes are in `status`. */
  flush(): FlushResult {
    this.#send();
    const r = this.#last;
    for (let f = 0; f < this.#nFrames; f++) if (this.status[f] === Outcome.error) r.errors++;
    this.#nFrames = 0;
    this.#last = { errors: 0, lastErrno: 0, backoff: false };
    return r;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#socks) close(fd);
    close(this.#hdrFd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
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
