/**
 * `fluxcap -rx --read FILE RING`: replay a pcap or pcapng capture (Ethernet) into a ring, as fast as
 * possible or at the recorded pace (`--pace`), `--loop N` times. Exits 0 by itself when done. See
 * `PCAP.md` beside this file.
 *
 * @module
 */
import type { Args } from "../args.ts";
import { UsageError } from "../args.ts";
import { FluxError } from "../errors.ts";
import type { OpsConfig } from "../ops/mod.ts";
import { checkRing, verboseTicker } from "./common.ts";
import { runWorker } from "./host.ts";
import { intOption, noOps } from "./options.ts";
import type { RxPcapJob } from "./pcap_rx_loop.ts";

/** Runs the mode; resolves to the exit status. */
export async function runPcapReceive(
  a: Args,
  ring: string,
  ops: OpsConfig,
  log: (s: string) => void,
): Promise<number> {
  const file = a.read!;
  if (file === "") throw new UsageError('Invalid capture file name "": empty');
  if (a.iface !== undefined) throw new UsageError("-rx takes either -i <eth> or --read <file>, not both");
  const loops = a.loop === undefined ? 1 : intOption(a.loop, "loop count (--loop)", 0, 2 ** 31);
  if (file === "-" && loops !== 1) {
    throw new UsageError("--loop needs a file it can read again, not - (stdin)");
  }
  checkRing(ring);
  const seconds = a.seconds === undefined ? undefined : Number(a.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new FluxError(`Invalid --seconds "${a.seconds}"`);
  const job: RxPcapJob = {
    kind: "rx-pcap",
    file,
    ring,
    ops,
    passthrough: noOps(ops),
    pace: a.pace,
    loops,
    verbose: a.verbose > 0,
  };
  if (a.verbose) {
    log(
      `fluxcap -rx: replaying "${file}" into ring "${ring}"${a.pace ? " at the recorded pace" : ""}` +
        `${loops === 1 ? "" : loops === 0 ? ", looping until stopped" : `, ${loops} times`}; ` +
        `frame operations: ${JSON.stringify(ops)}`,
    );
  }
  return await runWorker(job as unknown as Record<string, unknown>, {
    log,
    seconds,
    everySecond: a.verbose ? verboseTicker(ring, "rx", log) : undefined,
  });
}
