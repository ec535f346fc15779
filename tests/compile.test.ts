/**
 * `deno task compile` builds one executable that runs from any directory. `deno compile` needs its
 * runtime (denort): from DENORT_BIN, Deno's cache, or the network. Without one this test is skipped
 * with the reason printed.
 */
import { assertEquals, assertIncludes } from "./assert.ts";

const root = new URL("..", import.meta.url).pathname;

async function runtimeMissing(): Promise<string | null> {
  if (Deno.env.get("DENORT_BIN")) return null;
  const home = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  try {
    Deno.statSync(`${home}/dl/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`);
    return null;
  } catch { /* not cached */ }
  try {
    await Deno.resolveDns("dl.deno.land", "A", { signal: AbortSignal.timeout(3000) });
    return null;
  } catch (e) {
    return `no denort runtime: DENORT_BIN is not set, none is cached, and it cannot be downloaded ` +
      `(${e instanceof Error ? e.message : e})`;
  }
}

const missing = await runtimeMissing();
if (missing) console.log(`compile test skipped: ${missing}`);

Deno.test({
  name: "compile: dist/fluxcap is one executable that runs from any directory and passes the CLI tests",
  ignore: missing !== null,
  fn: async () => {
    const dist = Deno.makeTempDirSync({ prefix: "fluxcap-dist-" });
    try {
      const bin = `${dist}/fluxcap`;
      const c = await new Deno.Command(Deno.execPath(), {
        args: ["task", "compile"],
        cwd: root,
        env: { FLUXCAP_DIST: bin },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(c.code, 0, new TextDecoder().decode(c.stderr));
      const h = await new Deno.Command(bin, { args: ["-h"], cwd: "/", stdout: "piped" }).output();
      assertEquals(h.code, 0);
      assertIncludes(new TextDecoder().decode(h.stdout), "usage: fluxcap");
      const t = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "tests/cli_create.test.ts"],
        cwd: root,
        env: { FLUXCAP_BIN: bin },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(t.code, 0, new TextDecoder().decode(t.stdout).slice(-3000));
    } finally {
      Deno.removeSync(dist, { recursive: true });
    }
  },
});

Deno.test("compile: without a runtime the task says why and exits 2", async () => {
  if (missing === null) return; // a runtime is at hand: the test above covers the build
  const c = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: root,
    env: { FLUXCAP_DIST: `${Deno.makeTempDirSync()}/fluxcap` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(c.code, 2);
  assertIncludes(new TextDecoder().decode(c.stderr), "set DENORT_BIN=/path/to/denort");
});
