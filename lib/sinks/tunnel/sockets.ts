/**
 * The sockets a tunnel sender sends through; {@link openTunnelSockets} opens the fastest set that
 * works. Chosen per packet:
 * - VXLAN: a pool of {@link UDP_BUCKETS} UDP sockets, each bound to one source port in 49152..65535
 *   and connected to the peer. A flow's hash picks its socket, hence its source port. A connected
 *   socket keeps its route; the kernel builds the IP and UDP headers.
 * - GRE and GRETAP over IPv4 when the route to the peer leaves on an Ethernet device and the next hop's
 *   MAC is known (`linkHopTo`): a packet socket bound to that device, the Ethernet, IPv4 and GRE headers
 *   built by the sender in one iovec (~1.5× the raw socket below at 64 bytes: no per-packet route and
 *   neighbour lookup, no IP header built by the kernel). Packets skip netfilter. While the neighbour
 *   entry is gone, packets go through the raw socket below (socket index {@link RAW}).
 * - GRE and GRETAP otherwise (and VXLAN when the pool cannot be opened): a raw socket of protocol 47
 *   (17) bound to the route's source address; the kernel builds the IP header from the route it caches
 *   per next hop.
 * - Fragments: a raw `IPPROTO_RAW` socket (IP_HDRINCL) with every header built by the sender, so
 *   fragmentation is ours to control. (Every packet could go that way, but the kernel then allocates
 *   and frees a route per packet: ~25% of the sending CPU at 64 bytes.)
 *
 * @module
 */
import {
  bind,
  C,
  check,
  close,
  connect,
  DROP_ALL_FILTER,
  E,
  errno,
  int32,
  setsockopt,
  sockaddrIp,
  sockaddrLl,
  socket,
  SysError,
} from "../../../ffi/mod.ts";
import { formatIp, type IpAddress, VXLAN_SOURCE_PORT_MIN } from "../../codec/mod.ts";
import { type LinkHop, linkHopTo } from "../../net/mod.ts";

/** How a tunnel sender sends unfragmented packets. */
export type TunnelPath = "udp" | "packet" | "raw" | "hdrincl";

/** Socket index of the raw protocol socket on the packet path (0 is the packet socket). */
export const RAW = 1;

/** UDP sockets (source ports) of a VXLAN sender; a power of two. */
export const UDP_BUCKETS = 32;

/** Sets a send buffer of `bytes` (beyond the system limit where allowed). */
export function setSndBuf(fd: number, bytes: number): void {
  if (setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUFFORCE, int32(bytes), 4) < 0) {
    setsockopt(fd, C.SOL_SOCKET, C.SO_SNDBUF, int32(bytes), 4);
  }
}

/** Errors a connected UDP socket reports for an ICMP message received earlier. */
export function isIcmpErrno(e: number): boolean {
  return e === E.ECONNREFUSED || e === E.EHOSTUNREACH || e === E.ENETUNREACH || e === E.EHOSTDOWN;
}

/**
 * Common settings of the fast-path sockets: TTL / hop limit 64, DF clear (IPv4), nothing ever queued
 * for reading (a one-instruction classic BPF program, "return 0"). False when one is refused.
 */
function setupSender(fd: number, family: 4 | 6): boolean {
  if (family === 4) {
    if (setsockopt(fd, C.IPPROTO_IP, C.IP_TTL, int32(64), 4) < 0) return false;
    if (setsockopt(fd, C.IPPROTO_IP, C.IP_MTU_DISCOVER, int32(C.IP_PMTUDISC_DONT), 4) < 0) return false;
  } else if (setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_UNICAST_HOPS, int32(64), 4) < 0) return false;
  if (setsockopt(fd, C.SOL_SOCKET, C.SO_ATTACH_FILTER, DROP_ALL_FILTER, DROP_ALL_FILTER.length) < 0) {
    return false;
  }
  setSndBuf(fd, 8 << 20);
  return true;
}

/**
 * A raw socket of protocol `proto` (17 or 47) for unfragmented packets, bound to `src` (the IPv6 UDP
 * checksum built here covers that address): the kernel builds the IP header (its own IP id) from the
 * route it caches per next hop. Not connected: ICMP errors do not turn into send errors. -1 when it
 * cannot be set up (the IP_HDRINCL socket then sends everything).
 */
