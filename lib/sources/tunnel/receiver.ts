/**
 * Tunnel receive sockets: raw protocol-47 sockets for GRE, GRETAP and ERSPAN (IPv4 and IPv6), UDP
 * sockets for VXLAN, read in `recvmmsg` batches after a `poll` with a timeout.
 *
 * The kernel reassembles fragmented tunnel packets before it hands them to either kind of socket, so a
 * batch holds whole packets. An IPv4 raw socket returns the IP header with the packet; an IPv6 one
 * returns what follows the IPv6 header; a UDP socket returns the UDP payload.
 *
 * Without a local address, both families are opened (IPv6 only when the host has it). With `-i IF`,
 * every socket is bound to the device (SO_BINDTODEVICE).
 *
 * Each datagram comes with control messages in a buffer of its own (JS-owned, parsed bounds-checked):
 * - its kernel receive time (SO_TIMESTAMPNS), which becomes the ring record's time;
 * - once the socket has dropped something, the socket's cumulative drop count as of when the datagram
 *   was queued (SO_RXQ_OVFL).
 * Drops after the last queued datagram show in no control message, so {@link TunnelReceiver.kernelStats}
 * also asks each socket for its drop count (SO_MEMINFO). Both read the same kernel counter (`sk_drops`:
 * receive buffer full, bad UDP checksum, socket filter); the receiver keeps the highest value seen.
 *
 * @module
 */
import {
  addrOf,
  bind,
  C,
  check,
  close,
  cstr,
  E,
  errno,
  getsockopt,
  int32,
  poll,
  PollFds,
  recvmmsg,
  setsockopt,
  sockaddrIp,
  socket,
  SysError,
} from "../../../ffi/mod.ts";
import { formatIp, type IpAddress } from "../../codec/mod.ts";
import { DECAP_HEADROOM, type TunnelKind } from "./decap.ts";

/** Settings of a {@link TunnelReceiver}. */
export interface TunnelRxConfig {
  kind: TunnelKind;
  /** Local address to bind (default: any, both families). */
  local?: IpAddress;
  /** Device to bind every socket to (`-i`). */
  iface?: string;
  /** VXLAN UDP port (default 4789). */
  port?: number;
  /** Packets per `recvmmsg` (default 64). */
  batch?: number;
  /** Socket receive buffer in bytes (SO_RCVBUFFORCE, else SO_RCVBUF; default 32 MiB). */
  rcvbuf?: number;
}

/** Kernel counters of the tunnel sockets since the previous {@link TunnelReceiver.kernelStats}. */
export interface KernelRxStats {
  /** Datagrams the kernel dropped on the sockets' receive side. */
  drops: number;
  /** Datagrams the kernel handed to the sockets: received plus dropped. */
  packets: number;
}

/** One open socket. */
export interface RxSocket {
  fd: number;
  family: 4 | 6;
  /** True when packets start with their IPv4 header (IPv4 raw sockets). */
  ipHeader: boolean;
  what: string;
  /** The socket's cumulative drop count as last seen (u32, wraps). */
  drops: number;
  /** False once SO_MEMINFO failed on it. */
  meminfo: boolean;
}

const SLOT = 65536 + DECAP_HEADROOM + 16;
const MAX_PACKET = 65535 + 8;
/**
 * Control buffer bytes per datagram: a timestamp (16 + 16) and a drop count (16 + 4, padded to 24) take
 * 56; the rest is slack so that a control message we did not ask for cannot push ours out (MSG_CTRUNC).
 */
const CTRL_SLOT = 128;
const W_CTRLLEN = C.MSGHDR_CONTROLLEN >>> 2;

