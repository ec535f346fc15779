/**
 * The compiled per-frame pipeline: filter → dedup → sample → VLAN → snaplen → trim, in that order, on
 * both sides (fluxcap 3.2's transmit order: `-s 100 -D 4` gives 96-byte frames; 3.2's receive side
 * changed tags and lengths before its `vlan n` filter, which made `-Q -f 'vlan 10'` keep nothing: here
 * the filter always sees the frame as captured, tags in place).
 *
 * Built once from an {@linkcode OpsConfig}; each frame costs one call. `decide` never allocates; the copy
 * in `emit`/`applyRx` creates one short-lived `subarray` view per segment longer than 24 bytes (V8 has
 * no allocation-free copy between two distinct Uint8Arrays). Results of the
 * last call are left in public fields of the pipeline (valid until the next call), so the hot loop reads
 * them without a result object.
 *
 * ## Output shape
 * Every kept frame is described as three segments of the input frame, relative to its first byte:
 *
 * ```
 * out = frame[0, headLen) ++ tag[0, tagLen) ++ frame[tailOff, tailOff + tailLen)
 * outLen = headLen + tagLen + tailLen
 * ```
 *
 * On tx the caller sends these as up to three iovecs (`tag` is then always the one precomputed
 * `tagBytes`, so its iovec can be built once); the input is never written. On rx
 * {@linkcode FramePipeline.applyRx} copies them into the ring.
 *
 * ## Semantics (fluxcap 3.2, with the choices made here)
 * - An *outer tag* is a TPID 0x8100 (802.1Q), 0x88a8 (802.1ad) or 0x9100 (pre-standard QinQ) at byte 12
 *   of a frame of at least 18 bytes. Only the outer tag is ever looked at or changed.
 * - `filterVlan n`: keep only frames whose outer tag has VID n; untagged frames are `filtered`.
 * - `filter` (a pcap-filter expression compiled by libpcap into classic BPF, translated once into
 *   JavaScript by `bpf.ts`): keep the frames the program accepts, run on the frame as it was on the wire
 *   (VLAN tags in band) with its captured length and its length on the wire (the optional `wire`
 *   argument), exactly as tcpdump runs it on a capture file of those frames; the others are `filtered`.
 *   For a frame whose outer tag is out of band, the wire frame is first rebuilt in a scratch buffer
 *   (tag back at byte 12): the one copy of the pipeline, made only then.
 * - `dedupMs` (`--dedup`): drop a frame identical to one kept within that many milliseconds of its own
 *   time stamp (the optional `sec`, `nsec` arguments), as `duplicate`; "identical" ignores VLAN tags,
 *   the IPv4 TTL and header checksum, the IPv6 hop limit, and for IPv4/IPv6 frames the MAC addresses
 *   (see `dedup.ts`; a SPAN session of a router's two sides shows one packet with other MACs and a TTL
 *   one lower). The table is sized for {@linkcode DEDUP_DEFAULT_RATE} frames a second.
 * - `keepPercent p`: keep each frame with probability p/100 (xorshift32; 100 keeps all and 0 drops all
 *   without drawing). Dropped frames are `sampled`.
 * - `vlan v` on rx: an existing outer tag is replaced *as a whole* by `0x8100, TCI = v` (PCP and DEI
 *   become 0, an 802.1ad TPID becomes 0x8100), as 3.2 did; an untagged frame gets that tag inserted
 *   after the MACs. On tx the tag is always inserted (an already tagged frame becomes double tagged), as
 *   3.2 did; the caller gets `insertTag = true` and sends `tagBytes` as a separate iovec.
 * - `stripVlan`: remove the outer tag if there is one (an inner QinQ tag becomes the outer tag); works
 *   on both sides (on tx as two iovecs skipping the tag).
 * - `snaplen n` (n > 0): truncate to n bytes, so it may cut into headers or the inserted tag.
 * - `trimTail n`: remove n bytes from the end, last (after snaplen, as 3.2 did); a frame of n bytes or
 *   fewer is left whole (as 3.2 did), and no frame is cut below the Ethernet header of the output frame
 *   (14 bytes, 18 if it starts with an outer tag: 3.2 cut into it). A frame already shorter than its
 *   header is left as is.
 * - A frame shorter than 14 bytes is dropped as `malformed` when a header operation (filter, `vlan`,
 *   strip) is configured, and so is one with an outer TPID but shorter than 18 bytes when the tag is to be
 *   changed (`vlan`, strip); `filterVlan` reads the VID of any tagged frame of 16 bytes or more, as
 *   tcpdump's `vlan n` does. Without a header operation a frame passes through (trim/snaplen apply). `buf`/`off`/`len` outside the buffer: `malformed`, never a throw.
 * - Out-of-band tags (`decideVlan`/`applyRxVlan`, for AF_PACKET captures where the kernel moved the
 *   outer tag into metadata, which it does on every receive): the frame is treated exactly as the
 *   wire frame with the tag at byte 12. A frame shorter than 12 bytes is then `malformed`.
 *
 * @module
 */

