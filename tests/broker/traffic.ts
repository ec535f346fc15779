/**
 * Flow traffic for the output-group tests: N flows of TCP, UDP and ICMP over IPv4 and IPv6 (some
 * 802.1Q or QinQ tagged), one frame each way per phase, fragmented datagrams, and non-IP frames
 * between MAC pairs. Every frame is unique (phase, direction and flow are in its payload or IP id), so
 * a captured frame tells which flow, direction and phase it belongs to.
 * @module
 */
import { ether, fill, icmpEcho, ip6frag, ipv4, ipv6, type Tag, TCP, tcp, udp } from "../ops/corpus.ts";

/** One frame of the traffic and what it belongs to. */
export interface FlowFrame {
  bytes: Uint8Array;
  /** Flow number (non-IP MAC pairs: 1,000,000 + pair). */
  flow: number;
  /** 0 client → server, 1 server → client. */
  dir: number;
  phase: number;
  /** For a fragment: the id of its packet ("v4:flow" / "v6:flow"), else "". */
  packet: string;
  /** The host pair (for `--balance addresses`). */
  hosts: string;
}

function hexMac(prefix: number, n: number): string {
  const b = [0x02, prefix, (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function marker(phase: number, dir: number, f: number, n = 24): Uint8Array {
  const m = fill(n, f + 1);
  m[0] = phase, m[1] = dir, m[2] = (f >> 16) & 255, m[3] = (f >> 8) & 255, m[4] = f & 255;
  return m;
}

/** The frames of `flows` flows for `phase` (fragments and non-IP pairs when `extras`). */
export function flowTraffic(flows: number, phase: number, extras: boolean): FlowFrame[] {
  const out: FlowFrame[] = [];
  for (let f = 0; f < flows; f++) {
    const kind = f % 5;
    const tags: Tag[] = f % 13 === 0
      ? [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 200 }]
      : f % 9 === 0
      ? [{ tpid: 0x8100, vid: 100 }]
      : [];
    const cmac = hexMac(0xc0, f);
    const smac = hexMac(0x5e, f % 7);
    const v6 = kind === 2 || kind === 3;
    const c = v6 ? `2001:db8:1::${f.toString(16)}` : `198.18.${(f >> 8) & 255}.${f & 255}`;
    const s = v6 ? `2001:db8:2::${1 + (f % 7)}` : `198.19.0.${1 + (f % 7)}`;
    const cport = 1024 + ((f * 7) % 60000);
    const sport = [80, 443, 53, 8080][f % 4];
    const hosts = `${c}|${s}`;
    for (const dir of [0, 1]) {
      const [src, dst, ps, pd, ms, md] = dir === 0
        ? [c, s, cport, sport, cmac, smac]
        : [s, c, sport, cport, smac, cmac];
      const pay = marker(phase, dir, f);
      let l3: Uint8Array;
      if (kind === 0 || kind === 2 || kind === 1 || kind === 3) {
        const l4 = kind === 0 || kind === 2
          ? tcp({ sport: ps, dport: pd, seq: phase * 1000 + dir, flags: TCP.ACK, payload: pay })
          : udp(ps, pd, pay);
        const proto = kind === 0 || kind === 2 ? 6 : 17;
        l3 = v6
          ? ipv6({ src, dst, nh: proto, payload: l4 })
          : ipv4({ src, dst, proto, id: (phase << 8) | dir, payload: l4 });
      } else {
        l3 = ipv4({
          src,
          dst,
          proto: 1,
          id: (phase << 8) | dir,
          payload: icmpEcho(dir === 0 ? 8 : 0, f & 0xffff, phase, pay),
        });
      }
      out.push({
        bytes: ether({ src: ms, dst: md, tags, type: v6 ? 0x86dd : 0x0800, payload: l3 }),
        flow: f,
        dir,
        phase,
        packet: "",
        hosts,
      });
    }
    if (!extras) continue;
    if (kind === 1 && f % 25 === 1) {
      // a 600-byte UDP datagram client → server in three IPv4 fragments
      const dgram = udp(cport, sport, marker(phase, 0, f, 592));
      const pieces: [number, number, boolean][] = [[0, 208, true], [208, 416, true], [416, 600, false]];
      for (const [a, b, mf] of pieces) {
        const l3 = ipv4({
          src: c,
          dst: s,
          proto: 17,
          id: 0x4000 + f,
          mf,
          frag: a / 8,
          payload: dgram.subarray(a, b),
        });
        out.push({
          bytes: ether({ src: cmac, dst: smac, tags, type: 0x0800, payload: l3 }),
          flow: f,
          dir: 0,
          phase,
          packet: `v4:${f}`,
          hosts,
        });
      }
    }
    if (kind === 3 && f % 25 === 3) {
      // a UDP datagram server → client in two IPv6 fragments
      const dgram = udp(sport, cport, marker(phase, 1, f, 392));
      for (const [a, b, more] of [[0, 200, true], [200, 400, false]] as [number, number, boolean][]) {
        const l3 = ipv6({
          src: s,
          dst: c,
          nh: 44,
          payload: ip6frag(17, a / 8, more, 0x5000 + f, dgram.subarray(a, b)),
        });
        out.push({
          bytes: ether({ src: smac, dst: cmac, tags, type: 0x86dd, payload: l3 }),
          flow: f,
          dir: 1,
          phase,
          packet: `v6:${f}`,
          hosts,
        });
      }
    }
  }
  if (extras) {
    // Non-IP frames (local experimental EtherType) both ways between 100 MAC pairs.
    for (let k = 0; k < 100; k++) {
      const a = hexMac(0xaa, k), b = hexMac(0xbb, k);
      for (const dir of [0, 1]) {
        out.push({
          bytes: ether({
            src: dir ? b : a,
            dst: dir ? a : b,
            type: 0x88b5,
            payload: marker(phase, dir, k, 46),
          }),
          flow: 1_000_000 + k,
          dir,
          phase,
          packet: "",
          hosts: `${a}|${b}`,
        });
      }
    }
  }
  return out;
}

/** Hex of a frame (the key that finds a captured frame's origin). */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
