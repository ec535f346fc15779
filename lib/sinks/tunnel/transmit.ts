/**
 * The `sendmmsg` paths of a tunnel sender: hands a {@link MessageArena}'s messages to their sockets
 * and folds each message's outcome into its frame's status.
 *
 * A batch goes out in staging order, except that UDP (VXLAN) messages between two fragmented frames are
 * grouped by socket, one `sendmmsg` per socket: flows may interleave differently, a flow's packets keep
 * their order. Fragments go through the IP_HDRINCL socket, in order.
 *
 * @module
 */
import { C, E, errno, poll, PollFds, sendmmsg } from "../../../ffi/mod.ts";
import { type FlushResult, Outcome } from "../sink.ts";
import { HDRINCL, MAX_MSGS, type MessageArena } from "./messages.ts";
import { isIcmpErrno, type TunnelPath, UDP_BUCKETS } from "./sockets.ts";

const napCell = new Int32Array(new SharedArrayBuffer(4));

/** Sends the messages of one arena. */
export class Transmitter {
  readonly #arena: MessageArena;
  /** The sender's per-frame outcomes (written here: a frame takes its first failure). */
  readonly #status: Uint8Array;
  readonly #path: TunnelPath;
  readonly #socks: number[];
  readonly #hdrFd: number;
  readonly #pfd: PollFds;
  // messages of the UDP path, grouped by socket (no address: the sockets are connected)
  readonly #grouped = new Uint8Array(MAX_MSGS * C.MMSGHDR_SIZE);
  readonly #groupedU32 = new Uint32Array(this.#grouped.buffer);
  readonly #groupedMsg = new Uint16Array(MAX_MSGS);
  readonly #bucketAt = new Uint16Array(UDP_BUCKETS + 1);
  #last: FlushResult = { errors: 0, lastErrno: 0, backoff: false };

  /**
   * `socks`: the sockets of `path` (see `TunnelSockets`); `hdrFd`: the IP_HDRINCL socket; `status`:
   * the sender's per-frame outcome array, indexed by the arena's `frame`.
   */
  constructor(arena: MessageArena, status: Uint8Array, path: TunnelPath, socks: number[], hdrFd: number) {
    this.#arena = arena;
    this.#status = status;
    this.#path = path;
    this.#socks = socks;
    this.#hdrFd = hdrFd;
    this.#pfd = new PollFds([...socks, hdrFd], C.POLLOUT);
    for (let i = 0; i < MAX_MSGS; i++) {
      const a = arena.iovOf(i);
      const w = (i * C.MMSGHDR_SIZE) >>> 2;
      this.#groupedU32[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      this.#groupedU32[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
    }
  }

  /** What the sends since the last call met; starts a new record. */
  takeResult(): FlushResult {
    const r = this.#last;
    this.#last = { errors: 0, lastErrno: 0, backoff: false };
    return r;
  }

  /**
   * Sends the staged messages and empties the arena: runs of fragments on the IP_HDRINCL socket in
   * order, the messages between them on the fast path (UDP ones grouped by socket).
   */
  send(): void {
    const arena = this.#arena;
    const n = arena.count;
    const sock = arena.sock;
    let i = 0;
    let ok = true;
    const udp = this.#path === "udp";
    while (i < n && ok) {
      const s = sock[i];
      const hdr = s === HDRINCL;
      let j = i + 1;
      // runs of one socket (UDP: of the UDP sockets, grouped below)
      while (j < n && (udp ? (sock[j] === HDRINCL) === hdr : sock[j] === s)) j++;
      if (hdr) ok = this.#sendRange(this.#hdrFd, this.#socks.length, arena.msgs, i, j, null);
      else if (!udp) ok = this.#sendRange(this.#socks[s], s, arena.msgs, i, j, null);
      else ok = this.#sendGrouped(i, j);
      i = j;
    }
    if (!ok) {
      // the route is gone: nothing after the failure was sent
      for (let m = 0; m < n; m++) if (arena.sent[m] === 0) this.#mark(m, Outcome.error);
    }
    arena.count = 0;
  }

