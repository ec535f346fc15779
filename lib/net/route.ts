/**
 * Routes towards a peer, asked of the kernel: the source address and path MTU (a connected UDP
 * socket, nothing sent), and the Ethernet next hop (`ip route get`, `ip link`, `/proc/net/arp`).
 *
 * @module
 */
import {
  C,
  check,
  close,
  connect,
  cstr,
  errno,
  getsockname,
  getsockopt,
  if_nametoindex,
  sendto,
  sockaddrIp,
  sockaddrIpBytes,
  socket,
  SysError,
} from "../../ffi/mod.ts";
import { formatIp, type IpAddress, parseIpLiteral } from "../codec/mod.ts";

/** The local end of the route to a peer. */
export interface Route {
  /** Source address the kernel picks for the peer. */
  src: IpAddress;
  /** Path MTU towards the peer (the egress interface's MTU, or a learned PMTU). */
  mtu: number;
}

/**
 * Asks the kernel for the route to `dst`: a UDP socket is connected (nothing is sent) and queried
 * with getsockname and IP_MTU / IPV6_MTU.
 */
export function routeTo(dst: IpAddress): Route {
  const af = dst.family === 4 ? C.AF_INET : C.AF_INET6;
  const name = formatIp(dst);
  const fd = check(socket(af, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0), "open", "socket towards", name);
  try {
    const sa = sockaddrIp(dst.bytes, 9);
    if (connect(fd, sa, sa.length) < 0) throw new SysError("find", "a route to", name, errno());
    const out = new Uint8Array(C.SOCKADDR_IN6_SIZE);
    const len = new Uint32Array([out.length]);
    check(getsockname(fd, out, new Uint8Array(len.buffer)), "read", "the source address towards", name);
    const src: IpAddress = { family: dst.family, bytes: sockaddrIpBytes(out) };
    const mtuBuf = new Int32Array(1);
    const ml = new Uint32Array([4]);
    const level = dst.family === 4 ? C.IPPROTO_IP : C.IPPROTO_IPV6;
    const opt = dst.family === 4 ? C.IP_MTU : C.IPV6_MTU;
    check(
      getsockopt(fd, level, opt, new Uint8Array(mtuBuf.buffer), new Uint8Array(ml.buffer)),
      "read",
      "the path MTU towards",
      name,
    );
    return { src, mtu: mtuBuf[0] };
  } finally {
    close(fd);
  }
}

/** Where an IPv4 packet to a peer leaves on an Ethernet link: the device and its next hop. */
export interface LinkHop {
  /** Egress device. */
  ifname: string;
  ifindex: number;
  /** The route's gateway, or the peer itself when it is on-link. */
  nextHop: IpAddress;
  /** MAC of the egress device. */
  srcMac: number[];
  /** MAC of the next hop. */
  dstMac: number[];
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Output of `ip ARGS`, or null when it cannot run or fails. */
function ipCommand(args: string[]): string | null {
  try {
    const out = new Deno.Command("ip", { args, stdout: "piped", stderr: "null", stdin: "null" }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

function parseMac(text: string): number[] | null {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return null;
  const m = text.split(":").map((x) => parseInt(x, 16));
  return m.every((x) => x === 0) ? null : m;
}

/** The entry of `ip` on `ifname` in /proc/net/arp: its flags and MAC (null while unresolved), or null. */
function arpEntry(ip: IpAddress, ifname: string): { complete: boolean; mac: number[] | null } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/net/arp");
  } catch {
    return null;
  }
  const want = formatIp(ip);
  for (const line of text.split("\n").slice(1)) {
    // IP address, HW type, Flags, HW address, Mask, Device
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0] !== want || f[5] !== ifname || Number(f[1]) !== 1) continue; // Ethernet
    const complete = (Number(f[2]) & 0x2) !== 0; // ATF_COM
    return { complete, mac: complete ? parseMac(f[3]) : null };
  }
  return null;
}

/** The complete neighbour entry of `ip` on `ifname` in /proc/net/arp, or null. */
export function arpLookup(ip: IpAddress, ifname: string): number[] | null {
  return arpEntry(ip, ifname)?.mac ?? null;
}

/**
 * How the kernel's neighbour table knows IPv4 `ip` on `ifname`: `complete` (resolved, also while it
 * is being confirmed), `unresolved` (an entry it is resolving, or gave up on: nothing answered ARP),
 * or `none` (no entry).
 */
export function neighbourState(ip: IpAddress, ifname: string): "complete" | "unresolved" | "none" {
  const e = arpEntry(ip, ifname);
  return e === null ? "none" : e.complete ? "complete" : "unresolved";
}

/** Makes the kernel resolve the next hop towards `dst` (IPv4): one datagram to its discard port (9). */
export function provokeResolution(dst: IpAddress): void {
  const fd = socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const sa = sockaddrIp(dst.bytes, 9);
  sendto(fd, new Uint8Array(1), 1, 0, sa, sa.length);
  close(fd);
}

/** The device and next hop (gateway, or the peer when on-link) of the route to an IPv4 peer. */
export interface NextHop {
  ifname: string;
  nextHop: IpAddress;
}

/**
 * Where the kernel routes IPv4 `dst` (`ip route get`): device and next hop. Null when the peer is
 * IPv6, or the route is not a plain unicast route over a device other than `lo`.
 */
export function nextHopTo(dst: IpAddress): NextHop | null {
  if (dst.family !== 4) return null;
  const peer = formatIp(dst);
  const route = ipCommand(["-4", "-o", "route", "get", peer]);
  if (route === null) return null;
  const t = route.trim().split(/\s+/);
  if (t[0] !== peer) return null; // local, broadcast, multicast, unreachable…
  const at = (k: string) => {
    const i = t.indexOf(k);
    return i > 0 && i + 1 < t.length ? t[i + 1] : undefined;
  };
  const ifname = at("dev");
  const via = at("via");
  if (ifname === undefined || ifname === "lo") return null;
  const nextHop = via === undefined ? dst : parseIpLiteral(via);
  if (nextHop === null || nextHop.family !== 4) return null;
  return { ifname, nextHop };
}

/**
 * The Ethernet next hop towards an IPv4 peer, as the kernel routes it (`ip route get`, `ip link`,
 * `/proc/net/arp`). When the neighbour is not known yet, one UDP datagram to the peer's discard port
 * (9) makes the kernel resolve it; the entry is awaited for up to `waitMs`. Null when the peer is IPv6,
 * the route is not a plain unicast route over an Ethernet device, or the next hop does not answer.
 */
export function linkHopTo(dst: IpAddress, waitMs = 1000): LinkHop | null {
  const hop = nextHopTo(dst);
  if (hop === null) return null;
  const { ifname, nextHop } = hop;
  const link = ipCommand(["-o", "link", "show", "dev", ifname]);
  const lm = link === null ? null : / link\/ether ([0-9a-f:]{17}) /i.exec(link);
  const srcMac = lm ? parseMac(lm[1]) : null;
  const ifindex = if_nametoindex(cstr(ifname));
  if (srcMac === null || ifindex === 0) return null;
  let dstMac = arpLookup(nextHop, ifname);
  if (dstMac === null) {
    provokeResolution(dst);
    const steps = Math.max(1, Math.ceil(waitMs / 20));
    for (let i = 0; i < steps && dstMac === null; i++) {
      Atomics.wait(sleepCell, 0, 0, 20);
      dstMac = arpLookup(nextHop, ifname);
    }
  }
  if (dstMac === null) return null;
  return { ifname, ifindex, nextHop, srcMac, dstMac };
}
