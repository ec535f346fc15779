/**
 * Whether the lab can run here: Linux, root, and the tools a test needs on PATH.
 *
 * @module
 */

/** Where `name` is on PATH (or in /usr/sbin, /sbin), or null. */
export async function which(name: string): Promise<string | null> {
  const dirs = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const d of [...dirs, "/usr/sbin", "/sbin"]) {
    if (d === "") continue;
    try {
      const st = await Deno.stat(`${d}/${name}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return `${d}/${name}`;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Why the lab cannot run here, or null when it can: needs Linux, root, and each of `tools` on PATH.
 *
 * @example
 * ```ts ignore
 * const reason = await labAvailable(["ip", "tcpdump"]);
 * Deno.test({ name: "lab", ignore: reason !== null, fn: async () => {} });
 * if (reason) console.log(`lab tests skipped: ${reason}`);
 * ```
 */
export async function labAvailable(tools: string[] = ["ip"]): Promise<string | null> {
  if (Deno.build.os !== "linux") return `Network namespaces need Linux, not "${Deno.build.os}"`;
  const uid = Deno.uid();
  if (uid !== 0) return `Network namespaces need root: running as uid "${uid}"`;
  for (const t of tools) {
    if ((await which(t)) === null) return `Cannot find "${t}" on PATH`;
  }
  return null;
}
