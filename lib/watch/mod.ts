/**
 * Watching rings: sliding-window rates, the terminal view, JSON lines and the Prometheus endpoint.
 * @module
 */
export {
  countersOf,
  RATE_WINDOW_MS,
  ratesFrom,
  RateWindow,
  readerKey,
  sampleRates,
  zeroRates,
} from "./rates.ts";
export type { ReaderRates, RingRates } from "./rates.ts";
export { RingWatch } from "./source.ts";
export type { WatchSample } from "./source.ts";
export { ringJson } from "./json.ts";
export type { ReaderJson, RingJson } from "./json.ts";
export { barCells, colourWanted, logBar, rate, renderView } from "./render.ts";
export type { RenderOptions, RingView } from "./render.ts";
export { escapeLabel, exposition, FLUXCAP_VERSION, METRICS, parseListen, startMetrics } from "./metrics.ts";
export type { ListenSpec, MetricsOptions, MetricsServer } from "./metrics.ts";
export { BoundedHttpServer, HTTP_LIMITS } from "./http.ts";
export type { HttpHandler, HttpLimits, HttpRequest, HttpResponse, HttpStats } from "./http.ts";
