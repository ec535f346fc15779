/**
 * `fluxcap -rx`: capture a NIC (`-i`), a tunnel (`-E`) or a capture file (`--read`) into a ring. Checks
 * what depends on the host (the ring, the interface, the local address), then runs the receive loop in
 * a Worker.
 *
 * @module
 */
import { formatIp, type IpAddress } from "../codec/mod.ts";
import { runWorker } from "../engine/mod.ts";
import { FluxError } from "../errors.ts";
import { ifIndex, resolveHost } from "../net/mod.ts";
import type { ReceiveSettings } from "../settings/mod.ts";
import { GRE_RX_DST_MAC, GRE_RX_SRC_MAC, type SourceConfig } from "../sources/mod.ts";
import { checkRing, opsText, verboseTicker } from "./common.ts";

/** Runs the receive mode; resolves to the exit status. */
export async function runReceive(s: ReceiveSettings, log: (s: string) => void): Promise<number> {
  const source = sourceConfig(s);
  if (s.verbose) log(`fluxcap -rx: ${describe(source)} into ring "${s.ring}"${opsText(s.ops)}`);
  return await runWorker({ side: "rx", ring: s.ring, ops: s.ops, source }, {
    log,
    seconds: s.seconds,
    everySecond: s.verbose ? verboseTicker(s.ring, "rx", log) : undefined,
  });
}

function sourceConfig(s: ReceiveSettings): SourceConfig {
  const src = s.source;
  switch (src.kind) {
    case "nic":
      checkRing(s.ring);
      ifIndex(src.iface);
      return src;
    case "tunnel": {
      const local = src.local === undefined ? undefined : resolveHost(src.local);
      if (src.iface !== undefined) ifIndex(src.iface);
      checkRing(s.ring);
      return { ...src, local, rcvbuf: receiveBuffer() };
    }
    case "file":
      checkRing(s.ring);
      return { ...src, snaplen: s.ops.snaplen };
  }
}

function describe(src: SourceConfig): string {
  switch (src.kind) {
    case "nic":
      return `capturing "${src.iface}"`;
    case "file":
      return `replaying "${src.file}"${src.pace ? " at the recorded pace" : ""}` +
        `${src.loops === 1 ? "" : src.loops === 0 ? ", looping until stopped" : `, ${src.loops} times`}`;
    case "tunnel": {
      const k = src.tunnel;
      const keyText = src.key === undefined
        ? (k === "gre" || k === "gretap" ? ", packets without a GRE key" : "")
        : `, ${k === "vxlan" ? "VNI" : k === "erspan" ? "session" : "key"} ${src.key} only`;
      const mac = (m: readonly number[]) => m.map((x) => x.toString(16).padStart(2, "0")).join(":");
      const local = (a: IpAddress | undefined) => a ? formatIp(a) : "any address";
      return `receiving ${k.toUpperCase()}${k === "vxlan" ? ` on UDP port ${src.port}` : ""} at ` +
        `${local(src.local)}${src.iface ? ` on "${src.iface}"` : ""}${keyText}` +
        (k === "gre" ? `; rebuilt Ethernet header ${mac(GRE_RX_SRC_MAC)} > ${mac(GRE_RX_DST_MAC)}` : "");
    }
  }
}

/**
 * The tunnel sockets' receive buffer from `FLUXCAP_TUNNEL_RCVBUF` (bytes, 4096..2 GiB - 1), or undefined
 * for the default (32 MiB). A small one makes kernel drops easy to provoke (the tests do).
 */
function receiveBuffer(): number | undefined {
  const name = "FLUXCAP_TUNNEL_RCVBUF";
  // Without --allow-env: the default, and no permission prompt.
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 4096 || n > 0x7fffffff) {
    throw new FluxError(`Invalid ${name} "${v}": bytes, 4096 to 2147483647`);
  }
  return n;
}
