import { assert, assertEquals, assertIncludes, assertThrows } from "../assert.ts";
import {
  createRing,
  DropReason,
  ReaderKind,
  RingReader,
  RingWriter,
  snapshotOf,
} from "../../lib/ring/mod.ts";
import { escapeLabel, exposition, METRICS, parseListen, startMetrics } from "../../lib/watch/metrics.ts";
import { FluxError } from "../../lib/errors.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { VERSION } from "../../cli.ts";
import { parsePromText, promtoolCheck, valueOf } from "./promtext.ts";

const TRAFFIC = new URL("./traffic.ts", import.meta.url).pathname;

async function scrape(
  port: number,
  path = "/metrics",
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

/** Checks `text` with our parser and, when installed, with promtool. */
async function checkFormat(text: string): Promise<ReturnType<typeof parsePromText>> {
  const parsed = parsePromText(text);
  const pt = await promtoolCheck(text);
  if (pt === null) console.log("promtool not installed: checked with the test's own parser only");
  else assert(pt.ok, `promtool check metrics:\n${pt.output}`);
  return parsed;
}

Deno.test("metrics: [addr:]port specs; bad ones are a one-line error naming the value", () => {
  assertEquals(parseListen("9086"), { hostname: "127.0.0.1", port: 9086 });
  assertEquals(parseListen("0.0.0.0:9086"), { hostname: "0.0.0.0", port: 9086 });
  assertEquals(parseListen("[::1]:9086"), { hostname: "::1", port: 9086 });
  assertEquals(parseListen("localhost:0"), { hostname: "localhost", port: 0 });
  for (const bad of ["", "x", "9086x", "70000", "::1:9086", "1.2.3.4:", ":9086", "[::1]"]) {
    assertThrows(() => parseListen(bad), FluxError, `Invalid --metrics "${bad}"`);
  }
  assertEquals(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

Deno.test("metrics: 10 000 frames → fluxcap_ring_frames_total 10000; a lapped reader's lost frames; drops by reason", async () => {
  const dir = makeRingDir();
  const path = `${dir}/cisco`;
  createRing(path, { size: 256 << 10 });
  const m = startMetrics("0", [path, `${dir}/dell`]);
  try {
    assertEquals(m.addr, "127.0.0.1");
    assert(m.port > 0);
    using w = RingWriter.open(path, { desc: "rx eth1" });
    using r = RingReader.open(path, { desc: 'tx "eth2"', kind: ReaderKind.nic });
    const frame = new Uint8Array(100);
    for (let i = 0; i < 10_000; i++) {
      w.write(frame, 0, 100);
      if (i % 500 === 499) w.commit();
    }
    w.addDrop(DropReason.sampled, 9);
    w.addKernelStats(2, 10_002);
    w.commit();
    let read = 0;
    for (let n = r.poll(); n > 0; n = r.poll()) read += n - r.release();
    r.addDrop(DropReason.send_error, 5);
    r.addDrop(DropReason.oversize, 1);
    r.addSent(read - 6);
    r.flush();
    assert(r.framesLost > 0);

    const res = await scrape(m.port);
    assertEquals(res.status, 200);
    assertEquals(res.type, "text/plain; version=0.0.4; charset=utf-8");
    const p = await checkFormat(res.body);
    const ring = { ring: path };
    assertEquals(valueOf(p, "fluxcap_ring_up", ring), 1);
    assertEquals(valueOf(p, "fluxcap_ring_frames_total", ring), 10_000);
    assertEquals(valueOf(p, "fluxcap_ring_bytes_total", ring), 1_000_000);
    assertEquals(valueOf(p, "fluxcap_ring_wire_bytes_total", ring), 1_000_000);
    assertEquals(valueOf(p, "fluxcap_ring_kernel_drops_total", ring), 2);
    assertEquals(valueOf(p, "fluxcap_ring_size_bytes", ring), 256 << 10);
    assertEquals(valueOf(p, "fluxcap_ring_readers", ring), 1);
    assertEquals(valueOf(p, "fluxcap_writer_up", ring), 1);
    const pid = String(Deno.pid);
    assertEquals(valueOf(p, "fluxcap_info", { ...ring, role: "writer", writer: "rx eth1", pid }), 1);
    assertEquals(
      valueOf(p, "fluxcap_info", {
        ...ring,
        role: "reader",
        slot: "0",
        reader: 'tx "eth2"',
        kind: "nic",
        pid,
      }),
      1,
    );
    assertEquals(valueOf(p, "fluxcap_build_info", { version: VERSION, deno: Deno.version.deno }), 1);
    const withPid = p.samples.filter((s) => "pid" in s.labels).map((s) => s.name);
    assertEquals([...new Set(withPid)], ["fluxcap_info"], "only fluxcap_info carries a pid");
    assertEquals(valueOf(p, "fluxcap_writer_dropped_frames_total", { ...ring, reason: "sampled" }), 9);
    assertEquals(valueOf(p, "fluxcap_writer_dropped_frames_total", { ...ring, reason: "filtered" }), 0);
    const reader = { ...ring, reader: 'tx "eth2"', kind: "nic" };
    assertEquals(valueOf(p, "fluxcap_reader_lost_frames_total", reader), r.framesLost);
    assertEquals(valueOf(p, "fluxcap_reader_frames_read_total", reader), read);
    assertEquals(read + r.framesLost, 10_000);
    assertEquals(valueOf(p, "fluxcap_reader_frames_sent_total", reader), read - 6);
    assertEquals(valueOf(p, "fluxcap_reader_dropped_frames_total", { ...reader, reason: "send_error" }), 5);
    assertEquals(valueOf(p, "fluxcap_reader_dropped_frames_total", { ...reader, reason: "oversize" }), 1);
    assertEquals(valueOf(p, "fluxcap_reader_lag_bytes", reader), 0);
    assertEquals(valueOf(p, "fluxcap_ring_up", { ring: `${dir}/dell` }), 0, "a missing ring is down");
    for (const [name, type] of METRICS) assertEquals(p.types.get(name), type, name);
    assertIncludes(res.body, `fluxcap_ring_frames_total{ring="${path}"} 10000\n`);

    // A second reader with the same description: told apart, never a duplicate series.
    {
      using _twin = RingReader.open(path, { desc: 'tx "eth2"', kind: ReaderKind.nic });
      const twin = await checkFormat((await scrape(m.port)).body);
      assertEquals(valueOf(twin, "fluxcap_reader_frames_read_total", reader), read);
      assertEquals(
        valueOf(twin, "fluxcap_reader_frames_read_total", { ...reader, reader: 'tx "eth2" #2' }),
        0,
      );
      assertEquals(valueOf(twin, "fluxcap_info", { ...reader, reader: 'tx "eth2" #2', slot: "1" }), 1);
    }
    assertEquals((await scrape(m.port, "/nope")).status, 404);
    createRing(`${dir}/dell`, { size: 1 << 20 }); // appears later: opened at the next scrape
    Deno.removeSync(path); // deleted: down
    const after = parsePromText((await scrape(m.port)).body);
    assertEquals(valueOf(after, "fluxcap_ring_up", { ring: `${dir}/dell` }), 1);
    assertEquals(valueOf(after, "fluxcap_ring_frames_total", { ring: `${dir}/dell` }), 0);
    assertEquals(valueOf(after, "fluxcap_ring_up", ring), 0);
    assertEquals(after.samples.filter((s) => s.labels.ring === path).length, 1, "only _up for a gone ring");
  } finally {
    await m.close();
    rmrf(dir);
  }
});

/** Starts tests/watch/traffic.ts on `path` and waits for its "ready". */
async function traffic(path: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAFFIC, path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assertEquals((await out.read()).value?.trim(), "ready");
  await out.cancel();
  return child;
}

async function kill(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* ended */ }
  await child.status;
}

/** Name and labels of every series but the ones that name processes or the endpoint itself. */
function seriesKeys(p: ReturnType<typeof parsePromText>): string[] {
  return p.samples
    .filter((s) => s.name !== "fluxcap_info" && !s.name.startsWith("fluxcap_metrics_"))
    .map((s) => s.name + JSON.stringify(Object.entries(s.labels).sort()))
    .sort();
}

Deno.test("metrics: scraped with an HTTP client while another process writes and reads; a restart keeps every series", async () => {
  const dir = makeRingDir();
  const path = `${dir}/cisco`;
  createRing(path, { size: 1 << 20 });
  let child = await traffic(path);
  const m = startMetrics("127.0.0.1:0", [path]);
  try {
    let last = -1;
    let p = parsePromText("");
    for (let i = 0; i < 5; i++) {
      const res = await scrape(m.port);
      p = await checkFormat(res.body);
      const frames = valueOf(p, "fluxcap_ring_frames_total", { ring: path });
      assert(frames >= last, "counters never go back");
      last = frames;
      const readers = p.samples.filter((s) => s.name === "fluxcap_reader_frames_read_total");
      assertEquals(readers.length, 1);
      assertEquals(readers[0].labels, { ring: path, reader: "tx test", kind: "nic" });
      await new Promise((res) => setTimeout(res, 100));
    }
    const pid = String(child.pid);
    assertEquals(valueOf(p, "fluxcap_info", { ring: path, role: "reader", reader: "tx test", pid }), 1);
    assertEquals(valueOf(p, "fluxcap_info", { ring: path, role: "writer", writer: "rx test", pid }), 1);
    assert(last > 0, "traffic flowed");
    // curl, when installed, as a second client
    try {
      const curl = await new Deno.Command("curl", { args: ["-sf", `http://127.0.0.1:${m.port}/metrics`] })
        .output();
      assertEquals(curl.code, 0);
      parsePromText(new TextDecoder().decode(curl.stdout));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await kill(child);
    const down = parsePromText((await scrape(m.port)).body);
    assertEquals(valueOf(down, "fluxcap_writer_up", { ring: path }), 0, "a killed writer is down");
    assertEquals(down.samples.filter((s) => s.name === "fluxcap_reader_frames_read_total").length, 0);
    assertEquals(down.samples.filter((s) => s.name === "fluxcap_info").length, 0, "no process attached");

    // The same pipeline restarted (new pids): the very same series, only fluxcap_info tells the new pids.
    child = await traffic(path);
    const again = await checkFormat((await scrape(m.port)).body);
    assertEquals(seriesKeys(again), seriesKeys(p));
    const info = again.samples.filter((s) => s.name === "fluxcap_info");
    assertEquals(info.map((s) => s.labels.pid), [String(child.pid), String(child.pid)]);
    assert(String(child.pid) !== pid);
    const slot = info.find((s) => s.labels.role === "reader")!.labels.slot;
    assertEquals(slot, "1", "the restarted reader took another slot (the dead one's is reclaimed last)");
  } finally {
    await kill(child);
    await m.close();
    rmrf(dir);
  }
});

Deno.test("metrics: an address in use is a one-line error", async () => {
  const m = startMetrics("0", []);
  try {
    assertThrows(
      () => startMetrics(String(m.port), []),
      FluxError,
      `Cannot listen for metrics on "127.0.0.1:${m.port}"`,
    );
    assertIncludes(exposition([]), "# TYPE fluxcap_ring_up gauge");
  } finally {
    await m.close();
  }
});

Deno.test("metrics: an output group's members are readers of kind member, labelled with their group", () => {
  const dir = makeRingDir();
  const path = `${dir}/cisco`;
  try {
    createRing(path, { size: 256 << 10 });
    using r = RingReader.open(path, { desc: "tx eth2,eth3", kind: ReaderKind.nic });
    const m2 = r.addMember("tx eth2");
    const m3 = r.addMember("tx eth3");
    m2.addOffered(10, 1000);
    m2.addSent(9);
    m2.addDrop(DropReason.send_error, 1);
    m3.addOffered(5, 500);
    m3.addSent(5);
    r.addDrop(DropReason.duplicate, 2);
    r.flush();
    const text = exposition([{ name: "cisco", at: 0, snap: snapshotOf(path), gone: false, generation: 1 }]);
    const p = parsePromText(text);
    const l = { ring: "cisco", kind: "member", group: "tx eth2,eth3" };
    assertEquals(valueOf(p, "fluxcap_reader_frames_sent_total", { ...l, reader: "tx eth2" }), 9);
    assertEquals(valueOf(p, "fluxcap_reader_frames_read_total", { ...l, reader: "tx eth3" }), 5);
    assertEquals(
      valueOf(p, "fluxcap_reader_dropped_frames_total", { ...l, reader: "tx eth2", reason: "send_error" }),
      1,
    );
    assertEquals(
      valueOf(p, "fluxcap_reader_dropped_frames_total", {
        ring: "cisco",
        reader: "tx eth2,eth3",
        reason: "duplicate",
      }),
      2,
    );
    m3.close(); // a member slot closed early is gone from the view; the others stay
    assertEquals(snapshotOf(path).readers.length, 2);
  } finally {
    rmrf(dir);
  }
});
