/**
 * Decapsulation of one received tunnel packet into an Ethernet frame: pure (no FFI), allocation-free,
 * never throws. Each packet of a receive batch goes through {@link Decapsulator.decap} on its own, so a
 * malformed one costs only itself.
 *
 * What a ring receives:
 * - GRETAP (GRE protocol 0x6558): the inner Ethernet frame, unchanged.
 * - GRE with any other protocol type (`-E gre`): the payload behind a rebuilt Ethernet header,
 *   destination {@link GRE_RX_DST_MAC} 02:00:00:00:00:02, source {@link GRE_RX_SRC_MAC}
 *   02:00:00:00:00:01, EtherType = the GRE protocol type. 0x6558 payloads pass unchanged there too.
 * - ERSPAN type I (GRE 0x88be without S), II (0x88be with S) and III (0x22eb, platform subheader or
 *   not): the mirrored frame. A type III frame of type IP (FT 2) gets the rebuilt header with EtherType
 *   0x0800 or 0x86dd.
 * - VXLAN (I flag set): the inner Ethernet frame.
 *
 * Keys: with `-K`, GRE packets must carry that key, VXLAN that VNI, ERSPAN that session id (type I has
 * none, so it does not match). Without `-K`, keyed GRE packets are refused (RFC 2890: a keyed packet
 * belongs to another tunnel); any VNI and any session are taken.
 *
 * @module
 */
import {
  emitEthernet,
  ETH_HEADER_LENGTH,
  ETHERTYPE_ERSPAN,
  ETHERTYPE_ERSPAN_III,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_TEB,
  IP_PROTO_GRE,
  ipVersion,
  isError,
  newErspanInfo,
  newGreInfo,
  newIpv4Info,
  parseErspan,
  parseGre,
  parseIpv4,
  parseVxlan,
  setEtherType,
  type VxlanInfo,
} from "../../codec/mod.ts";
import { DropReason } from "../../ring/reasons.ts";

/** Tunnel protocols of `-E`: all four are received, ERSPAN is not sent. */
export type TunnelKind = "gre" | "gretap" | "vxlan" | "erspan";

/** Destination MAC of the Ethernet header rebuilt in front of plain GRE payloads. */
export const GRE_RX_DST_MAC = [0x02, 0, 0, 0, 0, 0x02] as const;
/** Source MAC of the Ethernet header rebuilt in front of plain GRE payloads. */
export const GRE_RX_SRC_MAC = [0x02, 0, 0, 0, 0, 0x01] as const;
/** Bytes a receive buffer must leave in front of the packet for a rebuilt Ethernet header. */
export const DECAP_HEADROOM = 16;

/**
 * Turns received packets into Ethernet frames.
 *
 * @example
 * ```ts
 * import { Decapsulator } from "./decap.ts";
 * const d = new Decapsulator("gretap", 500);
 * const pkt = new Uint8Array(16 + 8 + 60); // headroom, GRE with key 500, frame
 * pkt.set([0x20, 0, 0x65, 0x58, 0, 0, 1, 0xf4], 16);
 * const len = d.decap(pkt, 16, 8 + 60, false); // 60, frame at d.frameOff === 24
 * ```
 */
export class Decapsulator {
  readonly kind: TunnelKind;
  readonly key: number | undefined;
  /** Offset of the frame after a successful `decap`. */
  frameOff = 0;
  #ip = newIpv4Info();
  #gre = newGreInfo();
  #erspan = newErspanInfo();
  #vx: VxlanInfo = { flags: 0, vni: 0, payloadOffset: 0, payloadLength: 0 };
  /** The rebuilt Ethernet header; its EtherType is set per packet. */
  #eth = new Uint8Array(ETH_HEADER_LENGTH);

  constructor(kind: TunnelKind, key?: number) {
    this.kind = kind;
    this.key = key;
    emitEthernet(this.#eth, 0, {
      dst: Uint8Array.from(GRE_RX_DST_MAC),
      src: Uint8Array.from(GRE_RX_SRC_MAC),
      etherType: 0,
    });
  }

  /**
   * Decapsulates `buf[off, off+len)`: a VXLAN UDP payload, a GRE packet (`ipHeader` false: IPv6 raw
   * sockets), or an IPv4 packet carrying GRE (`ipHeader` true: IPv4 raw sockets). Returns the frame
   * length (frame at `frameOff`), or `-1 - reason` (a DropReason index). May write a rebuilt Ethernet
   * header in the 14 bytes before the payload, which is always inside `buf` when `off >= 16`.
   */
  decap(buf: Uint8Array, off: number, len: number, ipHeader: boolean): number {
    if (off < 0 || len < 0 || off + len > buf.length) return -1 - DropReason.malformed;
    if (this.kind === "vxlan") {
      const v = parseVxlan(buf, off, len, this.#vx);
      if (isError(v)) return -1 - DropReason.malformed;
      if (this.key !== undefined && v.vni !== this.key) return -1 - DropReason.key_mismatch;
      return this.#frame(v.payloadOffset, v.payloadLength);
    }
    let p = off;
    let n = len;
    if (ipHeader) {
      const ip = parseIpv4(buf, p, n, this.#ip);
      if (isError(ip)) return -1 - DropReason.malformed;
      if (ip.protocol !== IP_PROTO_GRE) return -1 - DropReason.other;
      if (ip.moreFragments || ip.fragmentOffset !== 0) return -1 - DropReason.reassembly; // a fragment
      p = ip.payloadOffset;
      n = ip.payloadLength;
    }
    const g = parseGre(buf, p, n, this.#gre);
    if (isError(g)) return -1 - DropReason.malformed;
    if (!g.checksumValid) return -1 - DropReason.malformed;
    const proto = g.protocol;
    if (this.kind === "erspan") {
      if (proto !== ETHERTYPE_ERSPAN && proto !== ETHERTYPE_ERSPAN_III) return -1 - DropReason.other;
      const e = parseErspan(proto, g.sequencePresent, buf, g.payloadOffset, g.payloadLength, this.#erspan);
      if (isError(e)) return -1 - DropReason.malformed;
      if (this.key !== undefined && e.sessionId !== this.key) return -1 - DropReason.key_mismatch;
      if (e.type === 3 && e.frameType === 2) {
        if (e.frameLength < 1) return -1 - DropReason.malformed;
        const v6 = ipVersion(buf, e.frameOffset) === 6;
        return this.#rebuild(buf, e.frameOffset, e.frameLength, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
      }
      if (e.type === 3 && e.frameType !== 0) return -1 - DropReason.other;
      return this.#frame(e.frameOffset, e.frameLength);
    }
    if (this.key === undefined ? g.keyPresent : !g.keyPresent || g.key !== this.key) {
      return -1 - DropReason.key_mismatch;
    }
    if (proto === ETHERTYPE_TEB) return this.#frame(g.payloadOffset, g.payloadLength);
    if (this.kind === "gretap") return -1 - DropReason.other;
    return this.#rebuild(buf, g.payloadOffset, g.payloadLength, proto);
  }

  #frame(at: number, len: number): number {
    if (len < ETH_HEADER_LENGTH) return -1 - DropReason.malformed;
    this.frameOff = at;
    return len;
  }

  #rebuild(buf: Uint8Array, at: number, len: number, etherType: number): number {
    const h = at - ETH_HEADER_LENGTH;
    if (h < 0 || len < 1) return -1 - DropReason.malformed;
    buf.set(this.#eth, h);
    setEtherType(buf, h, etherType);
    this.frameOff = h;
    return len + ETH_HEADER_LENGTH;
  }
}
