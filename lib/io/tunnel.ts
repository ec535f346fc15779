/**
 * What the tunnel modes share: the `-E` and `-K` syntax, host name resolution with getaddrinfo, and the
 * route towards a peer (source address and path MTU, asked of the kernel through a connected UDP
 * socket).
 *
 * `-E` forms:
 * - transmit: `gretap:HOST`, `gre:HOST`, `vxlan:HOST` (HOST a name, an IPv4 or an IPv6 address, which
 *   may be written in brackets: `vxlan:[2001:db8::2]:4790` also sets the UDP port).
 * - receive: `gretap[:LOCALIP]`, `gre[:LOCALIP]`, `erspan[:LOCALIP]`, `vxlan[:LOCALIP[:PORT]]`
 *   (an IPv6 LOCALIP with a port is written in brackets).
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
  freeaddrinfo,
  getaddrinfo,
  getsockname,
  getsockopt,
  if_nametoindex,
  sendto,
  socket,
} from "../../ffi/mod.ts";
import { SysError } from "../../ffi/mod.ts";
import { FluxError } from "../errors.ts";

/** Tunnel protocols of `-E`. */
export type TunnelKind = "gre" | "gretap" | "vxlan" | "erspan";

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  family: 4 | 6;
  bytes: number[];
}

/** A parsed `-E` value. */
export interface EncapSpec {
  kind: TunnelKind;
  /** Peer (transmit) or local address (receive) as typed, or undefined. */
  host?: string;
  /** UDP port given in the spec (VXLAN only). */
  port?: number;
}

/** Default VXLAN UDP port (RFC 7348). */
export const VXLAN_PORT = 4789;

const KINDS: readonly TunnelKind[] = ["gre", "gretap", "vxlan", "erspan"];

/**
 * Parses `-E` for `side`. Throws a {@link FluxError} naming the value.
 *
 * @example
 * ```ts
 * import { parseEncapSpec } from "./tunnel.ts";
 * parseEncapSpec("vxlan:[2001:db8::2]:4790", "rx"); // { kind: "vxlan", host: "2001:db8::2", port: 4790 }
 * ```
 */
export function parseEncapSpec(text: string, side: "rx" | "tx"): EncapSpec {
  const colon = text.indexOf(":");
  const kind = (colon < 0 ? text : text.slice(0, colon)).toLowerCase() as TunnelKind;
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  if (!KINDS.includes(kind)) {
    throw new FluxError(`Invalid tunnel "-E ${text}": the protocol must be gretap, gre, vxlan or erspan`);
  }
  if (side === "tx" && kind === "erspan") {
    throw new FluxError(`Invalid tunnel "-E ${text}": ERSPAN is received only (-rx -E erspan)`);
  }
  let host: string | undefined;
  let port: string | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) throw new FluxError(`Invalid tunnel "-E ${text}": missing "]" after the IPv6 address`);
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) {
        throw new FluxError(`Invalid tunnel "-E ${text}": expected ":port" after "]"`);
      }
      port = after.slice(1);
    }
  } else if (rest.split(":").length > 2) {
    host = rest; // a bare IPv6 address
  } else if (rest !== "") {
    const c = rest.indexOf(":");
    host = c < 0 ? rest : rest.slice(0, c);
    if (c >= 0) port = rest.slice(c + 1);
  }
  if (host === "") host = undefined;
  if (side === "tx" && host === undefined) {
    throw new FluxError(
      `Invalid tunnel "-E ${text}": transmit needs a destination, as in -E ${kind}:192.0.2.1`,
    );
  }
  const spec: EncapSpec = { kind, host };
  if (port !== undefined) {
    if (kind !== "vxlan") throw new FluxError(`Invalid tunnel "-E ${text}": only VXLAN takes a port`);
    spec.port = parsePort(port, `tunnel "-E ${text}"`);
  }
  return spec;
}

