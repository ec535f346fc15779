/**
 * The one libc symbol table of fluxcap. Nothing above `ffi/` calls `Deno.dlopen`.
 *
 * Fast-call rules measured on this machine (see shared FFI-NOTES): a call whose parameters are all
 * i32/u32/f64/pointer/buffer takes V8's fast path (~5 ns); any 64-bit integer parameter drops to the
 * slow path (~50 ns). Hot symbols therefore take `u32` for small `size_t` values, and the few 64-bit
 * arguments (`off_t`, mmap length) are only on symbols called once per process.
 *
 * @module
 */

const SYMBOLS = {
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *addr, socklen_t len)
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int connect(int fd, const struct sockaddr *addr, socklen_t len)
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int ioctl(int fd, unsigned long req, ...) -- variadic, third argument a pointer
  ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" },
  // int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "buffer"], result: "i32" },
  // int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  // ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t l)
  sendto: { parameters: ["i32", "buffer", "u32", "i32", "buffer", "u32"], result: "i32" },
  // ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *l)
  recvfrom: { parameters: ["i32", "buffer", "u32", "i32", "buffer", "buffer"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  // int munmap(void *addr, size_t len)
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // int open(const char *path, int flags, ... mode_t mode)
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // int ftruncate(int fd, off_t len)
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int posix_fallocate(int fd, off_t off, off_t len) -- returns the error number, not -1
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  // int fcntl(int fd, int cmd, ... struct flock *) -- variadic, third argument a pointer
  fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  // int flock(int fd, int op)
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // int fsync(int fd)
  fsync: { parameters: ["i32"], result: "i32" },
  // int rename(const char *from, const char *to)
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  // int unlink(const char *path)
  unlink: { parameters: ["buffer"], result: "i32" },
  // int statvfs(const char *path, struct statvfs *out)
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  // long syscall(long nr, ...) -- used for futex(2): (addr, op, val, timeout, addr2, val3)
  syscall: { parameters: ["i32", "pointer", "i32", "i32", "buffer", "pointer", "i32"], result: "i32" },
  // unsigned int if_nametoindex(const char *name)
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum)
  strerror: { parameters: ["i32"], result: "pointer" },
  // pid_t getpid(void)
  getpid: { parameters: [], result: "i32" },
  // int kill(pid_t pid, int sig)
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // int clock_gettime(clockid_t id, struct timespec *ts)
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  // void *memcpy(void *dst, const void *src, size_t n)
  memcpy: { parameters: ["pointer", "pointer", "u32"], result: "pointer" },
  // int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
  getaddrinfo: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  // void freeaddrinfo(struct addrinfo *res)
  freeaddrinfo: { parameters: ["pointer"], result: "void" },
  // int fstat(int fd, struct stat *st)
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  // ssize_t pread(int fd, void *buf, size_t n, off_t off)
  pread: { parameters: ["i32", "buffer", "u32", "i64"], result: "i64" },
  // int isatty(int fd)
  isatty: { parameters: ["i32"], result: "i32" },
  // int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const lib = Deno.dlopen("libc.so.6", SYMBOLS);

/** The raw symbols, destructured once so calls stay on V8's fast path. */
export const {
  socket,
  bind,
  connect,
  setsockopt,
  getsockopt,
  ioctl,
  recvmmsg,
  sendmmsg,
  sendto,
  recvfrom,
  poll,
  mmap,
  munmap,
  open,
  close,
  ftruncate,
  posix_fallocate,
  fcntl,
  flock,
  fsync,
  rename,
  unlink,
  statvfs,
  syscall,
  if_nametoindex,
  strerror,
  getpid,
  kill,
  clock_gettime,
  memcpy,
  getaddrinfo,
  freeaddrinfo,
  isatty,
  getsockname,
  fstat,
  pread,
} = lib.symbols;

const errnoPtr = lib.symbols.__errno_location();
if (errnoPtr === null) throw new Error("Cannot locate errno: __errno_location returned NULL");
const errnoWord = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(errnoPtr, 4));

/** The calling thread's errno. Read it immediately after the failing call, before allocating. */
export function errno(): number {
  return errnoWord[0];
}

/** Sets errno (to 0 before a call whose only failure sign is errno). */
export function setErrno(v: number): void {
  errnoWord[0] = v;
}

/** NUL-terminated C string from a JS string (for `buffer` parameters). */
export function cstr(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Reads a NUL-terminated C string at `ptr` (at most `max` bytes). */
export function readCString(ptr: Deno.PointerValue, max = 256): string {
  if (ptr === null) return "";
  return new Deno.UnsafePointerView(ptr).getCString(0).slice(0, max);
}

/** Pointer value of a mapping's address plus an offset. */
export function ptrAdd(p: Deno.PointerObject, off: number): Deno.PointerObject {
  const r = Deno.UnsafePointer.offset(p, off);
  if (r === null) throw new RangeError("pointer arithmetic gave NULL");
  return r;
}

/** Numeric address of a pointer (exact below 2^53, which user space addresses are). */
export function ptrNum(p: Deno.PointerValue): number {
  return Number(Deno.UnsafePointer.value(p));
}

/**
 * Numeric address of a typed array's first byte, for iovecs and other structs that hold pointers. Keep
 * a reference to the array while the address is in use: the address is only valid while it lives.
 */
export function addrOf(buf: ArrayBufferView): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/** Pointer to a typed array's first byte, for `pointer` parameters (a futex word, say). */
export function ptrOf(buf: ArrayBufferView): Deno.PointerValue {
  return Deno.UnsafePointer.of(buf);
}
