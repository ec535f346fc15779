/**
 * Tunnel transmit: GRE, GRETAP and VXLAN over IPv4 or IPv6, batched with `sendmmsg`, through the
 * fastest sockets that open (`sockets.ts`: a pool of connected UDP sockets for VXLAN, a packet socket
 * for GRE over an Ethernet link, raw protocol sockets, and IP_HDRINCL for fragments).
 *
 * Each message is an iovec list (`messages.ts`): the outer headers from a header arena, then the inner
 * frame as up to three segments pointing straight into the ring mapping (head, VLAN tag, tail — as the
 * frame pipeline cut it). Nothing of the frame is copied, fragments included: a fragment's iovecs are
 * the slices of those segments that fall in its range. The headers are codec templates patched per
 * packet (`headers.ts`, which also says what goes on the wire); the batch goes out through
 * `transmit.ts`.
 *
 * GRE packets larger than the path MTU are fragmented. VXLAN packets larger than the path MTU are not
 * sent (counted as oversize) unless fragmentation was allowed. Fragments follow the codec's plan
 * (`ipv4FragmentPayload`, `ipv6FragmentPayload`: the size behind `fragmentIpv4`/`fragmentIpv6`, which
 * return an array per call).
 *
 * @module
 */
import { addressable, close, E, sockaddrIp } from "../../../ffi/mod.ts";
import {
  ETH_HEADER_LENGTH,
  ETH_TYPE,
  ETHERTYPE_TEB,
  formatIp,
  type IpAddress,
  ipv4FragmentPayload,
  ipv6FragmentPayload,
  isVlanTpid,
  MAX_VLAN_TAGS,
  UDP_HEADER_LENGTH,
  VLAN_TAG_LENGTH,
  VXLAN_SOURCE_PORT_MIN,
  vxlanSourcePort,
} from "../../codec/mod.ts";
import {
  arpLookup,
  type LinkHop,
  linkHopTo,
  neighbourState,
  type NextHop,
  nextHopTo,
  provokeResolution,
  routeTo,
} from "../../net/mod.ts";
import { ReaderKind } from "../../ring/mod.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, type SinkEnv, Staged } from "../sink.ts";
import { TunnelHeaders } from "./headers.ts";
import { HDRINCL, LINK_AT, LINK_LEN, MAX_MSGS, MessageArena, SLOT, TUN_AT } from "./messages.ts";
import { bindLink, openTunnelSockets, RAW, type TunnelPath, UDP_BUCKETS } from "./sockets.ts";
import { Transmitter } from "./transmit.ts";

export type { TunnelPath };

/** Settings of a {@link TunnelSender}. */
export interface TunnelSinkConfig {
  /** The kind of sink. */
  kind: "tunnel";
  /** The encapsulation. */
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

/**
 * Largest IP payload sent in fragments (as before the codec templates; the codec's planners allow
 * 65515 bytes over IPv4 and 65535 over IPv6).
 */
const MAX_FRAGMENTED = 65535 - 8;

/** Bytes of the EtherType field that ends an Ethernet header. */
const ETHERTYPE_LEN = ETH_HEADER_LENGTH - ETH_TYPE;

/** The path MTU and the next hop are looked at this often (ms). */
const CHECK_MS = 1000;

/** Batched tunnel transmit. */
export class TunnelSender implements Sink {
  readonly what: string;
  readonly desc: string;
  /** Ring reader kind: a tunnel. */
  readonly readerKind: number = ReaderKind.tunnel;
  readonly zeroCopy = true;
  /** Tunnel protocol. */
  readonly kind: "gre" | "gretap" | "vxlan";
  /** IP version of the outer header (the peer's). */
  readonly family: 4 | 6;
  /** Peer address. */
  readonly dst: IpAddress;
  /** Source address: the route's towards the peer. */
  readonly src: IpAddress;
  /** How unfragmented packets go out (fragments always go through the IP_HDRINCL socket). */
  readonly path: TunnelPath;
  /** VXLAN source port of each UDP socket (`path` "udp"), else empty. */
  readonly sourcePorts: Uint16Array;
  readonly maxBatch: number;
  /** Outcome per staged frame after flush (Outcome). */
  readonly status: Uint8Array;
  /** Caller's tag per staged frame. */
  readonly tags: Uint32Array;
  /** Path MTU in use. */
  mtu: number;
  /** Bytes of outer headers in front of the inner frame (IP + GRE, or IP + UDP + VXLAN). */
  readonly overhead: number;
  /** See `TunnelSockets.socks`. */
  readonly #socks: number[];
  readonly #hdrFd: number;
  readonly #fragOk: boolean;
  readonly #headers: TunnelHeaders;
  readonly #arena: MessageArena;
  readonly #tx: Transmitter;
  #nFrames = 0;
  #closed = false;
  #tag = addressable(4);
  #nextCheck = 0;
  // packet path: egress device and next hop (its headers are in #headers)
  #hop: LinkHop | null = null;
  #hopOk = false;
  #refreshes = 0;
  // the next hop's neighbour entry (IPv4), watched once a second
  #watch: NextHop | null = null;
  #unresolvedChecks = 0;
  #down: string | null = null;
  readonly #log: (message: string) => void;

