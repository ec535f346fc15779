/**
 * The network-namespace lab for the demo, the tests and the benchmarks: private namespaces joined by
 * veth pairs ({@linkcode Lab}), processes inside them ({@linkcode LabProcess}), `tcpdump` captures
 * ({@linkcode Capture}), test frames ({@linkcode makeFrame}, {@linkcode parseTestFrame}), mixed traffic
 * ({@linkcode mixedTraffic}), a paced `sendmmsg` generator ({@linkcode FrameGenerator}), pcap files for
 * injection and assertions (over `lib/codec/pcap.ts`), and the sweep of namespaces left behind by dead
 * runs. Import the lab from here only.
 *
 * @example
 * ```ts ignore
 * import { Lab, labAvailable, makeFrame } from "./mod.ts";
 * if ((await labAvailable(["ip", "tcpdump", "tcpreplay"])) === null) {
 *   await using lab = await Lab.create("demo");
 *   const a = await lab.ns("a"), b = await lab.ns("b");
 *   await lab.veth({ ns: a, name: "va" }, { ns: b, name: "vb" });
 *   const cap = await lab.tcpdump(b, "vb", { direction: "in" });
 *   await lab.sendFrames(a, "va", [makeFrame({ len: 60, seq: 1 })]);
 *   const got = await cap.stop();
 * }
 * ```
 *
 * @module
 */
export { labAvailable } from "./available.ts";
export { Lab, type VethEnd } from "./lab.ts";
export { LabProcess, type RunOptions, type RunResult } from "./process.ts";
export { Capture } from "./capture.ts";
export { sweepStaleNamespaces } from "./sweep.ts";
export { makeFrame, parseTestFrame, TEST_ETHERTYPE, type VlanSpec } from "./frames.ts";
export { type PcapRecord, readPcap, readPcapFrames, writePcap } from "./pcap.ts";
export { mixedTraffic, Rng, udpFlowFrame } from "./traffic.ts";
export {
  FrameGenerator,
  type GeneratorResult,
  type GeneratorRun,
  MAX_FRAMES,
  MAX_LOADED,
  MAX_RUN_MS,
} from "./generator.ts";
