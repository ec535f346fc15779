/**
 * The house keeps its shape: imports point down the layers only (no circle), the codec and the frame
 * operations stay pure (no FFI, nothing that loads libc), and nothing outside `ffi/` touches
 * `Deno.UnsafePointer`. Read from Deno's own module graph.
 */
import { assert, assertEquals } from "./assert.ts";

const root = new URL("../", import.meta.url).pathname;

interface Graph {
  modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
}

async function graph(entry: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${root}${entry}`],
    stdout: "piped",
  })
    .output();
  assertEquals(out.code, 0, `deno info ${entry}`);
  const g = JSON.parse(new TextDecoder().decode(out.stdout)) as Graph;
  const rel = (s: string) => s.startsWith("file://") ? new URL(s).pathname.slice(root.length) : s;
  const map = new Map<string, string[]>();
  for (const m of g.modules) {
    map.set(rel(m.specifier), (m.dependencies ?? []).flatMap((d) => d.code ? [rel(d.code.specifier)] : []));
  }
  return map;
}

/** Rank of a file's folder: an import must go to the same rank or a lower one. */
function rank(file: string): number {
  const order: [RegExp, number][] = [
    [/^ffi\//, 0],
    [/^lib\/(codec|errors\.ts|version\.ts)/, 1],
    [/^lib\/ring\/reasons\.ts/, 1],
    [/^lib\/(ops|ring|net)\//, 2],
    [/^lib\/(sources|sinks|watch|lab)\//, 3],
    [/^lib\/engine\//, 4],
    [/^lib\/(settings|service|modes)\//, 5],
    [/^(cli|mod)\.ts$/, 6],
  ];
  for (const [re, r] of order) if (re.test(file)) return r;
  return 7; // npm packages and the like: anyone may use them
}

Deno.test("layers: imports point down, never in a circle", async () => {
  const g = new Map<string, string[]>();
  for (const entry of ["cli.ts", "mod.ts", "lib/engine/worker.ts"]) {
    for (const [k, v] of await graph(entry)) g.set(k, v);
  }
  const up: string[] = [];
  for (const [file, deps] of g) {
    if (!/^(lib|ffi)\//.test(file)) continue;
    for (const d of deps) {
      if (!/^(lib|ffi)\//.test(d)) continue;
      if (rank(d) > rank(file)) up.push(`${file} → ${d}`);
    }
  }
  assertEquals(up, [], "imports that point up a layer");
  // circles: depth-first search over lib/ and ffi/
  const state = new Map<string, 1 | 2>();
  const circle: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 2 || circle.length > 0) return;
    if (state.get(f) === 1) {
      circle.push(...path.slice(path.indexOf(f)), f);
      return;
    }
    state.set(f, 1);
    for (const d of g.get(f) ?? []) if (/^(lib|ffi)\//.test(d)) visit(d, [...path, f]);
    state.set(f, 2);
  };
  for (const f of g.keys()) visit(f, []);
  assertEquals(circle, [], "an import circle");
});

Deno.test("layers: the codec and the frame operations load no FFI", async () => {
  for (const entry of ["lib/codec/mod.ts", "lib/ops/mod.ts"]) {
    const files = [...(await graph(entry)).keys()];
    const ffi = files.filter((f) => f.startsWith("ffi/") && f !== "ffi/flux_error.ts");
    assertEquals(ffi, [], `${entry} pulls in`);
  }
});

Deno.test("layers: Deno.UnsafePointer only in ffi/", () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${root}${dir}`)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (p.endsWith(".ts") && /Deno\.UnsafePointer/.test(Deno.readTextFileSync(`${root}${p}`))) {
        offenders.push(p);
      }
    }
  };
  for (const d of ["lib", "bench"]) walk(d);
  assert(offenders.length === 0, `outside ffi/: ${offenders.join(", ")}`);
});
