/**
 * Retention and safety of the files `-tx -w` creates: `-W N` keeps the N newest complete files, `--max-disk`
 * holds, `-z gzip` compresses each complete file, a failing `-z` is logged and capture goes on; only
 * files of this output (by name and content) are ever deleted; files are created 0600 (`--file-mode` to
 * widen) and never through a symlink.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { isError } from "../../lib/codec/error.ts";
import { readCapture } from "../../lib/codec/pcap.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { isCapture, Retention, templatePattern } from "../../lib/sinks/file/retention.ts";
import { splitCommand } from "../../lib/sinks/mod.ts";
import { createCaptureFile, parseFileMode, PcapOutput } from "../../lib/sinks/mod.ts";
import {
  fillRing,
  haveTools,
  hex,
  interrupt,
  quiet,
  snap,
  spawnFluxcap,
  type TimedFrame,
  timedFrames,
  tool,
  until,
} from "./common.ts";

const missing = await haveTools(["tshark", "gzip"]);
if (missing) console.log(`retention tests skipped: ${missing}`);
const test = (name: string, fn: () => Promise<void> | void) =>
  Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
const toolTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: missing !== null, fn, sanitizeResources: false, sanitizeOps: false });

const PCAP_HEAD = new Uint8Array([
  0x4d,
  0x3c,
  0xb2,
  0xa1,
  2,
  0,
  4,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  4,
  0,
  1,
  0,
  0,
  0,
]);

function framesOf(bytes: Uint8Array): TimedFrame[] {
  const out: TimedFrame[] = [];
  for (const r of readCapture(bytes)) {
    if (isError(r)) throw new Error(r.reason);
    out.push({
      data: r.buffer.slice(r.dataOffset, r.dataOffset + r.caplen),
      sec: r.tsSec,
      nsec: r.tsNsec,
      wire: r.origLen,
    });
  }
  return out;
}

function key(f: TimedFrame): string {
  return `${f.sec}.${f.nsec}/${f.wire}/${hex(f.data)}`;
}

function list(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function sizeOf(dir: string, names: string[]): number {
  return names.reduce((n, f) => n + Deno.statSync(`${dir}/${f}`).size, 0);
}

test("retention: templates match what they expand to, with counters and compression suffixes only", () => {
  const re = templatePattern("cisco-%Y%m%d-%H%M%S.pcap");
  for (
    const ok of [
      "cisco-20240102-030405.pcap",
      "cisco-20240102-030405-12.pcap",
      "cisco-20240102-030405.pcap.gz",
    ]
  ) {
    assert(re.test(ok), ok);
  }
  for (
    const no of [
      "cisco-2024010-030405.pcap",
      "cisco-20240102-030405.pcap.part",
      "cisco-20240102-030405.pcapng",
      "xcisco-20240102-030405.pcap",
      "cisco-20240102-030405.pcap.gz.1",
    ]
  ) assert(!re.test(no), no);
  assert(templatePattern("x-%s.pcapng").test("x-1700000000-3.pcapng.zst"));
  assert(templatePattern("plain.pcap").test("plain-7.pcap"));
  assert(!templatePattern("plain.pcap").test("plain-x.pcap"));
  assert(templatePattern("a%%b.pcap").test("a%b.pcap"));
  assertEquals(splitCommand(`gzip -9 "--suffix=.z z" 'a b'`), ["gzip", "-9", "--suffix=.z z", "a b"]);
});

test("retention: only captures of this output are deleted, oldest first, within -W and the byte limit", () => {
  const dir = makeRingDir();
  try {
    const put = (name: string, bytes: Uint8Array, ageS: number) => {
      Deno.writeFileSync(`${dir}/${name}`, bytes);
      const t = new Date(Date.now() - ageS * 1000);
      Deno.utimeSync(`${dir}/${name}`, t, t);
    };
    const cap = (n: number) => {
      const b = new Uint8Array(24 + n);
      b.set(PCAP_HEAD);
      return b;
    };
    put("x-1.pcap", cap(100), 50); // an earlier run's file: counts
    put("x-2.pcap.gz", new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 40); // compressed by -z: counts
    put("x-3.pcap", new TextEncoder().encode("my notes, not a capture"), 60); // name matches, content not
    put("y-1.pcap", cap(10), 70); // another output's
    put("x-4.pcap.part", cap(10), 80); // being written / left by SIGKILL
    Deno.symlinkSync(`${dir}/y-1.pcap`, `${dir}/x-5.pcap`); // a symlink: never
    assert(isCapture(`${dir}/x-1.pcap`) && isCapture(`${dir}/x-2.pcap.gz`));
    assert(!isCapture(`${dir}/x-3.pcap`) && !isCapture(`${dir}/x-5.pcap`));
    const deleted: string[] = [];
    const logs: string[] = [];
    const keep = new Retention({
      template: `${dir}/x.pcap`,
      maxFiles: 2,
      onDelete: (n) => deleted.push(n.slice(dir.length + 1)),
      log: (m) => logs.push(m),
    });
    assertEquals(keep.files.map((f) => f.slice(dir.length + 1)), ["x-1.pcap", "x-2.pcap.gz"]);
    put("x.pcap", cap(1000), 0);
    keep.add(`${dir}/x.pcap`);
    assertEquals(deleted, ["x-1.pcap"]);
    assertEquals(list(dir), ["x-2.pcap.gz", "x-3.pcap", "x-4.pcap.part", "x-5.pcap", "x.pcap", "y-1.pcap"]);
    // Bytes: 1024 + 8 on disk; a limit of 1130 with 100 kept for the next file deletes the oldest.
    const bytes = new Retention({
      template: `${dir}/x.pcap`,
      maxBytes: 1130,
      reserveBytes: 100,
      log: (m) => logs.push(m),
    });
    bytes.enforce();
    assertEquals(list(dir).filter((n) => n.startsWith("x")), [
      "x-3.pcap",
      "x-4.pcap.part",
      "x-5.pcap",
      "x.pcap",
    ]);
    // The last file of a run keeps no room for a next one; alone above the limit, it goes too.
    const tight = new Retention({
      template: `${dir}/x.pcap`,
      maxBytes: 1000,
      reserveBytes: 500,
      log: (m) => logs.push(m),
    });
    tight.add(`${dir}/x.pcap`, true);
    assertEquals(list(dir).filter((n) => n.startsWith("x")), ["x-3.pcap", "x-4.pcap.part", "x-5.pcap"]);
    assertEquals(logs, []);
    // A file this process wrote that was replaced by something else is not deleted, and that is said.
    put("x-9.pcap", cap(10), 0);
    const swap = new Retention({ template: `${dir}/z.pcap`, maxFiles: 1, log: (m) => logs.push(m) });
    swap.add(`${dir}/x-9.pcap`);
    Deno.writeFileSync(`${dir}/x-9.pcap`, new TextEncoder().encode("replaced"));
    put("z.pcap", cap(10), 0);
    swap.add(`${dir}/z.pcap`);
    assert(list(dir).includes("x-9.pcap"));
    assertEquals(logs.length, 1);
    assertIncludes(logs[0], `Not deleting "${dir}/x-9.pcap": it does not start like a capture file`);
  } finally {
    rmrf(dir);
  }
});

test("retention: strictly oldest first while the oldest is busy with -z; a hung -z cannot fill the disk", () => {
  const dir = makeRingDir();
  try {
    const cap = () => {
      const b = new Uint8Array(124);
      b.set(PCAP_HEAD);
      return b;
    };
    const busy = new Set<string>();
    const keep = new Retention({
      template: `${dir}/x.pcap`,
      maxFiles: 2,
      busy: (n) => busy.has(n),
      log: () => {},
    });
    const add = (n: string) => {
      Deno.writeFileSync(`${dir}/${n}`, cap());
      keep.add(`${dir}/${n}`);
    };
    add("x.pcap");
    busy.add(`${dir}/x.pcap`); // its -z command runs (and hangs)
    add("x-1.pcap");
    add("x-2.pcap"); // one over the limit, only because of the busy oldest: wait for it
    assertEquals(list(dir), ["x-1.pcap", "x-2.pcap", "x.pcap"]);
    add("x-3.pcap"); // over the limit even without it: the next oldest goes
    assertEquals(list(dir), ["x-2.pcap", "x-3.pcap", "x.pcap"]);
    busy.clear(); // its command ended
    keep.enforce();
    assertEquals(list(dir), ["x-2.pcap", "x-3.pcap"]);
  } finally {
    rmrf(dir);
  }
});

test("capture files: created 0600 (or --file-mode), never through a symlink, a hard link not written through", () => {
  const dir = makeRingDir();
  try {
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious");
    Deno.chmodSync(victim, 0o644);
    // A symlink at the name: refused, the target untouched.
    Deno.symlinkSync(victim, `${dir}/sym.pcap`);
    let err = "";
    try {
      new PcapOutput({ target: { kind: "files", template: `${dir}/sym.pcap` } }).open();
    } catch (e) {
      err = (e as Error).message;
    }
    assertEquals(
      err,
      `Cannot create capture file "${dir}/sym.pcap": it is a symbolic link (fluxcap never writes through one)`,
    );
    assertEquals(Deno.readTextFileSync(victim), "precious");
    // A dangling symlink too (O_CREAT alone would create its target).
    Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling.pcap`);
    try {
      createCaptureFile(`${dir}/dangling.pcap`, 0o600, true);
      throw new Error("created through a dangling symlink");
    } catch (e) {
      assertIncludes((e as Error).message, "it is a symbolic link");
    }
    assert(!list(dir).includes("nowhere"));
    // A hard link to the victim at the name: replaced, not written through.
    Deno.linkSync(victim, `${dir}/hard.pcap`);
    const out = new PcapOutput({ target: { kind: "files", template: `${dir}/hard.pcap` } });
    out.open();
    out.close();
    assertEquals(Deno.readTextFileSync(victim), "precious");
    assertEquals(Deno.statSync(`${dir}/hard.pcap`).size, 24);
    assertEquals(Deno.statSync(`${dir}/hard.pcap`).mode! & 0o777, 0o600);
    // --file-mode widens (the umask still applies: this test runs under 022 or stricter).
    const umask = 0o022;
    const wide = new PcapOutput({
      target: { kind: "files", template: `${dir}/w.pcap` },
      fileMode: 0o640,
      rotateBytes: 1000,
    });
    wide.open();
    wide.close();
    assertEquals(Deno.statSync(`${dir}/w.pcap`).mode! & 0o777, 0o640 & ~umask);
    // Rotated files skip a symlink squatting a name.
    Deno.symlinkSync(victim, `${dir}/r.pcap`);
    const rot = new PcapOutput({ target: { kind: "files", template: `${dir}/r.pcap` }, rotateBytes: 1000 });
    rot.open();
    rot.close();
    assertEquals(Deno.readTextFileSync(victim), "precious");
    assert(Deno.lstatSync(`${dir}/r.pcap`).isSymlink);
    assertEquals(Deno.statSync(`${dir}/r-1.pcap`).mode! & 0o777, 0o600);
    assertEquals([parseFileMode("0640"), parseFileMode("600"), parseFileMode("0o660")], [
      0o640,
      0o600,
      0o660,
    ]);
    for (const bad of ["999", "0400", "04755", "rw", ""]) {
      assertEquals(typeof parseFileMode(bad), "string", bad);
    }
  } finally {
    rmrf(dir);
  }
});

/** Starts `-tx -w … --from-oldest` on a filled ring and stops it once every frame is written. */
async function writeAll(ring: string, frames: number, args: string[], desc: string) {
  const p = spawnFluxcap(["-tx", ...args, "--from-oldest", ring]);
  await until(
    () => snap(ring).readers.find((r) => r.desc === desc)?.framesSent === frames,
    "all frames written",
  );
  return { p, stop: () => interrupt(p) };
}

