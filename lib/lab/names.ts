/**
 * The lab's names and addresses: how namespaces are named (a per-run prefix that carries the creating
 * process id, so a later run can tell a stale namespace from a live one), and the checks that keep
 * interface names, MACs and addresses inside what the lab may use (198.18.0.0/15, 2001:db8::/32,
 * locally administered unicast MACs).
 *
 * @module
 */

/** A namespace's short name inside a lab: 1..8 of a-z, 0-9. */
export const NS_NAME_RE = /^[a-z0-9]{1,8}$/;
/** An interface name the kernel accepts. */
export const IF_NAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** A full lab namespace name: `fx<pid base 36>_<lab number><tag>-<name>`. */
const LAB_NS_RE = /^fx([0-9a-z]+)_[0-9a-z]+-[a-z0-9]+$/;

let labCounter = 0;

/** A fresh per-run prefix `fx<pid base 36>_<lab number><tag>` for the namespaces of one lab. */
export function nextLabPrefix(tag: string): string {
  if (!/^[a-z0-9]{0,6}$/.test(tag)) throw new Error(`Invalid lab tag "${tag}": use up to 6 of a-z, 0-9`);
  return `fx${Deno.pid.toString(36)}_${(labCounter++).toString(36)}${tag}`;
}

/** The id of the process that created lab namespace `name`, or null when `name` is not a lab's. */
export function labNamespacePid(name: string): number | null {
  const m = LAB_NS_RE.exec(name);
  return m === null ? null : parseInt(m[1], 36);
}

/** Checks `mac` is locally administered unicast (02:…); returns it in lower case. */
export function checkMac(mac: string): string {
  if (!MAC_RE.test(mac)) throw new Error(`Invalid MAC address "${mac}"`);
  const first = parseInt(mac.slice(0, 2), 16);
  if ((first & 0x02) === 0 || (first & 0x01) !== 0) {
    throw new Error(`MAC address "${mac}" is not locally administered unicast: use 02:…`);
  }
  return mac.toLowerCase();
}

/** The six bytes of a MAC address written `xx:xx:xx:xx:xx:xx`. */
export function macBytes(mac: string): number[] {
  if (!MAC_RE.test(mac)) throw new Error(`Invalid MAC address "${mac}"`);
  return mac.split(":").map((x) => parseInt(x, 16));
}

/** A random locally administered unicast MAC (02:…). */
export function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Checks a CIDR lies in 198.18.0.0/15 (IPv4) or 2001:db8::/32 (IPv6); returns its family. */
export function checkCidr(cidr: string): 4 | 6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (m === null) throw new Error(`Invalid address "${cidr}": expected a CIDR like 198.18.0.1/24`);
  const [, addr, plen] = m;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (v4 !== null) {
    const o = v4.slice(1).map(Number);
    if (o.some((x) => x > 255) || Number(plen) > 32) throw new Error(`Invalid IPv4 address "${cidr}"`);
    if (o[0] !== 198 || (o[1] !== 18 && o[1] !== 19)) {
      throw new Error(`Address "${cidr}" is outside the lab range 198.18.0.0/15`);
    }
    return 4;
  }
  if (addr.includes(":")) {
    if (Number(plen) > 128 || !/^[0-9a-f:]+$/i.test(addr)) throw new Error(`Invalid IPv6 address "${cidr}"`);
    if (!/^2001:0{0,2}db8:/i.test(addr)) {
      throw new Error(`Address "${cidr}" is outside the lab range 2001:db8::/32`);
    }
    return 6;
  }
  throw new Error(`Invalid address "${cidr}"`);
}