  /** Messages [i, j) of the UDP path: grouped by socket (a counting sort), one sendmmsg each. */
  #sendGrouped(i: number, j: number): boolean {
    const arena = this.#arena;
    const at = this.#bucketAt;
    at.fill(0);
    const sock = arena.sock;
    for (let m = i; m < j; m++) at[sock[m] + 1]++;
    for (let b = 1; b <= UDP_BUCKETS; b++) at[b] += at[b - 1];
    const g = this.#groupedU32;
    const msg = arena.msgU32;
    for (let m = i; m < j; m++) {
      const k = at[sock[m]]++;
      this.#groupedMsg[k] = m;
      const w = (k * C.MMSGHDR_SIZE) >>> 2;
      const a = arena.iovOf(m);
      g[w + (C.MSGHDR_IOV >>> 2)] = a >>> 0;
      g[w + (C.MSGHDR_IOV >>> 2) + 1] = Math.floor(a / 4294967296);
      g[w + (C.MSGHDR_IOVLEN >>> 2)] = msg[((m * C.MMSGHDR_SIZE) >>> 2) + (C.MSGHDR_IOVLEN >>> 2)];
    }
    // after the sort, at[b] is where bucket b ends
    let from = 0;
    for (let b = 0; b < UDP_BUCKETS; b++) {
      const to = at[b];
      if (to > from && !this.#sendRange(this.#socks[b], b, this.#grouped, from, to, this.#groupedMsg)) {
        return false;
      }
      from = to;
    }
    return true;
  }

  /**
   * Sends entries [i, end) of the mmsghdr array `arr` on `fd` (`map`: entry → message, or identity).
   * False when the route is gone.
   */
  #sendRange(
    fd: number,
    pollAt: number,
    arr: Uint8Array,
    i: number,
    end: number,
    map: Uint16Array | null,
  ): boolean {
    const r = this.#last;
    const sent = this.#arena.sent;
    let retries = 0;
    let icmpAt = -1;
    while (i < end) {
      const rc = sendmmsg(fd, i === 0 ? arr : arr.subarray(i * C.MMSGHDR_SIZE), end - i, 0);
      if (rc > 0) {
        for (let k = i; k < i + rc; k++) sent[map === null ? k : map[k]] = 1;
        i += rc;
        retries = 0;
        continue;
      }
      const e = errno();
      if (e === E.EINTR) continue;
      if ((e === E.ENOBUFS || e === E.EAGAIN) && this.#path === "packet" && pollAt === 0 && retries < 60) {
        // the device queue is full (a veth peer's backlog, a NIC ring): POLLOUT on a packet socket is
        // always ready, so really sleep, 50 µs doubling to 2 ms (about 100 ms in all), as PacketSender
        retries++;
        Atomics.wait(napCell, 0, 0, Math.min(2, 0.05 * 2 ** Math.min(retries, 6)));
        continue;
      }
      if ((e === E.ENOBUFS || e === E.EAGAIN) && retries < 100) {
        retries++;
        poll(this.#pfd.from(pollAt), 1, 1);
        continue;
      }
      // a connected UDP socket reports an ICMP error once, on the next send: that packet did not go,
      // and trying again tells a past ICMP error from a present one
      if (icmpAt !== i && this.#path === "udp" && fd !== this.#hdrFd && isIcmpErrno(e)) {
        icmpAt = i;
        continue;
      }
      r.lastErrno = e;
      if (
        e === E.ENETUNREACH || e === E.EHOSTUNREACH || e === E.ENETDOWN || e === E.ENXIO || e === E.ENODEV
      ) {
        r.backoff = true;
        return false;
      }
      const m = map === null ? i : map[i];
      this.#mark(m, e === E.EMSGSIZE ? Outcome.oversize : Outcome.error);
      sent[m] = 1;
      i++;
      retries = 0;
    }
    return true;
  }

  #mark(m: number, st: number): void {
    const f = this.#arena.frame[m];
    if (this.#status[f] === Outcome.sent) this.#status[f] = st;
  }
}
