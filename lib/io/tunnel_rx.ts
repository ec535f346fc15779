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
 * @module
 */
import {
  bind,
  C,
  check,
  close,
  cstr,
  errno,
  poll,
  recvmmsg,
  setsockopt,
  socket,
  SysError,
} from "../../ffi/mod.ts";
import { addrOf } from "./sender.ts";
import { DECAP_HEADROOM } from "./tunnel_decap.ts";
import { formatIp, type IpAddress, sockaddr, type TunnelKind } from "./tunnel.ts";

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
}

/** One open socket. */
export interface RxSocket {
  fd: number;
  family: 4 | 6;
  /** True when packets start with their IPv4 header (IPv4 raw sockets). */
  ipHeader: boolean;
  what: string;
}

const EAGAIN = 11;
const EINTR = 4;
const SLOT = 65536 + DECAP_HEADROOM + 16;
const MAX_PACKET = 65535 + 8;

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
  #msgs: Uint8Array;
  #msgU32: Uint32Array;
  #iov: Uint8Array;
  #pfd: Uint8Array;
  #pfdView: DataView;
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
    }
    this.#pfd = new Uint8Array(C.POLLFD_SIZE * this.sockets.length);
    this.#pfdView = new DataView(this.#pfd.buffer);
    this.sockets.forEach((s, i) => {
      this.#pfdView.setInt32(i * C.POLLFD_SIZE, s.fd, true);
      this.#pfdView.setInt16(i * C.POLLFD_SIZE + 4, C.POLLIN, true);
    });
  }

  /** Waits up to `ms` for packets; returns the number of sockets with something to read. */
  wait(ms: number): number {
    const rc = poll(this.#pfd, this.sockets.length, ms);
    return rc < 0 ? 0 : rc;
  }

  /** True when socket `i` had something to read at the last `wait`. */
  readable(i: number): boolean {
    return (this.#pfdView.getInt16(i * C.POLLFD_SIZE + 6, true) & (C.POLLIN | C.POLLERR)) !== 0;
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
        for (let k = 0; k < n; k++) {
          const w = (k * C.MMSGHDR_SIZE) >>> 2;
          this.lens[k] = u[w + (C.MMSGHDR_LEN >>> 2)];
          this.truncated[k] = (u[w + (C.MSGHDR_FLAGS >>> 2)] & C.MSG_TRUNC) !== 0 ? 1 : 0;
          u[w + (C.MSGHDR_FLAGS >>> 2)] = 0;
        }
        return n;
      }
      const e = errno();
      if (e === EAGAIN) return 0;
      if (e !== EINTR) throw new SysError("receive", "from tunnel socket", s.what, e);
    }
    return 0;
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
  const big = new Int32Array([32 << 20]);
  if (setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, new Uint8Array(big.buffer), 4) < 0) {
    setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUF, new Uint8Array(big.buffer), 4);
  }
  if (cfg.iface) {
    const name = cstr(cfg.iface);
    check(
      setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, name, name.length),
      "bind",
      "tunnel socket to",
      cfg.iface,
    );
  }
  if (fam === 6) {
    const one = new Int32Array([1]);
    setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, new Uint8Array(one.buffer), 4);
  }
  if (cfg.local || port !== 0) {
    const any: IpAddress = fam === 4
      ? { family: 4, bytes: [0, 0, 0, 0] }
      : { family: 6, bytes: new Array(16).fill(0) };
    const sa = sockaddr(cfg.local ?? any, port);
    check(bind(fd, sa, sa.length), "bind", "tunnel socket", what);
  }
}

function rawSocket(fam: 4 | 6, cfg: TunnelRxConfig): RxSocket | null {
  const what = describe(fam, cfg, "GRE");
  const fd = socket(fam === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_GRE);
  if (fd < 0) {
    const e = errno();
    if (fam === 6 && !cfg.local && e === 97 /* EAFNOSUPPORT */) return null;
    throw new SysError("open", "raw GRE socket", what, e);
  }
  try {
    setup(fd, fam, cfg, what, 0);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, family: fam, ipHeader: fam === 4, what };
}

function udpSocket(fam: 4 | 6, cfg: TunnelRxConfig): RxSocket | null {
  const what = describe(fam, cfg, "UDP");
  const fd = socket(fam === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_CLOEXEC, C.IPPROTO_UDP);
  if (fd < 0) {
    const e = errno();
    if (fam === 6 && !cfg.local && e === 97) return null;
    throw new SysError("open", "UDP socket", what, e);
  }
  try {
    const one = new Int32Array([1]);
    setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, new Uint8Array(one.buffer), 4);
    setup(fd, fam, cfg, what, cfg.port ?? 4789);
  } catch (e) {
    close(fd);
    if (fam === 6 && !cfg.local && e instanceof SysError && e.code === "EADDRNOTAVAIL") return null;
    throw e;
  }
  return { fd, family: fam, ipHeader: false, what };
}
