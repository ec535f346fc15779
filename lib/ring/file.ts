/**
 * Opening, validating and mapping a ring file. Every header field is checked before it is used as an
 * offset: a bad offset into a mapping is a segfault, not an exception.
 *
 * @module
 */
import {
  C,
  check,
  close,
  cstr,
  E,
  errno,
  errnoText,
  fcntl,
  flock,
  FluxError,
  fstat,
  type Mapping,
  mapShared,
  open,
  pread,
  SysError,
} from "../../ffi/mod.ts";
import * as L from "./layout.ts";

/** A ring file that cannot be opened, created or attached to. */
export class RingError extends FluxError {
  /** An error with `message` (`Cannot open ring "x": …`). */
  constructor(message: string) {
    super(message);
    this.name = "RingError";
  }
}

/** Geometry read from (and validated against) a ring header. */
export interface RingGeometry {
  /** Format version of the file (1 or 2; both are read and written alike, see layout.ts). */
  version: number;
  /** Size of the file, header included. */
  fileSize: number;
  /** Where the data area starts. */
  dataOffset: number;
  /** Size of the data area. */
  dataSize: number;
  /** Reader slots. */
  maxReaders: number;
  /** Largest frame a record holds. */
  maxFrame: number;
  /** When the ring was created, ns since the epoch. */
  createdNs: bigint;
}

/**
 * Validates a ring header against the actual file size. Returns the geometry or a reason string.
 * Pure: used on the bytes read before anything is mapped.
 */
export function validateHeader(h: Uint8Array, actualSize: number): RingGeometry | string {
  if (actualSize < L.HEADER_SIZE || h.length < L.HEADER_SIZE) {
    return `truncated (${actualSize} bytes, a ring is at least ${L.MIN_RING_SIZE})`;
  }
  for (let i = 0; i < L.MAGIC.length; i++) {
    if (h[i] !== L.MAGIC[i]) return "not a fluxcap ring (bad magic)";
  }
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const version = dv.getUint32(L.H_VERSION, true);
  if (!L.VERSIONS_READ.includes(version)) {
    return `unsupported ring version ${version} (this fluxcap reads versions ${
      L.VERSIONS_READ.join(" and ")
    })`;
  }
  const headerSize = dv.getUint32(L.H_HEADER_SIZE, true);
  const fileSize = Number(dv.getBigUint64(L.H_FILE_SIZE, true));
  const dataOffset = Number(dv.getBigUint64(L.H_DATA_OFFSET, true));
  const dataSize = Number(dv.getBigUint64(L.H_DATA_SIZE, true));
  const maxReaders = dv.getUint32(L.H_MAX_READERS, true);
  const slotSize = dv.getUint32(L.H_SLOT_SIZE, true);
  const maxFrame = dv.getUint32(L.H_MAX_FRAME, true);
  if (headerSize !== L.HEADER_SIZE || dataOffset !== L.DATA_OFFSET) return "corrupt header (bad data offset)";
  if (slotSize !== L.SLOT_SIZE || maxReaders !== L.MAX_READERS) return "corrupt header (bad reader table)";
  if (fileSize !== actualSize) {
    return `truncated or resized (header says ${fileSize} bytes, file has ${actualSize})`;
  }
  if (dataSize % L.ALIGN !== 0 || dataOffset + dataSize !== fileSize || dataSize < L.MIN_RING_SIZE / 2) {
    return "corrupt header (bad data size)";
  }
  if (fileSize > L.MAX_RING_SIZE + L.HEADER_SIZE) return "corrupt header (size beyond the 4g limit)";
  if (maxFrame < 1 || maxFrame > L.maxFrameFor(dataSize)) return "corrupt header (bad frame limit)";
  const head = dv.getBigUint64(L.H_HEAD, true);
  const tail = dv.getBigUint64(L.H_TAIL, true);
  const frames = dv.getBigUint64(L.H_FRAMES, true);
  if (head >= 1n << 62n || frames >= 1n << 53n) return "corrupt header (position out of range)";
  if (tail > head || head - tail > BigInt(dataSize)) return "corrupt header (head/tail out of order)";
  if (tail % BigInt(L.ALIGN) !== 0n || head % BigInt(L.ALIGN) !== 0n) {
    return "corrupt header (unaligned head/tail)";
  }
  return {
    version,
    fileSize,
    dataOffset,
    dataSize,
    maxReaders,
    maxFrame,
    createdNs: dv.getBigUint64(L.H_CREATED_NS, true),
  };
}

