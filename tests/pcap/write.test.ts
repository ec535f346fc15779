/**
 * ring → `fluxcap -tx -w` → pcap files, checked with tcpdump and tshark: frames, nanosecond timestamps and
 * original lengths intact; `-w -` into `tcpdump -r -` promptly; rotation by -C and -G gives complete
 * files whose union is what was written; drops counted by reason.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { readPcap } from "../lab.ts";
import { createRing, DropReason, RingFile } from "../../lib/ring/mod.ts";
import * as L from "../../lib/ring/layout.ts";
import { checkPattern, expandPattern, resolveTarget, withCounter } from "../../lib/sinks/file/names.ts";
import { PcapOutput } from "../../lib/sinks/mod.ts";
import {
  fillRing,
  hex,
  interrupt,
  parseTcpdump,
  snap,
  spawnFluxcap,
  type TimedFrame,
  timedFrames,
  tool,
  until,
} from "./common.ts";
import { haveTools } from "./common.ts";

const missing = await haveTools(["tcpdump", "tshark"]);
if (missing) console.log(`pcap write tests skipped: ${missing}`);
const toolTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: missing !== null, fn, sanitizeResources: false, sanitizeOps: false });

function sentBy(ring: string, desc: string): number {
  return snap(ring).readers.find((r) => r.desc === desc)?.framesSent ?? -1;
}

/** Reads every file with tcpdump; asserts a clean read (no truncation warning) and returns the records. */
async function tcpdumpRead(file: string): Promise<ReturnType<typeof parseTcpdump>> {
  const r = await tool(["tcpdump", "-r", file, "-n", "-tt", "--nano", "-xx"]);
  assertEquals(r.code, 0, `tcpdump -r ${file}: ${r.stderr}`);
  const noise = r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("reading from file"));
  assertEquals(noise, [], `tcpdump -r ${file} warns`);
  return parseTcpdump(r.stdout);
}

Deno.test("pcap files: name patterns, counters and targets", () => {
  const at = new Date(2024, 0, 2, 3, 4, 5);
  assertEquals(expandPattern("/c/r-%Y%m%d-%H%M%S.pcap", at), "/c/r-20240102-030405.pcap");
  assertEquals(expandPattern("x-%s-%%.pcap", at), `x-${Math.floor(at.getTime() / 1000)}-%.pcap`);
  assertEquals(checkPattern("a%Yb%%"), null);
  assertIncludes(checkPattern("x-%a.pcap")!, 'unsupported "%a"');
  assertIncludes(checkPattern("x-%")!, "a lone % at the end");
  assertEquals(withCounter("/d/x.pcap", 2), "/d/x-2.pcap");
  assertEquals(withCounter("/d.e/x", 1), "/d.e/x-1");
  assertEquals(withCounter("/d/.hidden", 1), "/d/.hidden-1");
  assertEquals(resolveTarget("-", "r"), { kind: "stdout" });
  const dir = makeRingDir();
  try {
    assertEquals(resolveTarget(dir, "/dev/shm/cisco"), {
      kind: "files",
      template: `${dir}/cisco-%Y%m%d-%H%M%S.pcap`,
    });
    assertEquals(resolveTarget(`${dir}/x.pcap`, "r"), { kind: "files", template: `${dir}/x.pcap` });
  } finally {
    rmrf(dir);
  }
});

Deno.test("pcap files: PcapOutput takes lapped records back out and splits by size on record boundaries", () => {
  const dir = makeRingDir();
  try {
    const names: string[] = [];
    const out = new PcapOutput({
      target: { kind: "files", template: `${dir}/x.pcap` },
      rotateBytes: 24 + 3 * (16 + 100),
      now: () => new Date(0),
      onFile: (n) => names.push(n),
    });
    out.open();
    assertEquals(out.current, `${dir}/x.pcap.part`);
    const stage = (seq: number) => {
      const at = out.reserve(100);
      out.buffer.fill(seq, at, at + 100);
      out.finish(100, 150, 1000 + seq, seq);
    };
    for (let i = 0; i < 4; i++) stage(i);
    const mark = out.mark;
    for (let i = 4; i < 10; i++) stage(i);
    out.dropRecords(mark, 2); // frames 4 and 5 were overwritten while being copied
    out.close();
    assertEquals(names, [`${dir}/x.pcap`, `${dir}/x-1.pcap`, `${dir}/x-2.pcap`]);
    const seqs = names.map((n) => readPcap(Deno.readFileSync(n)).records.map((r) => r.data[0]));
    assertEquals(seqs, [[0, 1, 2], [3, 6, 7], [8, 9]]);
    const r = readPcap(Deno.readFileSync(names[0])).records[1];
    assertEquals([r.sec, r.nsec, r.origLen, r.data.length], [1001, 1, 150, 100]);
    assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".part")).length, 0);
  } finally {
    rmrf(dir);
  }
});

