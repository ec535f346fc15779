import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { barCells, colourWanted, logBar, rate, renderView } from "../../lib/watch/render.ts";
import { RateWindow, sampleRates, zeroRates } from "../../lib/watch/rates.ts";
import type { RingView } from "../../lib/watch/render.ts";
import { snap } from "./fixtures.ts";

function view(): RingView {
  const w = new RateWindow();
  sampleRates(w, snap(0, 0));
  const s = snap(1000, 100_000, { read: 90_000, lost: 10_000 });
  s.readers[0].drops.filtered = 7;
  s.readers[0].drops.send_error = 2;
  s.readers[0].lagBytes = 3 << 20;
  return {
    sample: { name: "cisco", at: 1000, snap: s, gone: false, generation: 1 },
    rates: sampleRates(w, s),
  };
}

Deno.test("render: rates in human units", () => {
  assertEquals(rate(0, "bit/s"), "0 bit/s");
  assertEquals(rate(999, "bit/s"), "999 bit/s");
  assertEquals(rate(1500, "bit/s"), "1.50 Kbit/s");
  assertEquals(rate(12_340_000, "bit/s"), "12.34 Mbit/s");
  assertEquals(rate(9.5e9, "bit/s"), "9.50 Gbit/s");
  assertEquals(rate(0.5, "/s"), "0.5 /s");
});

Deno.test("render: the bar is logarithmic, 12 decades like fluxcap 3.2's", () => {
  assertEquals(barCells(0, 12), 0);
  assertEquals(barCells(10, 12), 1);
  assertEquals(barCells(1e6, 12), 6);
  assertEquals(barCells(1e9, 12), 9);
  assertEquals(barCells(1e15, 12), 12);
  assertEquals(logBar(1e6, 12), "[######      ]");
});

Deno.test("render: a ring, its writer and its reader with rate, lag, lost/s and drop reasons", () => {
  const lines = renderView([view()], { width: 200, colour: false, title: "fluxcap -io" });
  const text = lines.join("\n");
  assertEquals(lines[0], "fluxcap -io");
  assertIncludes(lines[1], "rx-rate");
  assertIncludes(lines[1], "rx-drop/s");
  assertIncludes(lines[1], "tx-drop/s");
  const ring = lines[2];
  assert(ring.startsWith("cisco "), ring);
  assertIncludes(ring, "100.00 Mbit/s"); // 100 000 frames × 125 wire bytes × 8 in 1 s
  assertIncludes(ring, "100.00 K");
  assertIncludes(ring, "[########    ]");
  assertIncludes(lines[3], "writer pid 10");
  assertIncludes(lines[3], "rx eth1");
  const reader = lines[4];
  for (
    const part of ["pid 11", "NIC", "tx eth2", "72.00 Mbit/s", "90.00 Kfr/s", "lag 3m", "lost 10.00 K/s"]
  ) {
    assertIncludes(reader, part);
  }
  for (const part of ["filtered 7", "sampled 0", "oversize 0", "send errors 2"]) assertIncludes(reader, part);
  assert(!text.includes("\x1b"), "no escape sequences without colour");
});

Deno.test("render: lines fit the width; colour only when asked; the height is respected", () => {
  const v = view();
  for (const width of [20, 40, 80]) {
    for (const l of renderView([v], { width, colour: false })) {
      assert(l.length <= width, `${l.length} > ${width}`);
    }
  }
  const coloured = renderView([v], { width: 80, colour: true });
  assertIncludes(coloured.join(""), "\x1b[");
  const sgr = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");
  const visible = coloured.map((l) => l.replace(sgr, ""));
  assertEquals(visible, renderView([v], { width: 80, colour: false }));
  const short = renderView([v, v, v], { width: 80, height: 6, colour: false });
  assertEquals(short.length, 6);
  assertIncludes(short[5], "more lines");
});

Deno.test("render: a gone ring shows as gone, with the reason", () => {
  const lines = renderView([{
    sample: { name: "dell", at: 0, snap: null, gone: true, reason: "deleted", generation: 1 },
    rates: zeroRates(),
  }], { width: 80, colour: false });
  assertEquals(lines[1], "dell              gone: deleted");
});

Deno.test("render: colour needs a terminal, NO_COLOR unset or empty, TERM not dumb", () => {
  const env = (o: Record<string, string>) => (n: string) => o[n];
  assertEquals(colourWanted(true, env({ TERM: "xterm" })), true);
  assertEquals(colourWanted(false, env({ TERM: "xterm" })), false);
  assertEquals(colourWanted(true, env({ TERM: "xterm", NO_COLOR: "1" })), false);
  assertEquals(colourWanted(true, env({ TERM: "xterm", NO_COLOR: "" })), true);
  assertEquals(colourWanted(true, env({ TERM: "dumb" })), false);
});

Deno.test("render: an output group's members under the group, with what each sent and dropped", () => {
  const w = new RateWindow();
  const s = snap(1000, 1000);
  const g = s.readers[0];
  g.desc = "tx eth2,eth3";
  g.slot = 5;
  const member = (slot: number, desc: string, sent: number, errors: number) => ({
    ...g,
    slot,
    desc,
    kind: "member" as const,
    group: 5,
    framesRead: sent + errors,
    framesSent: sent,
    drops: { ...g.drops, send_error: errors },
  });
  // a member slot may come before its group's in the table
  s.readers = [member(1, "tx eth3", 400, 3), g, member(7, "tx eth2", 597, 0)];
  const lines = renderView([{
    sample: { name: "cisco", at: 1000, snap: s, gone: false, generation: 1 },
    rates: sampleRates(w, s),
  }], {
    width: 200,
    colour: false,
  });
  const at = lines.findIndex((l) => l.includes("tx eth2,eth3"));
  assert(at > 0, lines.join("\n"));
  assertIncludes(lines[at + 1], "member tx eth3");
  assertIncludes(lines[at + 1], "sent 400");
  assertIncludes(lines[at + 1], "send errors 3");
  assertIncludes(lines[at + 2], "member tx eth2");
  assertIncludes(lines[at + 2], "sent 597");
  assertEquals(lines.length, at + 3, "each member once");
});
