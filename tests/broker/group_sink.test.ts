/**
 * The output group as a sink, over fake member sinks (no network): outcomes merged back in staging
 * order, member slots counted in the ring, a member that fails to send for a second leaves (only its
 * flows move), is probed back on trial about a second later, leaves again at its first failure on
 * trial, and stays once it sends; every member down: send errors and a back-off.
 */
import { assert, assertEquals } from "../assert.ts";
import { makeRingDir, rmrf } from "../helpers.ts";
import { createRing, ReaderKind, RingReader, snapshotOf } from "../../lib/ring/mod.ts";
import { GROUP_FAIL_MS, GroupSink } from "../../lib/sinks/group.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, Staged } from "../../lib/sinks/sink.ts";
import type { TunnelSinkConfig } from "../../lib/sinks/tunnel/sender.ts";
import { flowTraffic } from "./traffic.ts";

/** A member that records what it is given and sends (or fails) as told. */
class FakeSink implements Sink {
  readonly what: string;
  readonly desc: string;
  readonly readerKind = ReaderKind.tunnel;
  readonly maxBatch = 256;
  readonly zeroCopy = false;
  readonly status = new Uint8Array(256);
  readonly tags = new Uint32Array(256);
  failing = false;
  #n = 0;
  constructor(readonly name: string) {
    this.what = `to ${name}`;
    this.desc = `tx gretap:${name}`;
  }
  get staged(): number {
    return this.#n;
  }
  setTag(): void {}
  stage(
    _b: Uint8Array,
    _a: number,
    _o: number,
    _c: FrameCut,
    _w: number,
    _s: number,
    _ns: number,
    tag: number,
  ) {
    this.tags[this.#n++] = tag;
    return Staged.staged;
  }
  discard(): void {
    this.#n = 0;
  }
  flush(): FlushResult {
    const n = this.#n;
    this.status.fill(this.failing ? Outcome.error : Outcome.sent, 0, n);
    this.#n = 0;
    return { errors: this.failing ? n : 0, lastErrno: this.failing ? 113 : 0, backoff: false };
  }
  tick(): void {}
  dueIn(): number {
    return 1000;
  }
  oversizeText(len: number): string {
    return `${len}`;
  }
  summary(): null {
    return null;
  }
  close(): void {}
  [Symbol.dispose](): void {}
}

const member = (host: string): TunnelSinkConfig => ({
  kind: "tunnel",
  tunnel: "gretap",
  dst: { family: 4, bytes: new Uint8Array([198, 18, 7, 1]) } as unknown as TunnelSinkConfig["dst"],
  host,
});

Deno.test("group sink: merged outcomes, member slots, failover after a second of failures, probe on trial", async () => {
  const dir = makeRingDir();
  try {
    const ring = `${dir}/r`;
    createRing(ring, { size: 1 << 20 });
    using reader = RingReader.open(ring, { desc: "tx group", kind: ReaderKind.tunnel });
    const fakes = new Map<string, FakeSink>();
    const logs: string[] = [];
    const g = new GroupSink(
      { kind: "group", members: [member("a"), member("b"), member("c")], balance: "flows", name: "a,b,c" },
      { log: (m) => logs.push(m), counters: () => undefined, reader: () => reader },
      (cfg) => {
        const f = new FakeSink((cfg as TunnelSinkConfig).host!);
        fakes.set(f.name, f);
        return f;
      },
    );
    g.tick(performance.now()); // claims the member slots
    const b = fakes.get("b")!;
    const frames = flowTraffic(600, 1, false).map((f) => f.bytes);
    const cut = { headLen: 0, tagLen: 0, tailOff: 0, tailLen: 0 };
    /** Offers every frame in batches of 200; returns the member of each (by name, "" when failed). */
    const round = () => {
      const at: string[] = [];
      for (let i = 0; i < frames.length; i += 200) {
        const batch = frames.slice(i, i + 200);
        batch.forEach((f, j) => {
          cut.headLen = f.length;
          assertEquals(g.stage(f, 0, 0, cut, f.length, 0, 0, 1000 + j), Staged.staged);
        });
        const owner: string[] = new Array(batch.length).fill("");
        for (const f of fakes.values()) for (const k of f.tags.slice(0, f.staged)) owner[k] = f.name;
        const res = g.flush();
        batch.forEach((_, k) => {
          assertEquals(g.tags[k], 1000 + k, "tags in staging order");
          at.push(g.status[k] === Outcome.sent ? owner[k] : "");
        });
        assert(!res.backoff || g.membersUp === 0);
      }
      reader.flush();
      return at;
    };
    const r1 = round();
    assert(r1.every((m) => m !== ""), "all sent");
    for (const name of ["a", "b", "c"]) {
      assert(r1.filter((m) => m === name).length > 100, `${name} has flows`);
    }

    // b fails: frames to it fail at once; after a second of failures it leaves, and only its flows move.
    b.failing = true;
    const r2 = round();
    r2.forEach((m, i) => assertEquals(m, r1[i] === "b" ? "" : r1[i], "b's frames fail, nobody else's"));
    await new Promise((r) => setTimeout(r, GROUP_FAIL_MS + 50));
    round(); // a failed flush a second after the first: b leaves
    assert(logs.some((l) => l.includes('member "b" left (failed to send for a second)')), logs.join("\n"));
    const r3 = round();
    r3.forEach((m, i) => {
      if (r1[i] === "b") assert(m === "a" || m === "c", "b's flows moved");
      else assertEquals(m, r1[i], "other flows stayed");
    });
    // A second later a probe puts b back on trial; it still fails: out again at its first failed flush.
    await new Promise((r) => setTimeout(r, GROUP_FAIL_MS + 50));
    g.tick(performance.now() + 2000);
    assert(logs.some((l) => l.includes('member "b" is back (on trial)')), logs.join("\n"));
    round();
    assertEquals(logs.filter((l) => l.includes('member "b" left')).length, 2, logs.join("\n"));
    // b recovers: the next probe brings it back and its flows return.
    b.failing = false;
    await new Promise((r) => setTimeout(r, GROUP_FAIL_MS + 50));
    g.tick(performance.now() + 4000);
    const r4 = round();
    assertEquals(r4, r1, "every flow back where it was");

    // Every member down: frames fail, and the loop is told to back off.
    for (const f of fakes.values()) f.failing = true;
    round();
    await new Promise((r) => setTimeout(r, GROUP_FAIL_MS + 50));
    round();
    assertEquals(g.membersUp, 0);
    const f0 = frames[0];
    cut.headLen = f0.length;
    g.stage(f0, 0, 0, cut, f0.length, 0, 0, 7);
    const res = g.flush();
    assertEquals(g.status[0], Outcome.error);
    assert(res.backoff && res.errors === 1);
    assert(logs.some((l) => l.includes("no member is up")));

    // The member slots hold each member's counts; nothing was offered to a member that was down.
    reader.flush();
    const s = snapshotOf(ring);
    const slots = s.readers.filter((r) => r.kind === "member");
    assertEquals(slots.map((r) => r.desc).sort(), ["tx gretap:a", "tx gretap:b", "tx gretap:c"]);
    for (const m of slots) {
      assertEquals(m.group, reader.slot);
      assertEquals(m.framesRead, m.framesSent + m.drops.send_error, `${m.desc}: offered = sent + failed`);
    }
    const sentA = r1.filter((m) => m === "a").length;
    assert(slots.find((m) => m.desc === "tx gretap:a")!.framesSent >= sentA);
    g.close();
  } finally {
    rmrf(dir);
  }
});
