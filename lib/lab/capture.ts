/**
 * A running `tcpdump` inside a lab namespace and the frames it wrote, read with the one pcap codec
 * (see `pcap.ts`), also while tcpdump is still writing.
 *
 * @module
 */
import { readPcap, readPcapFrames } from "./pcap.ts";
import type { LabProcess } from "./process.ts";

/** A running `tcpdump` inside a lab namespace, writing a pcap file. */
export class Capture {
  /** The pcap file being written. */
  readonly file: string;
  /** The tcpdump process. */
  readonly process: LabProcess;
  /** After `stop()`: packets tcpdump's kernel buffer dropped (its "dropped by kernel" count). */
  kernelDrops = 0;

  /** @internal Use `Lab.tcpdump`. */
  constructor(file: string, process: LabProcess) {
    this.file = file;
    this.process = process;
  }

  /** Frames captured so far (`-U` writes each packet as it arrives; a half-written record is left out). */
  async frames(): Promise<Uint8Array[]> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.file);
    } catch {
      return [];
    }
    return readPcap(bytes, { partial: true }).records.map((r) => r.data);
  }

  /** Waits until at least `n` frames were captured (polling every 20 ms); returns what arrived by then. */
  async waitForFrames(n: number, timeoutMs = 5000): Promise<Uint8Array[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.frames();
      if (got.length >= n || Date.now() >= end || this.process.exited) return got;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops tcpdump (SIGINT, so it flushes and closes the file) and returns every captured frame. */
  async stop(): Promise<Uint8Array[]> {
    const res = await this.process.stop("SIGINT");
    const m = /(\d+) packets? dropped by kernel/.exec(res.stderr);
    this.kernelDrops = m ? Number(m[1]) : 0;
    try {
      return readPcapFrames(await Deno.readFile(this.file));
    } catch (e) {
      throw new Error(
        `Cannot read capture "${this.file}": ${(e as Error).message}; tcpdump said: ${res.stderr.trim()}`,
      );
    }
  }
}
