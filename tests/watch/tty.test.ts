/**
 * The terminal view under a real pseudo-terminal (tmux): it draws, updates, serves the metrics it
 * announces, and quits cleanly on q, Ctrl-C and end of input, leaving the terminal as it found it.
 * Skipped when tmux is not installed (`apt-get install -y tmux`).
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { fluxcapCommand, makeRingDir, rmrf } from "../helpers.ts";
import { parsePromText, valueOf } from "./promtext.ts";

const TRAFFIC = new URL("./traffic.ts", import.meta.url).pathname;
let runs = 0;
let socket = "";

function haveTmux(): boolean {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}
const TMUX = haveTmux();
if (!TMUX) console.log("tmux not installed: the terminal view tests are skipped");

function tmux(...args: string[]): string {
  const out = new Deno.Command("tmux", { args: ["-S", socket, ...args], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`tmux ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function screen(escapes = false): string {
  return tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", "view");
}

/** Styles (bold, dim, underline, colours) tmux reports on the screen. */
function styles(): string[] {
  const s = screen(true);
  return ["1", "2", "4", "31", "32", "33", "36"].filter((c) => s.includes(`\x1b[${c}m`));
}

function paneFlag(flag: string): string {
  return tmux("display-message", "-p", "-t", "view", `#{${flag}}`).trim();
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `script` in a fresh tmux server (its own socket) in `cwd`, with `env` set. */
function startTmux(cwd: string, script: string, env: string): void {
  socket = `${cwd}/tmux-${++runs}.sock`; // removed with the test's directory
  tmux(
    ...["-f", "/dev/null", "new-session", "-d", "-s", "view", "-x", "150", "-y", "40", "-c", cwd],
    ...["-e", env, "sh", "-c", script],
  );
}

/** Starts the view in `cwd`; `redirect` is appended to the fluxcap command. */
function startView(cwd: string, args: string[], redirect = ""): void {
  const cmd = [...fluxcapCommand(), ...args].map(quote).join(" ");
  const script = `S1=$(stty -g); ${cmd} ${redirect}; echo "EXIT=$?"; ` +
    `[ "$S1" = "$(stty -g)" ] && echo TTY-RESTORED; sleep 60`;
  startTmux(cwd, script, "NO_COLOR=");
}

function stopTmux(): void {
  try {
    tmux("kill-server");
  } catch { /* not running */ }
}

async function checkQuit(keys: string[]): Promise<void> {
  tmux("send-keys", "-t", "view", ...keys);
  await until("the view to end", () => screen().includes("EXIT="), 5000);
  const s = screen();
  assertIncludes(s, "EXIT=0");
  assertIncludes(s, "TTY-RESTORED", "stty settings restored");
  assert(!s.includes("rx-rate"), "alternate screen left");
  assertEquals(paneFlag("alternate_on"), "0");
  assertEquals(paneFlag("cursor_flag"), "1", "cursor shown again");
}

Deno.test({
  name: "watch view (tmux): draws, updates 10 times a second, announces its metrics, quits on q",
  ignore: !TMUX,
  async fn() {
    const dir = makeRingDir();
    const path = `${dir}/cisco`;
    createRing(path, { size: 1 << 20 });
    createRing(`${dir}/dell`, { size: 1 << 20 });
    const traffic = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TRAFFIC, path],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const out = traffic.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assertEquals((await out.read()).value?.trim(), "ready");
      await out.cancel();
      startView(dir, ["-io", "--metrics", "0", "cisco", "dell"]);
      await until("the view", () => /tx test/.test(screen()));
      const first = screen();
      assertIncludes(first, "rx-rate");
      assertIncludes(first, "frames/s");
      assert(/^cisco +\d/m.test(first), "cisco's line");
      assert(/^dell +\d/m.test(first), "dell's line");
      assertIncludes(first, "rx test");
      assertIncludes(first, "NIC");
      assertIncludes(first, "filtered");
      assertIncludes(first, "send errors");
      assertEquals(paneFlag("alternate_on"), "1");
      assertEquals(paneFlag("cursor_flag"), "0", "cursor hidden");
      assert(styles().length > 2, "colour on a terminal without NO_COLOR");
      const frames = () => Number(/frames (\d+)/.exec(screen())?.[1] ?? -1);
      const f0 = frames();
      await until("the frame count to move", () => frames() > f0, 5000);
      await until("a rate", () => /Mbit\/s|Kbit\/s/.test(screen()), 5000);

      const url = /metrics (http:\/\/\S+\/metrics)/.exec(screen())?.[1];
      assert(url, "metrics URL on screen");
      const p = parsePromText(await (await fetch(url)).text());
      assert(valueOf(p, "fluxcap_ring_frames_total", { ring: "cisco" }) > 0);

      Deno.removeSync(`${dir}/dell`);
      await until("the deleted ring shown as gone", () => screen().includes("gone: deleted"), 5000);
      await checkQuit(["q"]);
    } finally {
      stopTmux();
      try {
        traffic.kill("SIGKILL");
      } catch { /* ended */ }
      await traffic.status;
      rmrf(dir);
    }
  },
});

Deno.test({
  name: "watch view (tmux): Ctrl-C and end of input quit and restore the terminal; NO_COLOR is respected",
  ignore: !TMUX,
  async fn() {
    const dir = makeRingDir();
    const path = `${dir}/cisco`;
    createRing(path, { size: 1 << 20 });
    try {
      startView(dir, ["-io", "cisco"]);
      await until("the view", () => screen().includes("rx-rate"));
      await checkQuit(["C-c"]);
      stopTmux();

      startView(dir, ["-io", "cisco"], "</dev/null"); // stdin at end of input at once
      await until("the view to end", () => screen().includes("EXIT="), 15_000);
      assertIncludes(screen(), "EXIT=0");
      assertIncludes(screen(), "TTY-RESTORED");
      assertEquals(paneFlag("alternate_on"), "0");
      stopTmux();

      startTmux(dir, `${[...fluxcapCommand(), "-io", "cisco"].map(quote).join(" ")}; sleep 60`, "NO_COLOR=1");
      await until("the view", () => screen().includes("rx-rate"));
      assertEquals(styles(), [], "no colour or bold with NO_COLOR");
      tmux("send-keys", "-t", "view", "q");
    } finally {
      stopTmux();
      rmrf(dir);
    }
  },
});