/** Batched receive of tunnel packets. */
export class TunnelReceiver {
  readonly sockets: RxSocket[] = [];
  readonly batch: number;
  /** Receive buffer: packet i of a batch starts at `offs[i]` and is `lens[i]` bytes long. */
  readonly buf: Uint8Array;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  /** True when packet i did not fit its buffer (MSG_TRUNC). */
  readonly truncated: Uint8Array;
  /**
   * Receive time of packet i (CLOCK_REALTIME): the kernel's (SO_TIMESTAMPNS), or the time `recv`
   * returned for a packet that came without one.
   */
  readonly secs: Uint32Array;
  readonly nsecs: Uint32Array;
  /** Packets received so far whose time is the kernel's / the fallback one (diagnostics). */
  kernelTimes = 0;
  fallbackTimes = 0;
  /** Control buffers: packet i's at `i * CTRL_SLOT`. */
  #ctrl: Uint8Array;
  #ctrlU32: Uint32Array;
  #newDrops = 0;
  #newPackets = 0;
  #mem = new Uint8Array(4 * C.SK_MEMINFO_VARS);
  #memU32 = new Uint32Array(this.#mem.buffer);
  #memLen = new Uint32Array(1);
  #memLenBytes = new Uint8Array(this.#memLen.buffer);
  #msgs: Uint8Array;
  #msgU32: Uint32Array;
  #iov: Uint8Array;
  #pfd: PollFds;
  #closed = false;

