/** `fluxcap demo` runs the main job in a lab of namespaces, checks delivery and tears down. */
import { assertEquals, assertIncludes } from "./assert.ts";
import { labAvailable } from "./lab.ts";
import { fluxcap } from "./helpers.ts";

const reason = await labAvailable(["ip"]);
if (reason) console.log(`demo test skipped: ${reason}`);

Deno.test({
  name: "demo: builds the lab, replicates and aggregates, every sensor gets every frame, tears down",
  ignore: reason !== null,
  fn: async () => {
    const before = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
    );
    const r = await fluxcap(["demo", "--seconds", "6"], { timeoutMs: 120_000 });
    assertEquals(r.code, 0, r.stderr + r.stdout.slice(-2000));
    assertIncludes(r.stdout, "check: PASSED, every sensor received every frame it should");
    assertIncludes(r.stdout, "sensor B received");
    // Not a terminal: one JSON line per ring per second.
    const json = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assertEquals(json.length >= 6, true, "JSON lines while watching");
    assertIncludes(r.stderr, "lab torn down");
    const after = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
    );
    assertEquals(after.split("\n").filter((l) => l.includes("demo")).length, 0, `namespaces left: ${after}`);
    void before;
  },
});

Deno.test({
  name: "demo: SIGTERM midway tears everything down",
  ignore: reason !== null,
  fn: async () => {
    const { fluxcapCommand } = await import("./helpers.ts");
    const [cmd, ...pre] = fluxcapCommand();
    const child = new Deno.Command(cmd, {
      args: [...pre, "demo", "--seconds", "20"],
      stdout: "null",
      stderr: "piped",
    })
      .spawn();
    await new Promise((r) => setTimeout(r, 6000));
    child.kill("SIGTERM");
    const out = await child.output();
    const err = new TextDecoder().decode(out.stderr);
    assertIncludes(err, "lab torn down");
    const after = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
    );
    assertEquals(after.split("\n").filter((l) => l.includes("demo")).length, 0, `namespaces left: ${after}`);
    assertEquals(out.code !== 0, true, "an interrupted demo does not claim success");
  },
});
