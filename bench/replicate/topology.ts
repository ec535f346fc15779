/**
 * The replication benchmark's topology, one for the whole run, RPS set on every veth:
 *
 * ```
 * gen [g0] ──── [in0] fx [out1] ──── [s1] s1
 *                        [out2] ──── [s2] s2
 * ```
 *
 * and the interface counters a trial reads: delivered = the rise of `rx_packets` of each sensor's veth.
 *
 * @module
 */
import type { Lab } from "../../lib/lab/mod.ts";
import { sleep } from "./common.ts";

/** The lab and its namespaces. */
export interface Topo {
  lab: Lab;
  gen: string;
  fx: string;
  s1: string;
  s2: string;
}

export async function topology(lab: Lab): Promise<Topo> {
  const gen = await lab.ns("gen"), fx = await lab.ns("fx"), s1 = await lab.ns("s1"), s2 = await lab.ns("s2");
  // in0 gets an address only because daemonlogger refuses an interface without one.
  await lab.veth(
    { ns: gen, name: "g0", mac: "02:66:78:00:10:01" },
    { ns: fx, name: "in0", mac: "02:66:78:00:10:02", ip: "198.18.0.1/30" },
  );
  await lab.veth({ ns: fx, name: "out1", mac: "02:66:78:00:11:01" }, {
    ns: s1,
    name: "s1",
    mac: "02:66:78:00:11:02",
  });
  await lab.veth({ ns: fx, name: "out2", mac: "02:66:78:00:12:01" }, {
    ns: s2,
    name: "s2",
    mac: "02:66:78:00:12:02",
  });
  for (
    const [ns, ifs] of [[gen, ["g0"]], [fx, ["in0", "out1", "out2"]], [s1, ["s1"]], [s2, ["s2"]]] as const
  ) {
    for (const i of ifs) {
      const r = await lab.run(ns, ["sh", "-c", `echo 3 > /sys/class/net/${i}/queues/rx-0/rps_cpus`]);
      if (r.code !== 0) throw new Error(`Cannot set RPS on "${i}": ${r.stderr.trim()}`);
    }
  }
  return { lab, gen, fx, s1, s2 };
}

export interface Counters {
  in0Rx: number;
  outTx: number[];
  outDrop: number[];
  sensorRx: number[];
}

async function stats(lab: Lab, ns: string, files: string[]): Promise<number[]> {
  const r = await lab.run(ns, ["cat", ...files.map((f) => `/sys/class/net/${f}`)], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`Cannot read counters in "${ns}": ${r.stderr.trim()}`);
  return r.stdout.trim().split(/\s+/).map(Number);
}

export async function counters(t: Topo): Promise<Counters> {
  const [fx, s1, s2] = await Promise.all([
    stats(t.lab, t.fx, [
      "in0/statistics/rx_packets",
      "out1/statistics/tx_packets",
      "out2/statistics/tx_packets",
      "out1/statistics/tx_dropped",
      "out2/statistics/tx_dropped",
    ]),
    stats(t.lab, t.s1, ["s1/statistics/rx_packets"]),
    stats(t.lab, t.s2, ["s2/statistics/rx_packets"]),
  ]);
  return { in0Rx: fx[0], outTx: [fx[1], fx[2]], outDrop: [fx[3], fx[4]], sensorRx: [s1[0], s2[0]] };
}

/** Waits until the sensors' counters stop moving (bounded), so a trial starts from an idle path. */
export async function quiesce(t: Topo): Promise<void> {
  let last = "";
  const deadline = performance.now() + 3000;
  while (performance.now() < deadline) {
    const c = await counters(t);
    const key = c.sensorRx.join(",");
    if (key === last) return;
    last = key;
    await sleep(100);
  }
}