/** Parses a UDP port 1..65535. */
export function parsePort(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new FluxError(`Invalid ${what}: port "${text}" must be 1..65535`);
  }
  return Number(text);
}

/**
 * Parses `-K`: a whole number or a dotted quad (`10.0.0.1` = 0x0a000001), checked against the tunnel's
 * range: GRE key 32 bits, VXLAN VNI 24 bits, ERSPAN session id 10 bits.
 *
 * @example
 * ```ts
 * import { parseKey } from "./tunnel.ts";
 * parseKey("10.0.0.1", "gretap"); // 167772161
 * ```
 */
export function parseKey(text: string, kind: TunnelKind): number {
  const t = text.trim();
  let v: number;
  const quad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (quad) {
    const parts = quad.slice(1).map(Number);
    if (parts.some((p) => p > 255)) throw new FluxError(`Invalid key "-K ${text}": each part must be 0..255`);
    v = ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
  } else if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) {
    v = Number(t);
  } else {
    throw new FluxError(`Invalid key "-K ${text}": a whole number or a dotted quad such as 10.0.0.1`);
  }
  const [max, what] = kind === "vxlan"
    ? [0xffffff, "VXLAN VNI"]
    : kind === "erspan"
    ? [1023, "ERSPAN session id"]
    : [0xffffffff, "GRE key"];
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new FluxError(`Invalid ${what} "-K ${text}": must be 0..${max}`);
  }
  return v;
}

/** Numeric IPv4 or IPv6 address text, or null when `text` is not one. */
export function parseIpLiteral(text: string): IpAddress | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? { family: 4, bytes: b } : null;
  }
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const q = parseIpLiteral(p);
        if (!q || q.family !== 4) return null;
        out.push((q.bytes[0] << 8) | q.bytes[1], (q.bytes[2] << 8) | q.bytes[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const a = groups(halves[0]);
  const b = halves.length === 2 ? groups(halves[1]) : [];
  if (!a || !b) return null;
  const fill = 8 - a.length - b.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...a, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...b];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return { family: 6, bytes };
}