  constructor(cfg: TunnelRxConfig) {
    this.batch = cfg.batch ?? 64;
    try {
      const families: (4 | 6)[] = cfg.local ? [cfg.local.family] : [4, 6];
      for (const fam of families) {
        const s = cfg.kind === "vxlan" ? udpSocket(fam, cfg) : rawSocket(fam, cfg);
        if (s === null) continue; // IPv6 missing here, and no IPv6 address asked for
        this.sockets.push(s);
      }
    } catch (e) {
      for (const s of this.sockets) close(s.fd);
      throw e;
    }
    const n = this.batch;
    this.buf = new Uint8Array(n * SLOT);
    this.offs = new Uint32Array(n);
    this.lens = new Uint32Array(n);
    this.truncated = new Uint8Array(n);
    this.secs = new Uint32Array(n);
    this.nsecs = new Uint32Array(n);
    this.#ctrl = new Uint8Array(n * CTRL_SLOT);
    this.#ctrlU32 = new Uint32Array(this.#ctrl.buffer);
    const ctrlAddr = addrOf(this.#ctrl);
    this.#msgs = new Uint8Array(n * C.MMSGHDR_SIZE);
    this.#msgU32 = new Uint32Array(this.#msgs.buffer);
    this.#iov = new Uint8Array(n * C.IOVEC_SIZE);
    const iovU32 = new Uint32Array(this.#iov.buffer);
    const bufAddr = addrOf(this.buf);
    const iovAddr = addrOf(this.#iov);
    for (let i = 0; i < n; i++) {
      const at = i * SLOT + DECAP_HEADROOM;
      this.offs[i] = at;
      const a = bufAddr + at;
      iovU32[i * 4] = a >>> 0;
      iovU32[i * 4 + 1] = Math.floor(a / 4294967296);
      iovU32[i * 4 + 2] = MAX_PACKET;
      const v = iovAddr + i * C.IOVEC_SIZE;
      const w = (i * C.MMSGHDR_SIZE) >>> 2;
      this.#msgU32[w + (C.MSGHDR_IOV >>> 2)] = v >>> 0;
      this.#msgU32[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(v / 4294967296);
      this.#msgU32[w + (C.MSGHDR_IOVLEN >>> 2)] = 1;
      const c = ctrlAddr + i * CTRL_SLOT;
      this.#msgU32[w + (C.MSGHDR_CONTROL >>> 2)] = c >>> 0;
      this.#msgU32[w + (C.MSGHDR_CONTROL >>> 2) + 1] = Math.floor(c / 4294967296);
      this.#msgU32[w + W_CTRLLEN] = CTRL_SLOT;
    }
    this.#pfd = new PollFds(this.sockets.map((s) => s.fd), C.POLLIN);
  }

  /** Waits up to `ms` for packets; returns the number of sockets with something to read. */
  wait(ms: number): number {
    const rc = poll(this.#pfd.bytes, this.sockets.length, ms);
    return rc < 0 ? 0 : rc;
  }

  /** True when socket `i` had something to read at the last `wait`. */
  readable(i: number): boolean {
    return (this.#pfd.revents(i) & (C.POLLIN | C.POLLERR)) !== 0;
  }

  /**
   * Reads up to `batch` packets from socket `i` without blocking; returns their number (0 when none).
   * Throws only on a socket failure other than "nothing to read".
   */
  recv(i: number): number {
    const s = this.sockets[i];
    for (let tries = 0; tries < 4; tries++) {
      const n = recvmmsg(s.fd, this.#msgs, this.batch, C.MSG_DONTWAIT, null);
      if (n >= 0) {
        const u = this.#msgU32;
        const ms = Date.now();
        const fsec = Math.floor(ms / 1000);
        const fnsec = (ms % 1000) * 1_000_000;
        for (let k = 0; k < n; k++) {
          const w = (k * C.MMSGHDR_SIZE) >>> 2;
          this.lens[k] = u[w + (C.MMSGHDR_LEN >>> 2)];
          this.truncated[k] = (u[w + (C.MSGHDR_FLAGS >>> 2)] & C.MSG_TRUNC) !== 0 ? 1 : 0;
          u[w + (C.MSGHDR_FLAGS >>> 2)] = 0;
          // msg_controllen is value-result: the kernel left the bytes it used; give the slot back whole.
          let clen = u[w + W_CTRLLEN];
          if (u[w + W_CTRLLEN + 1] !== 0 || clen > CTRL_SLOT) clen = 0; // not ours to trust
          u[w + W_CTRLLEN] = CTRL_SLOT;
          u[w + W_CTRLLEN + 1] = 0;
          this.secs[k] = fsec;
          this.nsecs[k] = fnsec;
          if (clen === 0 || !this.#controls(s, k, clen)) this.fallbackTimes++;
          else this.kernelTimes++;
        }
        this.#newPackets += n;
        return n;
      }
      const e = errno();
      if (e === E.EAGAIN) return 0;
      if (e !== E.EINTR) throw new SysError("receive", "from tunnel socket", s.what, e);
    }
    return 0;
  }

  /**
   * Walks packet `k`'s control messages (`len` bytes of its slot): its time into `secs[k]`/`nsecs[k]`,
   * a drop count into the socket's. Every length is checked against the slot before a read. Returns
   * whether a timestamp was found.
   */
  #controls(s: RxSocket, k: number, len: number): boolean {
    const c = this.#ctrlU32;
    const base = (k * CTRL_SLOT) >>> 2;
    let time = false;
    let o = 0;
    while (o + C.CMSG_HDR_SIZE <= len) {
      const w = base + (o >>> 2);
      const cl = c[w];
      if (c[w + 1] !== 0 || cl < C.CMSG_HDR_SIZE || cl > len - o) break; // malformed: stop here
      if (c[w + (C.CMSG_LEVEL >>> 2)] === C.SOL_SOCKET) {
        const type = c[w + (C.CMSG_TYPE >>> 2)];
        const data = cl - C.CMSG_HDR_SIZE;
        const d = w + (C.CMSG_HDR_SIZE >>> 2);
        if (type === C.SCM_TIMESTAMPNS && data >= 16) {
          // struct timespec { i64 tv_sec; i64 tv_nsec }: a time after 1970 and before 2106
          if (c[d + 1] === 0 && c[d + 3] === 0 && c[d + 2] < 1_000_000_000) {
            this.secs[k] = c[d];
            this.nsecs[k] = c[d + 2];
            time = true;
          }
        } else if (type === C.SO_RXQ_OVFL && data >= 4) {
          this.#sawDrops(s, c[d]);
        }
      }
      o += (cl + 7) & ~7;
    }
    return time;
  }

  /** Takes `v`, a reading of the socket's cumulative (wrapping u32) drop count, if newer than the last. */
  #sawDrops(s: RxSocket, v: number): void {
    const d = (v - s.drops) >>> 0;
    if (d !== 0 && d < 0x80000000) {
      s.drops = v >>> 0;
      this.#newDrops += d;
    }
  }

  /**
   * Kernel drops and datagrams (received + dropped) since the previous call. Also asks every socket for
   * its drop count (SO_MEMINFO): drops after the last datagram read show in no control message.
   */
  kernelStats(): KernelRxStats {
    if (!this.#closed) {
      for (const s of this.sockets) {
        if (!s.meminfo) continue;
        this.#memLen[0] = this.#mem.length;
        const rc = getsockopt(s.fd, C.SOL_SOCKET, C.SO_MEMINFO, this.#mem, this.#memLenBytes);
        if (rc < 0 || this.#memLen[0] < 4 * (C.SK_MEMINFO_DROPS + 1)) s.meminfo = false;
        else this.#sawDrops(s, this.#memU32[C.SK_MEMINFO_DROPS]);
      }
    }
    const r = { drops: this.#newDrops, packets: this.#newPackets + this.#newDrops };
    this.#newDrops = 0;
    this.#newPackets = 0;
    return r;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.sockets) close(s.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function describe(fam: 4 | 6, cfg: TunnelRxConfig, proto: string): string {
  const addr = cfg.local ? formatIp(cfg.local) : fam === 4 ? "0.0.0.0" : "::";
  return `${proto} ${fam === 6 ? `[${addr}]` : addr}${proto === "UDP" ? `:${cfg.port ?? 4789}` : ""}` +
    (cfg.iface ? ` on ${cfg.iface}` : "");
}

function setup(fd: number, fam: 4 | 6, cfg: TunnelRxConfig, what: string, port: number): void {
  const big = int32(cfg.rcvbuf ?? 32 << 20);
  if (setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, big, 4) < 0) {
    setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUF, big, 4);
  }
  const one = int32(1);
  check(setsockopt(fd, C.SOL_SOCKET, C.SO_TIMESTAMPNS, one, 4), "enable", "receive timestamps on", what);
  check(setsockopt(fd, C.SOL_SOCKET, C.SO_RXQ_OVFL, one, 4), "enable", "drop counts on", what);
  if (cfg.iface) {
    const name = cstr(cfg.iface);
    check(
      setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, name, name.length),
      "bind",
      "tunnel socket to",
      cfg.iface,
    );
  }
  if (fam === 6) setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, one, 4);
  if (cfg.local || port !== 0) {
    const any: IpAddress = fam === 4
      ? { family: 4, bytes: [0, 0, 0, 0] }
      : { family: 6, bytes: new Array(16).fill(0) };
    const sa = sockaddrIp((cfg.local ?? any).bytes, port);
    check(bind(fd, sa, sa.length), "bind", "tunnel socket", what);
  }
}

function rawSocket(fam: 4 | 6, cfg: TunnelRxConfig): RxSocket | null {
  const what = describe(fam, cfg, "GRE");
  const fd = socket(fam === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_GRE);
  if (fd < 0) {
    const e = errno();
    if (fam === 6 && !cfg.local && e === E.EAFNOSUPPORT) return null;
    throw new SysError("open", "raw GRE socket", what, e);
  }
  try {
    setup(fd, fam, cfg, what, 0);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, family: fam, ipHeader: fam === 4, what, drops: 0, meminfo: true };
}

function udpSocket(fam: 4 | 6, cfg: TunnelRxConfig): RxSocket | null {
  const what = describe(fam, cfg, "UDP");
  const fd = socket(fam === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_CLOEXEC, C.IPPROTO_UDP);
  if (fd < 0) {
    const e = errno();
    if (fam === 6 && !cfg.local && e === E.EAFNOSUPPORT) return null;
    throw new SysError("open", "UDP socket", what, e);
  }
  try {
    setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, int32(1), 4);
    setup(fd, fam, cfg, what, cfg.port ?? 4789);
  } catch (e) {
    close(fd);
    if (fam === 6 && !cfg.local && e instanceof SysError && e.code === "EADDRNOTAVAIL") return null;
    throw e;
  }
  return { fd, family: fam, ipHeader: false, what, drops: 0, meminfo: true };
}
