/**
 * The network-namespace lab lives in `lib/lab/lab.ts` (the demo and the benchmarks use it too).
 * @module
 */
export * from "../lib/lab/lab.ts";
