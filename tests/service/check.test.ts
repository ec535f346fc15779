/**
 * `fluxcap check CONFIG`: a valid file passes and shows each pipeline's command line; each of 20
 * broken files fails with exit status 2 and names the line, the column and the key. The messages come
 * from the command line's own validation, reached through `validatePipelineArgv`.
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../assert.ts";
import { fluxcap, rmrf } from "../helpers.ts";
import { parseConfig } from "../../lib/service/config.ts";
import { validatePipelineArgv } from "../../lib/service/validate.ts";
import { PIPELINE_OPTIONS } from "../../lib/service/options.ts";
import { OPTION_NAMES } from "../../lib/settings/args.ts";

const GOOD = `# fluxcap.yaml
rings:
  cisco: { path: cisco.ring, size: 1m }
  dell:
    path: /dev/shm/dell.ring
    size: 2m
captures:
  cisco-tap:
    ring: cisco
    interface: eth1
    vlan: 100
    blocks: 8
  dell-tap: { ring: dell, encap: gretap, key: 500 }
outputs:
  zeek: { ring: cisco, interface: eth2, filter: vlan 100, qdisc-bypass: true }
  remote: { ring: dell, encap: "vxlan:198.18.7.1", key: 1234, vxlan-port: 4790 }
  archive: { ring: cisco, write: pcap/, rotate-seconds: 60, rotate-megabytes: 100 }
metrics: 9100
state: run/fluxcap.json
`;

Deno.test("service config: a valid file turns into the command lines a user would type", () => {
  const c = parseConfig(GOOD, { file: "fluxcap.yaml", dir: "/etc/fx" });
  assertEquals(c.rings, [
    { name: "cisco", path: "/etc/fx/cisco.ring", size: 1 << 20 },
    { name: "dell", path: "/dev/shm/dell.ring", size: 2 << 20 },
  ]);
  assertEquals(c.pipelines.map((p) => [p.name, p.section, p.ring, p.argv.join(" ")]), [
    ["cisco-tap", "captures", "cisco", "-rx -i eth1 -V 100 -B 8 /etc/fx/cisco.ring"],
    ["dell-tap", "captures", "dell", "-rx -E gretap -K 500 /dev/shm/dell.ring"],
    ["zeek", "outputs", "cisco", "-tx -i eth2 -f vlan 100 -q /etc/fx/cisco.ring"],
    ["remote", "outputs", "dell", "-tx -E vxlan:198.18.7.1 -K 1234 --vxlan-port 4790 /dev/shm/dell.ring"],
    ["archive", "outputs", "cisco", "-tx -w /etc/fx/pcap/ -G 60 -C 100 /etc/fx/cisco.ring"],
  ]);
  assertEquals(c.metrics, "9100");
  assertEquals(c.state, "/etc/fx/run/fluxcap.json");
  for (const p of c.pipelines) validatePipelineArgv(p.argv);
});

Deno.test("service config: the adapter throws the command line's own errors", () => {
  const bad = (argv: string[], text: string) => {
    let msg = "";
    try {
      validatePipelineArgv(argv);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertIncludes(msg, text);
  };
  bad(["-tx", "-i", "eth2", "-V", "5000", "r"], 'VLAN id "5000" is out of range 1..4094');
  bad(["-rx", "-i", "eth1", "-S", "5", "r"], "block size");
  bad(["-tx", "-E", "gre:198.18.0.1", "--fragment", "r"], "--fragment applies to -E vxlan");
  bad(["-tx", "r"], "-tx needs an interface");
  bad(["-tx", "-i", "eth2", "a", "b"], "takes one ring");
  validatePipelineArgv(["-rx", "--read", "x.pcap", "--pace", "--loop", "0", "r"]);
});

const RINGS = "rings:\n  a: { path: a, size: 1m }\n";

/**
 * [what, file text with » just before the place the error must point at, expected key path, a piece
 * of the message]. The line and column are computed from the marker, which is removed.
 */
