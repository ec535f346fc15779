/**
 * A capture file (or stdin) read in chunks with blocking reads, for the replay source.
 *
 * @module
 */
import { FluxError, fsErrorText } from "../errors.ts";

/** A capture file (or stdin for `-`) read in chunks with blocking reads. */
export class CaptureSource {
  readonly name: string;
  #file: Deno.FsFile | null;
  #stdin: boolean;

  /** Opens `path` (`-` is stdin). Throws a one-line Error when it cannot be opened. */
  constructor(path: string) {
    this.name = path;
    this.#stdin = path === "-";
    this.#file = null;
    if (this.#stdin) return;
    try {
      if (Deno.statSync(path).isDirectory) throw new Deno.errors.IsADirectory();
      this.#file = Deno.openSync(path, { read: true });
    } catch (e) {
      throw new FluxError(`Cannot read capture "${path}": ${fsErrorText(e)}`);
    }
  }

  /** True when the source can be read again from the start (`--loop`). */
  get seekable(): boolean {
    return !this.#stdin;
  }

  /** Reads into `buf`; returns the number of bytes, or 0 at the end. */
  read(buf: Uint8Array): number {
    try {
      if (!this.#stdin && this.#file === null) return 0;
      const n = this.#stdin ? Deno.stdin.readSync(buf) : this.#file!.readSync(buf);
      return n ?? 0;
    } catch (e) {
      throw new FluxError(`Cannot read capture "${this.name}": ${fsErrorText(e)}`);
    }
  }

  /** Goes back to the start of the file. */
  rewind(): void {
    this.#file?.seekSync(0, Deno.SeekMode.Start);
  }

  /** Closes the file. Safe to call twice. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
