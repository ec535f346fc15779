/**
 * Host names to addresses: literals parsed by the codec, names through the C library (/etc/hosts, DNS).
 *
 * @module
 */
import { getAddresses } from "../../ffi/mod.ts";
import { type IpAddress, parseIpLiteral } from "../codec/mod.ts";
import { FluxError } from "../errors.ts";

/**
 * Resolves `host` (an address, or a name from /etc/hosts or DNS): the first address the C library
 * prefers. Text shaped like an IPv4 address (four dotted numbers) that is not a valid one is refused as
 * an invalid address, not looked up as a name. Throws `Cannot resolve host "x": …`.
 */
export function resolveHost(host: string): IpAddress {
  const lit = parseIpLiteral(host);
  if (lit) return lit;
  if (/^[0-9.]+$/.test(host) || /^[0-9a-f:.]*:[0-9a-f:.]*$/i.test(host)) {
    throw new FluxError(`Invalid address "${host}": not a valid IPv4 or IPv6 address`);
  }
  const found = getAddresses(host);
  if (typeof found === "string") throw new FluxError(`Cannot resolve host "${host}": ${found}`);
  const b = found[0];
  return { family: b.length === 4 ? 4 : 6, bytes: b };
}