const BROKEN: [string, string, string, string][] = [
  ["bad YAML", "rings:\n  cisco: { path: x, size: 1m\n»", "", "invalid YAML"],
  ["tab indentation", "rings:\n»\tcisco: {}\n", "", "invalid YAML"],
  [
    "two documents",
    "rings:\n  a: { path: a, size: 1m }\n»---\nrings: {}\n",
    "",
    "a configuration is one document",
  ],
  ["not a mapping", "»- rings\n- outputs\n", "", "expected a mapping"],
  ["unknown top-level key", "»ringz:\n  a: {}\n", "ringz", "allowed: rings, captures, outputs"],
  [
    "unknown ring key",
    "rings:\n  a: { path: a, size: 1m, »mode: 644 }\n",
    "rings.a.mode",
    "allowed: path, size",
  ],
  ["ring without size", "rings:\n  a: »{ path: a }\n", "rings.a", 'missing "size"'],
  ["ring size too small", "rings:\n  a: { path: a, size: »4k }\n", "rings.a.size", "out of range 128k..4g"],
  [
    "ring size not a size",
    "rings:\n  a: { path: a, size: »lots }\n",
    "rings.a.size",
    "optional k, m, g or t",
  ],
  [
    "duplicate ring name",
    "rings:\n  a: { path: a, size: 1m }\n  »a: { path: b, size: 1m }\n",
    "rings.a",
    "duplicate key (first given at line 2, column 3)",
  ],
  [
    "duplicate pipeline name across sections",
    `${RINGS}captures:\n  x: { ring: a, interface: eth1 }\noutputs:\n  »x: { ring: a, interface: eth2 }\n`,
    "outputs.x",
    "the name is taken by captures.x",
  ],
  [
    "output naming a missing ring",
    `${RINGS}outputs:\n  zeek:\n    ring: »cisco\n    interface: eth2\n`,
    "outputs.zeek.ring",
    'no ring "cisco" under rings (rings: a)',
  ],
  [
    "unknown pipeline key",
    `${RINGS}outputs:\n  zeek:\n    ring: a\n    »interfase: eth2\n`,
    "outputs.zeek.interfase",
    "unknown key",
  ],
  [
    "short option name",
    `${RINGS}outputs:\n  zeek: { ring: a, interface: eth2, »V: 7 }\n`,
    "outputs.zeek.V",
    'the file uses long names: "vlan"',
  ],
  [
    "capture-only key on an output",
    `${RINGS}outputs:\n  zeek: { ring: a, interface: eth2, »strip-vlan: true }\n`,
    "outputs.zeek.strip-vlan",
    "it applies to captures",
  ],
  [
    "VLAN out of range",
    `${RINGS}outputs:\n  sensor-b:\n    ring: a\n    interface: eth2\n    vlan: »5000\n`,
    "outputs.sensor-b.vlan",
    'VLAN id "5000" is out of range 1..4094',
  ],
  [
    "switch given a word",
    `${RINGS}outputs:\n  zeek: { ring: a, interface: eth2, qdisc-bypass: »yes }\n`,
    "outputs.zeek.qdisc-bypass",
    'expected true or false, got "yes"',
  ],
  [
    "value given a list",
    `${RINGS}captures:\n  tap:\n    ring: a\n    interface: »[eth1, eth2]\n`,
    "captures.tap.interface",
    "got a list",
  ],
  [
    "no target",
    `${RINGS}outputs:\n  zeek: »{ ring: a, vlan: 7 }\n`,
    "outputs.zeek",
    "give one of interface, encap, write",
  ],
  [
    "two captures on one ring",
    `${RINGS}captures:\n  t1: { ring: a, interface: eth1 }\n  t2: { ring: »a, interface: eth2 }\n`,
    "captures.t2.ring",
    "one capture per ring",
  ],
  [
    "option that does not apply to the target",
    `${RINGS}outputs:\n  remote:\n    ring: a\n    encap: gretap:198.18.7.1\n    frame-size: »2048\n`,
    "outputs.remote.frame-size",
    "-Z does nothing with -tx -E",
  ],
  ["metrics port out of range", `${RINGS}metrics: »70000\n`, "metrics", "port out of range 0..65535"],
  [
    "an option that needs another one",
    `${RINGS}outputs:\n  arch: { ring: a, write: pcap/, max-files: »3 }\n`,
    "outputs.arch.max-files",
    "they need -G or -C",
  ],
  [
    "an unquoted comma list in { }",
    `${RINGS}outputs:\n  pool: { ring: a, interface: eth2,»eth3 }\n`,
    "outputs.pool.eth3",
    'quote a comma list, as in interface: "eth2,eth3"',
  ],
];