toolTest("pcap -w: tcpdump and tshark read the frames, ns timestamps and original lengths", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 8 << 20 });
    const frames = timedFrames(300);
    fillRing(ring, frames);
    const check = async (file: string, args: string[], snaplen: number) => {
      const p = spawnFluxcap(["-tx", "-w", file, "--from-oldest", ...args, ring]);
      await until(() => sentBy(ring, `tx file ${file}`) === frames.length, "all frames written");
      const res = await interrupt(p);
      assertEquals(res.code, 0, res.stderr);
      assertEquals(res.stderr, "", "nothing said without -v");
      const got = await tcpdumpRead(file);
      assertEquals(got.length, frames.length, "tcpdump count");
      got.forEach((g, i) => {
        const f = frames[i];
        assertEquals([g.sec, g.nsec], [f.sec, f.nsec], `frame ${i} timestamp`);
        assertEquals(g.hex, hex(f.data.subarray(0, snaplen)), `frame ${i} bytes`);
      });
      const ts = await tool([
        "tshark",
        "-r",
        file,
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
        "-e",
        "frame.len",
        "-e",
        "frame.cap_len",
      ]);
      assertEquals(ts.code, 0, ts.stderr);
      const rows = ts.stdout.trim().split("\n").map((l) => l.split("\t"));
      assertEquals(rows.length, frames.length, "tshark count");
      rows.forEach(([t, len, cap], i) => {
        const f = frames[i];
        assertEquals(t, `${f.sec}.${String(f.nsec).padStart(9, "0")}`, `tshark time ${i}`);
        assertEquals(Number(len), f.wire, `original length ${i}`);
        assertEquals(Number(cap), Math.min(f.data.length, snaplen), `captured length ${i}`);
      });
    };
    await check(`${dir}/all.pcap`, [], 65536);
    await check(`${dir}/cut.pcap`, ["-s", "100"], 100);
    // The snap length is in the file header too.
    const head = new DataView((await Deno.readFile(`${dir}/cut.pcap`)).buffer);
    assertEquals(head.getUint32(0, true), 0xa1b23c4d, "nanosecond magic");
    assertEquals(head.getUint32(16, true), 100, "header snaplen");
  } finally {
    rmrf(dir);
  }
});

toolTest("pcap -w -: stdout into tcpdump -r -, frames shown promptly, nothing else on stdout", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 4 << 20 });
    const fx = spawnFluxcap(["-tx", "-w", "-", ring], { pipeStdout: true });
    const td = new Deno.Command("tcpdump", {
      args: ["-n", "-l", "-tt", "--nano", "-r", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const piping = fx.child.stdout.pipeTo(td.stdin).catch(() => {});
    let out = "";
    const reading = (async () => {
      const dec = new TextDecoder();
      for await (const c of td.stdout) out += dec.decode(c, { stream: true });
    })();
    const tdErr = new Response(td.stderr).text();
    try {
      await until(() => snap(ring).readers.length === 1, "reader attached");
      const all = timedFrames(40);
      const lines = () => out.split("\n").filter((l) => /^\d+\.\d{9} /.test(l)).length;
      // Two bursts on an otherwise quiet ring: each shows up well within a second (flush ≤ 100 ms).
      for (const [from, to] of [[0, 10], [10, 40]]) {
        const t0 = performance.now();
        fillRing(ring, all.slice(from, to));
        await until(() => lines() === to, `tcpdump shows ${to} frames`, 3000);
        const ms = performance.now() - t0;
        assert(ms < 2500, `frames shown after ${ms.toFixed(0)} ms, not held until a megabyte or the end`);
        console.log(`  -w - | tcpdump: burst of ${to - from} shown after ${ms.toFixed(0)} ms`);
      }
      const res = await interrupt(fx);
      assertEquals(res.code, 0, res.stderr);
      await piping;
      const st = await td.status;
      await reading;
      assertEquals(st.code, 0, await tdErr);
      const got = out.split("\n").filter((l) => /^\d+\.\d{9} /.test(l));
      assertEquals(got.length, 40);
      got.forEach((l, i) =>
        assert(l.startsWith(`${all[i].sec}.${String(all[i].nsec).padStart(9, "0")} `), `line ${i}: ${l}`)
      );
    } finally {
      try {
        fx.child.kill("SIGKILL");
      } catch { /* gone */ }
      try {
        td.kill("SIGKILL");
      } catch { /* gone */ }
    }
  } finally {
    rmrf(dir);
  }
});

