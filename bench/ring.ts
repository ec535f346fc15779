/**
 * Ring benchmark: records/s and GB/s from a writer process to reader processes, at 64 and 1514 bytes,
 * with one and with three readers.
 * @module
 */
import { createRing } from "../lib/ring/mod.ts";

const PROC = new URL("./ring_proc.ts", import.meta.url).pathname;

async function once(
  len: number,
  readers: number,
  count: number,
): Promise<{ rps: number; gbps: number; lost: number }> {
  const dir = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "fluxcap-bench-" });
  try {
    const path = `${dir}/ring`;
    createRing(path, { size: 256 << 20 });
    const rs = Array.from(
      { length: readers },
      () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", PROC, "reader", path, String(count)],
          stdout: "piped",
        })
          .spawn(),
    );
    // wait for the readers to attach
    const outs = rs.map((r) => r.output());
    await new Promise((r) => setTimeout(r, 1500));
    const w = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", PROC, "writer", path, String(count), String(len)],
      stdout: "piped",
    }).output();
    if (w.code !== 0) throw new Error("bench writer failed");
    const results = (await Promise.all(outs)).map((o) => {
      const lines = new TextDecoder().decode(o.stdout).trim().split("\n");
      return JSON.parse(lines[lines.length - 1]) as { read: number; lost: number; bytes: number; ms: number };
    });
    const worst = results.reduce((a, b) => (a.ms > b.ms ? a : b));
    const rps = (worst.read + worst.lost) / (worst.ms / 1000);
    return {
      rps,
      gbps: (worst.bytes / (worst.ms / 1000)) / 1e9,
      lost: results.reduce((a, r) => a + r.lost, 0),
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Runs the ring benchmark and returns a markdown table. */
export async function benchRing(): Promise<string> {
  const rows = ["| frame | readers | records/s | GB/s | frames lost |", "|---|---|---|---|---|"];
  for (
    const [len, readers, count] of [[64, 1, 20_000_000], [1514, 1, 4_000_000], [64, 3, 20_000_000], [
      1514,
      3,
      4_000_000,
    ]]
  ) {
    const r = await once(len, readers, count);
    rows.push(`| ${len} B | ${readers} | ${(r.rps / 1e6).toFixed(2)} M | ${r.gbps.toFixed(2)} | ${r.lost} |`);
  }
  return rows.join("\n");
}

if (import.meta.main) console.log(await benchRing());
