/** `fluxcap -cr` as a user types it, and rings that must be refused. */
import { assert, assertEquals, assertIncludes } from "./assert.ts";
import { fluxcap, makeRingDir, rmrf } from "./helpers.ts";
import { parseCommandLine } from "../lib/settings/mod.ts";
import { RingError, RingFile, RingReader } from "../lib/ring/mod.ts";
import * as L from "../lib/ring/layout.ts";

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = makeRingDir();
    try {
      await fn(dir);
    } finally {
      rmrf(dir);
    }
  };
}

Deno.test(
  "cli -cr: creates rings in the current directory with each size unit, mode 0600",
  withDir(async (dir) => {
    const r = await fluxcap(["-cr", "-s", "100m", "cisco", "dell"], { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout + r.stderr, "", "quiet without -v");
    for (const name of ["cisco", "dell"]) {
      const st = Deno.statSync(`${dir}/${name}`);
      assertEquals(st.size, 100 * 1024 * 1024);
      assertEquals(st.mode! & 0o777, 0o600);
      RingFile.open(`${dir}/${name}`).close();
    }
    for (
      const [size, bytes] of [["131072", 131072], ["200k", 200 * 1024], ["2m", 2 << 20], [
        "1g",
        1 << 30,
      ]] as const
    ) {
      const res = await fluxcap(["-cr", "-s", size, `r${size}`], { cwd: dir });
      assertEquals(res.code, 0, res.stderr);
      assertEquals(Deno.statSync(`${dir}/r${size}`).size, bytes);
      Deno.removeSync(`${dir}/r${size}`);
    }
    const t = await fluxcap(["-cr", "-s", "1t", "big"], { cwd: dir });
    assertEquals(t.code, 2, "a size no ring can have is a configuration error");
    assertIncludes(t.stderr, 'Cannot create ring "big": size 1t is larger than a ring can be (4g)');
  }),
);

Deno.test(
  "cli -cr -v describes what was made; -k keeps a valid ring untouched",
  withDir(async (dir) => {
    let r = await fluxcap(["-cr", "-v", "-s", "1m", "cisco"], { cwd: dir });
    assertEquals(r.code, 0);
    assertIncludes(r.stderr, 'created ring "cisco": 1m file');
    // Put a frame in it, then -k must keep it; without -k it is recreated empty.
    const { RingWriter } = await import("../lib/ring/mod.ts");
    const w = RingWriter.open(`${dir}/cisco`);
    w.write(new Uint8Array(64), 0, 64);
    w.close();
    r = await fluxcap(["-cr", "-k", "-v", "-s", "2m", "cisco"], { cwd: dir });
    assertEquals(r.code, 0);
    assertIncludes(r.stderr, 'kept ring "cisco"');
    assertEquals(Deno.statSync(`${dir}/cisco`).size, 1 << 20, "kept at its size");
    const rd = RingReader.open(`${dir}/cisco`, { fromOldest: true });
    assertEquals(rd.poll(), 1, "the frame survived -k");
    rd.close();
    r = await fluxcap(["-cr", "-v", "-s", "2m", "cisco"], { cwd: dir });
    assertIncludes(r.stderr, 'recreated ring "cisco": 2m file');
    const rd2 = RingReader.open(`${dir}/cisco`, { fromOldest: true });
    assertEquals(rd2.poll(), 0, "recreated empty");
    rd2.close();
  }),
);

Deno.test(
  "cli -cr: bad sizes, a non-ring file in the way, an unusable directory",
  withDir(async (dir) => {
    // configuration errors exit 2 (a unit's RestartPreventExitStatus=2), runtime failures 1
    const cases: [string[], string, number][] = [
      [
        ["-cr", "-s", "abc", "r"],
        'Invalid ring size "abc": expected a number with an optional k, m, g or t suffix',
        2,
      ],
      [["-cr", "-s", "10x", "r"], 'Invalid ring size "10x"', 2],
      [["-cr", "-s", "0", "r"], 'Invalid ring size "0": must be greater than 0', 2],
      [["-cr", "-s", "-5m", "r"], "Invalid ring size", 2],
      [
        ["-cr", "-s", "1k", "r"],
        'Cannot create ring "r": size 1k is too small (minimum 128k, to hold jumbo frames)',
        2,
      ],
      [["-cr", "r"], "Creating rings needs a size", 2],
      [["-cr", "-s", "1m"], "Creating rings needs at least one ring name", 2],
      [["-cr", "-s", "1m", "nodir/r"], 'Cannot create ring "nodir/r": No such file or directory (ENOENT)', 1],
      [["-cx", "r"], 'Unknown mode "-cx"', 2],
      [["-y"], 'Unknown option "-y"', 2],
    ];
    for (const [args, text, code] of cases) {
      const r = await fluxcap(args, { cwd: dir });
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assertIncludes(r.stderr, text);
      assertEquals(r.stderr.trim().split("\n").length, 1, "one line");
    }
    Deno.writeTextFileSync(`${dir}/notes.txt`, "precious");
    for (const k of [[], ["-k"]]) {
      const r = await fluxcap(["-cr", ...k, "-s", "1m", "notes.txt"], { cwd: dir });
      assertEquals(r.code, 1);
      assertIncludes(
        r.stderr,
        'Cannot create ring "notes.txt": "notes.txt" exists and is not a valid fluxcap ring',
      );
      assertEquals(Deno.readTextFileSync(`${dir}/notes.txt`), "precious", "never replaced");
    }
    // A directory that cannot be written: a read-only bind mount when we may mount (root), else skip that part.
    const ro = `${dir}/ro`;
    Deno.mkdirSync(ro);
    const m = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "ro,size=1m", "fxro", ro],
      stderr: "null",
    })
      .output();
    if (m.code === 0) {
      try {
        const r = await fluxcap(["-cr", "-s", "1m", `${ro}/r`]);
        assertEquals(r.code, 1);
        assertIncludes(r.stderr, `Cannot create ring "${ro}/r": Read-only file system (EROFS)`);
      } finally {
        await new Deno.Command("umount", { args: [ro] }).output();
      }
      // A file system too small for the ring.
      await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=1m", "fxsmall", ro] }).output();
      try {
        const r = await fluxcap(["-cr", "-s", "10m", `${ro}/r`]);
        assertEquals(r.code, 1);
        assertIncludes(
          r.stderr,
          `Cannot create ring "${ro}/r": size 10m is larger than the file system can hold`,
        );
      } finally {
        await new Deno.Command("umount", { args: [ro] }).output();
      }
    } else {
      console.log("read-only and full file system cases skipped: cannot mount a tmpfs here");
    }
  }),
);

