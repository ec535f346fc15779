/**
 * Creating ring files (`fluxcap -cr`). A ring is built in a temporary file beside its final name and
 * renamed into place, so processes still mapping an older ring of that name keep a valid mapping (a
 * ring is never truncated in place: that would SIGBUS its users).
 *
 * @module
 */
import {
  C,
  close,
  cstr,
  E,
  errno,
  errnoName,
  errnoText,
  open,
  posix_fallocate,
  statvfs,
} from "../../ffi/mod.ts";
import { describeFsError, RingError, RingFile, validateHeader } from "./file.ts";
import { snapshot } from "./stats.ts";
import * as L from "./layout.ts";
import { dirname } from "node:path";

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a size such as `100m`, `1g`, `4096` (k, m, g, t are powers of 1024, as in fluxcap 3.2).
 * Returns the byte count, or an Error naming the value.
 */
export function parseSize(text: string, what = "size"): number | Error {
  const m = /^([0-9]+)([kmgtKMGT]?)$/.exec(text.trim());
  if (!m) {
    return new Error(`Invalid ${what} "${text}": expected a number with an optional k, m, g or t suffix`);
  }
  const n = Number(m[1]) * UNITS[m[2].toLowerCase()];
  if (!Number.isSafeInteger(n) || n <= 0) {
    return new Error(`Invalid ${what} "${text}": must be greater than 0`);
  }
  return n;
}