import { type OpsConfig, type OpsSide, validateOps } from "./config.ts";
import { type BpfFilter, compileBpf } from "./bpf.ts";
import { Dedup, DEDUP_DEFAULT_RATE } from "./dedup.ts";
import { ETHERTYPE_QINQ, ETHERTYPE_QINQ_9100, ETHERTYPE_VLAN, isVlanTpid } from "../codec/mod.ts";
import { DropReason } from "../ring/reasons.ts";

/** Byte offset of the EtherType/TPID after the two MAC addresses. */
const MACS_LEN = 12;
/** Untagged Ethernet header length. */
const ETH_HLEN = 14;
/** VLAN tag length (TPID + TCI). */
const VLAN_TAG_LEN = 4;
/** Ethernet header length with one tag. */
const ETH_VLAN_HLEN = 18;

/** 802.1Q customer tag TPID. */
export const TPID_8021Q = ETHERTYPE_VLAN;
/** 802.1ad service tag TPID. */
export const TPID_8021AD = ETHERTYPE_QINQ;
/** Pre-standard QinQ TPID, still seen on taps. */
export const TPID_QINQ = ETHERTYPE_QINQ_9100;

/** At most this many bytes are added to a frame by the pipeline (one inserted tag). */
export const MAX_GROWTH = VLAN_TAG_LEN;

/** What the VLAN stage did to the last frame. */
export const VlanAction = { none: 0, insert: 1, replace: 2, strip: 3 } as const;

/**
 * Copies up to this many bytes with a plain loop; longer ones with `set(subarray)`, whose short-lived
 * view object is the only allocation of the pipeline (measured: ~30 ns for any length up to 1514, versus
 * ~1 ns a byte for the loop; break-even near 24 bytes).
 */
const LOOP_COPY_MAX = 24;

function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
  if (n <= LOOP_COPY_MAX) {
    for (let i = 0; i < n; i++) dst[d + i] = src[so + i];
  } else {
    dst.set(src.subarray(so, so + n), d);
  }
}

/**
 * A compiled frame pipeline for one side. Not thread-safe: one per worker.
 *
 * Verdicts: {@linkcode decide} and {@linkcode applyRx} return the output length (≥ 0) to keep a frame,
 * or `-1 - reason` (a {@linkcode DropReason} index) to drop it; `dropReasonOf(verdict)` decodes it.
 *
 * @example Receive side: tag with VLAN 100 while copying into the ring
 * ```ts
 * import { FramePipeline } from "./pipeline.ts";
 * const p = new FramePipeline({ vlan: 100 }, "rx");
 * const frame = new Uint8Array(60);
 * frame[12] = 0x08; // IPv4
 * const slot = new Uint8Array(2048);
 * const n = p.applyRx(frame, 0, frame.length, slot, 0);
 * console.assert(n === 64 && slot[12] === 0x81 && slot[15] === 100);
 * ```
 *
 * @example Transmit side: decide, then send up to three iovecs
 * ```ts
 * import { FramePipeline } from "./pipeline.ts";
 * const p = new FramePipeline({ vlan: 7, snaplen: 128 }, "tx");
 * const frame = new Uint8Array(1514);
 * const verdict = p.decide(frame, 0, frame.length);
 * console.assert(verdict === 128 && p.insertTag && p.headLen === 12 && p.tailOff === 12);
 * // iovecs: frame[0, p.headLen), p.tag[0, p.tagLen), frame[p.tailOff, p.tailOff + p.tailLen)
 * ```
 */