/** Records of every `*.pcap` in `dir` (each read strictly), sorted by time; asserts no `.part` left. */
async function unionOf(dir: string, maxBytes?: number): Promise<{ files: string[]; recs: TimedFrame[] }> {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".pcap")).sort();
  const parts = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".part"));
  assertEquals(parts, [], "no .part file left after the stop");
  const recs: TimedFrame[] = [];
  for (const f of files) {
    const bytes = await Deno.readFile(`${dir}/${f}`);
    if (maxBytes !== undefined) assert(bytes.length <= maxBytes, `${f} is ${bytes.length} bytes`);
    await tcpdumpRead(`${dir}/${f}`);
    for (const r of readPcap(bytes).records) {
      recs.push({ data: r.data, sec: r.sec, nsec: r.nsec, wire: r.origLen });
    }
  }
  recs.sort((a, b) => a.sec - b.sec || a.nsec - b.nsec);
  return { files, recs };
}

function assertSame(got: TimedFrame[], want: TimedFrame[], what: string): void {
  assertEquals(got.length, want.length, `${what}: number of frames`);
  const sorted = [...want].sort((a, b) => a.sec - b.sec || a.nsec - b.nsec);
  for (let i = 0; i < sorted.length; i++) {
    const g = got[i], w = sorted[i];
    assertEquals([g.sec, g.nsec, g.wire, hex(g.data)], [w.sec, w.nsec, w.wire, hex(w.data)], `${what} ${i}`);
  }
}

