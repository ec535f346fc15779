/**
 * The network-namespace lab lives in `lib/lab/` (the demo and the benchmarks use it too).
 * @module
 */
export * from "../lib/lab/mod.ts";