/** Formats a byte count the way sizes are typed (`100m`, `1.5g`, `4096`). */
export function formatSize(n: number): string {
  for (const [u, f] of [["t", 1024 ** 4], ["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (n >= f) {
      const v = n / f;
      return `${Number.isInteger(v) ? v : v.toFixed(1)}${u}`;
    }
  }
  return String(n);
}

/** Options for {@link createRing}. */
export interface CreateOptions {
  /** Size of the ring file in bytes. */
  size: number;
  /** Keep a valid existing ring untouched (`-k`). */
  keep?: boolean;
  /**
   * Recreate a ring even while processes use it (`--force`): they keep the old one, which no longer
   * has a name, and new processes attach to the new one.
   */
  force?: boolean;
}

/** What {@link createRing} did. */
export interface CreateResult {
  /** The ring's path. */
  path: string;
  /** What was done. */
  action: "created" | "recreated" | "kept";
  /** Size of the file, header included. */
  fileSize: number;
  /** Size of the data area (the frames). */
  dataSize: number;
  /** Largest frame a record holds. */
  maxFrame: number;
}

/** Header bytes for a new, empty ring of `fileSize` bytes. */
export function newHeader(fileSize: number): Uint8Array {
  const dataSize = Math.floor((fileSize - L.DATA_OFFSET) / L.ALIGN) * L.ALIGN;
  const h = new Uint8Array(L.HEADER_SIZE);
  const dv = new DataView(h.buffer);
  h.set(L.MAGIC, L.H_MAGIC);
  dv.setUint32(L.H_VERSION, L.VERSION, true);
  dv.setUint32(L.H_HEADER_SIZE, L.HEADER_SIZE, true);
  dv.setBigUint64(L.H_FILE_SIZE, BigInt(L.DATA_OFFSET + dataSize), true);
  dv.setBigUint64(L.H_DATA_OFFSET, BigInt(L.DATA_OFFSET), true);
  dv.setBigUint64(L.H_DATA_SIZE, BigInt(dataSize), true);
  dv.setUint32(L.H_MAX_READERS, L.MAX_READERS, true);
  dv.setUint32(L.H_SLOT_SIZE, L.SLOT_SIZE, true);
  dv.setBigUint64(L.H_CREATED_NS, BigInt(Date.now()) * 1_000_000n, true);
  dv.setUint32(L.H_MAX_FRAME, L.maxFrameFor(dataSize), true);
  return h;
}

/** Free bytes on the file system holding `dir` (null when it reports no limit, as ramfs does). */
function freeBytes(dir: string): number | null {
  const st = new Uint8Array(C.STATVFS_SIZE);
  if (statvfs(cstr(dir), st) !== 0) return null;
  const dv = new DataView(st.buffer);
  const blocks = Number(dv.getBigUint64(C.STATVFS_BLOCKS, true));
  if (blocks === 0) return null;
  return Number(dv.getBigUint64(C.STATVFS_BAVAIL, true)) * Number(dv.getBigUint64(C.STATVFS_FRSIZE, true));
}

/** Available memory (ramfs has no limit of its own: do not let a ring exhaust RAM). */
function memAvailable(): number | null {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/meminfo"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Creates (or with `keep`, keeps) the ring file at `path`. Throws {@link RingError} with a one-line
 * message for a bad size, an unwritable directory, a full file system or a non-ring file in the way.
 *
 * @example
 * ```ts
 * import { createRing } from "./create.ts";
 * const r = createRing("/dev/shm/cisco", { size: 1024 * 1024 });
 * console.log(r.action, r.dataSize);
 * ```
 */
export function createRing(path: string, opts: CreateOptions, name = path): CreateResult {
  const fail = (why: string) => new RingError(`Cannot create ring "${name}": ${why}`);
  const bad = ringSizeProblem(opts.size);
  if (bad !== null) throw fail(bad);

  let existed = false;
  let st: Deno.FileInfo | null = null;
  try {
    st = Deno.statSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fail(describeFsError(e));
  }
  if (st !== null) {
    if (!st.isFile) throw fail("exists and is not a regular file");
    const g = readExisting(path, st.size);
    if (typeof g === "string") {
      throw fail(`"${path}" exists and is not a valid fluxcap ring: ${g}; remove it first`);
    }
    if (opts.keep) {
      return { path, action: "kept", fileSize: g.fileSize, dataSize: g.dataSize, maxFrame: g.maxFrame };
    }
    if (!opts.force) {
      const users = ringUsers(path, name);
      if (users.length > 0) {
        throw new RingError(
          `Cannot recreate ring "${name}": in use by ${
            users.join(", ")
          }; stop them first, keep it with -k, ` +
            `or replace it anyway with --force (they would go on with the old ring, unseen)`,
        );
      }
    }
    existed = true;
  }

  const dir = dirname(path) || ".";
  const free = freeBytes(dir) ?? memAvailable();
  if (free !== null && opts.size > free) {
    throw fail(
      `size ${formatSize(opts.size)} is larger than the file system can hold (${formatSize(free)} free)`,
    );
  }

  const header = newHeader(opts.size);
  const fileSize = Number(new DataView(header.buffer).getBigUint64(L.H_FILE_SIZE, true));
  const tmp = `${dir}/.${path.split("/").pop()}.${Deno.pid}.tmp`;
  const fd = open(cstr(tmp), C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_CLOEXEC, 0o600);
  if (fd < 0) {
    const e = errno();
    throw fail(`${errnoText(e)} (${errnoName(e)})`);
  }
  try {
    const rc = posix_fallocate(fd, 0n, BigInt(fileSize));
    if (rc !== 0 && rc !== E.EOPNOTSUPP /* ramfs */) {
      throw fail(`cannot reserve ${formatSize(fileSize)}: ${errnoText(rc)} (${errnoName(rc)})`);
    }
    close(fd);
    const f = Deno.openSync(tmp, { write: true });
    try {
      if (rc !== 0) f.truncateSync(fileSize);
      let off = 0;
      while (off < header.length) off += f.writeSync(header.subarray(off));
    } finally {
      f.close();
    }
    Deno.chmodSync(tmp, 0o600);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
    if (e instanceof RingError) throw e;
    throw fail(describeFsError(e));
  }
  const g = validateHeader(header, fileSize) as Exclude<ReturnType<typeof validateHeader>, string>;
  return {
    path,
    action: existed ? "recreated" : "created",
    fileSize,
    dataSize: g.dataSize,
    maxFrame: g.maxFrame,
  };
}

/** The live writer and readers of the ring at `path` (`rx eth1 (pid 123)`), from its locks. */
export function ringUsers(path: string, name = path): string[] {
  let ring: RingFile;
  try {
    ring = RingFile.openReadOnly(path, name);
  } catch {
    return [];
  }
  try {
    const s = snapshot(ring);
    const who = (desc: string, pid: number) => `${desc || "a process"} (pid ${pid})`;
    const out = s.writer?.alive ? [who(s.writer.desc, s.writer.pid)] : [];
    for (const r of s.readers) out.push(who(r.desc, r.pid));
    return out;
  } finally {
    ring.close();
  }
}

function readExisting(path: string, size: number): ReturnType<typeof validateHeader> {
  let bytes: Uint8Array;
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      bytes = new Uint8Array(Math.min(L.HEADER_SIZE, size));
      let got = 0;
      while (got < bytes.length) {
        const n = f.readSync(bytes.subarray(got));
        if (!n) break;
        got += n;
      }
    } finally {
      f.close();
    }
  } catch (e) {
    return describeFsError(e);
  }
  return validateHeader(bytes, size);
}

/** Why `size` (bytes of the whole file) cannot be a ring's size, or null when it can. */
export function ringSizeProblem(size: number): string | null {
  if (size < L.MIN_RING_SIZE) {
    return `size ${formatSize(size)} is too small (minimum ${
      formatSize(L.MIN_RING_SIZE)
    }, to hold jumbo frames)`;
  }
  if (size > L.MAX_RING_SIZE + L.HEADER_SIZE) {
    return `size ${formatSize(size)} is larger than a ring can be (4g)`;
  }
  return null;
}
