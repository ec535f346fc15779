/**
 * The engine: one receive loop and one transmit loop, run in a Worker, and the kit they share.
 * `worker.ts` is the Worker's entry and is not exported: importing it would install a message handler.
 *
 * @module
 */
export { PARENT_ENV, runWorker } from "./host.ts";
export type { HostOptions } from "./host.ts";
export type { Job, RxJob, TxJob } from "./jobs.ts";
export { type LoopContext, type LoopMessage, nap, stopping, throttle } from "./kit.ts";
export { RingIngest } from "./rx_loop.ts";
