/**
 * Log lines of `fluxcap run`: one line per event, prefixed with the pipeline's name, plain text (no
 * colour) so that journald and files take it as it is. Each line starts with the time (UTC, ms)
 * unless stderr goes to the journal (`JOURNAL_STREAM` names it), which stamps lines itself.
 *
 * @module
 */
import { C, fstat } from "../../ffi/mod.ts";

/** Writes one log line. */
export type Logger = (line: string) => void;

/** True when stderr is the journal (systemd sets `JOURNAL_STREAM=dev:inode` of the stream it gave). */
function stderrIsJournal(): boolean {
  if (Deno.permissions.querySync({ name: "env", variable: "JOURNAL_STREAM" }).state !== "granted") {
    return false;
  }
  const js = Deno.env.get("JOURNAL_STREAM");
  if (!js) return false;
  const st = new Uint8Array(C.STAT_SIZE);
  if (fstat(2, st) !== 0) return true; // cannot tell: trust the variable
  const dv = new DataView(st.buffer);
  const [dev, ino] = js.split(":");
  return String(dv.getBigUint64(C.STAT_ST_DEV, true)) === dev &&
    String(dv.getBigUint64(C.STAT_ST_INO, true)) === ino;
}

/**
 * The logger of the supervisor: lines to stderr, stamped with the time unless the journal stamps them.
 *
 * @example
 * ```ts
 * import { stderrLogger } from "./log.ts";
 * const log = stderrLogger();
 * log("zeek: started (pid 1234): fluxcap -tx -i eth2 /ram/cisco");
 * ```
 */
export function stderrLogger(): Logger {
  const stamp = !stderrIsJournal();
  const enc = new TextEncoder();
  return (line: string) => {
    const text = (stamp ? `${new Date().toISOString()} ` : "") + line.replace(/[\r\n]+/g, " ") + "\n";
    const b = enc.encode(text);
    let off = 0;
    while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
  };
}

/** The time stamp at the start of a logged line (ms since the epoch), or null. For tests and tools. */
export function lineTime(line: string): number | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /.exec(line);
  return m ? Date.parse(m[1]) : null;
}