toolTest("pcap -w DIR -C 1: complete files at once, each ≤ 1 MB, union = ring", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/cisco`;
    const out = `${dir}/out`;
    Deno.mkdirSync(out);
    createRing(ring, { size: 16 << 20 });
    const frames = timedFrames(4000, { minLen: 600 });
    fillRing(ring, frames);
    const p = spawnFluxcap(["-tx", "-w", out, "-C", "1", "--from-oldest", ring]);
    try {
      await until(() => sentBy(ring, `tx file ${out}`) === frames.length, "all frames staged");
      // While it runs: every file that has its final name is complete and readable at once.
      await new Promise((r) => setTimeout(r, 300));
      const done = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.endsWith(".pcap"));
      assert(done.length >= 3, `rotated files while running: ${done}`);
      for (const f of done) {
        assert(/^cisco-\d{8}-\d{6}(-\d+)?\.pcap$/.test(f), `file name ${f}`);
        await tcpdumpRead(`${out}/${f}`);
      }
    } finally {
      const res = await interrupt(p);
      assertEquals(res.code, 0, res.stderr);
    }
    const { files, recs } = await unionOf(out, 1_000_000);
    console.log(`  -C 1: ${files.length} files for ${frames.length} frames`);
    assert(files.length >= 4, `${files.length} files`);
    assertSame(recs, frames, "union of rotated files");
  } finally {
    rmrf(dir);
  }
});

toolTest("pcap -w pattern -G 1: time rotation, complete files, union = ring", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 8 << 20 });
    const pattern = `${dir}/g-%s.pcap`;
    const p = spawnFluxcap(["-tx", "-w", pattern, "-G", "1", ring]);
    const frames = timedFrames(250);
    try {
      await until(() => snap(ring).readers.length === 1, "reader attached");
      for (let k = 0; k < 5; k++) {
        fillRing(ring, frames.slice(k * 50, k * 50 + 50));
        await new Promise((r) => setTimeout(r, 550));
      }
      await until(() => sentBy(ring, `tx file ${pattern}`) === frames.length, "all frames staged");
    } finally {
      const res = await interrupt(p);
      assertEquals(res.code, 0, res.stderr);
    }
    const { files, recs } = await unionOf(dir);
    console.log(`  -G 1: ${files.length} files (${files.join(" ")})`);
    assert(files.length >= 2, `${files.length} files`);
    for (const f of files) assert(/^g-\d{10}(-\d+)?\.pcap$/.test(f), `file name ${f}`);
    assertSame(recs, frames, "union of -G files");
  } finally {
    rmrf(dir);
  }
});

toolTest("pcap -w with -f, -V, -D: frames changed as asked, drops counted as filtered", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 8 << 20 });
    const frames = timedFrames(200);
    fillRing(ring, frames);
    const file = `${dir}/v.pcap`;
    const p = spawnFluxcap(["-tx", "-w", file, "-f", "vlan 5", "-V", "9", "-D", "4", "--from-oldest", ring]);
    const keep = frames.filter((f) => f.data[12] === 0x81 && f.data[13] === 0 && f.data[15] === 5);
    await until(() => {
      const r = snap(ring).readers[0];
      return r !== undefined && r.framesSent + r.drops.filtered === frames.length;
    }, "all frames handled");
    const s = snap(ring).readers[0];
    const res = await interrupt(p);
    assertEquals(res.code, 0, res.stderr);
    assertEquals(s.framesSent, keep.length);
    assertEquals(s.drops.filtered, frames.length - keep.length);
    const got = readPcap(await Deno.readFile(file)).records;
    assertEquals(got.length, keep.length);
    got.forEach((g, i) => {
      const f = keep[i].data;
      const want = new Uint8Array(f.length);
      want.set(f.subarray(0, 12));
      want.set([0x81, 0x00, 0x00, 0x09], 12);
      want.set(f.subarray(12, f.length - 4), 16);
      assertEquals(hex(g.data), hex(want), `frame ${i}`);
      assertEquals(g.origLen, keep[i].wire + 4, `original length ${i} grows by the inserted tag`);
    });
  } finally {
    rmrf(dir);
  }
});

toolTest(
  "pcap -w: bad pattern and -G with stdout are refused; an unwritable path fails clearly",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 1 << 20 });
      let r = await spawnFluxcap(["-tx", "-w", `${dir}/x-%a.pcap`, ring]).done;
      assertEquals(r.code, 2);
      assertIncludes(r.stderr, `Invalid file name pattern "${dir}/x-%a.pcap": unsupported "%a"`);
      r = await spawnFluxcap(["-tx", "-w", "-", "-G", "5", ring]).done;
      assertEquals(r.code, 2);
      assertIncludes(r.stderr, "cannot be used with -w - (stdout)");
      assertEquals(r.stdout.length, 0, "nothing on stdout");
      r = await spawnFluxcap(["-tx", "-w", `${dir}/nodir/x.pcap`, ring]).done;
      assertEquals(r.code, 1);
      assertIncludes(r.stderr, `Cannot create capture file "${dir}/nodir/x.pcap": no such file or directory`);
      r = await spawnFluxcap(["-tx", "-w", `${dir}/x.pcap`, "-C", "0", ring]).done;
      assertEquals(r.code, 2);
      assertIncludes(r.stderr, 'Invalid file size (-C) "0"');
    } finally {
      rmrf(dir);
    }
  },
);

/** The last counters of the reader slot described `desc` (kept in the ring after the reader closed). */
function lastCounters(ring: string, desc: string): { sent: number; sendErrors: number } {
  const f = RingFile.open(ring);
  try {
    for (let s = 0; s < L.MAX_READERS; s++) {
      const base = L.SLOTS_OFFSET + s * L.SLOT_SIZE;
      if (f.text(base + L.S_DESC) !== desc) continue;
      return {
        sent: Number(f.i64[(base + L.S_SENT) / 8]),
        sendErrors: Number(f.i64[(base + L.readerDropAt(DropReason.send_error)) / 8]),
      };
    }
    throw new Error(`no reader slot "${desc}"`);
  } finally {
    f.close();
  }
}

toolTest(
  "pcap -w on a full file system: files end at a whole frame, frames not written are counted",
  async () => {
    const dir = makeRingDir();
    const full = `${dir}/full`;
    Deno.mkdirSync(full);
    const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=1m", "fxfull", full] })
      .output();
    if (m.code !== 0) {
      console.log("  skipped: cannot mount a 1 MiB tmpfs here");
      rmrf(dir);
      return;
    }
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 16 << 20 });
      const frames = timedFrames(3000, { minLen: 600 }); // about 3 MB: three times what fits
      fillRing(ring, frames);
      for (const [name, args] of [["x.pcap", []], ["y.pcapng", ["-C", "1"]]] as const) {
        const file = `${full}/${name}`;
        const res = await spawnFluxcap(["-tx", "-w", file, "--from-oldest", ...args, ring]).done;
        assertEquals(res.code, 1, "a write that fails ends the output");
        const lines = res.stderr.trim().split("\n");
        assertEquals(lines.length, 1, res.stderr);
        const said =
          /^Cannot write capture file "[^"]+": no space left on device; (\d+) frames written, (\d+) not written \(counted as send errors\)$/
            .exec(lines[0]);
        assert(said, lines[0]);
        const [written, unwritten] = [Number(said[1]), Number(said[2])];
        assert(written > 0 && unwritten > 0, lines[0]);
        // Every file reads clean (no torn last record) and together they hold the first `written` frames.
        const order = (f: string) => Number(/-(\d+)\.pcapng$/.exec(f)?.[1] ?? 0); // y.pcapng, y-1.pcapng, …
        const files = [...Deno.readDirSync(full)].map((e) => `${full}/${e.name}`).sort((a, b) =>
          order(a) - order(b)
        );
        const recs = [];
        for (const f of files) {
          if (f.endsWith(".pcap")) recs.push(...await tcpdumpRead(f));
          else {
            const r = await tool(["tshark", "-r", f, "-T", "fields", "-e", "frame.len"]);
            assertEquals(r.code, 0, `${f}: ${r.stderr}`);
            assert(!/cut short|appears to be damaged/.test(r.stderr), `${f}: ${r.stderr}`);
            recs.push(...await tcpdumpRead(f));
          }
        }
        assertEquals(recs.length, written, `frames in ${files.join(", ")}`);
        recs.forEach((g, i) => assertEquals(g.hex, hex(frames[i].data), `${name}: frame ${i} of ${files}`));
        // The reader's counters say the same: what is not in the file is a send error, not "sent".
        const c = lastCounters(ring, `tx file ${file}`);
        assertEquals([c.sent, c.sendErrors], [written, unwritten], "sent and send errors");
        for (const f of files) Deno.removeSync(f);
      }
    } finally {
      await new Deno.Command("umount", { args: [full] }).output();
      rmrf(dir);
    }
  },
);

toolTest(
  "pcapng on a full file system: a statistics block that does not fit is cut away, the file reads clean",
  async () => {
    const dir = makeRingDir();
    const full = `${dir}/full`;
    Deno.mkdirSync(full);
    const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=64k", "fxfull", full] })
      .output();
    if (m.code !== 0) {
      console.log("  skipped: cannot mount a 64 KiB tmpfs here");
      rmrf(dir);
      return;
    }
    try {
      const statistics = () => ({ received: 5, kernelDrops: 1, lost: 2, dropped: 0 });
      // The header's length, measured: then one record that leaves 8 bytes, less than the statistics block.
      const probe = new PcapOutput({
        target: { kind: "files", template: `${dir}/p.pcapng` },
        format: "pcapng",
        statistics,
      });
      probe.open();
      const header = Deno.statSync(`${dir}/p.pcapng`).size;
      probe.close();
      assert(
        Deno.statSync(`${dir}/p.pcapng`).size - header > 8,
        "the statistics block is longer than what is left",
      );
      const len = (64 << 10) - 8 - header - 32; // an enhanced packet block is 32 bytes + its data
      const file = `${full}/x.pcapng`;
      const out = new PcapOutput({ target: { kind: "files", template: file }, format: "pcapng", statistics });
      out.open();
      const at = out.reserve(len);
      out.buffer.fill(7, at, at + len);
      out.finish(len, len, 1_700_000_000, 1);
      let said = "";
      try {
        out.close();
      } catch (e) {
        said = (e as Error).message;
      }
      assertIncludes(said, "no space left on device");
      assertEquals(out.unwritten, 0, "the frame itself was written");
      assertEquals(Deno.statSync(file).size, (64 << 10) - 8, "cut back to the end of the last whole block");
      const r = await tool(["capinfos", "-c", file]);
      assertEquals(r.code, 0, r.stderr);
      assert(/Number of packets:\s+1\b/.test(r.stdout), r.stdout);
    } finally {
      await new Deno.Command("umount", { args: [full] }).output();
      rmrf(dir);
    }
  },
);
