/**
 * The outer headers of a tunnel sender as templates: emitted once by the codec (at construction, and
 * the link template whenever the next hop changes), copied into a message's header slot and patched
 * per packet through the codec's setters. Nothing is allocated per packet, and no protocol field
 * offset is written here: they live in `lib/codec`.
 *
 * What goes on the wire:
 * - IPv4: version 4, no options, TTL 64, DF clear. On the raw and UDP paths the kernel builds it (its
 *   own IP id and checksum); fragments and the packet path carry our own id (one incrementing counter);
 *   the packet path our own checksum (fragments: the kernel's, IP_HDRINCL always fills it).
 * - IPv6: hop limit 64, flow label 0; fragments carry a fragment header with our own 32-bit id.
 * - GRE: RFC 2784 with the RFC 2890 key when a key is given. GRETAP carries the whole frame with
 *   protocol 0x6558; plain GRE drops the Ethernet header (and any VLAN tags) and carries the innermost
 *   EtherType as protocol type.
 * - VXLAN: UDP to the port chosen, source port from the caller (a hash of the inner flow), I flag and
 *   24-bit VNI. UDP checksum 0 over IPv4 (RFC 7348), computed over IPv6 (mandatory there) unless a UDP
 *   socket computes it.
 *
 * @module
 */
import {
  checksumAdd,
  checksumAddAt,
  type CodecError,
  emitEthernet,
  emitGre,
  emitIpv4,
  emitIpv6,
  emitIpv6Fragment,
  emitUdp,
  emitVxlan,
  ETH_HEADER_LENGTH,
  ETHERTYPE_IPV4,
  ETHERTYPE_TEB,
  FRAG_HEADER_LENGTH,
  IP_PROTO_GRE,
  IP_PROTO_UDP,
  type IpAddress,
  IPV4_HEADER_LENGTH,
  ipv4ChecksumBase,
  ipv4ChecksumFrom,
  IPV6_EXT_FRAGMENT,
  IPV6_HEADER_LENGTH,
  ipv6PseudoHeaderSum,
  isError,
  readU32,
  setGreProtocol,
  setIpv4Checksum,
  setIpv4Fragment,
  setIpv4Id,
  setIpv4TotalLength,
  setIpv6FragmentId,
  setIpv6FragmentOffset,
  setIpv6PayloadLength,
  setUdpChecksum,
  setUdpLength,
  setUdpSrcPort,
  UDP_HEADER_LENGTH,
  udpChecksumFinish,
  VXLAN_HEADER_LENGTH,
} from "../../codec/mod.ts";
import type { LinkHop } from "../../net/mod.ts";
import { LINK_LEN } from "./messages.ts";

/** What {@link TunnelHeaders} needs. */
export interface TunnelHeadersConfig {
  tunnel: "gre" | "gretap" | "vxlan";
  src: IpAddress;
  dst: IpAddress;
  /** GRE key (none when undefined) or VXLAN VNI (default 0). */
  key?: number;
  /** VXLAN UDP destination port. */
  port: number;
}

/** A tunnel's header templates and the per-packet patching of them. */
export class TunnelHeaders {
  readonly tunnel: "gre" | "gretap" | "vxlan";
  readonly family: 4 | 6;
  /** IP protocol of the tunnel: UDP (VXLAN) or GRE. */
  readonly proto: number;
  /** Bytes of the outer IP header (without a fragment header). */
  readonly ipLen: number;
  /** Bytes of the tunnel header: GRE (4 or 8), or UDP + VXLAN (16). */
  readonly tunLen: number;
  /** GRE header, or UDP + VXLAN headers (length and source port, and checksum over IPv6, patched). */
  readonly #tun: Uint8Array;
  /** Outer IP header: length, id and fragment fields patched; IPv4 checksum left 0 (the kernel's). */
  readonly #ip: Uint8Array;
  /** IPv6: the IPv6 header followed by a fragment header (next header 44); IPv4: empty. */
  readonly #frag: Uint8Array;
  /** Ethernet + IPv4 headers of the packet path, and the sum of the IPv4 fields that stay. */
  readonly #link = new Uint8Array(LINK_LEN);
  #linkBase = 0;
  /** IPv6 pseudo-header sum without the length (VXLAN over IPv6). */
  readonly #pseudo: number;
  #id: number;

