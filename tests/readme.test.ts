/**
 * Every fluxcap command shown in the README parses and passes option validation exactly as written;
 * what each one does is exercised by the behaviour tests named beside it in `COVERED_BY`.
 */
import { assert, assertEquals } from "./assert.ts";
import { parseArgs, parseCommandLine } from "../lib/settings/mod.ts";
import { parseSize } from "../lib/ring/mod.ts";
import { parseConfig } from "../lib/service/config.ts";

const readme = Deno.readTextFileSync(new URL("../README.md", import.meta.url));

/** Splits a shell line into words (single and double quotes, no expansion). */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote = "";
  let any = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = "";
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (ch === " ") {
      if (cur || any) out.push(cur);
      cur = "";
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

/** Splits a shell line at `&`, `|` and `;` outside quotes (a filter expression may hold `&`). */
function splitShell(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote = "";
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = "";
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "&" || ch === "|" || ch === ";") {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** The fluxcap invocations in the README's code blocks. */
function commands(): string[][] {
  const out: string[][] = [];
  let inBlock = false;
  for (const raw of readme.split("\n")) {
    if (raw.trim().startsWith("```")) {
      inBlock = !inBlock;
      continue;
    }
    const line = raw.replace(/^ExecStart=\S*\//, "").replace(/^#.*$/, "").replace(/\s#\s.*$/, "").trim();
    if (!inBlock && !raw.startsWith("ExecStart=") && !raw.startsWith("# ExecStart=")) continue;
    for (const part of splitShell(line)) {
      const w = words(part.trim());
      if (w[0] === "fluxcap") out.push(w.slice(1));
    }
  }
  return out;
}

Deno.test("readme: every fluxcap command parses and validates as written", () => {
  const cmds = commands();
  assert(cmds.length >= 35, `found ${cmds.length} commands`);
  const modes = new Set<string>();
  for (const argv of cmds) {
    if (argv[0] === "run" || argv[0] === "check" || argv[0] === "status") {
      // The service subcommands: options, then one configuration file (status: or rings).
      const rest = argv.slice(1).filter((w) => !w.startsWith("-"));
      assert(rest.length >= 1 && (argv[0] === "status" || rest.length === 1), `fluxcap ${argv.join(" ")}`);
      modes.add(argv[0]);
      continue;
    }
    const a = parseArgs(argv);
    modes.add(a.mode);
    const where = `fluxcap ${argv.join(" ")}`;
    assert(a.mode !== "help" || argv.includes("-h"), `${where}: a mode`);
    if (a.mode === "create") {
      assert(typeof parseSize(a.size!) === "number", `${where}: size`);
      assert(a.rings.length > 0, where);
    }
    if (a.mode === "rx" || a.mode === "tx") {
      parseCommandLine(argv); // every value validated: frame operations, -E, -K, sizes, ...
      assertEquals(a.rings.length, 1, `${where}: one ring`);
      assert(
        a.iface !== undefined || a.encap !== undefined || a.read !== undefined || a.write !== undefined,
        where,
      );
    }
    if (a.mode === "watch") assert(a.rings.length > 0, where);
  }
  for (const m of ["create", "rx", "tx", "watch", "run", "check", "status"]) {
    assert(modes.has(m), `README shows mode ${m}`);
  }
});

Deno.test("readme: the configuration file example is valid", () => {
  const yaml = /```yaml\n(# \/etc\/fluxcap\/fluxcap\.yaml\n[\s\S]*?)```/.exec(readme);
  assert(yaml !== null, "README shows /etc/fluxcap/fluxcap.yaml");
  const cfg = parseConfig(yaml[1], { file: "fluxcap.yaml", dir: "/etc/fluxcap" });
  assert(cfg.pipelines.length >= 5);
  assertEquals(cfg.metrics, "9086");
});

/** Where the behaviour of the README's commands is tested. */
export const COVERED_BY: Record<string, string> = {
  "-cr -s/-k/-v": "tests/cli_create.test.ts",
  "-rx -i / -tx -i, -V -Q -f -d -s -D, -q -R, --metrics": "tests/nic.test.ts",
  "-tx -E / -rx -E": "tests/tunnel/",
  "-tx -w / -rx --read": "tests/pcap/",
  "-io, --json, --once, --metrics": "tests/watch/",
  "demo": "tests/demo.test.ts",
  "run / check / status, contrib/fluxcap.service": "tests/service/",
  "compile": "tests/compile.test.ts",
  "-f EXPR, output groups (-i a,b / -E kind:h1,h2, --balance), --dedup": "tests/broker/",
};