toolTest(
  "retention -W 3 -C 1: the three newest complete files are kept, the older ones deleted",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      const out = `${dir}/out`;
      Deno.mkdirSync(out);
      createRing(ring, { size: 16 << 20 });
      // An earlier run's capture, older than everything: deleted first. A look-alike that is not: kept.
      const old = `${out}/r-20000101-000000.pcap`;
      Deno.writeFileSync(old, PCAP_HEAD);
      Deno.utimeSync(old, new Date(946684800000), new Date(946684800000));
      Deno.writeTextFileSync(`${out}/r-20000101-000001.pcap`, "not a capture");
      const frames = timedFrames(5000, { minLen: 600 });
      fillRing(ring, frames);
      const w = await writeAll(ring, frames.length, ["-w", out, "-C", "1", "-W", "3"], `tx file ${out}`);
      const res = await w.stop();
      assertEquals([res.code, quiet(res.stderr)], [0, ""]);
      const files = list(out).filter((n) => n !== "r-20000101-000001.pcap");
      assertEquals(files.length, 3, `${files}`);
      assert(!files.includes("r-20000101-000000.pcap"), "the earlier run's file was deleted");
      assert(list(out).includes("r-20000101-000001.pcap"), "a file that is not a capture is never deleted");
      // The three kept files are complete and hold the newest frames, up to the last one.
      const kept = files.flatMap((f) => framesOf(Deno.readFileSync(`${out}/${f}`))).map(key).sort();
      const newest = frames.slice(frames.length - kept.length).map(key).sort();
      assertEquals(kept, newest);
      assert(kept.length > 1000, `${kept.length} frames in the three files`);
      for (const f of files) {
        const r = await tool(["tshark", "-r", `${out}/${f}`, "-T", "fields", "-e", "frame.number"]);
        assertEquals(r.code, 0, `${f}: ${r.stderr}`);
      }
    } finally {
      rmrf(dir);
    }
  },
);

