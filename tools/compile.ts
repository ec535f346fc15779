/**
 * `deno task compile`: builds `dist/fluxcap`, one executable, with the permissions fluxcap needs:
 * FFI (libc), read/write (ring files, capture files), net (`--metrics`), env (NO_COLOR, FLUXCAP_*),
 * run (the demo drives `ip`), sys (host facts for the demo). The packet-loop Worker and its loops are
 * included explicitly.
 *
 * `deno compile` needs the `denort` runtime for the target: it is downloaded unless `DENORT_BIN` names
 * a local copy (which `deno compile` honours itself). Without either, this prints why and exits 2.
 * @module
 */
const root = new URL("..", import.meta.url).pathname;
const out = Deno.env.get("FLUXCAP_DIST") ?? `${root}dist/fluxcap`;
const args = [
  "compile",
  "--no-check",
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--include",
  `${root}lib/engine/worker.ts`,
  "--include",
  `${root}lib/sinks/file/postrotate_worker.ts`,
  "--output",
  out,
  `${root}cli.ts`,
];
const denort = Deno.env.get("DENORT_BIN");
if (denort) console.error(`using the runtime from DENORT_BIN: ${denort}`);
const res = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "piped" }).output();
const err = new TextDecoder().decode(res.stderr);
if (res.code !== 0) {
  const offline = /denort|download|dl\.deno\.land|error sending request|dns error|connect/i.test(err);
  console.error(err.trim());
  if (offline && !denort) {
    console.error(
      "deno compile could not fetch its runtime (denort) and DENORT_BIN is not set: " +
        "set DENORT_BIN=/path/to/denort (same Deno version) to build offline",
    );
    Deno.exit(2);
  }
  Deno.exit(1);
}
Deno.stderr.writeSync(res.stderr);
// A runtime that is not a denort of this Deno version builds a file that is not fluxcap: check it.
const smoke = await new Deno.Command(out, { args: ["-h"], cwd: "/", stdout: "piped", stderr: "piped" })
  .output();
if (smoke.code !== 0 || !new TextDecoder().decode(smoke.stdout).includes("usage: fluxcap")) {
  console.error(`built ${out}, but it does not run as fluxcap: is DENORT_BIN a denort ${Deno.version.deno}?`);
  Deno.removeSync(out);
  Deno.exit(1);
}
console.error(`built ${out}`);
