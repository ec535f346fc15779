/**
 * Classic pcap files for injection (`tcpreplay`) and assertions (`tcpdump -w`), built on the one pcap
 * codec, `lib/codec/pcap.ts`: these functions only adapt it to the lab's needs (whole files in memory,
 * throwing errors, synthetic timestamps, and a `partial` read of a file tcpdump is still writing).
 *
 * @module
 */
import {
  CaptureReader,
  type CodecError,
  emitPcapHeader,
  emitPcapRecordHeader,
  isError,
  LINKTYPE_ETHERNET,
  PCAP_DEFAULT_SNAPLEN,
  PCAP_GLOBAL_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
} from "../codec/mod.ts";

/** One pcap record. */
export interface PcapRecord {
  /** Seconds of the timestamp. */
  sec: number;
  /** Sub-second part in nanoseconds (converted from microseconds for µs files). */
  nsec: number;
  /** Length on the wire. */
  origLen: number;
  /** Captured bytes. */
  data: Uint8Array;
}

function must(r: number | CodecError): number {
  if (isError(r)) throw new Error(`Cannot write pcap: ${r.reason}`);
  return r;
}

/**
 * Writes frames as a classic pcap file (microsecond magic, little-endian, LINKTYPE_ETHERNET),
 * timestamps 1 µs apart.
 */
export function writePcap(
  frames: Uint8Array[],
  opts: { linktype?: number; snaplen?: number } = {},
): Uint8Array {
  const total = PCAP_GLOBAL_HEADER_LENGTH +
    frames.reduce((n, f) => n + PCAP_RECORD_HEADER_LENGTH + f.length, 0);
  const out = new Uint8Array(total);
  let o = must(emitPcapHeader(out, 0, {
    nanosecond: false,
    linkType: opts.linktype ?? LINKTYPE_ETHERNET,
    snaplen: opts.snaplen ?? PCAP_DEFAULT_SNAPLEN,
  }));
  frames.forEach((f, i) => {
    const ts = { tsSec: 1_700_000_000 + Math.floor(i / 1e6), tsNsec: (i % 1e6) * 1000 };
    o += must(emitPcapRecordHeader(out, o, { ...ts, caplen: f.length, nanosecond: false }));
    out.set(f, o);
    o += f.length;
  });
  return out;
}

/**
 * Reads a pcap file (µs or ns magic, either byte order; pcapng too) with the codec's
 * {@linkcode CaptureReader}. Throws `Cannot read pcap: <reason>` on a bad magic, a truncated header or
 * record, or a record longer than the snap length (at least 256 KiB). With `partial`, a truncated end
 * (a file still being written) ends the list instead of throwing.
 */
export function readPcap(bytes: Uint8Array, opts: { partial?: boolean } = {}): {
  linktype: number;
  records: PcapRecord[];
} {
  const reader = new CaptureReader();
  reader.push(bytes);
  const records: PcapRecord[] = [];
  for (let r = reader.next(); r !== undefined; r = reader.next()) {
    if (isError(r)) throw new Error(`Cannot read pcap: ${r.reason}`);
    records.push({
      sec: r.tsSec,
      nsec: r.tsNsec,
      origLen: r.origLen,
      data: r.buffer.slice(r.dataOffset, r.dataOffset + r.caplen),
    });
  }
  const end = opts.partial ? undefined : reader.end();
  if (end !== undefined) throw new Error(`Cannot read pcap: ${end.reason}`);
  return { linktype: reader.linkType ?? 0, records };
}

/** The captured bytes of every record of a pcap file; see {@linkcode readPcap}. */
export function readPcapFrames(bytes: Uint8Array): Uint8Array[] {
  return readPcap(bytes).records.map((r) => r.data);
}