/** Reads the first bytes and the size of the open file `fd` (the same file that will be mapped). */
function readHeaderFd(fd: number, name: string): { bytes: Uint8Array; size: number } {
  const st = new Uint8Array(C.STAT_SIZE);
  if (fstat(fd, st) < 0) throw new RingError(`Cannot open ring "${name}": ${errnoText(errno())}`);
  const dv = new DataView(st.buffer);
  if ((dv.getUint32(C.STAT_MODE, true) & C.S_IFMT) !== C.S_IFREG) {
    throw new RingError(`Cannot open ring "${name}": not a regular file`);
  }
  const size = Number(dv.getBigInt64(C.STAT_ST_SIZE, true));
  const bytes = new Uint8Array(Math.min(L.HEADER_SIZE, size));
  let got = 0;
  while (got < bytes.length) {
    const n = Number(pread(fd, bytes.subarray(got), bytes.length - got, BigInt(got)));
    if (n <= 0) break;
    got += n;
  }
  return { bytes: bytes.subarray(0, got), size };
}

/** Short text for a Deno file-system error. */
export function describeFsError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}

/**
 * An open, validated and mapped ring file. Owns the mapping: `close()` unmaps it, and every view is
 * dropped so later use throws instead of touching unmapped memory.
 */
export class RingFile {
  /** The name used in messages (as the user gave it). */
  readonly name: string;
  /** The file's path. */
  readonly path: string;
  /** Its validated geometry. */
  readonly geometry: RingGeometry;
  /** The open descriptor (locks are taken on it). */
  readonly fd: number;
  readonly #mapping: Mapping;
  #mem: ArrayBuffer | null;
  /** The header as 32-bit signed words. */
  i32: Int32Array;
  /** The header as 32-bit unsigned words. */
  u32: Uint32Array;
  /** The header as 64-bit words (Atomics). */
  i64: BigInt64Array;
  /** The header as bytes. */
  u8: Uint8Array;
  /** The data area. */
  data: Uint8Array;
  /** The data area as 32-bit words (record headers). */
  dataU32: Uint32Array;
  /** Numeric address of the data area (for iovecs). */
  readonly dataAddr: number;
  /** True when opened with `readOnly`: the mapping is `PROT_READ`, and a write would crash the process. */
  readonly readOnly: boolean;

  private constructor(
    name: string,
    path: string,
    g: RingGeometry,
    fd: number,
    mapping: Mapping,
    readOnly: boolean,
  ) {
    this.name = name;
    this.readOnly = readOnly;
    this.path = path;
    this.geometry = g;
    this.fd = fd;
    this.#mapping = mapping;
    const mem = mapping.buffer;
    this.#mem = mem;
    this.i32 = new Int32Array(mem, 0, L.HEADER_SIZE / 4);
    this.u32 = new Uint32Array(mem, 0, L.HEADER_SIZE / 4);
    this.i64 = new BigInt64Array(mem, 0, L.HEADER_SIZE / 8);
    this.u8 = new Uint8Array(mem, 0, L.HEADER_SIZE);
    this.data = new Uint8Array(mem, g.dataOffset, g.dataSize);
    this.dataU32 = new Uint32Array(mem, g.dataOffset, g.dataSize / 4);
    this.dataAddr = mapping.addr + g.dataOffset;
  }

