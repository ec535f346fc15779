/**
 * `fluxcap -h` lists every option the parser knows, with its long name; help is help wherever `-h`
 * stands; an unknown option suggests the nearest one.
 */
import { assert, assertEquals, assertIncludes } from "./assert.ts";
import { fluxcap } from "./helpers.ts";
import { OPTION_NAMES, USAGE } from "../lib/settings/mod.ts";

Deno.test("cli help: -h lists every option, by its long name and its letter", () => {
  assert(OPTION_NAMES.length >= 40, `${OPTION_NAMES.length} options`);
  for (const o of OPTION_NAMES) {
    assertIncludes(USAGE, `--${o.long}`);
    if (o.short) assert(new RegExp(`(^|\\s)-${o.short}[\\s<',]`, "m").test(USAGE), `-${o.short} in the help`);
  }
});

Deno.test("cli help: --help after a mode prints help, exit 0; unknown options suggest the nearest", async () => {
  for (
    const argv of [["-cr", "--help"], ["-tx", "-i", "eth2", "-h", "r"], ["--help", "-rx"], ["-cr", "-help"]]
  ) {
    const r = await fluxcap(argv);
    assertEquals(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    assertIncludes(r.stdout, "usage: fluxcap");
  }
  const v = await fluxcap(["--version"]);
  assertEquals(v.code, 0);
  assert(/^fluxcap \d+\.\d+\.\d+ \(Deno /.test(v.stdout), v.stdout);
  const cases: [string[], string][] = [
    [["-tx", "--vlna", "5", "r"], 'Unknown option "--vlna" (did you mean "--vlan"?)'],
    [["-tx", "--from-olderst", "r"], 'did you mean "--from-oldest"?'],
    [["-rx", "--secodns", "5", "r"], 'did you mean "--seconds"?'],
    [["-rx", "-i", "eth1", "-b", "64", "r"], 'Unknown option "-b" (did you mean "-B", --blocks?)'],
    [["-tx", "-y", "r"], 'Unknown option "-y" (see fluxcap -h)'],
    // a long name with one dash is not read as a bundle of letters (-d would take "edup" as its value)
    [["-tx", "-dedup", "10", "r"], 'Unknown option "-dedup" (did you mean "--dedup"?)'],
    [["-tx", "-verbose", "r"], 'Unknown option "-verbose" (did you mean "--verbose"?)'],
    [["-tx", "-balance", "flows", "r"], 'Unknown option "-balance" (did you mean "--balance"?)'],
  ];
  for (const [argv, text] of cases) {
    const r = await fluxcap(argv);
    assertEquals(r.code, 2, r.stderr);
    assertIncludes(r.stderr, text);
  }
});
