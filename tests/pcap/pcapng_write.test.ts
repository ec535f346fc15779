/**
 * pcapng output (`-tx -w FILE.pcapng`, `--format pcapng`): Wireshark (tshark, capinfos) and tcpdump read
 * every file fluxcap writes, timestamps to the nanosecond, original lengths, interface names and the
 * statistics block as written; fluxcap reads its own pcapng back byte-exact; `-C` rotation gives complete
 * files, each with its statistics; classic pcap warns once about seconds it cannot hold.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { isError } from "../../lib/codec/error.ts";
import { readCapture } from "../../lib/codec/pcap.ts";
import { createRing } from "../../lib/ring/mod.ts";
import { type CaptureCounters, PcapOutput } from "../../lib/sinks/mod.ts";
import { VERSION } from "../../lib/version.ts";
import {
  fillRing,
  haveTools,
  hex,
  interrupt,
  parseTcpdump,
  quiet,
  readRing,
  snap,
  spawnFluxcap,
  type TimedFrame,
  timedFrames,
  tool,
  until,
} from "./common.ts";

const missing = await haveTools(["tcpdump", "tshark", "capinfos"]);
if (missing) console.log(`pcapng write tests skipped: ${missing}`);
const toolTest = (name: string, fn: () => Promise<void>, ignore = false) =>
  Deno.test({ name, ignore: ignore || missing !== null, fn, sanitizeResources: false, sanitizeOps: false });

/** Frames of a capture file as fluxcap's reader sees them (asserting a clean read). */
function readBack(bytes: Uint8Array): TimedFrame[] {
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

function assertFrames(got: TimedFrame[], want: TimedFrame[], what: string): void {
  assertEquals(got.length, want.length, `${what}: number of frames`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    assertEquals([g.sec, g.nsec, g.wire, hex(g.data)], [w.sec, w.nsec, w.wire, hex(w.data)], `${what} ${i}`);
  }
}

/** tshark's view of each packet: time, wire and captured length, interface name. */
async function tsharkPackets(file: string): Promise<string[][]> {
  const r = await tool([
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
    "-e",
    "frame.interface_name",
  ]);
  assertEquals(r.code, 0, `tshark -r ${file}: ${r.stderr}`);
  return r.stdout.trim() === "" ? [] : r.stdout.trim().split("\n").map((l) => l.split("\t"));
}

/** The statistics blocks of a pcapng file, as Wireshark's pcapng file dissector shows them. */
async function statisticsBlocks(file: string): Promise<string[][]> {
  const r = await tool([
    "tshark",
    "-r",
    file,
    "-X",
    "read_format:MIME Files Format",
    "-T",
    "fields",
    "-e",
    "pcapng.options.option.data.interface.received",
    "-e",
    "pcapng.options.option.data.interface.dropped",
    "-e",
    "pcapng.options.option.data.interface.dropped_by_os",
    "-e",
    "pcapng.options.option.data.interface.delivered_to_user",
    "-e",
    "pcapng.options.option.data.comment",
  ]);
  assertEquals(r.code, 0, r.stderr);
  // One line per top-level dissection; keep the lines that carry statistics.
  return r.stdout.split("\n").map((l) => l.split("\t")).filter((f) => f.length > 3 && f[3] !== "");
}

/**
 * Checks a file with tcpdump: clean read, frames and nanosecond times as `want` (tcpdump prints no frame
 * line for a record whose caplen exceeds its original length, only "[Invalid header: …]").
 */
async function tcpdumpCheck(file: string, all: TimedFrame[]): Promise<void> {
  const want = all.filter((f) => f.wire >= f.data.length);
  const r = await tool(["tcpdump", "-r", file, "-n", "-tt", "--nano", "-xx"]);
  assertEquals(r.code, 0, `tcpdump -r ${file}: ${r.stderr}`);
  const got = parseTcpdump(r.stdout);
  assertEquals(got.length, want.length, "tcpdump count");
  got.forEach((g, i) => {
    assertEquals(
      [g.sec, g.nsec, g.hex],
      [want[i].sec, want[i].nsec, hex(want[i].data)],
      `tcpdump frame ${i}`,
    );
  });
}

const timeText = (f: TimedFrame) => `${f.sec}.${String(f.nsec).padStart(9, "0")}`;

toolTest(
  "pcapng PcapOutput: tshark, capinfos and tcpdump read it, statistics as written, read back byte-exact",
  async () => {
    const dir = makeRingDir();
    try {
      const file = `${dir}/x.pcapng`;
      const frames = timedFrames(300);
      frames[5] = { ...frames[5], wire: 20 }; // caplen above the original length: kept as given
      const counters: CaptureCounters = { received: 312, kernelDrops: 7, lost: 5, dropped: 7 };
      const out = new PcapOutput({
        target: { kind: "files", template: file },
        format: "pcapng",
        interfaces: [{ name: "cisco", description: "fluxcap ring /dev/shm/cisco" }],
        statistics: (i) => i === 0 ? counters : undefined,
        snaplen: 65535,
      });
      out.open();
      for (const f of frames) {
        const at = out.reserve(f.data.length);
        out.buffer.set(f.data, at);
        out.finish(f.data.length, f.wire, f.sec, f.nsec);
      }
      out.close();
      assertEquals(Deno.statSync(file).mode! & 0o777, 0o600, "created 0600");
      const bytes = await Deno.readFile(file);
      assertFrames(readBack(bytes), frames, "read back");
      const rows = await tsharkPackets(file);
      assertEquals(rows.length, frames.length);
      rows.forEach(([t, len, cap, name], i) => {
        assertEquals([t, Number(len), Number(cap), name], [
          timeText(frames[i]),
          frames[i].wire,
          frames[i].data.length,
          "cisco",
        ]);
      });
      await tcpdumpCheck(file, frames);
      const info = await tool(["capinfos", file]);
      assertEquals(info.code, 0, info.stderr);
      for (
        const line of [
          "File type:           Wireshark/... - pcapng",
          `Capture application: fluxcap ${VERSION}`,
          "Name = cisco",
          "Description = fluxcap ring /dev/shm/cisco",
          "Capture length = 65535",
          "Time precision = nanoseconds (9)",
          "Number of stat entries = 1",
          "Number of packets = 300",
        ]
      ) assertIncludes(info.stdout, line);
      assertEquals(await statisticsBlocks(file), [[
        "312",
        "7",
        "5",
        "300",
        "fluxcap: 312 received, 7 kernel drops, 5 lost to overwrite, 7 dropped by fluxcap, 300 written",
      ]]);
    } finally {
      rmrf(dir);
    }
  },
);

toolTest(
  "pcapng PcapOutput -C: complete files, each within -C with its statistics; lapped records taken out",
  async () => {
    const dir = makeRingDir();
    try {
      const names: string[] = [];
      const frames = timedFrames(600, { minLen: 600 });
      const out = new PcapOutput({
        target: { kind: "files", template: `${dir}/r.pcapng` },
        format: "pcapng",
        rotateBytes: 200_000,
        statistics: () => ({ received: 600, kernelDrops: 0, lost: 2, dropped: 0 }),
        onFile: (n) => names.push(n),
      });
      out.open();
      frames.forEach((f, i) => {
        const at = out.reserve(f.data.length);
        out.buffer.set(f.data, at);
        out.finish(f.data.length, f.wire, f.sec, f.nsec);
        if (i % 150 === 149) out.flush();
      });
      out.close();
      assert(names.length >= 3, `${names.length} files`);
      let all: TimedFrame[] = [];
      let delivered = 0;
      for (const n of names) {
        const b = await Deno.readFile(n);
        assert(b.length <= 200_000, `${n}: ${b.length} bytes`);
        const got = readBack(b);
        all = all.concat(got);
        delivered += got.length;
        assertEquals((await tsharkPackets(n)).length, got.length, `tshark reads ${n}`);
        const isb = await statisticsBlocks(n);
        assertEquals(
          isb.map((r) => r.slice(0, 4)),
          [["600", "0", "2", String(delivered)]],
          `${n}: written so far`,
        );
      }
      assertFrames(all, frames, "union of the files");
      // dropRecords on pcapng blocks.
      const one = `${dir}/d.pcapng`;
      const o2 = new PcapOutput({ target: { kind: "files", template: one }, format: "pcapng" });
      o2.open();
      const stage = (f: TimedFrame) => {
        const at = o2.reserve(f.data.length);
        o2.buffer.set(f.data, at);
        o2.finish(f.data.length, f.wire, f.sec, f.nsec);
      };
      stage(frames[0]);
      const m = o2.mark;
      for (const f of frames.slice(1, 5)) stage(f);
      o2.dropRecords(m, 2);
      o2.close();
      assertFrames(
        readBack(await Deno.readFile(one)),
        [frames[0], frames[3], frames[4]],
        "after dropRecords",
      );
      assertEquals((await statisticsBlocks(one)).map((r) => r[3]), ["3"], "written, not staged");
    } finally {
      rmrf(dir);
    }
  },
);

Deno.test("capture output: times past 2106 are kept by pcapng; classic pcap warns once and counts them", () => {
  const dir = makeRingDir();
  try {
    const late = [
      { data: new Uint8Array(60).fill(1), sec: 2 ** 32 + 5, nsec: 999_999_999, wire: 60 },
      { data: new Uint8Array(60).fill(2), sec: 2 ** 33, nsec: 1, wire: 60 },
      { data: new Uint8Array(60).fill(3), sec: 2 ** 32 - 1, nsec: 2, wire: 60 },
    ];
    for (const format of ["pcap", "pcapng"] as const) {
      const logs: string[] = [];
      const file = `${dir}/t.${format}`;
      const out = new PcapOutput({
        target: { kind: "files", template: file },
        format,
        log: (m) => logs.push(m),
      });
      out.open();
      for (const f of late) {
        const at = out.reserve(60);
        out.buffer.set(f.data, at);
        out.finish(60, 60, f.sec, f.nsec);
      }
      out.close();
      const got = readBack(Deno.readFileSync(file));
      if (format === "pcapng") {
        assertFrames(got, late, "pcapng");
        assertEquals([logs, out.timeWraps], [[], 0]);
      } else {
        assertEquals(got.map((g) => g.sec), [5, 0, 2 ** 32 - 1], "classic pcap: modulo 2^32");
        assertEquals(out.timeWraps, 2);
        assertEquals(logs.length, 1, logs.join("\n"));
        assertIncludes(logs[0], "Timestamp 4294967301 s is past 2106-02-07 06:28:16 UTC");
        assertIncludes(logs[0], "write pcapng");
      }
    }
  } finally {
    rmrf(dir);
  }
});

toolTest(
  "pcapng -w x.pcapng: ring → file → ring byte-exact; --format and directories choose pcapng",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/cisco`;
      createRing(ring, { size: 8 << 20 });
      const frames = timedFrames(400);
      fillRing(ring, frames);
      const write = async (args: string[], desc: string) => {
        const p = spawnFluxcap(["-tx", ...args, "--from-oldest", ring]);
        await until(
          () => snap(ring).readers.find((r) => r.desc === desc)?.framesSent === frames.length,
          "written",
        );
        const res = await interrupt(p);
        assertEquals([res.code, quiet(res.stderr)], [0, ""]);
      };
      const file = `${dir}/x.pcapng`;
      await write(["-w", file], `tx file ${file}`);
      const rows = await tsharkPackets(file);
      assertEquals(
        rows.map((r) => [r[0], Number(r[1]), r[3]]),
        frames.map((f) => [timeText(f), f.wire, "cisco"]),
      );
      await tcpdumpCheck(file, frames);
      assertEquals(Deno.statSync(file).mode! & 0o777, 0o600);
      const isb = await statisticsBlocks(file);
      assertEquals(isb.length, 1, "one statistics block");
      assertEquals(isb[0][3], "400", "isb_usrdeliv: frames written");
      // Back into another ring with -rx --read: the same frames, times and lengths.
      const ring2 = `${dir}/back`;
      createRing(ring2, { size: 8 << 20 });
      const r = await spawnFluxcap(["-rx", "--read", file, ring2]).done;
      assertEquals([r.code, quiet(r.stderr)], [0, ""]);
      assertFrames(readRing(ring2), frames, "ring → pcapng → ring");
      // --format pcapng whatever the name; a directory gets .pcapng names; --format pcap wins over .pcapng.
      const cap = `${dir}/y.cap`;
      await write(["-w", cap, "--format", "pcapng"], `tx file ${cap}`);
      assertEquals(new DataView((await Deno.readFile(cap)).buffer).getUint32(0), 0x0a0d0d0a, "pcapng magic");
      const out = `${dir}/out`;
      Deno.mkdirSync(out);
      await write(["-w", out, "--format", "pcapng", "-C", "1"], `tx file ${out}`);
      const names = [...Deno.readDirSync(out)].map((e) => e.name);
      assert(
        names.length >= 1 && names.every((n) => /^cisco-\d{8}-\d{6}(-\d+)?\.pcapng$/.test(n)),
        `${names}`,
      );
      const classic = `${dir}/z.pcapng`;
      await write(["-w", classic, "--format", "pcap"], `tx file ${classic}`);
      assertEquals(
        new DataView((await Deno.readFile(classic)).buffer).getUint32(0, true),
        0xa1b23c4d,
        "pcap magic",
      );
    } finally {
      rmrf(dir);
    }
  },
);

toolTest("times past 2106 cross the ring: pcap file in, pcapng out, as tshark reads them", async () => {
  const dir = makeRingDir();
  try {
    const late = [
      { data: new Uint8Array(60).fill(1), sec: 2 ** 32 + 5, nsec: 999_999_999, wire: 60 },
      { data: new Uint8Array(60).fill(2), sec: 2 ** 33 + 7, nsec: 1, wire: 60 },
      { data: new Uint8Array(60).fill(3), sec: 2 ** 32 - 1, nsec: 2, wire: 60 },
    ];
    const src = `${dir}/late.pcapng`;
    const w = new PcapOutput({ target: { kind: "files", template: src }, format: "pcapng" });
    w.open();
    for (const f of late) {
      const at = w.reserve(60);
      w.buffer.set(f.data, at);
      w.finish(60, 60, f.sec, f.nsec);
    }
    w.close();
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    const rx = await spawnFluxcap(["-rx", "--read", src, ring]).done;
    assertEquals(rx.code, 0, rx.stderr);
    assertEquals(readRing(ring).map((f) => [f.sec, f.nsec]), late.map((f) => [f.sec, f.nsec]), "in the ring");
    const out = `${dir}/out.pcapng`;
    const p = spawnFluxcap(["-tx", "--from-oldest", "-w", out, ring]);
    await until(() => snap(ring).readers.some((r) => r.framesSent === late.length), "written");
    assertEquals((await interrupt(p)).code, 0);
    const t = await tool(["tshark", "-r", out, "-T", "fields", "-e", "frame.time_epoch"]);
    assertEquals(t.code, 0, t.stderr);
    assertEquals(
      t.stdout.trim().split("\n"),
      ["4294967301.999999999", "8589934599.000000001", "4294967295.000000002"],
    );
  } finally {
    rmrf(dir);
  }
});

toolTest("pcapng -w: stdout carries a whole pcapng stream into tshark", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 4 << 20 });
    const frames = timedFrames(50);
    fillRing(ring, frames);
    const p = spawnFluxcap(["-tx", "-w", "-", "--format", "pcapng", "--from-oldest", ring]);
    await until(() => snap(ring).readers[0]?.framesSent === frames.length, "written");
    const res = await interrupt(p);
    assertEquals([res.code, quiet(res.stderr)], [0, ""]);
    const file = `${dir}/s.pcapng`;
    await Deno.writeFile(file, (await p.done).stdout);
    assertFrames(readBack(await Deno.readFile(file)), frames, "stdout");
    assertEquals((await tsharkPackets(file)).length, 50);
    assertEquals(
      (await statisticsBlocks(file)).map((r) => r[3]),
      ["50"],
      "statistics at the end of the stream",
    );
  } finally {
    rmrf(dir);
  }
});

toolTest(
  "pcapng -w: the statistics block carries the ring's counters (received, kernel drops, lost, dropped)",
  async () => {
    const dir = makeRingDir();
    try {
      const ring = `${dir}/r`;
      createRing(ring, { size: 8 << 20 });
      const frames = timedFrames(200);
      fillRing(ring, frames);
      const file = `${dir}/f.pcapng`;
      const p = spawnFluxcap(["-tx", "-w", file, "-f", "vlan 5", "--from-oldest", ring]);
      const keep = frames.filter((f) => f.data[12] === 0x81 && f.data[13] === 0 && f.data[15] === 5).length;
      await until(() => {
        const r = snap(ring).readers[0];
        return r !== undefined && r.framesSent + r.drops.filtered === frames.length;
      }, "all frames handled");
      const res = await interrupt(p);
      assertEquals(res.code, 0, res.stderr);
      assertEquals(await statisticsBlocks(file), [[
        "200",
        "0",
        "0",
        String(keep),
        `fluxcap: 200 received, 0 kernel drops, 0 lost to overwrite, ${
          200 - keep
        } dropped by fluxcap, ${keep} written`,
      ]]);
    } finally {
      rmrf(dir);
    }
  },
);
