/**
 * The `-E` and `-K` syntax of the tunnel modes.
 *
 * `-E` forms:
 * - transmit: `gretap:HOST`, `gre:HOST`, `vxlan:HOST` (HOST a name, an IPv4 or an IPv6 address, which
 *   may be written in brackets: `vxlan:[2001:db8::2]:4790` also sets the UDP port).
 * - receive: `gretap[:LOCALIP]`, `gre[:LOCALIP]`, `erspan[:LOCALIP]`, `vxlan[:LOCALIP[:PORT]]`
 *   (an IPv6 LOCALIP with a port is written in brackets).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { parseIpLiteral } from "../codec/mod.ts";

/** Tunnel protocols of `-E`. */
import type { TunnelKind } from "../sources/mod.ts";

export type { TunnelKind };

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
 * Parses `-E` for `side`. Throws a {@link UsageError} naming the value.
 *
 * @example
 * ```ts
 * import { parseEncapSpec } from "./encap.ts";
 * parseEncapSpec("vxlan:[2001:db8::2]:4790", "rx"); // { kind: "vxlan", host: "2001:db8::2", port: 4790 }
 * ```
 */
export function parseEncapSpec(text: string, side: "rx" | "tx"): EncapSpec {
  const colon = text.indexOf(":");
  const kind = (colon < 0 ? text : text.slice(0, colon)).toLowerCase() as TunnelKind;
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  if (!KINDS.includes(kind)) {
    throw new UsageError(`Invalid tunnel "-E ${text}": the protocol must be gretap, gre, vxlan or erspan`);
  }
  if (side === "tx" && kind === "erspan") {
    throw new UsageError(`Invalid tunnel "-E ${text}": ERSPAN is received only (-rx -E erspan)`);
  }
  let host: string | undefined;
  let port: string | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) throw new UsageError(`Invalid tunnel "-E ${text}": missing "]" after the IPv6 address`);
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) {
        throw new UsageError(`Invalid tunnel "-E ${text}": expected ":port" after "]"`);
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
  if (host !== undefined) {
    if (side === "rx" && host.includes(",")) {
      throw new UsageError(
        `Invalid tunnel "-E ${text}": -rx receives on one local address (output groups, ` +
          `-E ${kind}:host1,host2, are for -tx)`,
      );
    }
    for (const h of host.split(",")) checkAddressShape(h.trim());
  }
  if (side === "tx" && host === undefined) {
    throw new UsageError(
      `Invalid tunnel "-E ${text}": transmit needs a destination, as in -E ${kind}:192.0.2.1`,
    );
  }
  const spec: EncapSpec = { kind, host };
  if (port !== undefined) {
    if (kind !== "vxlan") throw new UsageError(`Invalid tunnel "-E ${text}": only VXLAN takes a port`);
    spec.port = parsePort(port, `tunnel "-E ${text}"`);
  }
  return spec;
}

/**
 * Refuses text shaped like an address that is not a valid one (four dotted numbers, or anything with a
 * colon: no host name has one), so it is not looked up as a host name.
 */
function checkAddressShape(host: string): void {
  if ((/^[0-9.]+$/.test(host) || host.includes(":")) && parseIpLiteral(host) === null) {
    throw new UsageError(`Invalid address "${host}": not a valid IPv4 or IPv6 address`);
  }
}

/** Parses a UDP port 1..65535. */
export function parsePort(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`Invalid ${what}: port "${text}" must be 1..65535`);
  }
  return Number(text);
}

/**
 * Parses `-K`: a whole number or a dotted quad (`10.0.0.1` = 0x0a000001), checked against the tunnel's
 * range: GRE key 32 bits, VXLAN VNI 24 bits, ERSPAN session id 10 bits.
 *
 * @example
 * ```ts
 * import { parseKey } from "./encap.ts";
 * parseKey("10.0.0.1", "gretap"); // 167772161
 * ```
 */
export function parseKey(text: string, kind: TunnelKind): number {
  const t = text.trim();
  let v: number;
  const quad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (quad) {
    const parts = quad.slice(1).map(Number);
    if (parts.some((p) => p > 255)) {
      throw new UsageError(`Invalid key "-K ${text}": each part must be 0..255`);
    }
    v = ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
  } else if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) {
    v = Number(t);
  } else {
    throw new UsageError(`Invalid key "-K ${text}": a whole number or a dotted quad such as 10.0.0.1`);
  }
  const [max, what] = kind === "vxlan"
    ? [0xffffff, "VXLAN VNI"]
    : kind === "erspan"
    ? [1023, "ERSPAN session id"]
    : [0xffffffff, "GRE key"];
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new UsageError(`Invalid ${what} "-K ${text}": must be 0..${max}`);
  }
  return v;
}