  /**
   * Looks up the route to the peer, builds the header templates and opens the sockets (see the module
   * doc). Throws when the peer has no route, the key or VNI is out of range, or no raw IP socket opens.
   */
  constructor(cfg: TunnelSinkConfig, env?: Pick<SinkEnv, "log">) {
    this.#log = env?.log ?? (() => {});
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
    const port = cfg.port ?? 4789;
    const h = this.#headers = new TunnelHeaders({
      tunnel: cfg.tunnel,
      src: this.src,
      dst: cfg.dst,
      key: cfg.key,
      port,
    });
    this.overhead = h.overhead;
    this.#arena = new MessageArena(sockaddrIp(cfg.dst.bytes, 0));
    const s = openTunnelSockets({
      tunnel: cfg.tunnel,
      family: this.family,
      proto: h.proto,
      src: this.src,
      dst: cfg.dst,
      port,
    });
    this.path = s.path;
    this.#socks = s.socks;
    this.#hdrFd = s.hdrFd;
    this.sourcePorts = s.ports;
    if (s.hop !== null) this.#setHop(s.hop);
    else this.#watch = nextHopTo(cfg.dst);
    this.#tx = new Transmitter(this.#arena, this.status, s.path, s.socks, s.hdrFd);
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
    this.#arena.count = 0;
    this.#nFrames = 0;
  }

  /**
   * Why nothing sent now would reach the peer (its IPv4 next hop has not answered ARP for a second or
   * more), or null. Frames staged meanwhile fail (counted as send errors); an output group takes the
   * member out until it answers again.
   */
  get down(): string | null {
    return this.#down;
  }

  /** Re-reads the path MTU and the next hop about once a second. */
  tick(now: number): void {
    if (now < this.#nextCheck) return;
    this.#nextCheck = now + CHECK_MS;
    this.refreshMtu();
    this.#checkNeighbour();
  }

  /**
   * The next hop's neighbour entry: unresolved at two looks in a row (a second or more: a live host
   * answers ARP within milliseconds; the kernel gives up after about three) takes the output down;
   * while down, a datagram to the discard port each second makes the kernel ask again, and a
   * complete entry brings it back. A neighbour that stops answering while its entry is complete is
   * noticed when the kernel gives up confirming it (some seconds).
   */
  #checkNeighbour(): void {
    const w = this.#watch;
    if (w === null) return;
    const st = neighbourState(w.nextHop, w.ifname);
    if (st === "complete" || (st === "none" && this.#down === null)) {
      this.#unresolvedChecks = 0;
      if (this.#down !== null) {
        this.#down = null;
        this.#log(`fluxcap -tx: next hop ${formatIp(w.nextHop)} answers ARP again: sending ${this.what}`);
      }
      return;
    }
    if (this.#down === null && st === "unresolved" && ++this.#unresolvedChecks >= 2) {
      this.#down = `next hop ${formatIp(w.nextHop)} does not answer ARP`;
      this.#log(`fluxcap -tx: ${this.#down}: frames ${this.what} are counted as send errors until it does`);
    }
    if (this.#down !== null) provokeResolution(this.dst);
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
    if (this.path !== "packet") {
      // the route again (an `ip` command) only while the next hop does not answer: it may have moved
      const unsure = this.#down !== null || this.#unresolvedChecks > 0;
      if (++this.#refreshes % 10 === 0 && this.family === 4 && unsure) {
        this.#watch = nextHopTo(this.dst) ?? this.#watch;
      }
      return;
    }
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

  /** Uses `hop` for the packet path. */
  #setHop(hop: LinkHop): void {
    this.#hop = hop;
    this.#watch = hop;
    this.#hopOk = true;
    this.#headers.setHop(hop);
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
    const h = this.#headers;
    const frameLen = headLen + tagLen + tailLen;
    let skip = 0;
    let etherType = ETHERTYPE_TEB;
    if (this.kind === "gre") {
      // drop the Ethernet header and any VLAN tags: GRE carries the innermost EtherType
      let p = ETH_TYPE;
      for (let tags = 0; tags <= MAX_VLAN_TAGS; tags++) {
        if (p + ETHERTYPE_LEN > frameLen) return Staged.malformed;
        const t = (byteAt(data, off, headLen, tag, tagLen, tailOff, p) << 8) |
          byteAt(data, off, headLen, tag, tagLen, tailOff, p + 1);
        if (!isVlanTpid(t)) {
          etherType = t;
          break;
        }
        p += VLAN_TAG_LENGTH;
      }
      skip = p + ETHERTYPE_LEN;
      if (skip > frameLen) return Staged.malformed;
    }
    const payloadLen = h.tunLen + frameLen - skip; // IP payload
    const mtu = this.mtu;
    let nFrag = 1;
    let size = payloadLen;
    if (h.ipLen + payloadLen > mtu) {
      if (!this.#fragOk) return Staged.oversize;
      size = this.family === 4 ? ipv4FragmentPayload(mtu) : ipv6FragmentPayload(mtu);
      if (size === 0 || payloadLen > MAX_FRAGMENTED) return Staged.oversize;
      nFrag = Math.ceil(payloadLen / size);
    }
    if (this.#nFrames >= this.maxBatch) return Staged.oversize; // caller's batch too large (a bug)
    if (this.#down !== null) { // it would not reach the peer: fails at flush, as a send error
      const fi = this.#nFrames++;
      this.tags[fi] = frameTag;
      this.status[fi] = Outcome.error;
      return Staged.staged;
    }
    const arena = this.#arena;
    if (arena.count + nFrag > MAX_MSGS) this.#tx.send();
    const direct = nFrag === 1 && this.path !== "hdrincl"; // the kernel builds the IP header
    const link = direct && this.path === "packet" && this.#hopOk; // ... or every header is built here
    let sock = this.path === "packet" && !link ? RAW : 0;
    const fi = this.#nFrames++;
    this.tags[fi] = frameTag;
    this.status[fi] = Outcome.sent;
    // tunnel header into the first message's slot
    const bytes = arena.headers;
    const tunAt = arena.count * SLOT + TUN_AT;
    if (this.kind === "vxlan") {
      // the flow hash reads the frame as it is in the ring (a tag inserted by -V does not change the flow)
      const hash = vxlanSourcePort(data, off, tailLen > 0 ? Math.max(headLen, tailOff + tailLen) : headLen) -
        VXLAN_SOURCE_PORT_MIN;
      let sport = VXLAN_SOURCE_PORT_MIN + hash;
      if (this.path === "udp") {
        sock = hash & (UDP_BUCKETS - 1);
        sport = this.sourcePorts[sock];
      }
      h.writeVxlan(bytes, tunAt, sport, payloadLen);
      if (this.family === 6 && !(direct && this.path === "udp")) {
        // (a UDP socket computes it itself)
        h.setVxlanChecksum(bytes, tunAt, payloadLen, data, off, headLen, tag, tagLen, tailOff, tailLen);
      }
    } else h.writeGre(bytes, tunAt, etherType);
    const base = arena.headersAddr;
    const frameAddr = dataAddr + off;
    if (direct) {
      const m = arena.open(fi, sock);
      let hdrAt = tunAt;
      let hdrLen = h.tunLen;
      if (this.path === "udp") {
        hdrAt += UDP_HEADER_LENGTH; // the socket adds UDP
        hdrLen -= UDP_HEADER_LENGTH;
      } else if (link) {
        // Ethernet and IPv4 headers right before the tunnel header: one iovec for all of them
        hdrAt = m * SLOT + LINK_AT;
        hdrLen += LINK_LEN;
        h.writeLink(bytes, hdrAt, payloadLen);
      }
      arena.fillDirect(m, base + hdrAt, hdrLen, frameAddr, headLen, tagAddr, tagLen, tailOff, tailLen, skip);
      // a packet socket takes no address (it would read a sockaddr_ll); the raw sockets need the peer's
      if (this.path === "packet") arena.setAddressed(m, !link);
      return Staged.staged;
    }
    arena.setPieces(base + tunAt, h.tunLen, frameAddr, headLen, tagAddr, tagLen, tailOff, tailLen, skip);
    // one message per fragment, with the IP header built here
    const id = nFrag > 1 ? h.nextId() : 0;
    for (let k = 0; k < nFrag; k++) {
      const m = arena.open(fi, HDRINCL);
      const at = m * SLOT;
      const fo = k * size;
      const flen = Math.min(size, payloadLen - fo);
      const hl = h.writeIp(bytes, at, flen, fo, k < nFrag - 1, id, nFrag > 1);
      arena.fillIov(m, base + at, hl, fo, flen);
      if (this.path === "packet") arena.setAddressed(m, true);
    }
    return Staged.staged;
  }

  /** Sends everything staged. Never throws on a send error: outcomes are in `status`. */
  flush(): FlushResult {
    this.#tx.send();
    const r = this.#tx.takeResult();
    for (let f = 0; f < this.#nFrames; f++) if (this.status[f] === Outcome.error) r.errors++;
    if (r.errors > 0 && r.lastErrno === 0) r.lastErrno = E.EHOSTUNREACH; // the next hop does not answer
    this.#nFrames = 0;
    return r;
  }

  /** Closes the sockets (once). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#socks) close(fd);
    close(this.#hdrFd);
  }

  /** Same as {@link close}. */
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