  /** Throws a RangeError for a VNI or key out of range. */
  constructor(cfg: TunnelHeadersConfig) {
    this.tunnel = cfg.tunnel;
    this.family = cfg.dst.family;
    const vxlan = cfg.tunnel === "vxlan";
    this.proto = vxlan ? IP_PROTO_UDP : IP_PROTO_GRE;
    if (vxlan) {
      this.#tun = new Uint8Array(UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH);
      // length and source port per packet, checksum 0 until computed
      must(emitUdp(this.#tun, 0, { srcPort: 0, dstPort: cfg.port, payloadLength: 0 }));
      must(emitVxlan(this.#tun, UDP_HEADER_LENGTH, cfg.key ?? 0));
    } else {
      const keyed = cfg.key !== undefined;
      this.#tun = new Uint8Array(keyed ? 8 : 4);
      must(emitGre(this.#tun, 0, { protocol: ETHERTYPE_TEB, key: cfg.key })); // plain GRE patches the protocol
    }
    this.tunLen = this.#tun.length;
    if (this.family === 4) {
      this.ipLen = IPV4_HEADER_LENGTH;
      this.#ip = new Uint8Array(IPV4_HEADER_LENGTH);
      must(emitIpv4(this.#ip, 0, {
        src: readU32(Uint8Array.from(cfg.src.bytes), 0),
        dst: readU32(Uint8Array.from(cfg.dst.bytes), 0),
        protocol: this.proto,
        payloadLength: 0,
      }));
      setIpv4Checksum(this.#ip, 0, 0); // IP_HDRINCL: the kernel computes it
      this.#frag = new Uint8Array(0);
      this.#pseudo = 0;
    } else {
      this.ipLen = IPV6_HEADER_LENGTH;
      const addrs = { src: Uint8Array.from(cfg.src.bytes), dst: Uint8Array.from(cfg.dst.bytes) };
      this.#ip = new Uint8Array(IPV6_HEADER_LENGTH);
      must(emitIpv6(this.#ip, 0, { ...addrs, nextHeader: this.proto, payloadLength: 0 }));
      this.#frag = new Uint8Array(IPV6_HEADER_LENGTH + FRAG_HEADER_LENGTH);
      must(emitIpv6(this.#frag, 0, { ...addrs, nextHeader: IPV6_EXT_FRAGMENT, payloadLength: 0 }));
      must(emitIpv6Fragment(this.#frag, IPV6_HEADER_LENGTH, {
        nextHeader: this.proto,
        fragmentOffset: 0,
        moreFragments: false,
        id: 0,
      }));
      this.#pseudo = ipv6PseudoHeaderSum(this.#ip, 0, IP_PROTO_UDP, 0);
    }
    this.#id = (crypto.getRandomValues(new Uint32Array(1))[0] | 1) >>> 0;
  }

  /** Bytes of outer headers in front of the inner frame (IP + GRE, or IP + UDP + VXLAN). */
  get overhead(): number {
    return this.ipLen + this.tunLen;
  }

  /** Uses `hop` for the packet path: its MACs in the link template (IPv4 only). */
  setHop(hop: LinkHop): void {
    const t = this.#link;
    must(emitEthernet(t, 0, {
      dst: Uint8Array.from(hop.dstMac),
      src: Uint8Array.from(hop.srcMac),
      etherType: ETHERTYPE_IPV4,
    }));
    t.set(this.#ip, ETH_HEADER_LENGTH); // total length, id and checksum per packet
    this.#linkBase = ipv4ChecksumBase(t, ETH_HEADER_LENGTH);
  }

  /** The next IP id: 16 bits (IPv4) or 32 (IPv6), never 0. */
  nextId(): number {
    let id = this.#id = (this.#id + 1) >>> 0;
    if (this.family === 4) {
      id &= 0xffff;
      if (id === 0) id = this.#id = (this.#id + 1) >>> 0;
      id &= 0xffff;
    }
    return id || 1;
  }

  /** Writes the GRE header at `buf[at]` with protocol type `protocol`. */
  writeGre(buf: Uint8Array, at: number, protocol: number): void {
    buf.set(this.#tun, at);
    setGreProtocol(buf, at, protocol);
  }

  /** Writes the UDP and VXLAN headers at `buf[at]` (UDP checksum 0; see {@link setVxlanChecksum}). */
  writeVxlan(buf: Uint8Array, at: number, srcPort: number, udpLength: number): void {
    buf.set(this.#tun, at);
    setUdpSrcPort(buf, at, srcPort);
    setUdpLength(buf, at, udpLength);
  }

  /**
   * Over IPv6: computes the UDP checksum of the VXLAN packet whose headers {@link writeVxlan} wrote at
   * `buf[at]`, carrying the frame `data[off, +headLen) ++ tag[0, tagLen) ++ data[off + tailOff, +tailLen)`.
   */
  setVxlanChecksum(
    buf: Uint8Array,
    at: number,
    udpLength: number,
    data: Uint8Array,
    off: number,
    headLen: number,
    tag: Uint8Array,
    tagLen: number,
    tailOff: number,
    tailLen: number,
  ): void {
    const hl = UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH;
    let s = this.#pseudo + udpLength + checksumAdd(0, buf, at, hl);
    let pos = hl;
    s = checksumAddAt(s, data, off, headLen, pos);
    pos += headLen;
    s = checksumAddAt(s, tag, 0, tagLen, pos);
    pos += tagLen;
    s = checksumAddAt(s, data, off + tailOff, tailLen, pos);
    setUdpChecksum(buf, at, udpChecksumFinish(s));
  }

  /**
   * Writes the packet path's Ethernet and IPv4 headers at `buf[at]` for an IPv4 payload of `payloadLen`
   * bytes: the next IP id, and the header checksum from the template's sum.
   */
  writeLink(buf: Uint8Array, at: number, payloadLen: number): void {
    buf.set(this.#link, at);
    const ip = at + ETH_HEADER_LENGTH;
    const total = IPV4_HEADER_LENGTH + payloadLen;
    const id = this.nextId();
    setIpv4TotalLength(buf, ip, total);
    setIpv4Id(buf, ip, id);
    setIpv4Checksum(buf, ip, ipv4ChecksumFrom(this.#linkBase, total, id));
  }

  /**
   * Writes the IP header of a packet sent through IP_HDRINCL at `buf[at]`: `len` bytes of the IP
   * payload from `offset` on, `more` fragments after it, IP id `id`; with a fragment header over IPv6
   * when `fragmented`. Returns the header's length.
   */
  writeIp(
    buf: Uint8Array,
    at: number,
    len: number,
    offset: number,
    more: boolean,
    id: number,
    fragmented: boolean,
  ): number {
    if (this.family === 4) {
      buf.set(this.#ip, at);
      setIpv4TotalLength(buf, at, IPV4_HEADER_LENGTH + len);
      setIpv4Id(buf, at, id);
      setIpv4Fragment(buf, at, offset, more);
      return IPV4_HEADER_LENGTH;
    }
    if (!fragmented) {
      buf.set(this.#ip, at);
      setIpv6PayloadLength(buf, at, len);
      return IPV6_HEADER_LENGTH;
    }
    buf.set(this.#frag, at);
    setIpv6PayloadLength(buf, at, FRAG_HEADER_LENGTH + len);
    setIpv6FragmentOffset(buf, at + IPV6_HEADER_LENGTH, offset, more);
    setIpv6FragmentId(buf, at + IPV6_HEADER_LENGTH, id);
    return IPV6_HEADER_LENGTH + FRAG_HEADER_LENGTH;
  }
}

/** The codec's emitters check ranges; a refusal here is a bad key, VNI or port (configuration time). */
function must(r: number | CodecError): void {
  if (isError(r)) throw new RangeError(r.reason);
}