toolTest("retention --max-disk 3m -C 1: the output's files never take more than 3 MiB", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    const out = `${dir}/out`;
    Deno.mkdirSync(out);
    createRing(ring, { size: 16 << 20 });
    const frames = timedFrames(7000, { minLen: 600 });
    const limit = 3 * 1024 * 1024;
    const p = spawnFluxcap(["-tx", "-w", `${out}/c-%s.pcapng`, "-C", "1", "--max-disk", "3m", ring]);
    await until(() => snap(ring).readers.length === 1, "reader attached");
    let most = 0;
    let written = 0;
    // Feed in bursts and watch the directory meanwhile (every file, .part included).
    for (let k = 0; k < 7; k++) {
      fillRing(ring, frames.slice(k * 1000, (k + 1) * 1000));
      for (let i = 0; i < 10; i++) {
        try {
          most = Math.max(most, sizeOf(out, list(out)));
        } catch { /* a file renamed or deleted between list and stat */ }
        await new Promise((r) => setTimeout(r, 20));
      }
      written += 1000;
      await until(() => snap(ring).readers[0]?.framesSent === written, `${written} frames written`);
    }
    const res = await interrupt(p);
    assertEquals([res.code, quiet(res.stderr)], [0, ""]);
    const files = list(out);
    const total = sizeOf(out, files);
    console.log(`  --max-disk 3m: ${files.length} files, ${total} bytes at the end, at most ${most} seen`);
    assert(total <= limit && most <= limit, `${total} / ${most} bytes > ${limit}`);
    assert(files.length >= 2 && files.every((f) => /^c-\d+(-\d+)?\.pcapng$/.test(f)), `${files}`);
    // What is left is the newest part of the stream, complete.
    const kept = files.flatMap((f) => framesOf(Deno.readFileSync(`${out}/${f}`))).map(key).sort();
    assertEquals(kept, frames.slice(frames.length - kept.length).map(key).sort());
  } finally {
    rmrf(dir);
  }
});