Deno.test(
  "rings that are corrupt, truncated or foreign are refused with a clear error, never a crash",
  withDir(async (dir) => {
    const good = `${dir}/good`;
    assertEquals((await fluxcap(["-cr", "-s", "1m", good])).code, 0);
    const bytes = Deno.readFileSync(good);
    const variants: [string, Uint8Array, string][] = [
      ["random", crypto.getRandomValues(new Uint8Array(65536)), "not a fluxcap ring (bad magic)"],
      ["empty", new Uint8Array(0), "truncated"],
      ["truncated", bytes.slice(0, 300_000), "truncated or resized"],
      [
        "wrongmagic",
        (() => {
          const b = bytes.slice();
          b[0] = 0x58;
          return b;
        })(),
        "bad magic",
      ],
    ];
    const patch = (name: string, off: number, v: bigint, what: string) => {
      const b = bytes.slice();
      new DataView(b.buffer).setBigUint64(off, v, true);
      variants.push([name, b, what]);
    };
    patch("hugeoffset", L.H_DATA_OFFSET, 1n << 60n, "corrupt header (bad data offset)");
    patch("hugesize", L.H_DATA_SIZE, 1n << 40n, "corrupt header (bad data size)");
    patch("filesize", L.H_FILE_SIZE, 1n << 50n, "truncated or resized");
    patch("headtail", L.H_TAIL, 1n << 40n, "head/tail out of order");
    patch("headfar", L.H_HEAD, 1n << 40n, "head/tail out of order");
    {
      const b = bytes.slice();
      const dv = new DataView(b.buffer);
      dv.setBigUint64(L.H_HEAD, (1n << 63n) + 8000n, true);
      dv.setBigUint64(L.H_TAIL, (1n << 63n) + 7936n, true);
      variants.push(["headsign", b, "position out of range"]);
    }
    const v = bytes.slice();
    new DataView(v.buffer).setUint32(L.H_VERSION, 99, true);
    variants.push(["version", v, "unsupported ring version 99"]);
    for (const [name, content, why] of variants) {
      const p = `${dir}/${name}`;
      Deno.writeFileSync(p, content);
      let err: unknown;
      try {
        RingReader.open(p, {}, name).close();
      } catch (e) {
        err = e;
      }
      assert(err instanceof RingError, `${name} refused`);
      assertIncludes((err as Error).message, `Cannot open ring "${name}": `);
      assertIncludes((err as Error).message, why);
      // And through the command line, as a user meets it.
      const r = await fluxcap(["-tx", "-i", "nosuchif0", name], { cwd: dir });
      assertEquals(r.code, 1, `${name}: ${r.stderr}`);
      assertIncludes(r.stderr, `Cannot open ring "${name}": `);
      assertEquals(r.stderr.trim().split("\n").length, 1);
    }
    // A valid header over a damaged record chain: the writer refuses it.
    const chain = bytes.slice();
    const dv = new DataView(chain.buffer);
    dv.setBigUint64(L.H_HEAD, 4096n, true);
    dv.setUint32(L.DATA_OFFSET, 0x7fffffff, true);
    Deno.writeFileSync(`${dir}/chain`, chain);
    const { RingWriter } = await import("../lib/ring/mod.ts");
    let e2: unknown;
    try {
      RingWriter.open(`${dir}/chain`, {}, "chain").close();
    } catch (e) {
      e2 = e;
    }
    assert(e2 instanceof RingError);
    assertIncludes((e2 as Error).message, 'Cannot open ring "chain": corrupt record');
    // A reader walking that chain skips it and counts, never returns garbage.
    const r = RingReader.open(`${dir}/chain`, { fromOldest: true });
    assertEquals(r.poll(), 0);
    assertEquals(r.corrupt, 1);
    r.close();
  }),
);