export function protoSocket(family: 4 | 6, proto: number, src: IpAddress): number {
  const fd = socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, proto);
  if (fd < 0) return -1;
  const sa = sockaddrIp(src.bytes, 0);
  if (!setupSender(fd, family) || bind(fd, sa, sa.length) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/** Binds packet socket `fd` to device `ifindex` (protocol 0: it receives nothing). */
export function bindLink(fd: number, ifindex: number): boolean {
  const sll = sockaddrLl(ifindex);
  return bind(fd, sll, sll.length) === 0;
}

/**
 * A packet socket (SOCK_RAW, protocol 0: transmit only) bound to device `ifindex`, for whole frames
 * whose Ethernet and IPv4 headers are built here. -1 when it cannot be set up (the raw protocol socket
 * then sends everything).
 */
export function linkSocket(ifindex: number): number {
  const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (!bindLink(fd, ifindex)) {
    close(fd);
    return -1;
  }
  setSndBuf(fd, 8 << 20);
  return fd;
}

/**
 * {@link UDP_BUCKETS} UDP sockets connected to `dst`:`port`, socket b bound to `src` and a free source
 * port 49152 + b + 32·t (t from a random start), IPv4 checksum off (RFC 7348 allows 0), IPv6 checksum
 * by the kernel. Null when they cannot all be set up (the raw path is used instead).
 */
export function udpPool(
  family: 4 | 6,
  src: IpAddress,
  dst: IpAddress,
  port: number,
): { fds: number[]; ports: Uint16Array } | null {
  const fds: number[] = [];
  const ports = new Uint16Array(UDP_BUCKETS);
  const span = 16384 / UDP_BUCKETS;
  const start = crypto.getRandomValues(new Uint16Array(1))[0] % span;
  const peer = sockaddrIp(dst.bytes, port);
  for (let b = 0; b < UDP_BUCKETS; b++) {
    const fd = socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_CLOEXEC, C.IPPROTO_UDP);
    if (fd < 0) break;
    fds.push(fd);
    if (!setupSender(fd, family)) break;
    if (family === 4 && setsockopt(fd, C.SOL_SOCKET, C.SO_NO_CHECK, int32(1), 4) < 0) break;
    for (let t = 0; t < 64; t++) {
      const p = VXLAN_SOURCE_PORT_MIN + b + UDP_BUCKETS * ((start + t) % span);
      const sa = sockaddrIp(src.bytes, p);
      if (bind(fd, sa, sa.length) === 0) {
        ports[b] = p;
        break;
      }
      if (errno() !== E.EADDRINUSE) break;
    }
    if (ports[b] === 0 || connect(fd, peer, peer.length) < 0) break;
  }
  if (fds.length === UDP_BUCKETS && ports.every((p) => p !== 0)) return { fds, ports };
  for (const fd of fds) close(fd);
  return null;
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

/** The sockets of a tunnel sender, as {@link openTunnelSockets} found them. */
export interface TunnelSockets {
  /** How unfragmented packets go out (fragments always go through `hdrFd`). */
  path: TunnelPath;
  /** Raw `IPPROTO_RAW` socket (IP_HDRINCL) for fragments, which carry headers built by the sender. */
  hdrFd: number;
  /**
   * Sockets of `path` "udp" (one per bucket), "packet" (the packet socket, then the raw protocol socket
   * used while the next hop is unknown: index {@link RAW}) or "raw" (one); empty for "hdrincl".
   */
  socks: number[];
  /** VXLAN source port of each UDP socket (`path` "udp"), else empty. */
  ports: Uint16Array;
  /** Egress device and next hop of `path` "packet", else null. */
  hop: LinkHop | null;
}

/** What {@link openTunnelSockets} needs. */
export interface TunnelSocketsConfig {
  tunnel: "gre" | "gretap" | "vxlan";
  family: 4 | 6;
  /** IP protocol of the tunnel (17 or 47). */
  proto: number;
  src: IpAddress;
  dst: IpAddress;
  /** VXLAN UDP destination port. */
  port: number;
}

/**
 * Opens the IP_HDRINCL socket (throws when it cannot) and the fastest path that opens: the UDP pool
 * (VXLAN), else a raw protocol socket, plus a packet socket when GRE over IPv4 leaves on an Ethernet
 * device whose next hop is known; IP_HDRINCL only otherwise.
 */
export function openTunnelSockets(cfg: TunnelSocketsConfig): TunnelSockets {
  const hdrFd = socket(cfg.family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_RAW);
  if (hdrFd < 0) throw new SysError("open", "raw IP socket towards", formatIp(cfg.dst), errno());
  setSndBuf(hdrFd, 8 << 20);
  const out: TunnelSockets = { path: "hdrincl", hdrFd, socks: [], ports: new Uint16Array(0), hop: null };
  if (cfg.tunnel === "vxlan") {
    const pool = udpPool(cfg.family, cfg.src, cfg.dst, cfg.port);
    if (pool) [out.path, out.socks, out.ports] = ["udp", pool.fds, pool.ports];
  }
  if (out.path === "hdrincl") {
    const fd = protoSocket(cfg.family, cfg.proto, cfg.src);
    if (fd >= 0) [out.path, out.socks] = ["raw", [fd]];
  }
  if (out.path === "raw" && cfg.tunnel !== "vxlan" && cfg.family === 4) {
    // GRE over an Ethernet link: whole frames on a packet socket, every header built by the sender
    const hop = linkHopTo(cfg.dst);
    const pfd = hop === null ? -1 : linkSocket(hop.ifindex);
    if (pfd >= 0) [out.path, out.socks, out.hop] = ["packet", [pfd, out.socks[0]], hop];
  }
  return out;
}
