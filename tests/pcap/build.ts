/**
 * A builder of capture files in every layout the tests need and fluxcap never writes: classic pcap in
 * either byte order with µs or ns magic, pcapng with several sections (each in its own byte order and
 * version), interfaces of any link type and `if_tsresol`/`if_tsoffset`, enhanced, simple and obsolete
 * packet blocks, unknown blocks and statistics. Written independently of `lib/codec` (plain DataView),
 * so the reader is checked against a second implementation and against tshark.
 * @module
 */

/** One classic pcap record. */
export interface PcapRecord {
  sec: number;
  /** Fraction of the second in the file's unit (µs or ns). */
  frac: number;
  data: Uint8Array;
  /** Default `data.length`. */
  origLen?: number;
}

/** Options of a classic pcap. */
export interface PcapFile {
  bigEndian?: boolean;
  nano?: boolean;
  linkType?: number;
  snaplen?: number;
  records: PcapRecord[];
}

/** A classic pcap file. */
export function buildPcap(f: PcapFile): Uint8Array {
  const le = !f.bigEndian;
  const total = 24 + f.records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, f.nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, f.snaplen ?? 262144, le);
  dv.setUint32(20, f.linkType ?? 1, le);
  let o = 24;
  for (const r of f.records) {
    dv.setUint32(o, r.sec, le);
    dv.setUint32(o + 4, r.frac, le);
    dv.setUint32(o + 8, r.data.length, le);
    dv.setUint32(o + 12, r.origLen ?? r.data.length, le);
    out.set(r.data, o + 16);
    o += 16 + r.data.length;
  }
  return out;
}

/** An interface description block. */
export interface NgInterface {
  linkType?: number;
  snaplen?: number;
  /** Raw `if_tsresol` byte (bit 7: power of 2); omitted: none (µs). */
  tsresol?: number;
  /** `if_tsoffset` in seconds. */
  tsoffset?: number;
  name?: string;
}

/** A block of a pcapng section. */
export type NgBlock =
  | { kind: "epb"; iface: number; ts: bigint; data: Uint8Array; origLen?: number; comment?: string }
  | { kind: "pb"; iface: number; ts: bigint; data: Uint8Array; origLen?: number }
  | { kind: "spb"; data: Uint8Array; origLen?: number }
  | { kind: "idb"; iface: NgInterface }
  | { kind: "isb"; iface: number; ts: bigint }
  | { kind: "raw"; type: number; body: Uint8Array };

/** A pcapng section. */
export interface NgSection {
  bigEndian?: boolean;
  /** [major, minor], default [1, 0]. */
  version?: [number, number];
  blocks: NgBlock[];
}

const pad4 = (n: number) => (n + 3) & ~3;

class Out {
  parts: Uint8Array[] = [];
  constructor(readonly le: boolean) {}
  block(type: number, body: Uint8Array): void {
    const len = 12 + pad4(body.length);
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, this.le);
    dv.setUint32(4, len, this.le);
    b.set(body, 8);
    dv.setUint32(len - 4, len, this.le);
    this.parts.push(b);
  }
}

function options(le: boolean, opts: [number, Uint8Array][]): Uint8Array {
  if (opts.length === 0) return new Uint8Array(0);
  const len = opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 4);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const [code, v] of opts) {
    dv.setUint16(o, code, le);
    dv.setUint16(o + 2, v.length, le);
    b.set(v, o + 4);
    o += 4 + pad4(v.length);
  }
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A pcapng file of the given sections. */
export function buildPcapng(sections: NgSection[]): Uint8Array {
  const all: Uint8Array[] = [];
  for (const s of sections) {
    const le = !s.bigEndian;
    const out = new Out(le);
    const shb = new Uint8Array(16);
    const sv = new DataView(shb.buffer);
    sv.setUint32(0, 0x1a2b3c4d, le);
    sv.setUint16(4, s.version?.[0] ?? 1, le);
    sv.setUint16(6, s.version?.[1] ?? 0, le);
    sv.setInt32(8, -1, le);
    sv.setInt32(12, -1, le);
    out.block(0x0a0d0d0a, shb);
    for (const b of s.blocks) {
      if (b.kind === "idb") {
        const opts: [number, Uint8Array][] = [];
        if (b.iface.name) opts.push([2, new TextEncoder().encode(b.iface.name)]);
        if (b.iface.tsresol !== undefined) opts.push([9, new Uint8Array([b.iface.tsresol])]);
        if (b.iface.tsoffset !== undefined) {
          const v = new Uint8Array(8);
          new DataView(v.buffer).setBigInt64(0, BigInt(b.iface.tsoffset), le);
          opts.push([14, v]);
        }
        const o = options(le, opts);
        const body = new Uint8Array(8 + o.length);
        const dv = new DataView(body.buffer);
        dv.setUint16(0, b.iface.linkType ?? 1, le);
        dv.setUint32(4, b.iface.snaplen ?? 0, le);
        body.set(o, 8);
        out.block(1, body);
      } else if (b.kind === "epb" || b.kind === "pb") {
        const opts: [number, Uint8Array][] = b.kind === "epb" && b.comment
          ? [[1, new TextEncoder().encode(b.comment)]]
          : [];
        const o = options(le, opts);
        const body = new Uint8Array(20 + pad4(b.data.length) + o.length);
        const dv = new DataView(body.buffer);
        if (b.kind === "epb") dv.setUint32(0, b.iface, le);
        else {
          dv.setUint16(0, b.iface, le);
          dv.setUint16(2, 0xffff, le); // drops count: unknown
        }
        dv.setUint32(4, Number(b.ts >> 32n), le);
        dv.setUint32(8, Number(b.ts & 0xffffffffn), le);
        dv.setUint32(12, b.data.length, le);
        dv.setUint32(16, b.origLen ?? b.data.length, le);
        body.set(b.data, 20);
        body.set(o, 20 + pad4(b.data.length));
        out.block(b.kind === "epb" ? 6 : 2, body);
      } else if (b.kind === "spb") {
        const body = new Uint8Array(4 + b.data.length);
        new DataView(body.buffer).setUint32(0, b.origLen ?? b.data.length, le);
        body.set(b.data, 4);
        out.block(3, body);
      } else if (b.kind === "isb") {
        const body = new Uint8Array(12);
        const dv = new DataView(body.buffer);
        dv.setUint32(0, b.iface, le);
        dv.setUint32(4, Number(b.ts >> 32n), le);
        dv.setUint32(8, Number(b.ts & 0xffffffffn), le);
        out.block(5, body);
      } else {
        out.block(b.type, b.body);
      }
    }
    all.push(...out.parts);
  }
  return concat(all);
}

/** Units per second of an `if_tsresol` byte (none: µs). */
export function unitsOf(tsresol: number | undefined): bigint {
  if (tsresol === undefined) return 1_000_000n;
  return tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
}

/** Seconds and nanoseconds (rounded down) of a timestamp in `units` per second, plus an offset. */
export function toSecNsec(ts: bigint, units: bigint, offset = 0): [number, number] {
  return [Number(ts / units) + offset, Number(((ts % units) * 1_000_000_000n) / units)];
}
