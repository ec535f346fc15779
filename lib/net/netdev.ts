/**
 * Network interface queries (index, MTU, flags) over ioctl, and the socket-option helper shared by the
 * packet and tunnel sockets.
 *
 * @module
 */
import {
  C,
  check,
  close,
  cstr,
  E,
  errno,
  if_nametoindex,
  ifreq,
  int32,
  ioctl,
  setsockopt,
  socket,
  SysError,
} from "../../ffi/mod.ts";

/** Index of interface `name`; throws `Cannot find interface "eth9": No such device (ENODEV)`. */
export function ifIndex(name: string): number {
  if (name.length === 0 || name.length > 15) {
    throw new SysError("find", "interface", name, E.ENODEV);
  }
  const idx = if_nametoindex(cstr(name));
  if (idx === 0) throw new SysError("find", "interface", name, errno() || E.ENODEV);
  return idx;
}

/** True while an interface named `ifname` still has index `ifindex` (not removed or recreated). */
export function stillThere(ifname: string, ifindex: number): boolean {
  return if_nametoindex(cstr(ifname)) === ifindex;
}

/** A throwaway datagram socket for interface ioctls. */
function withCtlSocket<T>(fn: (fd: number) => T): T {
  const fd = check(socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0), "open", "socket", "ioctl");
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

/** MTU of interface `name`. */
export function ifMtu(name: string): number {
  return withCtlSocket((fd) => {
    const r = ifreq(name);
    check(ioctl(fd, C.SIOCGIFMTU, r), "read MTU of", "interface", name);
    return new DataView(r.buffer).getInt32(C.IFREQ_UNION, true);
  });
}

/** Flags of interface `name` (IFF_UP, IFF_RUNNING, …). */
export function ifFlags(name: string): number {
  return withCtlSocket((fd) => {
    const r = ifreq(name);
    check(ioctl(fd, C.SIOCGIFFLAGS, r), "read flags of", "interface", name);
    return new DataView(r.buffer).getUint16(C.IFREQ_UNION, true);
  });
}

/** Sets an integer socket option, throwing a typed error naming `what` and `name`. */
export function setIntOpt(
  fd: number,
  opt: { level: number; name: number; value: number },
  what: string,
  name: string,
): void {
  check(setsockopt(fd, opt.level, opt.name, int32(opt.value), 4), "set", what, name);
}