  /**
   * Opens and maps the ring at `path`. Throws {@link RingError} `Cannot open ring "x": <reason>` for a
   * missing, truncated, foreign or corrupt file.
   *
   * `readOnly` opens it `O_RDONLY` and maps it `PROT_READ`: enough for watching (`-io`, `--metrics`,
   * `fluxcap status`), so a user who may only read the file can watch it. Lock queries
   * (`F_OFD_GETLK`, {@link isLocked}) work on such a descriptor; taking a lock and every write do not.
   */
  static open(path: string, name = path, opts: { populate?: boolean; readOnly?: boolean } = {}): RingFile {
    // One descriptor for everything: the header checked is the header of the file that gets mapped,
    // even if the path is replaced meanwhile (a mapping longer than its file would SIGBUS).
    const fd = open(cstr(path), (opts.readOnly ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC, 0);
    if (fd < 0) {
      const e = errno();
      const why = e === E.ENOENT
        ? "no such file"
        : e === E.EACCES
        ? "permission denied"
        : e === E.EISDIR
        ? "is a directory"
        : errnoText(e);
      throw new RingError(`Cannot open ring "${name}": ${why}`);
    }
    let g: RingGeometry | string;
    try {
      const { bytes, size } = readHeaderFd(fd, name);
      g = validateHeader(bytes, size);
    } catch (e) {
      close(fd);
      throw e;
    }
    if (typeof g === "string") {
      close(fd);
      throw new RingError(`Cannot open ring "${name}": ${g}`);
    }
    // The writer maps with MAP_POPULATE: page faults of a fresh ring are paid once, at attach.
    let m: Mapping;
    try {
      m = mapShared(fd, g.fileSize, {
        populate: opts.populate,
        readOnly: opts.readOnly,
        what: "ring",
        name,
      });
    } catch (e) {
      close(fd);
      const why = e instanceof SysError ? errnoText(e.errno) : String(e);
      throw new RingError(`Cannot open ring "${name}": cannot map it: ${why}`);
    }
    return new RingFile(name, path, g, fd, m, opts.readOnly === true);
  }

  /** Opens the ring at `path` for reading only (see {@link open}). */
  static openReadOnly(path: string, name = path): RingFile {
    return RingFile.open(path, name, { readOnly: true });
  }

  /** True until `close()`. */
  get isOpen(): boolean {
    return this.#mem !== null;
  }

  /** Throws if the mapping has been released. */
  assertOpen(): void {
    if (this.#mem === null) throw new RingError(`Ring "${this.name}" is closed`);
  }

  readonly #stat = new Uint8Array(C.STAT_SIZE);
  #shrunk = false;

  /**
   * True once {@linkcode checkSize} found the file shorter than the mapping: the mapping must not be
   * touched again (its missing pages would kill the process with SIGBUS), only closed.
   */
  get shrunk(): boolean {
    return this.#shrunk;
  }

  /** Pointer to byte `off` of the file's mapping (for calls that take one, such as futex). */
  pointerAt(off: number): Deno.PointerObject {
    return this.#mapping.pointerAt(off);
  }

  /**
   * Throws when the file has become shorter than the mapping (truncated while in use: touching the
   * missing part would kill the process with SIGBUS). Processes call it about once a second.
   */
  checkSize(): void {
    if (this.#mem === null) return;
    const st = this.#stat;
    if (fstat(this.fd, st) < 0) return;
    const size = Number(new DataView(st.buffer).getBigInt64(C.STAT_ST_SIZE, true));
    if (size < this.geometry.fileSize) {
      this.#shrunk = true;
      throw new RingError(
        `Ring "${this.name}" was truncated to ${size} bytes while in use (it had ${this.geometry.fileSize}): ` +
          `stopping. Never truncate, rewrite or shrink a ring in use; recreate it with fluxcap -cr`,
      );
    }
  }

  /** Takes an exclusive lock on one byte (0 = writer, 1 + i = reader slot i). False if held elsewhere. */
  tryLock(byte: number): boolean {
    if (this.readOnly) throw new RingError(`Ring "${this.name}" is open read-only: cannot attach to it`);
    return this.#lock(C.F_OFD_SETLK, C.F_WRLCK, byte) === 0;
  }

  /** Releases a lock taken with `tryLock`. */
  unlock(byte: number): void {
    this.#lock(C.F_OFD_SETLK, C.F_UNLCK, byte);
  }

  /** True if some open file description (any process) holds the lock on `byte`. */
  isLocked(byte: number): boolean {
    const b = flock(C.F_WRLCK, byte, 1);
    check(fcntl(this.fd, C.F_OFD_GETLK, b), "query lock on", "ring", this.name);
    return new DataView(b.buffer).getInt16(C.FLOCK_TYPE, true) !== C.F_UNLCK;
  }

  #lock(cmd: number, type: number, byte: number): number {
    return fcntl(this.fd, cmd, flock(type, byte, 1));
  }

  /** Reads a NUL-padded UTF-8 text field of the header. */
  text(off: number, len = L.DESC_LEN): string {
    const b = this.u8.subarray(off, off + len);
    const end = b.indexOf(0);
    return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
  }

  /** Writes a NUL-padded UTF-8 text field of the header (truncated to fit). */
  setText(off: number, s: string, len = L.DESC_LEN): void {
    if (this.readOnly) throw new RingError(`Ring "${this.name}" is open read-only: cannot write to it`);
    const bytes = new TextEncoder().encode(s).subarray(0, len - 1);
    this.u8.fill(0, off, off + len);
    this.u8.set(bytes, off);
  }

  /** Unmaps and closes. Safe to call twice. Views are replaced by empty ones. */
  close(): void {
    if (this.#mem === null) return;
    this.#mem = null;
    this.i32 = new Int32Array(0);
    this.u32 = new Uint32Array(0);
    this.i64 = new BigInt64Array(0);
    this.u8 = new Uint8Array(0);
    this.data = new Uint8Array(0);
    this.dataU32 = new Uint32Array(0);
    this.#mapping.unmap();
    close(this.fd);
  }

  /** Closes (see `close()`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Monotonic-enough wall clock in ns as BigInt (for attach times). */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
