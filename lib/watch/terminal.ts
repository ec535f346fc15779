/**
 * The full-screen terminal session of `fluxcap -io`: raw keyboard input, the alternate screen, a hidden
 * cursor, and a restore that is safe to call from every exit path (and twice).
 *
 * @module
 */

/** Escape sequences used by the view. */
export const ESC = {
  altScreenOn: "\x1b[?1049h",
  altScreenOff: "\x1b[?1049l",
  hideCursor: "\x1b[?25l",
  showCursor: "\x1b[?25h",
  home: "\x1b[H",
  clearLineRight: "\x1b[K",
  clearBelow: "\x1b[J",
  reset: "\x1b[0m",
} as const;

const enc = new TextEncoder();

/** Writes all of `s` to stdout (a terminal may take it in pieces). */
export function writeOut(s: string): void {
  const b = enc.encode(s);
  let off = 0;
  while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
}

/** A frame of the view: lines drawn from the top-left corner, each ending in clear-to-end-of-line. */
export function frame(lines: string[]): string {
  return ESC.home + lines.map((l) => l + ESC.reset + ESC.clearLineRight).join("\r\n") + ESC.clearBelow;
}

/** Keys that end the view: q, Q, Ctrl-C (0x03 in raw mode), Ctrl-D (0x04). */
export function isQuitKey(b: number): boolean {
  return b === 0x71 || b === 0x51 || b === 0x03 || b === 0x04;
}

/**
 * Enters the full-screen view; the returned function restores the terminal (idempotent).
 */
export function enterScreen(): () => void {
  let raw = false;
  if (Deno.stdin.isTerminal()) {
    try {
      Deno.stdin.setRaw(true);
      raw = true;
    } catch { /* not a terminal after all: keys are read as lines */ }
  }
  writeOut(ESC.altScreenOn + ESC.hideCursor + ESC.home + ESC.clearBelow);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    try {
      writeOut(ESC.reset + ESC.showCursor + ESC.altScreenOff);
    } catch { /* stdout gone */ }
    if (raw) {
      try {
        Deno.stdin.setRaw(false);
      } catch { /* stdin gone */ }
    }
  };
}

/**
 * Reads stdin until a quit key or end of input, then resolves. Never rejects (a read error counts as
 * end of input).
 */
export async function waitForQuit(signal: AbortSignal): Promise<void> {
  const buf = new Uint8Array(64);
  while (!signal.aborted) {
    let n: number | null;
    try {
      n = await Deno.stdin.read(buf);
    } catch {
      return;
    }
    if (n === null) return;
    for (let i = 0; i < n; i++) if (isQuitKey(buf[i])) return;
  }
}
