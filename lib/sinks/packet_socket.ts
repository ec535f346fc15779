/**
 * The transmit-only packet socket both NIC sinks send through.
 *
 * @module
 */
import { bind, C, check, close, E, errno, sockaddrLl, socket, SysError } from "../../ffi/mod.ts";
import { isVlanTpid } from "../codec/mod.ts";
import { InterfaceGone } from "../errors.ts";
import { ifIndex, ifMtu, setIntOpt, stillThere } from "../net/mod.ts";
import type { FrameCut } from "./sink.ts";

/**
 * An AF_PACKET socket bound to `ifname` for transmit only (protocol 0: it receives nothing), with a
 * 4 MiB send buffer and, for `-q`, PACKET_QDISC_BYPASS.
 */
export function txPacketSocket(ifname: string, qdiscBypass: boolean): { fd: number; ifindex: number } {
  const ifindex = ifIndex(ifname);
  const fd = socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SysError("open", "packet socket on", ifname, errno());
  try {
    const sll = sockaddrLl(ifindex);
    check(bind(fd, sll, sll.length), "bind", "packet socket to", ifname);
    if (qdiscBypass) {
      setIntOpt(
        fd,
        { level: C.SOL_PACKET, name: C.PACKET_QDISC_BYPASS, value: 1 },
        "PACKET_QDISC_BYPASS on",
        ifname,
      );
    }
    setIntOpt(fd, { level: C.SOL_SOCKET, name: C.SO_SNDBUF, value: 4 << 20 }, "send buffer of", ifname);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, ifindex };
}

/** Largest frame a link takes: MTU + Ethernet header (+ 4 when the frame carries a VLAN tag). */
export function maxFrameLen(mtu: number, tagged: boolean): number {
  return mtu + 14 + (tagged ? 4 : 0);
}

/** True when the frame `cut` makes of `buf` at `off` fits a link of `mtu` (a tagged frame may be 4 longer). */
export function fitsLink(buf: Uint8Array, off: number, cut: FrameCut, mtu: number): boolean {
  const len = cut.headLen + cut.tagLen + cut.tailLen;
  if (len <= mtu + 14) return true;
  const tagged = cut.tagLen > 0 || (cut.headLen >= 14 && isVlanTpid((buf[off + 12] << 8) | buf[off + 13]));
  return tagged && len <= mtu + 18;
}

/** True for the errors that mean the link is down (the rest of a batch cannot go out now). */
export function linkDownErrno(e: number): boolean {
  return e === E.ENETDOWN || e === E.ENXIO || e === E.ENODEV;
}

/** A NIC sink's link: its MTU and its presence, looked at once a second (it may change while running). */
export class LinkWatch {
  /** The MTU last read. */
  mtu: number;
  #next = 0;

  /** Reads the MTU of `ifname` (index `ifindex`) now. */
  constructor(readonly ifname: string, readonly ifindex: number) {
    this.mtu = ifMtu(ifname);
  }

  /** Re-reads the MTU once a second; throws {@linkcode InterfaceGone} when the interface was removed. */
  tick(now: number): void {
    if (now < this.#next) return;
    this.#next = now + LINK_CHECK_MS;
    try {
      this.mtu = ifMtu(this.ifname);
    } catch { /* interface gone for now: keep the last value */ }
    if (!stillThere(this.ifname, this.ifindex)) throw new InterfaceGone(this.ifname);
  }

  /** Milliseconds until the next look. */
  dueIn(now: number): number {
    return Math.max(0, this.#next - now);
  }

  /** The warning for a frame of `len` bytes too large for the link. */
  oversizeText(len: number): string {
    return nicOversizeText(len, this.ifname, this.mtu);
  }
}

/** The MTU and the interface are looked at this often (ms). */
const LINK_CHECK_MS = 1000;

/**
 * The warning for a frame too large for a NIC (the usual cause: offloads left on where it was
 * captured).
 */
export function nicOversizeText(len: number, ifname: string, mtu: number): string {
  return `Frame of ${len} bytes is larger than "${ifname}" can carry (MTU ${mtu}): counted as ` +
    `oversize and skipped. The usual cause is receive offloads left on where it was captured: ` +
    `ethtool -K IF gro off lro off`;
}
