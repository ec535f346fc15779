/**
 * Pure byte codecs of fluxcap: Ethernet and VLAN tags, IPv4 and IPv6 (with fragmentation and
 * reassembly), UDP, GRE, VXLAN, ERSPAN, and pcap / pcapng. No FFI and no Deno APIs; parse functions
 * return offsets into the input and never throw, returning a `CodecError` value instead.
 *
 * @example
 * ```ts
 * import { isError, parseEthernet } from "./mod.ts";
 * const frame = new Uint8Array(60);
 * const eth = parseEthernet(frame, 0, frame.length);
 * if (!isError(eth)) console.log(eth.etherType, eth.tagCount);
 * ```
 *
 * @module
 */

export * from "./error.ts";
export * from "./bytes.ts";
export * from "./address.ts";
export * from "./checksum.ts";
export * from "./ethernet.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./reassembly.ts";
export * from "./udp.ts";
export * from "./gre.ts";
export * from "./vxlan.ts";
export * from "./erspan.ts";
export * from "./pcap.ts";
