/**
 * `contrib/fluxcap.service` and the README's per-process units pass `systemd-analyze verify`.
 *
 * verify also checks that every Exec path is an executable file, and /usr/local/bin/fluxcap is not
 * installed here: the unit as shipped is verified first and must fail for that reason alone; then a
 * copy whose fluxcap path points at an executable that exists (the deno binary) must pass clean.
 */
import { assert, assertEquals, assertIncludes } from "../assert.ts";
import { rmrf } from "../helpers.ts";

const root = new URL("../../", import.meta.url).pathname;
const have = await new Deno.Command("systemd-analyze", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((r) => r.success, () => false);
if (!have) console.log("unit tests skipped: systemd-analyze is not installed (Debian package systemd)");

async function verify(file: string): Promise<{ code: number; err: string }> {
  const r = await new Deno.Command("systemd-analyze", {
    args: ["verify", file],
    stdout: "piped",
    stderr: "piped",
    env: { SYSTEMD_LOG_COLOR: "0", NO_COLOR: "1" },
  }).output();
  return { code: r.code, err: new TextDecoder().decode(r.stderr) + new TextDecoder().decode(r.stdout) };
}

const BIN = "/usr/local/bin/fluxcap";

function pointAtRealBinary(text: string): string {
  return text.replaceAll(BIN, Deno.execPath());
}

Deno.test({
  name: "unit: contrib/fluxcap.service passes systemd-analyze verify",
  ignore: !have,
  fn: async () => {
    const text = Deno.readTextFileSync(`${root}contrib/fluxcap.service`);
    for (
      const line of [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=2",
        "StartLimitIntervalSec=0",
        "Restart=on-failure",
        `ExecStart=${BIN} run /etc/fluxcap/fluxcap.yaml`,
      ]
    ) assert(text.split("\n").includes(line), `unit has ${line}`);
    assert(/^WatchdogSec=\d+$/m.test(text));
    // RestartPreventExitStatus applies to the main process only: a pre-check exiting 2 would be retried.
    assert(!/^ExecStartPre=/m.test(text), "no ExecStartPre: run itself exits 2 on a configuration error");
    const dir = Deno.makeTempDirSync({ prefix: "fluxcap-unit-" });
    try {
      const shipped = await verify(`${root}contrib/fluxcap.service`);
      const problems = shipped.err.split("\n").filter((l) => l.trim() !== "");
      let installed = false;
      try {
        installed = Deno.statSync(BIN).isFile;
      } catch { /* not installed */ }
      if (installed) assertEquals(shipped.code, 0, shipped.err);
      else {
        assert(
          problems.length > 0 && problems.every((l) => l.includes(`${BIN} is not executable`)),
          shipped.err,
        );
      }
      Deno.writeTextFileSync(`${dir}/fluxcap.service`, pointAtRealBinary(text));
      const copy = await verify(`${dir}/fluxcap.service`);
      assertEquals(copy.err.trim(), "");
      assertEquals(copy.code, 0);
    } finally {
      rmrf(dir);
    }
  },
});

Deno.test({
  name: "unit: the README's per-process units pass systemd-analyze verify and never stop restarting",
  ignore: !have,
  fn: async () => {
    const readme = Deno.readTextFileSync(`${root}README.md`);
    const block = /```ini\n(# \/etc\/systemd\/system\/fluxcap-rings\.service\n[\s\S]*?)```/.exec(readme);
    assert(block !== null, "README shows the per-process units");
    const units = block[1].split(/^# \/etc\/systemd\/system\/(\S+\.service)\n/m).slice(1);
    const dir = Deno.makeTempDirSync({ prefix: "fluxcap-unit-" });
    try {
      const files: string[] = [];
      for (let i = 0; i < units.length; i += 2) {
        if (!units[i + 1].includes("[Service]")) continue; // "the same with …"
        Deno.writeTextFileSync(`${dir}/${units[i]}`, pointAtRealBinary(units[i + 1]).replaceAll("/ram", dir));
        files.push(`${dir}/${units[i]}`);
      }
      assertEquals(files.length, 2);
      const rx = Deno.readTextFileSync(files[1]);
      assertIncludes(rx, "Restart=always");
      assertIncludes(rx, "StartLimitIntervalSec=0");
      for (const f of files) {
        const r = await verify(f);
        assertEquals(r.err.trim(), "", f);
        assertEquals(r.code, 0);
      }
    } finally {
      rmrf(dir);
    }
  },
});
