/**
 * `fluxcap -tx -E gretap|gre|vxlan:HOST [-K key] RING`: send a ring into a GRE, GRETAP or VXLAN tunnel
 * over IPv4 or IPv6. Validates everything here (tunnel, key, host, route, ring, raw socket permission),
 * then runs the loop of `tunnel_tx_loop.ts` in a Worker.
 *
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import type { OpsConfig } from "../ops/mod.ts";
import {
  formatIp,
  type IpAddress,
  parseEncapSpec,
  parseKey,
  parsePort,
  resolveHost,
  routeTo,
  VXLAN_PORT,
} from "../io/tunnel.ts";
import { checkRawSocket } from "../io/tunnel_tx.ts";
import { checkRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { noOps } from "./options.ts";

/** Job description posted to the worker (`tunnel_tx_loop.ts`). */
export interface TunnelTxJob {
  kind: "tx-tunnel";
  tunnel: "gre" | "gretap" | "vxlan";
  ring: string;
  ops: OpsConfig;
  passthrough: boolean;
  dst: IpAddress;
  /** Destination as typed (for messages). */
  host: string;
  key?: number;
  port: number;
  fragment: boolean;
  fromOldest: boolean;
}

/** Runs the mode; resolves to the exit status. */
export async function runTunnelTransmit(
  a: Args,
  ring: string,
  ops: OpsConfig,
  log: (s: string) => void,
): Promise<number> {
  let job: TunnelTxJob;
  {
    const spec = parseEncapSpec(a.encap!, "tx");
    if (spec.kind === "erspan") throw new FluxError("ERSPAN is received only");
    if (a.iface !== undefined) {
      throw new UsageError(
        `-tx -E sends by the routing table; -i "${a.iface}" is not used (route the peer over it instead)`,
      );
    }
    if (a.vxlanPort !== undefined && spec.kind !== "vxlan") {
      throw new UsageError(`--vxlan-port applies to -E vxlan, not -E ${spec.kind}`);
    }
    if (a.fragment && spec.kind !== "vxlan") {
      throw new UsageError(`--fragment applies to -E vxlan; GRE and GRETAP packets are always fragmented`);
    }
    const port = a.vxlanPort !== undefined ? parsePort(a.vxlanPort, "--vxlan-port") : spec.port ?? VXLAN_PORT;
    const key = a.key === undefined ? undefined : parseKey(a.key, spec.kind);
    const dst = resolveHost(spec.host!);
    const route = routeTo(dst);
    checkRing(ring);
    checkRawSocket(dst.family);
    job = {
      kind: "tx-tunnel",
      tunnel: spec.kind,
      ring,
      ops,
      passthrough: noOps(ops),
      dst,
      host: spec.host!,
      key,
      port,
      fragment: a.fragment,
      fromOldest: a.fromOldest,
    };
    if (a.verbose) {
      const what = spec.kind === "vxlan"
        ? `VXLAN VNI ${key ?? 0} to UDP port ${port}`
        : `${spec.kind.toUpperCase()}${key !== undefined ? ` key ${key}` : ""}`;
      log(
        `fluxcap -tx: sending ring "${ring}" as ${what} to ${formatIp(dst)} from ${formatIp(route.src)} ` +
          `(path MTU ${route.mtu}); frame operations: ${JSON.stringify(ops)}`,
      );
    }
  }
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "tx", log) : undefined,
  });
}