export class FramePipeline {
  /** The side this pipeline was built for. */
  readonly side: OpsSide;
  /** A frozen copy of the configuration. */
  readonly config: Readonly<OpsConfig>;
  /** The 4 tag bytes `0x81 0x00 TCI` inserted by `-V` (all zero when no `-V`). Never changes. */
  readonly tagBytes: Uint8Array;
  /** True when no operation is configured: every frame is kept unchanged. */
  readonly passthrough: boolean;

  // ---- results of the last decide()/applyRx(), valid until the next call ----
  /** Length of the input frame. */
  origLen = 0;
  /** Output length (after VLAN work, trim and snaplen); 0 after a drop. */
  outLen = 0;
  /** Drop reason index, or -1 when kept. */
  reason: number = -1;
  /** {@linkcode VlanAction} applied to the kept frame. */
  vlanAction: number = 0;
  /** True when the output contains (part of) a tag segment: on tx, send `tag` as a separate iovec. */
  insertTag = false;
  /**
   * The 4 bytes of the tag segment: `tagBytes`, or after {@linkcode decideVlan} possibly an internal
   * buffer holding the out-of-band tag (overwritten by the next call).
   */
  tag: Uint8Array;
  /** Bytes taken from the start of the frame. */
  headLen = 0;
  /** Bytes of `tag` following the head (0..4). */
  tagLen = 0;
  /** Offset in the frame where the tail segment starts. */
  tailOff = 0;
  /** Bytes of the tail segment. */
  tailLen = 0;

  readonly #rx: boolean;
  readonly #needHeader: boolean;
  readonly #filter: number; // -1: none
  readonly #bpf: BpfFilter | null;
  /** The duplicate filter (`--dedup`), or null. */
  readonly dedup: Dedup | null;
  /** Where an out-of-band tag is put back for the BPF program (grown on demand). */
  #scratch = new Uint8Array(0);
  readonly #tag: boolean;
  readonly #strip: boolean;
  readonly #sampleMode: number; // 0 keep all, 1 drop all, 2 draw
  readonly #threshold: number; // keep when draw < threshold (draw in 0..2^32-1)
  readonly #trim: number;
  readonly #snap: number; // 0: none
  #rng: number;
  readonly #metaTag = new Uint8Array(VLAN_TAG_LEN);

  /**
   * Builds the pipeline. Throws (at configuration time only) when {@linkcode validateOps} rejects `cfg`.
   */
  constructor(cfg: OpsConfig, side: OpsSide) {
    const err = validateOps(cfg, side);
    if (err !== null) throw err;
    this.side = side;
    this.config = Object.freeze({ ...cfg });
    this.#rx = side === "rx";
    this.#filter = cfg.filterVlan ?? -1;
    this.#bpf = cfg.filter ? compileBpf(cfg.filter.program) : null;
    this.dedup = cfg.dedupMs
      ? new Dedup({ windowMs: cfg.dedupMs, rate: DEDUP_DEFAULT_RATE, ignoreMacs: "ip", seed: cfg.seed })
      : null;
    this.#tag = cfg.vlan !== undefined;
    this.#strip = cfg.stripVlan === true;
    this.#needHeader = this.#filter >= 0 || this.#tag || this.#strip;
    const p = cfg.keepPercent ?? 100;
    this.#sampleMode = p >= 100 ? 0 : p <= 0 ? 1 : 2;
    this.#threshold = Math.floor(p * 42949672.96); // p/100 * 2^32
    this.#trim = cfg.trimTail ?? 0;
    this.#snap = cfg.snaplen ?? 0;
    const seed = cfg.seed ?? Math.floor(Math.random() * 0x100000000);
    this.#rng = (Math.floor(seed) | 0) || 0x2545f491; // xorshift32 state must not be 0
    this.tagBytes = new Uint8Array(VLAN_TAG_LEN);
    if (this.#tag) {
      const vid = cfg.vlan! & 0x0fff;
      this.tagBytes[0] = TPID_8021Q >> 8;
      this.tagBytes[1] = TPID_8021Q & 0xff;
      this.tagBytes[2] = vid >> 8;
      this.tagBytes[3] = vid & 0xff;
    }
    this.tag = this.tagBytes;
    this.passthrough = !this.#needHeader && this.#sampleMode === 0 && this.#trim === 0 && this.#snap === 0 &&
      this.#bpf === null && this.dedup === null;
  }