Deno.test("service config: every -rx/-tx option of the command line is a key, spelled the same", () => {
  // Not pipeline settings: ring creation, the watch view, one-shot runs, and what the file has at its top.
  const notPipeline = [
    "c",
    "r",
    "t",
    "size",
    "keep",
    "force",
    "help",
    "json",
    "once",
    "metrics",
    "seconds",
    "create",
    "receive",
    "transmit",
    "watch",
    "version",
  ];
  const keys = new Set(PIPELINE_OPTIONS.map((o) => o.long));
  for (const o of OPTION_NAMES) {
    if (notPipeline.includes(o.long)) continue;
    assert(keys.has(o.long), `--${o.long} has no key in the configuration file`);
    const k = PIPELINE_OPTIONS.find((p) => p.long === o.long)!;
    if (o.long !== "snaplen") assertEquals(k.short, o.short, `--${o.long}: short spelling`); // -s is --size
  }
  // And the settings issue 11 and 14 added move into the file as they are typed.
  const c = parseConfig(
    `${RINGS}captures:\n  tap: { ring: a, interface: eth1, dedup: 10 }\noutputs:\n` +
      "  arch: { ring: a, write: /p/, rotate-seconds: 60, max-files: 3, max-disk: 10m, post-rotate: gzip -9,\n" +
      "          format: pcapng, file-mode: 0o640 }\n" +
      '  pool: { ring: a, interface: "eth2,eth3", balance: addresses }\n' +
      '  both: { ring: a, interface: "eth4,eth5", all: true }\n',
    { file: "f.yaml", dir: "/etc/fx" },
  );
  assertEquals(c.pipelines.map((p) => p.argv.join(" ")), [
    "-rx -i eth1 --dedup 10 /etc/fx/a",
    "-tx -w /p/ -G 60 -W 3 --max-disk 10m -z gzip -9 --format pcapng --file-mode 0o640 /etc/fx/a",
    "-tx -i eth2,eth3 --balance addresses /etc/fx/a",
    "-tx -i eth4,eth5 --all /etc/fx/a",
  ]);
});

Deno.test("service config: the key at fault is named, not one its removal makes wrong; -R's geometry on outputs", () => {
  let problems: string[] = [];
  try {
    parseConfig(`${RINGS}outputs:\n  arch: { ring: a, write: pcap/, rotate-seconds: abc, max-files: 3 }\n`, {
      file: "f.yaml",
      dir: "/d",
    });
  } catch (e) {
    problems = (e as { problems: string[] }).problems;
  }
  assertEquals(problems.length, 1, problems.join("\n"));
  assert(problems[0].startsWith("f.yaml:4:50: outputs.arch.rotate-seconds: Invalid rotation"), problems[0]);
  const c = parseConfig(
    `${RINGS}outputs:\n  o: { ring: a, interface: eth2, tx-ring: true, blocks: 8, block-size: 16 }\n`,
    { file: "f.yaml", dir: "/d" },
  );
  assertEquals(c.pipelines[0].argv.join(" "), "-tx -i eth2 -R -B 8 -S 16 /d/a");
  // ...and, as on the command line, not without tx-ring (there 3.2 ignored them: a file refuses them)
  assertThrows(
    () =>
      parseConfig(`${RINGS}outputs:\n  o: { ring: a, interface: eth2, blocks: 8 }\n`, {
        file: "f",
        dir: "/d",
      }),
    Error,
    "-B does nothing with -tx -i (send on a NIC) without -R",
  );
});

