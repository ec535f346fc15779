/**
 * Flow-balanced output groups (`-tx -i eth2,eth3,eth4 RING`, `-tx -E gretap:198.18.7.1,198.18.7.2
 * RING`): one {@linkcode Sink} over several member sinks, each frame sent by exactly one member, chosen
 * by the symmetric flow hash of `lib/ops/flow.ts` (both directions of a connection, and every fragment
 * of a packet, on one member) and rendezvous hashing over the members that are up.
 *
 * ## Staging and outcomes
 * `stage` hashes the frame as it is in the ring (tags in place, the whole frame even when the pipeline
 * cut it), picks a member and stages the frame with it, tagged with the group's staging index; `flush`
 * flushes every member and copies each member's outcomes back to the group's `status`, in the group's
 * staging order. The transmit loop counts the group's outcomes on the group's own reader slot (sent +
 * dropped + lost = read, exactly). A frame offered while every member is down is staged as "no member"
 * and fails at flush: counted `send_error`.
 *
 * ## Member slots
 * Each member has a reader slot of kind `member` in the ring (claimed through the loop's reader,
 * {@linkcode RingReader.addMember}): frames offered to it (its "frames read"), their bytes, frames it
 * sent, and its drops by reason (`oversize`, `send_error`); its position follows the group's reader, so
 * its lag shows. What happens before a member is chosen (filter, duplicates, sampling, overwrite) is
 * counted on the group's slot only.
 *
 * ## Failover
 * A member leaves the group (only its flows move: rendezvous) when
 * - its link is down: a NIC without IFF_UP or IFF_RUNNING (looked at once a second), a send that fails
 *   with ENETDOWN/ENXIO/ENODEV (at once), or its interface is gone (its sink is closed);
 * - or it has failed to send for a second: every flush in that second had errors and none sent;
 * - or, for a tunnel over IPv4, its next hop has not answered ARP for a second (the sink's `down`):
 *   a sensor host that died stops taking its flows although sending to it still "succeeds".
 *
 * A member that is down is probed about once a second: a NIC comes back when its interface exists and
 * is up and running (reopened if it was gone); a tunnel when its next hop answers ARP again; a member
 * that left for failing to send is put back on probation, and leaves again at its first failed flush. Its flows return when it is back. Each change
 * is logged as one line.
 *
 * ## Replication to every member (`--all`)
 * One process serving several outputs from one read of the ring: each frame is staged with every member
 * that is up (the same bytes: a zero-copy member sends from the loop's copy of the batch), and its
 * outcome on the group's slot is "sent" when at least one member sent it (else the failure of the last
 * member that had it); each member's slot counts its own outcome, so every output's deliveries and
 * losses stay exact. Measured on the 2-vCPU lab at a fixed 100 kpps: ~30% less transmit CPU per
 * delivered frame than one process per output (the replication bench's "fluxcap 1tx").
 *
 * @module
 */
import { C } from "../../ffi/mod.ts";
import { ifFlags } from "../net/mod.ts";
import { type BalanceMode, FlowHasher, Rendezvous } from "../ops/mod.ts";
import { DropReason, type MemberSlot, ReaderKind } from "../ring/mod.ts";
import type { NicSinkConfig } from "./nic.ts";
import { type FlushResult, type FrameCut, Outcome, type Sink, type SinkEnv, Staged } from "./sink.ts";
import type { TunnelSinkConfig } from "./tunnel/sender.ts";

/** Most members of a group (each takes a reader slot of the ring's 64). */
export const MAX_GROUP_MEMBERS = 32;

/** A member's link and health are looked at this often (ms); a down member is probed as often. */
export const GROUP_CHECK_MS = 1000;

/** A member failing every send for this long leaves the group (ms). */
export const GROUP_FAIL_MS = 1000;

/** Settings of an output group. */
export interface GroupSinkConfig {
  /** Always "group". */
  kind: "group";
  /** The members, NICs or tunnels (all of one kind), in the order given. */
  members: (NicSinkConfig | TunnelSinkConfig)[];
  /** `--balance`: hash IP frames on flows (default) or on addresses only. */
  balance: BalanceMode;
  /** `--all`: every frame to every member that is up (replication), not to one. */
  all?: boolean;
  /** The group as typed, for messages and its reader's description (`eth2,eth3,eth4`). */
  name: string;
}

/** Opens one member's sink (the caller's `openSink`, so that the group is not tied to sink classes). */
export type MemberOpener = (cfg: NicSinkConfig | TunnelSinkConfig) => Sink;

/** The "member" of a frame staged while every member was down. */
const NONE = 255;
/** The "member" of a frame staged with every member that was up (`--all`). */
const ALL = 254;

