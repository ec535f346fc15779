/**
 * Network interface queries (index, MTU, flags) over ioctl, and socket helpers shared by the packet
 * and tunnel I/O classes.
 *
 * @module
 */
import {
  C,
  check,
  close,
  cstr,
  errno,
  if_nametoindex,
  ioctl,
  setsockopt,
  socket,
  SysError,
} from "../../ffi/mod.ts";

/** Index of interface `name`; throws `Cannot find interface "eth9": No such device (ENODEV)`. */
export function ifIndex(name: string): number {
  if (name.length === 0 || name.length > 15) {
    throw new SysError("find", "interface", name, 19 /* ENODEV */);
  }
  const idx = if_nametoindex(cstr(name));
  if (idx === 0) throw new SysError("find", "interface", name, errno() || 19);
  return idx;
}

function ifreq(name: string): Uint8Array {
  const b = new Uint8Array(C.IFREQ_SIZE);
  b.set(new TextEncoder().encode(name).subarray(0, 15));
  return b;
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
    return new DataView(r.buffer).getInt32(16, true);
  });
}

/** Flags of interface `name` (IFF_UP, IFF_RUNNING, …). */
export function ifFlags(name: string): number {
  return withCtlSocket((fd) => {
    const r = ifreq(name);
    check(ioctl(fd, C.SIOCGIFFLAGS, r), "read flags of", "interface", name);
    return new DataView(r.buffer).getUint16(16, true);
  });
}

/** Sets an integer socket option, throwing a typed error naming `what`. */
export function setIntOpt(
  fd: number,
  level: number,
  name: number,
  value: number,
  what: string,
  ifname: string,
): void {
  const v = new Int32Array([value]);
  check(setsockopt(fd, level, name, new Uint8Array(v.buffer), 4), "set", what, ifname);
}

/** Host to network byte order, 16 bits. */
export function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}