/** The text without its marker, and the marker's "line:column" (both from 1). */
function marked(text: string): [string, string] {
  const at = text.indexOf("»");
  const before = text.slice(0, at).split("\n");
  return [text.replace("»", ""), `${before.length}:${before[before.length - 1].length + 1}`];
}

Deno.test("fluxcap check: a valid file exits 0 and shows each pipeline's command line", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "fluxcap-check-" });
  try {
    Deno.writeTextFileSync(`${dir}/fluxcap.yaml`, GOOD);
    const r = await fluxcap(["check", "fluxcap.yaml"], { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    assertIncludes(r.stdout, "zeek: fluxcap -tx -i eth2 -f 'vlan 100' -q");
    assertEquals(r.stderr, "");
  } finally {
    rmrf(dir);
  }
});

Deno.test(`fluxcap check: ${BROKEN.length} broken files each fail with exit 2, naming line, column and key`, async () => {
  assert(BROKEN.length >= 20);
  const dir = Deno.makeTempDirSync({ prefix: "fluxcap-check-" });
  try {
    const names = BROKEN.map((_, i) => `broken${i}.yaml`);
    BROKEN.forEach(([, text], i) => Deno.writeTextFileSync(`${dir}/${names[i]}`, marked(text)[0]));
    for (let i = 0; i < BROKEN.length; i++) {
      const [what, markedText, key, piece] = BROKEN[i];
      const [text, pos] = marked(markedText);
      // In-process first: the same function `check` uses.
      let problems: string[] = [];
      try {
        parseConfig(text, { file: names[i], dir });
      } catch (e) {
        problems = (e as { problems: string[] }).problems;
      }
      assert(problems.length > 0, `${what}: accepted`);
      const want = `${names[i]}:${pos}: ${key ? `${key}: ` : ""}`;
      assert(
        problems.some((p) => p.startsWith(want) && p.includes(piece)),
        `${what}: expected a line starting "${want}" with "${piece}", got:\n${problems.join("\n")}`,
      );
    }
    // And through the command line, for a few of them: exit 2, the same lines on stderr, nothing else.
    for (const i of [0, 3, 10, 14]) {
      const r = await fluxcap(["check", names[i]], { cwd: dir });
      assertEquals(r.code, 2, `${BROKEN[i][0]}: ${r.stderr}`);
      assertIncludes(r.stderr, `${names[i]}:${marked(BROKEN[i][1])[1]}: `);
      assertEquals(r.stdout, "");
      assert(!r.stderr.includes("    at "), "no stack trace");
    }
    // `run` checks the same way before it starts anything (the unit relies on its exit status 2).
    const r = await fluxcap(["run", names[14]], { cwd: dir });
    assertEquals(r.code, 2, r.stderr);
    assertIncludes(r.stderr, `${names[14]}:${marked(BROKEN[14][1])[1]}: `);
  } finally {
    rmrf(dir);
  }
});

Deno.test("fluxcap check: every problem of a file is reported, one per line, in file order", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "fluxcap-check-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/f.yaml`,
      `${RINGS}outputs:\n  b: { ring: a, interface: eth2, vlan: 0 }\n  c: { ring: nope, interface: eth3 }\nmetrics: x\n`,
    );
    const r = await fluxcap(["check", "f.yaml"], { cwd: dir });
    assertEquals(r.code, 2);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.map((l) => l.split(": ")[0]), ["f.yaml:4:40", "f.yaml:5:14", "f.yaml:6:10"]);
    const missing = await fluxcap(["check", "nope.yaml"], { cwd: dir });
    assertEquals(missing.code, 2);
    assertEquals(missing.stderr.trim(), "nope.yaml: cannot read the configuration: no such file");
    const usage = await fluxcap(["check"], { cwd: dir });
    assertEquals(usage.code, 2);
    assertIncludes(usage.stderr, "takes one configuration file");
  } finally {
    rmrf(dir);
  }
});
