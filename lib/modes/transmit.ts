/**
 * `fluxcap -tx`: send a ring out of a NIC (`-i`), into a tunnel (`-E`) or to capture files (`-w`).
 * Checks what depends on the host (the ring, the interface, the peer and the route to it, the output
 * path), then runs the transmit loop in a Worker.
 *
 * @module
 */
import { formatIp } from "../codec/mod.ts";
import { runWorker } from "../engine/mod.ts";
import { UsageError } from "../errors.ts";

import { ifIndex, resolveHost, routeTo } from "../net/mod.ts";
import { MAGIC } from "../ring/mod.ts";
import type { NicSinkSettings, TransmitSettings, TunnelSinkSettings } from "../settings/mod.ts";
import {
  checkRawSocket,
  type NicSinkConfig,
  resolveTarget,
  type SinkConfig,
  type TunnelSinkConfig,
} from "../sinks/mod.ts";
import { checkRing, opsText, verboseTicker } from "./common.ts";

/** Runs the transmit mode; resolves to the exit status. */
export async function runTransmit(s: TransmitSettings, log: (s: string) => void): Promise<number> {
  const { sink, text } = sinkConfig(s);
  if (s.verbose) log(`fluxcap -tx: ${text}${opsText(s.ops)}`);
  return await runWorker({ side: "tx", ring: s.ring, ops: s.ops, sink, fromOldest: s.fromOldest }, {
    log,
    seconds: s.seconds,
    everySecond: s.verbose ? verboseTicker(s.ring, "tx", log) : undefined,
  });
}

/** A NIC output checked against the host (the interface exists), and its -v text. */
function nicConfig(k: NicSinkSettings): { sink: NicSinkConfig; text: string } {
  ifIndex(k.iface);
  const how = `${k.txRing ? "PACKET_TX_RING" : "sendmmsg"}${k.qdiscBypass ? ", qdisc bypass" : ""}`;
  return { sink: k, text: `on "${k.iface}" with ${how}` };
}

/** A tunnel output with its peer resolved and routed, and its -v text. */
function tunnelConfig(k: TunnelSinkSettings): { sink: TunnelSinkConfig; text: string } {
  const dst = resolveHost(k.host);
  const route = routeTo(dst);
  checkRawSocket(dst.family);
  const what = k.tunnel === "vxlan"
    ? `VXLAN VNI ${k.key ?? 0} to UDP port ${k.port}`
    : `${k.tunnel.toUpperCase()}${k.key !== undefined ? ` key ${k.key}` : ""}`;
  return {
    sink: { ...k, dst },
    text: `as ${what} to ${formatIp(dst)} from ${formatIp(route.src)} (path MTU ${route.mtu})`,
  };
}

/** The sink's settings with the host's answers (addresses, routes, file target), and a -v line. */
function sinkConfig(s: TransmitSettings): { sink: SinkConfig; text: string } {
  const k = s.sink;
  switch (k.kind) {
    case "nic": {
      checkRing(s.ring);
      const nic = nicConfig(k);
      return { sink: nic.sink, text: `sending ring "${s.ring}" ${nic.text}` };
    }
    case "tunnel": {
      const t = tunnelConfig(k);
      checkRing(s.ring);
      return { sink: t.sink, text: `sending ring "${s.ring}" ${t.text}` };
    }
    case "group": {
      const members = k.members.map((m) => m.kind === "nic" ? nicConfig(m) : tunnelConfig(m));
      checkRing(s.ring);
      return {
        sink: {
          kind: "group",
          members: members.map((m) => m.sink),
          balance: k.balance,
          all: k.all,
          name: k.name,
        },
        text: `sending ring "${s.ring}" to an output group of ${members.length}, ` +
          (k.all
            ? "every frame to every member"
            : `each frame to one member by its ${k.balance === "flows" ? "flow" : "addresses"}`) +
          ` (${members.map((m) => m.text).join("; ")})`,
      };
    }
    case "file": {
      let target;
      try {
        target = resolveTarget(k.path, s.ring, k.output.format);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (k.path !== "-" && isRingFile(k.path)) {
        throw new UsageError(
          `Cannot write capture file "${k.path}": it is a fluxcap ring, and writing would destroy it`,
        );
      }
      checkRing(s.ring);
      const o = k.output;
      const where = target.kind === "stdout" ? "stdout" : `"${target.template}"`;
      const rot = [
        k.rotateSeconds !== undefined ? `every ${k.rotateSeconds} s` : "",
        k.rotateBytes !== undefined ? `every ${k.rotateBytes} bytes` : "",
      ].filter((x) => x).join(" or ");
      const keep = [
        o.maxFiles !== undefined ? `the ${o.maxFiles} newest files` : "",
        o.maxBytes !== undefined ? `at most ${o.maxBytes} bytes` : "",
      ].filter((x) => x).join(" and ");
      const output = {
        ...o,
        interfaces: [{
          name: s.ring.slice(s.ring.lastIndexOf("/") + 1) || s.ring,
          description: `fluxcap ring ${s.ring}`,
        }],
      };
      return {
        sink: { ...k, output, target, snaplen: s.ops.snaplen, verbose: s.verbose > 0 },
        text: `writing ring "${s.ring}" to ${where} as ${o.format}${rot ? `, new file ${rot}` : ""}` +
          `${keep ? `, keeping ${keep}` : ""}` +
          `${o.postRotate ? `, then running ${JSON.stringify(o.postRotate.join(" "))}` : ""}`,
      };
    }
  }
}

/** True if `path` is an existing file that starts with a fluxcap ring's magic. */
function isRingFile(path: string): boolean {
  try {
    using f = Deno.openSync(path, { read: true });
    const head = new Uint8Array(MAGIC.length);
    const n = f.readSync(head) ?? 0;
    return n === MAGIC.length && head.every((b, i) => b === MAGIC[i]);
  } catch {
    return false; // missing or unreadable: the writer reports it
  }
}
