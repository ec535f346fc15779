/**
 * Capture file names and creation for `-tx -w`: the format from the name, a file name pattern (a
 * strftime subset, a directory), collision counters, and a creation that never writes through a
 * symlink.
 *
 * @module
 */
import { FluxError, fsErrorText } from "../../errors.ts";

/** Conversion characters of the file name pattern. */
export const PATTERN_CONVERSIONS = "YmdHMSs%";

/** Suffix of a rotated file while it is being written. */
export const PART_SUFFIX = ".part";

/** Mode of the capture files fluxcap creates, unless `--file-mode` says otherwise (the umask applies). */
export const DEFAULT_FILE_MODE = 0o600;

/** Capture file formats fluxcap writes. */
export type CaptureFileFormat = "pcap" | "pcapng";

/**
 * The format to write: `explicit` (`--format`) when given, else pcapng for a name ending in `.pcapng`
 * (also `.pcapng` followed by a strftime pattern's characters, e.g. `x-%s.pcapng`), else classic pcap.
 * Throws a one-line `FluxError` for an unknown format name.
 *
 * @example
 * ```ts
 * import { chooseFormat } from "./pcapfile.ts";
 * console.assert(chooseFormat("/cap/x-%s.pcapng") === "pcapng");
 * console.assert(chooseFormat("-", "pcapng") === "pcapng");
 * ```
 */
export function chooseFormat(path: string, explicit?: string): CaptureFileFormat {
  if (explicit !== undefined) {
    const f = explicit.trim().toLowerCase();
    if (f === "pcap" || f === "pcapng") return f;
    throw new FluxError(`Invalid capture format "${explicit}": pcap or pcapng`);
  }
  return /\.pcapng$/i.test(path) ? "pcapng" : "pcap";
}

/**
 * Parses a file mode given in octal (`0640`, `640`, `0o640`). Returns the mode or a one-line message.
 * Only permission bits are accepted (no setuid, setgid or sticky bit).
 *
 * @example
 * ```ts
 * import { parseFileMode } from "./pcapfile.ts";
 * console.assert(parseFileMode("0640") === 0o640);
 * ```
 */
export function parseFileMode(text: string): number | string {
  const m = /^(?:0o?)?([0-7]{1,4})$/i.exec(text.trim());
  if (!m) return `Invalid file mode "${text}": an octal mode such as 0600 or 0640`;
  const mode = parseInt(m[1], 8);
  if (mode > 0o777) return `Invalid file mode "${text}": permission bits only (at most 0777)`;
  if ((mode & 0o600) !== 0o600) {
    return `Invalid file mode "${text}": the owner must be able to read and write (0600)`;
  }
  return mode;
}

/**
 * Checks a file name pattern: `%` must be followed by one of `Y m d H M S s %`. Returns an error message
 * or null.
 *
 * @example
 * ```ts
 * import { checkPattern } from "./pcapfile.ts";
 * console.assert(checkPattern("/cap/x-%Y%m%d.pcap") === null);
 * console.assert(checkPattern("x-%a.pcap") !== null);
 * ```
 */
export function checkPattern(pattern: string): string | null {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== "%") continue;
    const c = pattern[i + 1];
    if (c === undefined || !PATTERN_CONVERSIONS.includes(c)) {
      const what = c === undefined ? "a lone % at the end" : `"%${c}"`;
      return `Invalid file name pattern "${pattern}": unsupported ${what} (supported: %Y %m %d %H %M %S %s %%)`;
    }
    i++;
  }
  return null;
}

/** True when `pattern` holds a conversion other than `%%`. */
export function hasConversion(pattern: string): boolean {
  return /%[YmdHMSs]/.test(pattern.replaceAll("%%", ""));
}

/**
 * Expands the strftime subset `%Y %m %d %H %M %S` (local time, as tcpdump), `%s` (seconds since the
 * epoch) and `%%`. Unknown conversions are left as they are (see {@linkcode checkPattern}).
 *
 * @example
 * ```ts
 * import { expandPattern } from "./pcapfile.ts";
 * const name = expandPattern("r-%Y%m%d-%H%M%S.pcap", new Date(2024, 0, 2, 3, 4, 5));
 * console.assert(name === "r-20240102-030405.pcap");
 * ```
 */