toolTest("-z gzip: every complete file is compressed; -W counts the compressed files", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    const out = `${dir}/out`;
    Deno.mkdirSync(out);
    createRing(ring, { size: 16 << 20 });
    const frames = timedFrames(4000, { minLen: 600 });
    fillRing(ring, frames);
    const rotatedDone = (d: string) => () => !list(d).some((n) => n.endsWith(".pcap")); // all but the .part
    const w = await writeAll(
      ring,
      frames.length,
      ["-w", out, "-C", "1", "-z", "gzip", "-v"],
      `tx file ${out}`,
    );
    await until(rotatedDone(out), "the rotated files compressed");
    const res = await w.stop();
    assertEquals(res.code, 0, res.stderr);
    // The last file is finished at the stop; on a loaded machine its gzip may outlive fluxcap's bounded
    // wait (logged as not waited for), so wait for gzip itself before looking.
    const allGz = () => list(out).every((f) => f.endsWith(".pcap.gz"));
    await until(allGz, "gzip of the last file");
    const files = list(out);
    assert(files.length >= 4, `${files}`);
    for (const f of files) {
      const name = `${out}/${f.slice(0, -3)}`;
      const exited = res.stderr.includes(`fluxcap -tx: -z command "gzip" on "${name}" exited with status 0`);
      const notWaited =
        res.stderr.includes(`"gzip" still running on "${name}": its exit is not waited for`) ||
        res.stderr.includes(`-z command "gzip" on "${name}" started while fluxcap is stopping`);
      assert(exited || notWaited, `no line for ${f}: ${res.stderr}`);
      assert(exited || f === files.toSorted().at(-1), `only the last file may be left running: ${f}`);
    }
    let all: string[] = [];
    for (const f of files) {
      const r = await new Deno.Command("gzip", { args: ["-dc", `${out}/${f}`], stdout: "piped" }).output();
      assertEquals(r.code, 0);
      all = all.concat(framesOf(r.stdout).map(key));
    }
    assertEquals(all.sort(), frames.map(key).sort(), "the compressed files hold every frame");
    // -W 2 with gzip: the compressed files count, the older ones are deleted.
    const out2 = `${dir}/out2`;
    Deno.mkdirSync(out2);
    const w2 = await writeAll(
      ring,
      frames.length,
      ["-w", out2, "-C", "1", "-z", "gzip", "-W", "2"],
      `tx file ${out2}`,
    );
    await until(rotatedDone(out2), "the rotated files compressed");
    const r2 = await w2.stop();
    assertEquals(r2.code, 0, r2.stderr);
    const unwaited = /still running on .*: its exit is not waited for|started while fluxcap is stopping/;
    assertEquals(quiet(r2.stderr).split("\n").filter((l) => l && !unwaited.test(l)), [], r2.stderr);
    await until(() => list(out2).every((f) => f.endsWith(".pcap.gz")), "gzip of the last file");
    const left = list(out2);
    assertEquals(left.length, 2, `${left}`);
    assert(left.every((n) => n.endsWith(".pcap.gz")), `${left}`);
    let kept: string[] = [];
    for (const f of left) {
      const r = await new Deno.Command("gzip", { args: ["-dc", `${out2}/${f}`], stdout: "piped" }).output();
      kept = kept.concat(framesOf(r.stdout).map(key));
    }
    assertEquals(kept.sort(), frames.slice(frames.length - kept.length).map(key).sort(), "the newest two");
    // A fixed file name: once gzip has taken cap.pcap away, the series never hands out that name again
    // (gzip would refuse: cap.pcap.gz exists), and -W still counts every file.
    // Frames come in bursts of about a file, each after gzip has finished the file before.
    const out3 = `${dir}/out3`;
    Deno.mkdirSync(out3);
    const ring3 = `${dir}/r3`;
    createRing(ring3, { size: 16 << 20 });
    const desc3 = `tx file ${out3}/cap.pcap`;
    const p3 = spawnFluxcap([
      "-tx",
      "-w",
      `${out3}/cap.pcap`,
      "-C",
      "1",
      "-z",
      "gzip",
      "-W",
      "2",
      "-v",
      ring3,
    ]);
    await until(() => snap(ring3).readers.some((r) => r.desc === desc3), "the output attached");
    const burst = 1200; // frames of about 1,000 bytes: a file and a bit
    for (let i = 0; i < frames.length; i += burst) {
      fillRing(ring3, frames.slice(i, i + burst));
      const upTo = Math.min(frames.length, i + burst);
      await until(() => snap(ring3).readers.find((r) => r.desc === desc3)?.framesSent === upTo, "written");
      await until(() => list(out3).every((f) => !f.endsWith(".pcap")), "the rotated files compressed");
    }
    const r3 = await interrupt(p3);
    assertEquals(r3.code, 0, r3.stderr);
    assert(!/exited with status [1-9]|already exists/.test(r3.stderr), r3.stderr);
    await until(() => list(out3).every((f) => f.endsWith(".pcap.gz")), "gzip of the last file");
    const left3 = list(out3);
    assertEquals(left3.length, 2, `${left3}`);
    const names = [...r3.stderr.matchAll(/wrote "([^"]+)"/g)].map((m) => m[1]);
    assertEquals(new Set(names).size, names.length, `a name was handed out twice: ${names}`);
    assert(names.length >= 4, `${names}`);
  } finally {
    rmrf(dir);
  }
});