/** Text form of an address (IPv6 not compressed beyond the longest zero run). */
export function formatIp(a: IpAddress): string {
  if (a.family === 4) return a.bytes.join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((a.bytes[i] << 8) | a.bytes[i + 1]);
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * Resolves `host` (a name from /etc/hosts or DNS, or an address) with getaddrinfo; the first address
 * the C library prefers. Throws `Cannot resolve host "x": …`.
 */
export function resolveHost(host: string): IpAddress {
  const lit = parseIpLiteral(host);
  if (lit) return lit;
  const hints = new Uint8Array(C.ADDRINFO_SIZE);
  const hv = new DataView(hints.buffer);
  hv.setInt32(C.AI_FAMILY, 0, true); // AF_UNSPEC
  hv.setInt32(C.AI_SOCKTYPE, C.SOCK_DGRAM, true);
  const res = new BigUint64Array(1);
  const rc = getaddrinfo(cstr(host), null, hints, new Uint8Array(res.buffer));
  if (rc !== 0 || res[0] === 0n) {
    throw new FluxError(
      `Cannot resolve host "${host}": ${rc === 0 ? "no address" : gaiText(rc)}`,
    );
  }
  const head = Deno.UnsafePointer.create(res[0]);
  try {
    let p = head;
    for (let guard = 0; p !== null && guard < 64; guard++) {
      const v = new Deno.UnsafePointerView(p);
      const fam = v.getInt32(C.AI_FAMILY);
      const sa = v.getPointer(C.AI_ADDR);
      if (sa !== null) {
        const s = new Deno.UnsafePointerView(sa);
        if (fam === C.AF_INET) {
          return {
            family: 4,
            bytes: Array.from({ length: 4 }, (_, i) => s.getUint8(4 + i)),
          };
        }
        if (fam === C.AF_INET6) {
          return { family: 6, bytes: Array.from({ length: 16 }, (_, i) => s.getUint8(8 + i)) };
        }
      }
      p = v.getPointer(C.AI_NEXT);
    }
  } finally {
    freeaddrinfo(head);
  }
  throw new FluxError(`Cannot resolve host "${host}": no IPv4 or IPv6 address`);
}

/** What a getaddrinfo error code means (glibc values). */
function gaiText(rc: number): string {
  switch (rc) {
    case C.EAI_NONAME:
      return "unknown name";
    case -3:
      return "no name server answered (temporary failure)"; // EAI_AGAIN
    case -4:
      return "name server failure"; // EAI_FAIL
    case -5:
    case -9:
      return "the name has no address"; // EAI_NODATA, EAI_ADDRFAMILY
    case -10:
      return "out of memory"; // EAI_MEMORY
    default:
      return `getaddrinfo error ${rc}`;
  }
}

/** A `sockaddr_in` / `sockaddr_in6` for `a` and `port`. */
export function sockaddr(a: IpAddress, port = 0): Uint8Array {
  const b = new Uint8Array(a.family === 4 ? C.SOCKADDR_IN_SIZE : C.SOCKADDR_IN6_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, a.family === 4 ? C.AF_INET : C.AF_INET6, true);
  v.setUint16(2, port, false);
  b.set(a.bytes, a.family === 4 ? 4 : 8);
  return b;
}

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
    const sa = sockaddr(dst, 9);
    if (connect(fd, sa, sa.length) < 0) throw new SysError("find", "a route to", name, errno());
    const out = new Uint8Array(C.SOCKADDR_IN6_SIZE);
    const len = new Uint32Array([out.length]);
    check(getsockname(fd, out, new Uint8Array(len.buffer)), "read", "the source address towards", name);
    const src: IpAddress = dst.family === 4
      ? { family: 4, bytes: Array.from(out.subarray(4, 8)) }
      : { family: 6, bytes: Array.from(out.subarray(8, 24)) };
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

/** The complete neighbour entry of `ip` on `ifname` in /proc/net/arp, or null. */
export function arpLookup(ip: IpAddress, ifname: string): number[] | null {
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
    if (f.length < 6 || f[0] !== want || f[5] !== ifname) continue;
    if (Number(f[1]) !== 1 || (Number(f[2]) & 0x2) === 0) continue; // Ethernet, complete (ATF_COM)
    return parseMac(f[3]);
  }
  return null;
}

/**
 * The Ethernet next hop towards an IPv4 peer, as the kernel routes it (`ip route get`, `ip link`,
 * `/proc/net/arp`). When the neighbour is not known yet, one UDP datagram to the peer's discard port
 * (9) makes the kernel resolve it; the entry is awaited for up to `waitMs`. Null when the peer is IPv6,
 * the route is not a plain unicast route over an Ethernet device, or the next hop does not answer.
 */
export function linkHopTo(dst: IpAddress, waitMs = 1000): LinkHop | null {
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
  const link = ipCommand(["-o", "link", "show", "dev", ifname]);
  const lm = link === null ? null : / link\/ether ([0-9a-f:]{17}) /i.exec(link);
  const srcMac = lm ? parseMac(lm[1]) : null;
  const ifindex = if_nametoindex(cstr(ifname));
  if (srcMac === null || ifindex === 0) return null;
  let dstMac = arpLookup(nextHop, ifname);
  if (dstMac === null) {
    // make the kernel resolve the next hop: one datagram to the discard port
    const fd = socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      const sa = sockaddr(dst, 9);
      sendto(fd, new Uint8Array(1), 1, 0, sa, sa.length);
      close(fd);
    }
    const steps = Math.max(1, Math.ceil(waitMs / 20));
    for (let i = 0; i < steps && dstMac === null; i++) {
      Atomics.wait(sleepCell, 0, 0, 20);
      dstMac = arpLookup(nextHop, ifname);
    }
  }
  if (dstMac === null) return null;
  return { ifname, ifindex, nextHop, srcMac, dstMac };
}
