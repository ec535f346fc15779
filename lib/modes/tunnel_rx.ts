/**
 * `fluxcap -rx -E gretap|gre|erspan[:LOCALIP] | vxlan[:LOCALIP[:PORT]] [-K key] [-i IF] RING`:
 * decapsulate tunnel packets into a ring. Validates here, then runs `tunnel_rx_loop.ts` in a Worker.
 *
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import type { OpsConfig } from "../ops/mod.ts";
import { ifIndex } from "../io/netdev.ts";
import {
  formatIp,
  type IpAddress,
  parseEncapSpec,
  parseKey,
  parsePort,
  resolveHost,
  type TunnelKind,
  VXLAN_PORT,
} from "../io/tunnel.ts";
import { GRE_RX_DST_MAC, GRE_RX_SRC_MAC } from "../io/tunnel_decap.ts";
import { checkRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { noOps } from "./options.ts";

/** Job description posted to the worker (`tunnel_rx_loop.ts`). */
export interface TunnelRxJob {
  kind: "rx-tunnel";
  tunnel: TunnelKind;
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  local?: IpAddress;
  iface?: string;
  key?: number;
  port: number;
  /** Socket receive buffer in bytes (`FLUXCAP_TUNNEL_RCVBUF`; default 32 MiB). */
  rcvbuf?: number;
  /** For the ring's writer description. */
  desc: string;
}

/** Runs the mode; resolves to the exit status. */
export async function runTunnelReceive(
  a: Args,
  ring: string,
  ops: OpsConfig,
  log: (s: string) => void,
): Promise<number> {
  const spec = parseEncapSpec(a.encap!, "rx");
  if (a.vxlanPort !== undefined && spec.kind !== "vxlan") {
    throw new UsageError(`--vxlan-port applies to -E vxlan, not -E ${spec.kind}`);
  }
  if (a.fragment) {
    throw new UsageError("--fragment applies to -tx -E vxlan; received packets are reassembled");
  }
  const port = a.vxlanPort !== undefined ? parsePort(a.vxlanPort, "--vxlan-port") : spec.port ?? VXLAN_PORT;
  const key = a.key === undefined ? undefined : parseKey(a.key, spec.kind);
  const local = spec.host === undefined ? undefined : resolveHost(spec.host);
  if (a.iface !== undefined) ifIndex(a.iface);
  checkRing(ring);
  const rcvbuf = receiveBuffer();
  const job: TunnelRxJob = {
    kind: "rx-tunnel",
    tunnel: spec.kind,
    ring,
    ops,
    passthrough: noOps(ops),
    local,
    iface: a.iface,
    key,
    port,
    rcvbuf,
    desc: `rx ${spec.kind}${local ? `:${formatIp(local)}` : ""}${a.iface ? ` ${a.iface}` : ""}`,
  };
  if (a.verbose) {
    const keyText = key === undefined
      ? (spec.kind === "gre" || spec.kind === "gretap" ? ", packets without a GRE key" : "")
      : `, ${spec.kind === "vxlan" ? "VNI" : spec.kind === "erspan" ? "session" : "key"} ${key} only`;
    const mac = (m: readonly number[]) => m.map((x) => x.toString(16).padStart(2, "0")).join(":");
    log(
      `fluxcap -rx: receiving ${spec.kind.toUpperCase()}${
        spec.kind === "vxlan" ? ` on UDP port ${port}` : ""
      }` +
        ` at ${local ? formatIp(local) : "any address"}${
          a.iface ? ` on "${a.iface}"` : ""
        }${keyText} into ring ` +
        `"${ring}"` +
        (spec.kind === "gre"
          ? `; rebuilt Ethernet header ${mac(GRE_RX_SRC_MAC)} > ${mac(GRE_RX_DST_MAC)}`
          : "") +
        `; frame operations: ${JSON.stringify(ops)}`,
    );
  }
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new FluxError(`Invalid --seconds "${a.seconds}"`);
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "rx", log) : undefined,
  });
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