toolTest(
  "-z: a failing or missing command is logged, never fatal; every file is still complete",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      const out = `${dir}/out`;
      Deno.mkdirSync(out);
      createRing(ring, { size: 16 << 20 });
      const frames = timedFrames(3000, { minLen: 600 });
      fillRing(ring, frames);
      // Fails with status 3, leaving a line in `seen` so the test knows it ran.
      const cmd = `sh -c 'echo "$0" >> ${dir}/seen; exit 3'`;
      const w = await writeAll(ring, frames.length, ["-w", out, "-C", "1", "-z", cmd], `tx file ${out}`);
      const rotated = () => list(out).filter((n) => !n.endsWith(".part")).length;
      const seen = () => {
        try {
          return Deno.readTextFileSync(`${dir}/seen`).trim().split("\n").length;
        } catch {
          return 0;
        }
      };
      await until(() => rotated() >= 2 && seen() === rotated(), "the command ran on each rotated file");
      const res = await w.stop();
      assertEquals(res.code, 0, res.stderr);
      const files = list(out);
      assert(files.length >= 3, `${files}`);
      const lines = res.stderr.trim().split("\n").sort();
      const argv = `sh -c echo "$0" >> ${dir}/seen; exit 3`;
      assertEquals(
        lines,
        files.map((f) => `fluxcap -tx: -z command "${argv}" on "${out}/${f}" exited with status 3`).sort(),
      );
      const all = files.flatMap((f) => framesOf(Deno.readFileSync(`${out}/${f}`))).map(key);
      assertEquals(all.sort(), frames.map(key).sort(), "every file complete, every frame written");
      // A command that does not exist.
      const one = `${dir}/one.pcap`;
      const m = await writeAll(
        ring,
        frames.length,
        ["-w", one, "-z", `${dir}/no-such-command`],
        `tx file ${one}`,
      );
      const r = await m.stop();
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        r.stderr.trim(),
        `fluxcap -tx: -z command "${dir}/no-such-command" on "${one}" could not start: no such file or directory`,
      );
      assertEquals(framesOf(Deno.readFileSync(one)).length, frames.length);
    } finally {
      rmrf(dir);
    }
  },
);