interface Member {
  readonly cfg: NicSinkConfig | TunnelSinkConfig;
  /** Interface name or tunnel peer, for messages. */
  readonly name: string;
  sink: Sink | null;
  slot: MemberSlot | null;
  up: boolean;
  /** Why it is down (for the log). */
  why: string;
  /** Back on trial after leaving for send failures: the first failed flush takes it out again. */
  probation: boolean;
  /** performance.now() of the first failed flush of a run of failures, or -1. */
  failingSince: number;
  /** When it left the group (for the probe of a member that failed to send). */
  downAt: number;
  nextCheck: number;
}

/** One output made of several member outputs, each frame to one member (see the module doc). */
export class GroupSink implements Sink {
  /** For messages: `on the output group "eth2,eth3"`. */
  readonly what: string;
  /** The group's reader description: `tx eth2,eth3`. */
  readonly desc: string;
  /** The members' kind (NIC or tunnel) for the group's own reader slot. */
  readonly readerKind: number;
  /** The smallest batch of its members (a whole batch may go to one member). */
  readonly maxBatch: number;
  /** True when a member sends from the staged frames' memory. */
  readonly zeroCopy: boolean;
  /** After `flush()`: each staged frame's outcome, in the group's staging order. */
  readonly status: Uint8Array;
  /** After `flush()`: the caller's tag of each staged frame. */
  readonly tags: Uint32Array;
  readonly #members: Member[];
  readonly #env: SinkEnv;
  readonly #open: MemberOpener;
  readonly #hasher: FlowHasher;
  readonly #rv: Rendezvous;
  readonly #memberOf: Uint8Array;
  readonly #all: boolean;
  readonly #outLen: Uint32Array;
  #n = 0;
  #tag: Uint8Array | null = null;
  #slotsMade = false;
  #lastOversize = 0;
  #closed = false;