Deno.test("cli: -h prints the usage; no arguments prints it to stderr and exits 2", async () => {
  const h = await fluxcap(["-h"]);
  assertEquals(h.code, 0);
  assertIncludes(h.stdout, "usage: fluxcap -cr|-rx|-tx|-io [options] <ring> ...");
  for (
    const opt of [
      "-V <vlan>",
      "-Q",
      "-f 'vlan <n>'",
      "-d <percent>",
      "-s <length>",
      "-D <n>",
      "-Z <frame-size>",
      "-k",
    ]
  ) {
    assertIncludes(h.stdout, opt);
  }
  const none = await fluxcap([]);
  assertEquals(none.code, 2);
  assertIncludes(none.stderr, "usage: fluxcap");
});

Deno.test(
  "cli: no mode, options that do not apply, bad --seconds, tiny snap lengths, -w onto a ring",
  withDir(async (dir) => {
    assertEquals((await fluxcap(["-cr", "-s", "1m", "a", "b"], { cwd: dir })).code, 0);
    const cases: [string[], string, number][] = [
      [["-s", "100m", "cisco"], "No mode given: use -cr, -rx, -tx or -io", 2],
      [["-i", "eth1", "cisco"], "No mode given", 2],
      [
        ["-rx", "-i", "eth1", "-w", "x.pcap", "a"],
        "Option -w does not apply to -rx -i (capture from a NIC)",
        2,
      ],
      [["-rx", "-E", "gretap", "--read", "f.pcap", "a"], "Options -E and --read cannot be combined", 2],
      [["-tx", "-E", "gretap:198.18.0.1", "-w", "x.pcap", "a"], "Options -E and -w cannot be combined", 2],
      [["-tx", "-w", "x.pcap", "-Q", "a"], "Option -Q does not apply to -tx -w (write capture files)", 2],
      // 3.2's leniency stays in 3.2's modes: a capture-file replay or writer is new
      [["-tx", "-w", "x.pcap", "-V", "0", "a"], 'VLAN id "0" is out of range 1..4094', 2],
      [["-rx", "--read", "x.pcap", "-V", "100", "-Q", "a"], "Cannot combine VLAN tagging", 2],
      [["-tx", "-i", "nosuch0", "-R", "-Z", "3072", "a"], "is not a multiple of the frame size 3072", 2],
      [["-cr", "-s", "5g", "a"], "larger than a ring can be (4g)", 2],
      [
        ["-tx", "-i", "eth2", "--read", "f", "a"],
        "Option --read does not apply to -tx -i (send on a NIC)",
        2,
      ],
      [["-rx", "-i", "eth1", "--seconds", "3000000000", "a"], 'Invalid --seconds "3000000000"', 2],
      [["-rx", "-i", "eth1", "--seconds", "0x10", "a"], 'Invalid --seconds "0x10"', 2],
      [["-tx", "-i", "eth2", "-s", "13", "a"], 'Invalid snap length "13": at least 14 bytes', 2],
      [["-tx", "-w", "b", "a"], 'Cannot write capture file "b": it is a fluxcap ring', 2],
    ];
    for (const [args, text, code] of cases) {
      const r = await fluxcap(args, { cwd: dir });
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assertIncludes(r.stderr, text);
      assertEquals(r.stderr.trim().split("\n").length, 1, "one line");
    }
    RingFile.open(`${dir}/b`).close(); // still a ring
    // fluxcap 3.2 accepted its options in every mode and ignored them where they did nothing: a 3.2
    // script still runs, with one line per ignored option (new options and modes are refused above).
    const legacy: [string[], string[], number][] = [
      [["-cr", "-V", "100", "-s", "1m", "c"], ["-V does nothing with -cr (create rings)"], 0],
      [["-io", "-i", "eth1", "--once", "a"], ["-i does nothing with -io (watch)"], 0],
      [["-tx", "-i", "nosuch0", "-Q", "-K", "5", "a"], [
        "-Q does nothing with -tx -i (send on a NIC)",
        "-K does nothing with -tx -i (send on a NIC)",
      ], 1],
      [["-rx", "-i", "nosuch0", "-Q", "-V", "100", "a"], [
        "-V 100 does nothing with -Q (the tag is stripped)",
      ], 1],
      [["-rx", "-i", "nosuch0", "-V", "0", "a"], ["-V 0 tags nothing"], 1],
      // -Z sizes the TX ring: without -R it does nothing (3.2 ignored it), whatever its value
      [
        ["-tx", "-i", "nosuch0", "-Z", "1", "a"],
        ["-Z does nothing with -tx -i (send on a NIC) without -R"],
        1,
      ],
    ];
    for (const [args, lines, code] of legacy) {
      const r = await fluxcap(args, { cwd: dir });
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      for (const l of lines) assertIncludes(r.stderr, `fluxcap: ${l}: ignored (as fluxcap 3.2 did)\n`);
    }
    RingFile.open(`${dir}/c`).close(); // -cr -V made the ring
    // (parsed only: a tunnel output would look up a route) -i given twice with -E is ignored as a whole
    const s = parseCommandLine(["-tx", "-E", "gretap:198.18.0.1", "-i", "x0", "-i", "x1", "r"]);
    assertEquals(s.warnings, [
      "-i does nothing with -tx -E (send into a tunnel): ignored (as fluxcap 3.2 did)",
    ]);
  }),
);
