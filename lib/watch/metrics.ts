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
import {
  BoundedHttpServer,
  type HttpLimits,
  type HttpRequest,
  type HttpResponse,
  type HttpStats,
} from "./http.ts";
import { VERSION } from "../version.ts";

/** Where to listen, from a `--metrics` value. */
export interface ListenSpec {
  hostname: string;
  port: number;
}

/**
 * Parses `[addr:]port`: `9086` → 127.0.0.1:9086, `0.0.0.0:9086`, `[::1]:9086`, `localhost:9086`.
 * Port 0 asks the kernel for a free port. Throws a {@link UsageError} naming the value.
 */
export function parseListen(spec: string): ListenSpec {
  const bad = (why: string) =>
    new UsageError(`Invalid --metrics "${spec}": ${why} (expected [addr:]port, e.g. 9086 or 0.0.0.0:9086)`);
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
  ["fluxcap_build_info", "gauge", "Always 1; labels: the fluxcap version and the Deno version it runs on."],
  [
    "fluxcap_info",
    "gauge",
    "Always 1, one per process attached to a ring: its role (writer or reader), description, slot and pid.",
  ],
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
  [
    "fluxcap_metrics_connections_accepted_total",
    "counter",
    "Connections this metrics endpoint accepted.",
  ],
  [
    "fluxcap_metrics_connections_shed_total",
    "counter",
    "Connections this metrics endpoint closed without an answer: over its connection limit, or too slow.",
  ],
  [
    "fluxcap_metrics_accept_errors_total",
    "counter",
    "Connections this metrics endpoint failed to accept (out of descriptors, for example); retried.",
  ],
] as const;

type MetricName = typeof METRICS[number][0];

/** fluxcap's version (the one `deno.json` and `fluxcap --version` give). */
export const FLUXCAP_VERSION: string = VERSION;

/**
 * The text exposition of `samples` (one per ring), plus the endpoint's own counters when `http` is given.
 *
 * Series are labelled with what stays the same when a process restarts (ring, reader description and
 * kind, drop reason); the pids and reader slots, which change, are only in `fluxcap_info`.
 *
 * @example
 * ```ts
 * import { exposition } from "./metrics.ts";
 * const text = exposition([{ name: "cisco", at: 0, snap: null, gone: true, reason: "deleted", generation: 1 }]);
 * // contains 'fluxcap_ring_up{ring="cisco"} 0'
 * ```
 */
export function exposition(samples: WatchSample[], http?: HttpStats): string {
  const fam = new Map<MetricName, Family>();
  for (const [name, type, help] of METRICS) fam.set(name, { name, type, help, samples: [] });
  const add = (name: MetricName, labels: Labels, v: number) => fam.get(name)!.samples.push([labels, v]);
  add("fluxcap_build_info", { version: FLUXCAP_VERSION, deno: Deno.version.deno }, 1);
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
    add("fluxcap_writer_up", { ring }, w?.alive ? 1 : 0);
    if (w?.alive) add("fluxcap_info", { ring, role: "writer", writer: w.desc, pid: w.pid }, 1);
    for (const reason of DROP_REASONS) {
      add("fluxcap_writer_dropped_frames_total", { ring, reason }, w ? w.drops[reason] : 0);
    }
    const seen = new Map<string, number>();
    const names = new Map<number, string>();
    for (const r of s.readers) {
      // The slot changes when a reader restarts (a dead one's slot is reclaimed only when no slot is
      // free), so a reader is named by its description; the same description twice gets " #2", ….
      const n = (seen.get(r.desc) ?? 0) + 1;
      seen.set(r.desc, n);
      names.set(r.slot, n === 1 ? r.desc : `${r.desc} #${n}`);
    }
    for (const r of s.readers) {
      const reader = names.get(r.slot)!;
      // A member of an output group also names its group (the group's reader).
      const l: Labels = r.kind === "member"
        ? { ring, reader, kind: r.kind, group: names.get(r.group) ?? "" }
        : { ring, reader, kind: r.kind };
      add("fluxcap_info", { ring, role: "reader", reader, kind: r.kind, slot: r.slot, pid: r.pid }, 1);
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
  if (http) {
    add("fluxcap_metrics_connections_accepted_total", {}, http.accepted);
    add("fluxcap_metrics_connections_shed_total", { reason: "limit" }, http.shedLimit);
    add("fluxcap_metrics_connections_shed_total", { reason: "timeout" }, http.shedTimeout);
    add("fluxcap_metrics_accept_errors_total", {}, http.acceptErrors);
  }
  let out = "";
  for (const f of fam.values()) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const [labels, v] of f.samples) {
      const ls = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(String(x))}"`).join(",");
      out += ls ? `${f.name}{${ls}} ${v}\n` : `${f.name} ${v}\n`;
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
  /** The endpoint's own counters (connections accepted, shed, accept errors). */
  stats(): HttpStats;
  /** Stops listening, closes every connection and unmaps the rings. */
  close(): Promise<void>;
}

/** Options of {@linkcode startMetrics}. */
export interface MetricsOptions {
  /** Where the endpoint's one-line warnings go (default: stderr). */
  log?: (line: string) => void;
  /** Overrides of {@linkcode HTTP_LIMITS} (tests use short timeouts). */
  limits?: Partial<HttpLimits>;
}

/**
 * Serves `/metrics` for `rings` on `spec` (`[addr:]port`, default address 127.0.0.1). A ring is a path
 * (labelled with it) or `{ name, path }` (labelled with its name, as `fluxcap run` does). Throws a
 * {@link FluxError} with a one-line message for a bad spec or an address that cannot be bound; after
 * that nothing it does throws: connections are bounded and timed out, failures are logged as one line
 * and retried (see `http.ts`), so the endpoint can never stop the pipeline it runs beside.
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
  opts: MetricsOptions = {},
): MetricsServer {
  const { hostname, port } = parseListen(spec);
  const watches = rings.map((r) => typeof r === "string" ? new RingWatch(r) : new RingWatch(r.name, r.path));
  let server: BoundedHttpServer | null = null;
  const handler = (req: HttpRequest): HttpResponse => {
    if (req.path === "/metrics") {
      return {
        status: 200,
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        body: exposition(watches.map((w) => w.sample()), server?.stats()),
      };
    }
    if (req.path === "/") {
      return {
        status: 200,
        contentType: "text/plain; charset=utf-8",
        body: "fluxcap metrics: see /metrics\n",
      };
    }
    return {
      status: 404,
      contentType: "text/plain; charset=utf-8",
      body: "Not found: the metrics are at /metrics\n",
    };
  };
  try {
    server = BoundedHttpServer.listen({
      hostname,
      port,
      handler,
      log: opts.log ?? ((line) => console.error(line)),
      limits: opts.limits,
    });
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
  const s = server;
  let closed: Promise<void> | null = null;
  return {
    addr: s.hostname,
    port: s.port,
    stats: () => s.stats(),
    close() {
      closed ??= s.close().finally(() => {
        for (const w of watches) w.close();
      });
      return closed;
    },
  };
}