  /**
   * Opens every member with `open`; a NIC member whose link is down starts out of the group. Throws
   * what a member's opening throws (the others are closed again).
   */
  constructor(cfg: GroupSinkConfig, env: SinkEnv, open: MemberOpener) {
    const n = cfg.members.length;
    if (n < 1 || n > MAX_GROUP_MEMBERS) {
      throw new RangeError(`An output group has 1..${MAX_GROUP_MEMBERS} members, not ${n}`);
    }
    this.#env = env;
    this.#open = open;
    this.#hasher = new FlowHasher(cfg.balance);
    this.#all = cfg.all === true;
    this.#rv = new Rendezvous(n);
    this.what = `on the output group "${cfg.name}"`;
    this.desc = `tx ${cfg.name}`;
    this.readerKind = cfg.members[0].kind === "nic" ? ReaderKind.nic : ReaderKind.tunnel;
    this.#members = [];
    try {
      for (const m of cfg.members) {
        const name = m.kind === "nic" ? m.iface : (m.host ?? "peer");
        this.#members.push({
          cfg: m,
          name,
          sink: open(m),
          slot: null,
          up: true,
          why: "",
          probation: false,
          failingSince: -1,
          downAt: 0,
          nextCheck: 0,
        });
      }
    } catch (e) {
      for (const m of this.#members) m.sink?.close();
      throw e;
    }
    const sinks = this.#members.map((m) => m.sink!);
    this.maxBatch = Math.min(...sinks.map((s) => s.maxBatch));
    this.zeroCopy = sinks.some((s) => s.zeroCopy);
    this.status = new Uint8Array(this.maxBatch);
    this.tags = new Uint32Array(this.maxBatch);
    this.#memberOf = new Uint8Array(this.maxBatch);
    this.#outLen = new Uint32Array(this.maxBatch);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const m = this.#members[i];
      if (m.cfg.kind === "nic" && !linkUp(m.cfg.iface)) this.#leave(i, "link down", now);
      m.nextCheck = now + GROUP_CHECK_MS;
    }
  }

  get staged(): number {
    return this.#n;
  }

  /** Number of members up now. */
  get membersUp(): number {
    return this.#rv.upCount;
  }

  setTag(tag: Uint8Array): void {
    this.#tag = tag.slice(0, 4);
    for (const m of this.#members) m.sink?.setTag(this.#tag);
  }

  stage(
    buf: Uint8Array,
    addr: number,
    off: number,
    cut: FrameCut,
    wire: number,
    sec: number,
    nsec: number,
    tag: number,
  ): number {
    const k = this.#n;
    const out = cut.headLen + cut.tagLen + cut.tailLen;
    if (this.#all) return this.#stageAll(buf, addr, off, cut, wire, sec, nsec, tag);
    const m = this.#pick(buf, off, cut);
    if (m < 0) {
      this.#memberOf[k] = NONE;
    } else {
      const mem = this.#members[m];
      const r = mem.sink!.stage(buf, addr, off, cut, wire, sec, nsec, k);
      if (r !== Staged.staged) {
        mem.slot?.addOffered(1, out);
        mem.slot?.addDrop(r === Staged.oversize ? DropReason.oversize : DropReason.malformed);
        if (r === Staged.oversize) this.#lastOversize = m;
        return r;
      }
      this.#memberOf[k] = m;
    }
    this.#outLen[k] = out;
    this.tags[k] = tag;
    this.#n = k + 1;
    return Staged.staged;
  }

  /** `--all`: stages the frame with every member that is up; staged when at least one took it. */
  #stageAll(
    buf: Uint8Array,
    addr: number,
    off: number,
    cut: FrameCut,
    wire: number,
    sec: number,
    nsec: number,
    tag: number,
  ): number {
    const k = this.#n;
    const out = cut.headLen + cut.tagLen + cut.tailLen;
    let taken = 0;
    let refused: number = Staged.staged;
    for (let i = 0; i < this.#members.length; i++) {
      const mem = this.#members[i];
      if (!mem.up || mem.sink === null) { // this output misses the frame: counted on its own slot
        mem.slot?.addOffered(1, out);
        mem.slot?.addDrop(DropReason.send_error);
        continue;
      }
      const r = mem.sink.stage(buf, addr, off, cut, wire, sec, nsec, k);
      if (r === Staged.staged) {
        taken++;
        continue;
      }
      mem.slot?.addOffered(1, out);
      mem.slot?.addDrop(r === Staged.oversize ? DropReason.oversize : DropReason.malformed);
      if (r === Staged.oversize) this.#lastOversize = i;
      refused = r;
    }
    if (taken === 0 && refused !== Staged.staged) return refused;
    this.#memberOf[k] = taken === 0 ? NONE : ALL;
    this.#outLen[k] = out;
    this.tags[k] = tag;
    this.#n = k + 1;
    return Staged.staged;
  }

  /** The member for the frame at `off` (-1 when every member is down). */
  #pick(buf: Uint8Array, off: number, cut: FrameCut): number {
    const len = cut.origLen ?? Math.max(cut.headLen, cut.tailOff + cut.tailLen);
    return this.#rv.pick(this.#hasher.hash(buf, off, len));
  }

  discard(): void {
    for (const m of this.#members) m.sink?.discard();
    this.#n = 0;
  }

  flush(): FlushResult {
    const n = this.#n;
    const res: FlushResult = { errors: 0, lastErrno: 0, backoff: false };
    const memberOf = this.#memberOf;
    for (let k = 0; k < n; k++) {
      if (memberOf[k] === NONE) {
        this.status[k] = Outcome.error;
        res.errors++;
      } else if (memberOf[k] === ALL) this.status[k] = Outcome.error; // until a member says it sent it
    }
    const now = performance.now();
    for (let i = 0; i < this.#members.length; i++) {
      const m = this.#members[i];
      const sink = m.sink;
      if (sink === null) continue;
      const cnt = sink.staged;
      if (cnt === 0) continue;
      const r = sink.flush();
      let sent = 0;
      for (let j = 0; j < cnt; j++) {
        const k = sink.tags[j];
        const st = sink.status[j];
        if (memberOf[k] !== ALL || this.status[k] !== Outcome.sent) this.status[k] = st;
        m.slot?.addOffered(1, this.#outLen[k]);
        if (st === Outcome.sent) sent++;
        else if (st === Outcome.oversize) {
          m.slot?.addDrop(DropReason.oversize);
          this.#lastOversize = i;
        } else m.slot?.addDrop(DropReason.send_error);
      }
      m.slot?.addSent(sent);
      if (r.errors > 0) {
        res.errors += r.errors;
        res.lastErrno = r.lastErrno;
      }
      this.#health(i, sent, r, now);
    }
    // Nap (the loop's back-off) only when nothing can take frames: every member is down.
    res.backoff = this.#rv.upCount === 0 && n > 0;
    this.#n = 0;
    return res;
  }

  /** Updates member `i`'s health after a flush that sent `sent` frames with result `r`. */
  #health(i: number, sent: number, r: FlushResult, now: number): void {
    const m = this.#members[i];
    if (!m.up) return;
    if (r.backoff) {
      this.#leave(i, "link down", now);
      return;
    }
    if (r.errors === 0 || sent > 0) {
      m.failingSince = -1;
      if (r.errors === 0) m.probation = false;
      return;
    }
    if (m.probation) this.#leave(i, "still failing to send", now);
    else if (m.failingSince < 0) m.failingSince = now;
    else if (now - m.failingSince >= GROUP_FAIL_MS) this.#leave(i, "failed to send for a second", now);
  }

  #leave(i: number, why: string, now: number): void {
    const m = this.#members[i];
    if (!m.up) return;
    m.up = false;
    m.why = why;
    m.probation = false;
    m.failingSince = -1;
    m.downAt = now;
    this.#rv.setUp(i, false);
    const rest = this.#rv.upCount;
    this.#env.log(
      `Output group "${this.desc.slice(3)}": member "${m.name}" left (${why}); ` +
        (rest > 0
          ? `its flows go to the other ${rest} member${rest === 1 ? "" : "s"}`
          : `no member is up: frames are counted as send errors`),
    );
  }

  #join(i: number, probation: boolean): void {
    const m = this.#members[i];
    if (m.up) return;
    m.up = true;
    m.probation = probation;
    m.failingSince = -1;
    this.#rv.setUp(i, true);
    this.#env.log(
      `Output group "${this.desc.slice(3)}": member "${m.name}" is back` +
        `${probation ? " (on trial)" : ""}; its flows return to it`,
    );
  }

  /** Member housekeeping (each sink's own tick), link checks and probes, member slots. */
  tick(now: number): void {
    if (!this.#slotsMade) this.#makeSlots();
    for (let i = 0; i < this.#members.length; i++) {
      const m = this.#members[i];
      if (m.sink !== null) {
        try {
          m.sink.tick(now);
          if (m.up && m.sink.down) this.#leave(i, m.sink.down, now);
        } catch (e) {
          // The member's interface went away (or its route check failed for good): close it, and
          // reopen it when a probe finds it again.
          this.#leave(i, e instanceof Error ? shortReason(e.message) : String(e), now);
          try {
            m.sink.close();
          } catch { /* already unusable */ }
          m.sink = null;
        }
      }
      if (now < m.nextCheck) continue;
      m.nextCheck = now + GROUP_CHECK_MS;
      this.#check(i, now);
    }
  }

  /** The once-a-second look at member `i`: its link, and a probe when it is down. */
  #check(i: number, now: number): void {
    const m = this.#members[i];
    const nic = m.cfg.kind === "nic";
    if (m.up) {
      if (nic && !linkUp(m.cfg.iface)) this.#leave(i, "link down", now);
      return;
    }
    if (nic && !linkUp(m.cfg.iface)) return; // still down or gone: probe again in a second
    if (!nic && now - m.downAt < GROUP_FAIL_MS) return;
    if (m.sink === null) {
      try {
        m.sink = this.#open(m.cfg);
        if (this.#tag !== null) m.sink.setTag(this.#tag);
      } catch {
        m.sink = null;
        return; // not back yet
      }
    }
    if (m.sink.down) return; // a tunnel whose next hop still does not answer ARP (its sink asks again)
    // A NIC whose link came back is trusted again; a member that failed to send is on trial.
    this.#join(i, !nic || m.why !== "link down");
  }

  #makeSlots(): void {
    const reader = this.#env.reader?.();
    if (reader === undefined) return;
    this.#slotsMade = true;
    for (const m of this.#members) {
      m.slot = reader.addMember(
        m.cfg.kind === "nic" ? `tx ${m.cfg.iface}` : `tx ${m.cfg.tunnel}:${m.cfg.host ?? m.name}`,
      );
    }
  }

  dueIn(now: number): number {
    let due = Infinity;
    for (const m of this.#members) {
      due = Math.min(due, m.nextCheck - now, m.sink ? m.sink.dueIn(now) : Infinity);
    }
    if (!this.#slotsMade) due = 0;
    return Math.max(0, due);
  }

  oversizeText(len: number): string {
    const m = this.#members[this.#lastOversize];
    return m.sink?.oversizeText(len) ??
      `Frame of ${len} bytes is larger than member "${m.name}" of ${this.what} can carry: counted as oversize`;
  }

  summary(): string | null {
    const parts = this.#members.map((m) => m.sink?.summary() ?? null).filter((s) => s !== null);
    return parts.length > 0 ? parts.join("\n") : null;
  }

  /** Closes every member (the member slots go with the group's reader). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const m of this.#members) {
      try {
        m.sink?.close();
      } catch { /* closing the others matters more */ }
    }
  }

  /** Same as {@linkcode GroupSink.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** True when interface `ifname` exists and is up and running (carrier). */
function linkUp(ifname: string): boolean {
  try {
    const f = ifFlags(ifname);
    return (f & C.IFF_UP) !== 0 && (f & C.IFF_RUNNING) !== 0;
  } catch {
    return false; // gone
  }
}

/** `Interface "eth3" went away (…): stopping, …` → `interface gone`; other messages as they are. */
function shortReason(message: string): string {
  return /went away/.test(message) ? "interface gone" : message.replace(/[:.].*$/, "");
}
