/**
 * The `--metrics [addr:]port` endpoint: Prometheus text exposition (format 0.0.4) of every watched
 * ring's counters at `/metrics`, for `-rx`, `-tx` and `-io`. Rings are opened at the first scrape and
 * reopened when replaced; a missing or deleted one is `fluxcap_ring_up{ring="x"} 0`. Metric names are
 * documented in `lib/watch/README.md`.
 *
 * @module
 */
import { FluxError, UsageError } from "../errors.ts";
import { DROP_REASONS } from "../ring/layout.ts";
import type { RingSnapshot } from "../ring/stats.ts";
import { RingWatch } from "./source.ts";
import type { WatchSample } from "./source.ts";

/** Where to listen, from a `--metrics` value. */
export interface ListenSpec {
  hostname: string;
  port: number;
}

/**
 * Parses `[addr:]port`: `9100` → 127.0.0.1:9100, `0.0.0.0:9100`, `[::1]:9100`, `localhost:9100`.
 * Port 0 asks the kernel for a free port. Throws a {@link UsageError} naming the value.
 */
export function parseListen(spec: string): ListenSpec {
  const bad = (why: string) =>
    new UsageError(`Invalid --metrics "${spec}": ${why} (expected [addr:]port, e.g. 9100 or 0.0.0.0:9100)`);
  const m = /^(?:\[([0-9a-fA-F:.%\w]+)\]:|([^:\[\]\s]+):)?([0-9]+)$/.exec(spec.trim());
  if (!m) throw bad("not an address and port");
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) throw bad("port out of range 0..65535");
  const hostname = m[1] ?? m[2] ?? "127.0.0.1";
  if (hostname === "") throw bad("empty address");
  return { hostname, port };
}

/** Escapes a label value for the text format. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

type Labels = Record<string, string | number>;

interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: [Labels, number][];
}

/** Every metric family, in output order: name, type, help. */
export const METRICS = [
  [
    "fluxcap_ring_up",
    "gauge",
    "1 if the ring file exists and is a valid ring, 0 if missing, deleted or corrupt.",
  ],
  ["fluxcap_ring_frames_total", "counter", "Frames written to the ring since it was created."],
  ["fluxcap_ring_bytes_total", "counter", "Frame bytes written to the ring (captured length)."],
  [
    "fluxcap_ring_wire_bytes_total",
    "counter",
    "Original (on the wire) bytes of the frames written to the ring.",
  ],
  ["fluxcap_ring_kernel_drops_total", "counter", "Frames the capture side's kernel reported dropped."],
  ["fluxcap_ring_kernel_packets_total", "counter", "Packets the capture side's kernel saw, drops included."],
  ["fluxcap_ring_size_bytes", "gauge", "Size of the ring file."],
  ["fluxcap_ring_used_bytes", "gauge", "Bytes of frames currently held in the ring."],
  ["fluxcap_ring_readers", "gauge", "Readers attached to the ring."],
  ["fluxcap_writer_up", "gauge", "1 if a writer process is attached to the ring, 0 if none or it exited."],
  ["fluxcap_writer_dropped_frames_total", "counter", "Frames the writer dropped before the ring, by reason."],
  ["fluxcap_reader_frames_read_total", "counter", "Frames a reader took from the ring."],
  ["fluxcap_reader_bytes_read_total", "counter", "Frame bytes a reader took from the ring."],
  ["fluxcap_reader_frames_sent_total", "counter", "Frames a reader delivered to its output."],
  ["fluxcap_reader_lost_frames_total", "counter", "Frames a reader lost because the writer lapped it."],
  ["fluxcap_reader_dropped_frames_total", "counter", "Frames a reader read but did not deliver, by reason."],
  ["fluxcap_reader_lag_bytes", "gauge", "Bytes between a reader and the writer's head."],
] as const;

type MetricName = typeof METRICS[number][0];

function readerLabel(desc: string, pid: number): string {
  return desc ? `${desc} (pid ${pid})` : `pid ${pid}`;
}

/**
 * The text exposition of `samples` (one per ring).
 *
 * @example
 * ```ts
 * import { exposition } from "./metrics.ts";
 * const text = exposition([{ name: "cisco", at: 0, snap: null, gone: true, reason: "deleted", generation: 1 }]);
 * // contains 'fluxcap_ring_up{ring="cisco"} 0'
 * ```
 */
