/**
 * A prototype for the replication benchmark, not a fluxcap feature: ONE transmit process serving
 * several NIC outputs from one read of the ring — one wait, one copy and one parse of each batch
 * (`pollInto`), one `secure`/`release`, then the batch staged on every output and one `sendmmsg` per
 * output — instead of one `fluxcap -tx` process per output each reading the ring for itself. It answers
 * whether that costs less per frame (issue 15); the lead builds the real thing on the balance-group
 * sink if so.
 *
 * `deno run -A bench/replicate/multi_tx.ts RING IF [IF…]` inside a lab namespace: frames pass as they
 * are (no frame operations), from the live edge, until SIGINT/SIGTERM (the loop runs in a Worker that
 * checks a stop flag per batch, as fluxcap's own loops do). A frame is counted sent when every output
 * took it, and under `send_error` otherwise.
 *
 * @module
 */
import { addressable } from "../../ffi/mod.ts";
import { DropReason, ReaderKind, RingReader } from "../../lib/ring/mod.ts";
import { type FrameCut, Outcome, PacketSender, Staged } from "../../lib/sinks/mod.ts";

/** Most frames per batch (as `fluxcap -tx`). */
const BATCH = 256;
/** The copy buffer (as `fluxcap -tx`). */
const COPY = 1 << 20;

interface Start {
  ring: string;
  ifaces: string[];
  stop: Int32Array;
}

/** The hot loop, run in the Worker. */
function run({ ring, ifaces, stop }: Start): void {
  const sinks = ifaces.map((iface) => new PacketSender({ iface }));
  const reader = RingReader.open(ring, { desc: `tx ${ifaces.join("+")}`, kind: ReaderKind.nic }, ring);
  try {
    const copy = addressable(Math.max(COPY, reader.minCopySize));
    const cut: FrameCut = { headLen: 0, tagLen: 0, tailOff: 0, tailLen: 0 };
    const ok = new Uint8Array(BATCH);
    while (Atomics.load(stop, 0) === 0) {
      const n = reader.pollInto(copy.bytes, BATCH);
      if (n === 0) {
        reader.flush();
        reader.wait(100);
        continue;
      }
      const offs = reader.offs, lens = reader.lens;
      ok.fill(1, 0, n);
      for (const s of sinks) {
        for (let i = 0; i < n; i++) {
          cut.headLen = lens[i];
          if (s.stage(copy.bytes, copy.addr, offs[i], cut, lens[i], 0, 0, i) !== Staged.staged) ok[i] = 0;
        }
      }
      if (!reader.secure()) { for (const s of sinks) s.discard(); }
      for (const s of sinks) {
        const staged = s.staged;
        s.flush();
        for (let j = 0; j < staged; j++) if (s.status[j] !== Outcome.sent) ok[s.tags[j]] = 0;
      }
      if (reader.release(false) > 0) {
        reader.flush();
        continue;
      }
      let sent = 0;
      for (let i = 0; i < n; i++) {
        if (ok[i]) sent++;
        else reader.addDrop(DropReason.send_error);
      }
      reader.addSent(sent);
      reader.flush();
    }
  } finally {
    reader.close();
    for (const s of sinks) s.close();
  }
}

const inWorker = "WorkerGlobalScope" in globalThis;

if (import.meta.main && !inWorker) {
  const [ring, ...ifaces] = Deno.args;
  if (!ring || ifaces.length === 0) {
    console.error("usage: multi_tx.ts RING IF [IF…]");
    Deno.exit(2);
  }
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(import.meta.url, { type: "module" });
  const halt = () => Atomics.store(stop, 0, 1);
  Deno.addSignalListener("SIGINT", halt);
  Deno.addSignalListener("SIGTERM", halt);
  worker.onmessage = (ev: MessageEvent<string>) => {
    if (ev.data === "ready") console.log("ready");
    else {
      if (ev.data !== "done") console.error(ev.data);
      Deno.exit(ev.data === "done" ? 0 : 1);
    }
  };
  worker.postMessage({ ring, ifaces, stop } satisfies Start);
} else if (inWorker) {
  self.onmessage = (ev: MessageEvent<Start>) => {
    try {
      self.postMessage("ready");
      run(ev.data);
      self.postMessage("done");
    } catch (e) {
      self.postMessage(e instanceof Error ? e.message : String(e));
    }
  };
}