  #drop(reason: number): number {
    this.reason = reason;
    this.outLen = 0;
    this.vlanAction = 0;
    this.insertTag = false;
    this.headLen = 0;
    this.tagLen = 0;
    this.tailOff = 0;
    this.tailLen = 0;
    return -1 - reason;
  }

  /**
   * Runs the pipeline over `buf[off, off + len)` without writing anything; fills the result fields.
   * Consumes one PRNG draw when sampling is between 0 and 100 %. `wire` is the frame's length on the
   * wire (for the BPF filter's `len`, `greater`, `less`; default `len`); `sec`, `nsec` its time stamp
   * (for `--dedup`; default 0).
   *
   * @returns the output length (≥ 0) when kept, else `-1 - reason`.
   */
  decide(buf: Uint8Array, off: number, len: number, wire = len, sec = 0, nsec = 0): number {
    return this.#decide(buf, off, len, 0, 0, wire, sec, nsec);
  }

  /**
   * Like {@linkcode decide}, for a frame whose outer VLAN tag the kernel moved out of band (AF_PACKET
   * `tp_vlan_tpid`/`tp_vlan_tci` with `TP_STATUS_VLAN_VALID`): the pipeline works on the frame *as it
   * was on the wire*, i.e. with `tpid, tci` at byte 12. Without an `-V`/`-Q` the tag is written back
   * (a tag segment from {@linkcode tag}); `-Q` simply leaves it out, `-V` replaces it. `tpid` 0 means
   * "no out-of-band tag" (same as `decide`). `origLen` reports the wire length (`len + 4`). With `-V` the out-of-band tag is replaced on either side (meant for rx).
   * `wire` is the length the kernel reported, without the out-of-band tag (default `len`); the BPF
   * filter sees it 4 bytes longer, as on the wire.
   */
  decideVlan(
    buf: Uint8Array,
    off: number,
    len: number,
    tpid: number,
    tci: number,
    wire = len,
    sec = 0,
    nsec = 0,
  ): number {
    return this.#decide(buf, off, len, tpid & 0xffff, tci & 0xffff, wire, sec, nsec);
  }

  #decide(
    buf: Uint8Array,
    off: number,
    len: number,
    mTpid: number,
    mTci: number,
    wire: number,
    sec: number,
    nsec: number,
  ): number {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length) || (off | 0) !== off || (len | 0) !== len) {
      this.origLen = 0;
      return this.#drop(DropReason.malformed);
    }
    if (mTpid !== 0) return this.#decideMeta(buf, off, len, mTpid, mTci, wire, sec, nsec);
    this.origLen = len;
    this.tag = this.tagBytes;

    // Outer tag, if any (read for the trim floor even without header operations).
    let tagged = false;
    let vid = -1;
    if (len >= ETH_HLEN) {
      if (isVlanTpid((buf[off + MACS_LEN] << 8) | buf[off + MACS_LEN + 1])) {
        // The VID needs the TCI only (a 16-byte tagged frame matches `vlan n`, as in tcpdump); changing
        // the tag needs the whole tagged header.
        if (len >= ETH_HLEN + 2) vid = ((buf[off + 14] & 0x0f) << 8) | buf[off + 15];
        if (len >= ETH_VLAN_HLEN) tagged = true;
        else if (this.#tag || this.#strip) return this.#drop(DropReason.malformed);
      }
    } else if (this.#needHeader) {
      return this.#drop(DropReason.malformed);
    }

    // 1. filter
    if (this.#filter >= 0 && vid !== this.#filter) return this.#drop(DropReason.filtered);
    if (this.#bpf !== null && this.#bpf(buf, off, len, wire) === 0) return this.#drop(DropReason.filtered);

    // 1b. duplicates
    if (this.dedup !== null && this.dedup.isDuplicate(buf, off, len, sec, nsec)) {
      return this.#drop(DropReason.duplicate);
    }

    // 2. sample
    if (this.#sampleMode !== 0 && !this.#sample()) return this.#drop(DropReason.sampled);

    // 3. VLAN: describe the output as head ++ tag ++ tail.
    let head: number;
    let tagLen = 0;
    let tailOff: number;
    let floor: number; // header length of the output frame (trim never cuts into it)
    let action: number = VlanAction.none;
    if (this.#tag) {
      head = MACS_LEN;
      tagLen = VLAN_TAG_LEN;
      if (this.#rx && tagged) {
        action = VlanAction.replace;
        tailOff = MACS_LEN + VLAN_TAG_LEN;
      } else {
        action = VlanAction.insert;
        tailOff = MACS_LEN;
      }
      floor = ETH_VLAN_HLEN;
    } else if (this.#strip && tagged) {
      action = VlanAction.strip;
      head = MACS_LEN;
      tailOff = MACS_LEN + VLAN_TAG_LEN;
      floor = len - VLAN_TAG_LEN >= ETH_VLAN_HLEN && isVlanTpid((buf[off + 16] << 8) | buf[off + 17])
        ? ETH_VLAN_HLEN
        : ETH_HLEN;
    } else {
      head = len;
      tailOff = len;
      floor = tagged ? ETH_VLAN_HLEN : ETH_HLEN;
    }
    return this.#finish(head, tagLen, tailOff, len - tailOff, floor, action);
  }

  /** One sampling draw: true keeps. */
  #sample(): boolean {
    if (this.#sampleMode === 1) return false;
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x;
    return (x >>> 0) < this.#threshold;
  }

  /** `#decide` for a frame with an out-of-band outer tag `mTpid, mTci` (logically at byte 12). */
  #decideMeta(
    buf: Uint8Array,
    off: number,
    len: number,
    mTpid: number,
    mTci: number,
    wire: number,
    sec: number,
    nsec: number,
  ): number {
    this.origLen = len + VLAN_TAG_LEN;
    // The logical frame needs its MACs; a header operation needs the inner EtherType too.
    if (len < MACS_LEN || (len < ETH_HLEN && this.#needHeader)) return this.#drop(DropReason.malformed);
    // 1. filter (on the out-of-band tag: it is the outer one)
    if (this.#filter >= 0 && (mTci & 0x0fff) !== this.#filter) return this.#drop(DropReason.filtered);
    if (this.#bpf !== null) {
      // The program reads the frame as it was on the wire: rebuild it with the tag at byte 12.
      const n = len + VLAN_TAG_LEN;
      if (this.#scratch.length < n) this.#scratch = new Uint8Array(Math.max(n, 2048));
      const w = this.#scratch;
      copyBytes(buf, off, w, 0, MACS_LEN);
      w[12] = mTpid >> 8;
      w[13] = mTpid & 0xff;
      w[14] = mTci >> 8;
      w[15] = mTci & 0xff;
      copyBytes(buf, off + MACS_LEN, w, MACS_LEN + VLAN_TAG_LEN, len - MACS_LEN);
      if (this.#bpf(w, 0, n, wire + VLAN_TAG_LEN) === 0) return this.#drop(DropReason.filtered);
    }
    // 1b. duplicates (tags do not count: the frame without its outer tag is the same frame)
    if (this.dedup !== null && this.dedup.isDuplicate(buf, off, len, sec, nsec)) {
      return this.#drop(DropReason.duplicate);
    }
    // 2. sample
    if (this.#sampleMode !== 0 && !this.#sample()) return this.#drop(DropReason.sampled);
    // 3. VLAN
    if (this.#strip) {
      // the frame in buf is already the stripped frame
      this.tag = this.tagBytes;
      const floor = len >= ETH_VLAN_HLEN && isVlanTpid((buf[off + MACS_LEN] << 8) | buf[off + MACS_LEN + 1])
        ? ETH_VLAN_HLEN
        : ETH_HLEN;
      return this.#finish(len, 0, len, 0, floor, VlanAction.strip);
    }
    if (this.#tag) {
      // replace, on either side: the 3-segment output cannot hold two tags
      this.tag = this.tagBytes;
      return this.#finish(
        MACS_LEN,
        VLAN_TAG_LEN,
        MACS_LEN,
        len - MACS_LEN,
        ETH_VLAN_HLEN,
        VlanAction.replace,
      );
    }
    const m = this.#metaTag;
    m[0] = mTpid >> 8;
    m[1] = mTpid & 0xff;
    m[2] = mTci >> 8;
    m[3] = mTci & 0xff;
    this.tag = m;
    const floor = len >= ETH_HLEN ? ETH_VLAN_HLEN : ETH_HLEN;
    return this.#finish(MACS_LEN, VLAN_TAG_LEN, MACS_LEN, len - MACS_LEN, floor, VlanAction.none);
  }

  /** Snaplen, trim, and the result fields. */
  #finish(
    head: number,
    tagLen: number,
    tailOff: number,
    tailAvail: number,
    floor: number,
    action: number,
  ): number {
    let out = head + tagLen + tailAvail;

    // 4. snaplen
    if (this.#snap > 0 && out > this.#snap) out = this.#snap;
    // 5. trim (a frame no longer than the trim is left whole, as 3.2 did)
    if (this.#trim > 0 && out > this.#trim) {
      const cur = out;
      out = cur - this.#trim;
      const min = cur < floor ? cur : floor;
      if (out < min) out = min;
    }

    // Distribute the output length over the segments.
    const h = out < head ? out : head;
    let rest = out - h;
    const t = rest < tagLen ? rest : tagLen;
    rest -= t;

    this.reason = -1;
    this.outLen = out;
    this.vlanAction = action;
    this.headLen = h;
    this.tagLen = t;
    this.insertTag = t > 0;
    this.tailOff = tailOff;
    this.tailLen = rest;
    return out;
  }

  /**
   * Original (wire) length of the frame last kept, given the input's: the VLAN stage's growth applied
   * (a tag inserted adds 4, a tag stripped takes 4), never below the output length. For an out-of-band
   * tag, pass the wire length with the tag (the kernel's length + 4).
   */
  wireLen(wire: number): number {
    const a = this.vlanAction;
    const w = a === VlanAction.insert
      ? wire + VLAN_TAG_LEN
      : a === VlanAction.strip
      ? wire - VLAN_TAG_LEN
      : wire;
    return w > this.outLen ? w : this.outLen;
  }

  /**
   * Writes the frame last kept by {@linkcode decide} from `src` (the same bytes, at `srcOff`) into
   * `dst` at `dstOff`. The caller guarantees room for `outLen` bytes; `src` and `dst` must not overlap.
   *
   * @returns `outLen`.
   */
  emit(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): number {
    let d = dstOff;
    copyBytes(src, srcOff, dst, d, this.headLen);
    d += this.headLen;
    const t = this.tagLen;
    if (t > 0) {
      const tag = this.tag;
      for (let i = 0; i < t; i++) dst[d + i] = tag[i];
      d += t;
    }
    copyBytes(src, srcOff + this.tailOff, dst, d, this.tailLen);
    return this.outLen;
  }

  /**
   * Receive side in one call: decides and, when kept, writes the transformed frame (tag inserted,
   * replaced or stripped, trimmed, truncated) from `src[srcOff, srcOff + srcLen)` into `dst` at
   * `dstOff`. When `dst` has no room for the output, nothing is written and the frame is dropped as
   * `oversize`. `src` and `dst` must not overlap.
   *
   * @returns bytes written (≥ 0), or `-1 - reason` for a drop.
   */
  applyRx(
    src: Uint8Array,
    srcOff: number,
    srcLen: number,
    dst: Uint8Array,
    dstOff: number,
    wire = srcLen,
    sec = 0,
    nsec = 0,
  ): number {
    const v = this.#decide(src, srcOff, srcLen, 0, 0, wire, sec, nsec);
    if (v < 0) return v;
    if (!(dstOff >= 0 && dstOff + v <= dst.length)) return this.#drop(DropReason.oversize);
    return this.emit(src, srcOff, dst, dstOff);
  }

  /**
   * {@linkcode applyRx} for a frame whose outer tag is out of band (see {@linkcode decideVlan}); the
   * written frame has the tag back in band unless `-Q`/`-V` said otherwise. `tpid` 0: no tag. `wire`:
   * the kernel's length, without the out-of-band tag.
   */
  applyRxVlan(
    src: Uint8Array,
    srcOff: number,
    srcLen: number,
    tpid: number,
    tci: number,
    dst: Uint8Array,
    dstOff: number,
    wire = srcLen,
    sec = 0,
    nsec = 0,
  ): number {
    const v = this.#decide(src, srcOff, srcLen, tpid & 0xffff, tci & 0xffff, wire, sec, nsec);
    if (v < 0) return v;
    if (!(dstOff >= 0 && dstOff + v <= dst.length)) return this.#drop(DropReason.oversize);
    return this.emit(src, srcOff, dst, dstOff);
  }
}