export function exposition(samples: WatchSample[]): string {
  const fam = new Map<MetricName, Family>();
  for (const [name, type, help] of METRICS) fam.set(name, { name, type, help, samples: [] });
  const add = (name: MetricName, labels: Labels, v: number) => fam.get(name)!.samples.push([labels, v]);
  for (const smp of samples) {
    const ring = smp.name;
    const s: RingSnapshot | null = smp.snap;
    add("fluxcap_ring_up", { ring }, s ? 1 : 0);
    if (!s) continue;
    add("fluxcap_ring_frames_total", { ring }, s.frames);
    add("fluxcap_ring_bytes_total", { ring }, s.bytes);
    add("fluxcap_ring_wire_bytes_total", { ring }, s.wireBytes);
    add("fluxcap_ring_kernel_drops_total", { ring }, s.kernelDrops);
    add("fluxcap_ring_kernel_packets_total", { ring }, s.kernelPackets);
    add("fluxcap_ring_size_bytes", { ring }, s.sizeBytes);
    add("fluxcap_ring_used_bytes", { ring }, s.usedBytes);
    add("fluxcap_ring_readers", { ring }, s.readers.length);
    const w = s.writer;
    if (w) {
      add("fluxcap_writer_up", { ring, writer: readerLabel(w.desc, w.pid), pid: w.pid }, w.alive ? 1 : 0);
    } else add("fluxcap_writer_up", { ring }, 0);
    for (const reason of DROP_REASONS) {
      add("fluxcap_writer_dropped_frames_total", { ring, reason }, w ? w.drops[reason] : 0);
    }
    for (const r of s.readers) {
      const l: Labels = { ring, reader: readerLabel(r.desc, r.pid), pid: r.pid, slot: r.slot, kind: r.kind };
      add("fluxcap_reader_frames_read_total", l, r.framesRead);
      add("fluxcap_reader_bytes_read_total", l, r.bytesRead);
      add("fluxcap_reader_frames_sent_total", l, r.framesSent);
      add("fluxcap_reader_lost_frames_total", l, r.framesLost);
      for (const reason of DROP_REASONS) {
        add("fluxcap_reader_dropped_frames_total", { ...l, reason }, r.drops[reason]);
      }
      add("fluxcap_reader_lag_bytes", l, r.lagBytes);
    }
  }
  let out = "";
  for (const f of fam.values()) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const [labels, v] of f.samples) {
      const ls = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(String(x))}"`).join(",");
      out += `${f.name}{${ls}} ${v}\n`;
    }
  }
  return out;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Address bound (e.g. "127.0.0.1" or "::1"). */
  addr: string;
  /** Port bound (the kernel's choice when 0 was asked). */
  port: number;
  /** Stops listening and unmaps the rings. */
  close(): Promise<void>;
}

/**
 * Serves `/metrics` for `rings` on `spec` (`[addr:]port`, default address 127.0.0.1). A ring is a path
 * (labelled with it) or `{ name, path }` (labelled with its name, as `fluxcap run` does). Throws a
 * {@link FluxError} with a one-line message for a bad spec or an address that cannot be bound.
 *
 * @example
 * ```ts
 * import { startMetrics } from "./metrics.ts";
 * const m = startMetrics("0", ["/dev/shm/demo"]);
 * const text = await (await fetch(`http://127.0.0.1:${m.port}/metrics`)).text();
 * await m.close();
 * ```
 */
export function startMetrics(
  spec: string,
  rings: (string | { name: string; path: string })[],
): MetricsServer {
  const { hostname, port } = parseListen(spec);
  const watches = rings.map((r) => typeof r === "string" ? new RingWatch(r) : new RingWatch(r.name, r.path));
  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (url.pathname === "/metrics") {
      const body = exposition(watches.map((w) => w.sample()));
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (url.pathname === "/") {
      return new Response("fluxcap metrics: see /metrics\n", { headers: { "content-type": "text/plain" } });
    }
    return new Response("Not found: the metrics are at /metrics\n", { status: 404 });
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  } catch (e) {
    for (const w of watches) w.close();
    const why = e instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.AddrNotAvailable
      ? "address not available on this host"
      : e instanceof Error
      ? e.message
      : String(e);
    const shown = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
    throw new FluxError(`Cannot listen for metrics on "${shown}": ${why}`);
  }
  let closed: Promise<void> | null = null;
  return {
    addr: server.addr.hostname,
    port: server.addr.port,
    close() {
      closed ??= server.shutdown().finally(() => {
        for (const w of watches) w.close();
      });
      return closed;
    },
  };
}