test("-z helper: exits are reported without the writer's event loop; jobs not taken at close run anyway", async () => {
  const dir = makeRingDir();
  try {
    const logs: string[] = [];
    // Run from a Worker that blocks, as the writer's loop does.
    const worker = new Worker(new URL("./postrotate_probe.ts", import.meta.url).href, { type: "module" });
    const done = new Promise<string[]>((resolve) => worker.onmessage = (e) => resolve(e.data));
    worker.postMessage({ dir });
    logs.push(...await done);
    worker.terminate();
    // a and b run at once in two helpers: their exits come in either order; c comes after both
    assertEquals([...logs.slice(0, 2)].sort(), [
      `-z command "sh -c exit 4" on "${dir}/a" exited with status 4`,
      `-z command "touch" on "${dir}/b" exited with status 0`,
    ]);
    assertEquals(logs.slice(2), [
      `-z command "touch" on "${dir}/c" started while fluxcap is stopping: its exit is not waited for`,
    ]);
    await until(() => list(dir).includes("c"), "the job not taken by the helper ran");
    assert(list(dir).includes("b"));
  } finally {
    rmrf(dir);
  }
});

test("-tx -w: 0600 files, --file-mode, symlinks refused; retention options checked at start", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    fillRing(ring, timedFrames(10));
    const file = `${dir}/x.pcap`;
    const w = await writeAll(ring, 10, ["-w", file], `tx file ${file}`);
    assertEquals((await w.stop()).code, 0);
    assertEquals(Deno.statSync(file).mode! & 0o777, 0o600, "0600 by default");
    const g = `${dir}/g.pcap`;
    const w2 = await writeAll(ring, 10, ["-w", g, "--file-mode", "0640"], `tx file ${g}`);
    assertEquals((await w2.stop()).code, 0);
    assertEquals(Deno.statSync(g).mode! & 0o777, 0o640);
    Deno.writeTextFileSync(`${dir}/victim`, "precious");
    Deno.symlinkSync(`${dir}/victim`, `${dir}/sym.pcap`);
    let r = await spawnFluxcap(["-tx", "-w", `${dir}/sym.pcap`, ring]).done;
    assertEquals([r.code, r.stderr.trim()], [
      1,
      `Cannot create capture file "${dir}/sym.pcap": it is a symbolic link (fluxcap never writes through one)`,
    ]);
    assertEquals(Deno.readTextFileSync(`${dir}/victim`), "precious");
    const refused = async (args: string[], text: string) => {
      const x = await spawnFluxcap(["-tx", ...args, ring]).done;
      assertEquals(x.code, 2, x.stderr); // configuration errors exit 2
      assertIncludes(x.stderr, text);
      assertEquals(x.stderr.trim().split("\n").length, 1, x.stderr);
    };
    await refused(["-w", file, "-W", "3"], "-W and --max-disk keep rotated files: they need -G or -C");
    await refused(["-w", file, "--max-disk", "1g"], "they need -G or -C");
    await refused(
      ["-w", file, "-C", "10", "--max-disk", "15m"],
      'Invalid disk limit (--max-disk) "15m": must hold two -C files',
    );
    await refused(["-w", file, "-C", "1", "-W", "0"], 'Invalid file count (-W) "0"');
    await refused(["-w", "-", "-z", "gzip"], "-z and --file-mode apply to files");
    await refused(["-w", file, "--format", "erf"], 'Invalid capture format "erf": pcap or pcapng');
    await refused(["-w", file, "--file-mode", "0400"], 'Invalid file mode "0400"');
    await refused(["-w", file, "-z", "gzip 'x"], "unbalanced '");
    r = await spawnFluxcap(["-rx", "--read", file, "-W", "3", ring]).done;
    assertEquals(r.code, 2);
    assertIncludes(r.stderr, "Option -W does not apply to -rx --read");
  } finally {
    rmrf(dir);
  }
});