export function expandPattern(pattern: string, at: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return pattern.replace(/%([YmdHMSs%])/g, (_m, c: string) => {
    switch (c) {
      case "Y":
        return String(at.getFullYear()).padStart(4, "0");
      case "m":
        return p2(at.getMonth() + 1);
      case "d":
        return p2(at.getDate());
      case "H":
        return p2(at.getHours());
      case "M":
        return p2(at.getMinutes());
      case "S":
        return p2(at.getSeconds());
      case "s":
        return String(Math.floor(at.getTime() / 1000));
      default:
        return "%";
    }
  });
}

/** `name` with `-n` inserted before its extension (`a/x.pcap` → `a/x-2.pcap`; `a/x` → `a/x-2`). */
export function withCounter(name: string, n: number): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  if (dot > slash + 1) return `${name.slice(0, dot)}-${n}${name.slice(dot)}`;
  return `${name}-${n}`;
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || "ring";
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Where `-w PATH` writes: stdout, or files named by a template. */
export type PcapTarget = { kind: "stdout" } | { kind: "files"; template: string };

/**
 * Resolves `-w PATH` for ring `ring`: `-` is stdout; an existing directory (or a path ending in `/`)
 * becomes `PATH/RING-%Y%m%d-%H%M%S.pcap` (`.pcapng` when `format` is pcapng); anything else is the file
 * name or pattern itself. Throws an Error with a one-line message on a bad pattern.
 *
 * @example
 * ```ts
 * import { resolveTarget } from "./pcapfile.ts";
 * console.assert(resolveTarget("-", "cisco").kind === "stdout");
 * ```
 */
export function resolveTarget(path: string, ring: string, format: CaptureFileFormat = "pcap"): PcapTarget {
  if (path === "-") return { kind: "stdout" };
  if (path === "") throw new FluxError('Invalid capture file name "": empty');
  let template = path;
  if (path.endsWith("/") || isDirectory(path)) {
    template = `${path.replace(/\/+$/, "") || ""}/${
      basename(ring).replaceAll("%", "%%")
    }-%Y%m%d-%H%M%S.${format}`;
  }
  const bad = checkPattern(template);
  if (bad) throw new FluxError(bad);
  return { kind: "files", template };
}

/**
 * Opens `path` for a new capture file, never through a symlink:
 * - absent: created with O_CREAT|O_EXCL (`createNew`), which fails on any existing name, a symlink
 *   included (POSIX: O_EXCL never follows the last component), with `mode` (the umask applies);
 * - a symlink: refused;
 * - a regular file: removed, then created as above (so a hard link to another file is not written
 *   through either) when `replace`, else refused;
 * - a FIFO, character device or socket (`wireshark -k -i FIFO`): opened for writing as it is, and checked
 *   to be the same file (device and inode) as the one looked at.
 * Throws a one-line `FluxError`.
 */
export function createCaptureFile(path: string, mode: number, replace: boolean): Deno.FsFile {
  const fail = (why: string) => new FluxError(`Cannot create capture file "${path}": ${why}`);
  let st: Deno.FileInfo | null = null;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fail(fsErrorText(e));
  }
  if (st !== null) {
    if (st.isSymlink) throw fail("it is a symbolic link (fluxcap never writes through one)");
    if (st.isDirectory) throw fail("is a directory");
    if (st.isFile) {
      if (!replace) throw fail("it already exists");
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw fail(fsErrorText(e));
      }
    } else {
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(path, { write: true });
      } catch (e) {
        throw fail(fsErrorText(e));
      }
      const now = f.statSync();
      if (now.dev !== st.dev || now.ino !== st.ino) {
        f.close();
        throw fail("it was replaced while being opened");
      }
      return f;
    }
  }
  try {
    return Deno.openSync(path, { write: true, createNew: true, mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw fail("it appeared while being created");
    throw fail(fsErrorText(e));
  }
}
