/**
 * Retention of rotated capture files, as tcpdump users know it: `-W N` keeps at most N files, `--max-disk
 * SIZE` deletes the oldest files to keep the output's files under SIZE.
 *
 * Which files count: those this process completed, plus files already in the output's directory whose
 * names the output template could have produced (`%Y` four digits, `%s` digits…, with or without the
 * `-N` counter a rotated series inserts before the extension, and with or without a compression suffix a
 * `-z` command may have added: `.gz .bz2 .xz .zst .lz4`). Before any file is deleted it must be a
 * regular file (not a symlink) that starts with a capture magic (pcap in either byte order, pcapng) or a
 * compressed-file magic: a file that merely has a matching name is never touched. `.part` files (being
 * written, or left by a SIGKILL) never count. Files are deleted oldest first: pre-existing files by
 * modification time, then this process's in the order they were completed. A file whose `-z` command is
 * still running is left for a later rotation, and nothing newer is deleted in its place unless the limits
 * are exceeded even without it (a `-z` command that hangs must not fill the disk).
 *
 * @module
 */

/** Suffixes a `-z` command may add to a completed file (gzip, bzip2, xz, zstd, lz4). */
export const COMPRESSED_SUFFIXES = [".gz", ".bz2", ".xz", ".zst", ".lz4"];

const MAGICS: number[][] = [
  [0xd4, 0xc3, 0xb2, 0xa1], // pcap µs, little-endian
  [0xa1, 0xb2, 0xc3, 0xd4], // pcap µs, big-endian
  [0x4d, 0x3c, 0xb2, 0xa1], // pcap ns, little-endian
  [0xa1, 0xb2, 0x3c, 0x4d], // pcap ns, big-endian
  [0x0a, 0x0d, 0x0d, 0x0a], // pcapng
  [0x1f, 0x8b], // gzip
  [0x42, 0x5a, 0x68], // bzip2 "BZh"
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], // xz
  [0x28, 0xb5, 0x2f, 0xfd], // zstd
  [0x04, 0x22, 0x4d, 0x18], // lz4 frame
];

/** Options for {@linkcode Retention}. */
export interface RetentionOptions {
  /** The output's file name template (see `resolveTarget`). */
  template: string;
  /** `-W`: most files kept. */
  maxFiles?: number;
  /** `--max-disk`: most bytes the output's files may take. */
  maxBytes?: number;
  /** Bytes kept free under `maxBytes` for the file being written (the `-C` size). Default 0. */
  reserveBytes?: number;
  /** True while a file must not be deleted yet (its `-z` command runs). */
  busy?: (name: string) => boolean;
  /** Called with each deleted file's name. */
  onDelete?: (name: string) => void;
  /** One-line warnings (a file that could not be deleted). */
  log: (message: string) => void;
}

interface Entry {
  /** Name the output gave the file. */
  name: string;
}

interface OnDisk {
  path: string;
  size: number;
}

/**
 * Tracks the output's files and deletes the oldest beyond `-W` / `--max-disk`.
 *
 * @example
 * ```ts ignore
 * import { Retention } from "./retention.ts";
 * const keep = new Retention({ template: "/cap/x-%s.pcap", maxFiles: 3, log: console.error });
 * keep.add("/cap/x-1700000000.pcap"); // deletes the oldest when there are more than 3
 * ```
 */
export class Retention {
  #opts: RetentionOptions;
  #entries: Entry[] = [];

  constructor(opts: RetentionOptions) {
    this.#opts = opts;
    this.#entries = existingFiles(opts.template).map((name) => ({ name }));
  }

  /**
   * The counted files as they are on disk now (with the suffix a `-z` command added, if it did), oldest
   * first.
   */
  get files(): string[] {
    return this.#entries.flatMap((e) => formsOf(e.name).map((f) => f.path));
  }

