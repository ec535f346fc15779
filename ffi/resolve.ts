/**
 * Name resolution with the C library's getaddrinfo (/etc/hosts, DNS, as configured), returning plain
 * address bytes.
 *
 * @module
 */
import * as C from "./consts.ts";
import { cstr, freeaddrinfo, getaddrinfo } from "./libc.ts";
import { pointerFrom, readNative, readPointer } from "./memory.ts";

/** Addresses of `host`, in the order the C library prefers (4 or 16 bytes each), or an error text. */
export function getAddresses(host: string): number[][] | string {
  const hints = new Uint8Array(C.ADDRINFO_SIZE);
  const hv = new DataView(hints.buffer);
  hv.setInt32(C.AI_FAMILY, 0, true); // AF_UNSPEC
  hv.setInt32(C.AI_SOCKTYPE, C.SOCK_DGRAM, true);
  const res = new BigUint64Array(1);
  const rc = getaddrinfo(cstr(host), null, hints, new Uint8Array(res.buffer));
  if (rc !== 0) return gaiText(rc);
  const head = pointerFrom(res[0]);
  if (head === null) return "no address";
  const out: number[][] = [];
  try {
    let p: Deno.PointerValue = head;
    for (let guard = 0; p !== null && guard < 64; guard++) {
      const ai = new DataView(readNative(p, 0, C.ADDRINFO_SIZE).buffer);
      const fam = ai.getInt32(C.AI_FAMILY, true);
      const sa = readPointer(p, C.AI_ADDR);
      if (sa !== null && fam === C.AF_INET) out.push(Array.from(readNative(sa, 4, 4)));
      else if (sa !== null && fam === C.AF_INET6) out.push(Array.from(readNative(sa, 8, 16)));
      p = readPointer(p, C.AI_NEXT);
    }
  } finally {
    freeaddrinfo(head);
  }
  return out.length > 0 ? out : "no IPv4 or IPv6 address";
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