  /**
   * Records a completed file, then deletes the oldest files beyond the limits. `last`: no file will be
   * written after it (the output is closing), so no room is kept for one.
   */
  add(name: string, last = false): void {
    if (!this.#entries.some((e) => e.name === name)) this.#entries.push({ name });
    this.enforce(last);
  }

  /** Deletes the oldest files beyond the limits (files gone from disk are forgotten). */
  enforce(last = false): void {
    const { maxFiles, maxBytes } = this.#opts;
    const reserve = last ? 0 : this.#opts.reserveBytes ?? 0;
    const live: { e: Entry; forms: OnDisk[]; size: number }[] = [];
    for (const e of this.#entries) {
      const forms = formsOf(e.name);
      if (forms.length > 0) live.push({ e, forms, size: forms.reduce((n, f) => n + f.size, 0) });
    }
    this.#entries = live.map((x) => x.e);
    let count = live.length;
    let bytes = live.reduce((n, x) => n + x.size, 0);
    // Busy files passed over (their -z command runs) may exceed the limits by themselves, nothing more.
    let busyCount = 0;
    let busyBytes = 0;
    const over = (c = count - busyCount, b = bytes - busyBytes) =>
      (maxFiles !== undefined && c > maxFiles) || (maxBytes !== undefined && b + reserve > maxBytes);
    for (const { e, forms, size } of live) {
      if (!over()) break;
      if (this.#opts.busy?.(e.name)) {
        // Oldest first: while the oldest is busy with its -z command, nothing newer goes in its place
        // (that would keep an older file than the ones deleted); it is deleted when its command ends.
        // Only when the limits are exceeded even without it (a -z command that hangs) do newer files go.
        if (!over(count - busyCount - 1, bytes - busyBytes - size)) break;
        busyCount++;
        busyBytes += size;
        continue;
      }
      for (const f of forms) {
        if (!isCapture(f.path)) {
          this.#opts.log(`Not deleting "${f.path}": it does not start like a capture file`);
          continue;
        }
        try {
          Deno.removeSync(f.path);
          this.#opts.onDelete?.(f.path);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) {
            this.#opts.log(`Cannot delete old capture file "${f.path}": ${fsMessage(err)}`);
          }
        }
      }
      // Forgotten either way: a file that cannot be deleted is not retried (nor counted) at every rotation.
      this.#entries = this.#entries.filter((x) => x !== e);
      count--;
      bytes -= size;
    }
  }
}

function fsMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/ \(os error \d+\).*$/, "").replace(/^./, (c) => c.toLowerCase());
}

/** The file as it is now: `name` itself and/or `name` plus a compression suffix (regular files only). */
function formsOf(name: string): OnDisk[] {
  const out: OnDisk[] = [];
  for (const path of [name, ...COMPRESSED_SUFFIXES.map((s) => name + s)]) {
    try {
      const st = Deno.lstatSync(path);
      if (st.isFile) out.push({ path, size: st.size });
    } catch { /* not this one */ }
  }
  return out;
}

/** A regular file (not a symlink) starting with a capture or compressed-file magic. */
export function isCapture(path: string): boolean {
  try {
    if (!Deno.lstatSync(path).isFile) return false;
    const f = Deno.openSync(path, { read: true });
    try {
      const head = new Uint8Array(8);
      let n = 0;
      while (n < head.length) {
        const got = f.readSync(head.subarray(n));
        if (got === null || got === 0) break;
        n += got;
      }
      return MAGICS.some((m) => m.length <= n && m.every((b, i) => head[i] === b));
    } finally {
      f.close();
    }
  } catch {
    return false;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/**
 * A regular expression matching every base name the template's last path component can expand to, with
 * the optional `-N` counter of a rotated series and an optional compression suffix.
 *
 * @example
 * ```ts
 * import { templatePattern } from "./retention.ts";
 * console.assert(templatePattern("x-%Y.pcap").test("x-2024-3.pcap.gz"));
 * ```
 */
export function templatePattern(baseTemplate: string): RegExp {
  const conv = (c: string) => c === "Y" ? "[0-9]{4}" : c === "s" ? "[0-9]+" : c === "%" ? "%" : "[0-9]{2}"; // m d H M S
  const toRe = (t: string) => {
    let out = "";
    for (let i = 0; i < t.length; i++) {
      if (t[i] === "%" && i + 1 < t.length) {
        out += conv(t[++i]);
      } else out += escapeRegExp(t[i]);
    }
    return out;
  };
  const dot = baseTemplate.lastIndexOf(".");
  const stem = dot > 0 ? baseTemplate.slice(0, dot) : baseTemplate;
  const ext = dot > 0 ? baseTemplate.slice(dot) : "";
  const comp = COMPRESSED_SUFFIXES.map(escapeRegExp).join("|");
  return new RegExp(`^${toRe(stem)}(?:-[0-9]+)?${toRe(ext)}(?:${comp})?$`);
}

/**
 * Files already in the template's directory that the template could have produced (see the module
 * doc), oldest first. None when the directory part of the template holds a conversion.
 */
function existingFiles(template: string): string[] {
  const slash = template.lastIndexOf("/");
  const dir = slash < 0 ? "." : template.slice(0, slash) || "/";
  const base = template.slice(slash + 1);
  if (/%[YmdHMSs]/.test(dir.replaceAll("%%", ""))) return [];
  const re = templatePattern(base);
  const found = new Map<string, number>(); // name → oldest modification time of its forms
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!e.isFile || !re.test(e.name)) continue;
    const path = slash < 0 ? e.name : `${dir === "/" ? "" : dir}/${e.name}`;
    if (!isCapture(path)) continue;
    // The name the output gave it: without the compression suffix a -z command added.
    const sfx = COMPRESSED_SUFFIXES.find((s) => e.name.endsWith(s) && !base.endsWith(s));
    const name = sfx !== undefined ? path.slice(0, -sfx.length) : path;
    let mtime = 0;
    try {
      mtime = Deno.lstatSync(path).mtime?.getTime() ?? 0;
    } catch { /* gone since */ }
    found.set(name, Math.min(mtime, found.get(name) ?? Infinity));
  }
  return [...found].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((f) => f[0]);
}
