import { deepEqual, equal, ok } from "node:assert/strict";
import { formatMac, fromHex, toHex } from "../../lib/codec/bytes.ts";
import { CodecError, isError } from "../../lib/codec/error.ts";
import {
  emitEthernet,
  emitVlanTag,
  type EthernetInfo,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  insertVlanTag,
  MAX_VLAN_TAGS,
  newEthernetInfo,
  outerVlanId,
  parseEthernet,
  popVlanTag,
  pushVlanTag,
  setEtherType,
  setOuterVlanId,
  stripVlanTag,
} from "../../lib/codec/ethernet.ts";
import { ethArp, ethDot1q, ethPlain, ethQinq } from "./fixtures.ts";
import { assertOffset, assertWithin, fuzz } from "./fuzz.ts";

const M1 = fromHex("00:11:22:33:44:55");
const M2 = fromHex("66:77:88:99:aa:bb");

function parsed(buf: Uint8Array): EthernetInfo {
  const r = parseEthernet(buf, 0, buf.length);
  if (isError(r)) throw new Error(r.reason);
  return r;
}

Deno.test("ethernet: deconstruct scapy frames (untagged, 802.1Q, QinQ, ARP)", () => {
  const plain = parsed(ethPlain);
  equal(formatMac(ethPlain, plain.dstOffset), "00:11:22:33:44:55");
  equal(formatMac(ethPlain, plain.srcOffset), "66:77:88:99:aa:bb");
  equal(plain.tagCount, 0);
  equal(plain.etherType, ETHERTYPE_IPV4);
  equal(plain.payloadOffset, 14);
  equal(plain.payloadLength, ethPlain.length - 14);

  // tshark: 802.1Q Virtual LAN, PRI: 5, DEI: 1 (scapy "id=1" is the DEI bit), ID: 100
  const q = parsed(ethDot1q);
  equal(q.tagCount, 1);
  deepEqual(q.tags, [{ tpid: ETHERTYPE_VLAN, pcp: 5, dei: true, vid: 100 }]);
  equal(q.etherType, ETHERTYPE_IPV4);
  equal(q.etherTypeOffset, 16);
  equal(q.payloadOffset, 18);

  // tshark: 802.1ad PRI 3 ID 200, then 802.1Q ID 4094, then IPv6
  const qq = parsed(ethQinq);
  equal(qq.tagCount, 2);
  deepEqual(qq.tags, [
    { tpid: ETHERTYPE_QINQ, pcp: 3, dei: false, vid: 200 },
    { tpid: ETHERTYPE_VLAN, pcp: 0, dei: false, vid: 4094 },
  ]);
  equal(qq.etherType, ETHERTYPE_IPV6);
  equal(qq.payloadOffset, 22);
  equal(outerVlanId(ethQinq, 0, ethQinq.length), 200);

  const arp = parsed(ethArp);
  equal(arp.etherType, ETHERTYPE_ARP);
  equal(outerVlanId(ethArp, 0, ethArp.length), -1);
});

Deno.test("ethernet: construct the scapy headers byte for byte", () => {
  const b = new Uint8Array(22);
  equal(emitEthernet(b, 0, { dst: M1, src: M2, etherType: ETHERTYPE_IPV4 }), 14);
  equal(toHex(b, 0, 14), toHex(ethPlain, 0, 14));
  equal(
    emitEthernet(b, 0, {
      dst: M1,
      src: M2,
      tags: [{ vid: 100, pcp: 5, dei: true }],
      etherType: ETHERTYPE_IPV4,
    }),
    18,
  );
  equal(toHex(b, 0, 18), toHex(ethDot1q, 0, 18));
  const n = emitEthernet(b, 0, {
    dst: M1,
    src: M2,
    tags: [{ tpid: ETHERTYPE_QINQ, vid: 200, pcp: 3 }, { vid: 4094 }],
    etherType: ETHERTYPE_IPV6,
  });
  equal(n, 22);
  equal(toHex(b), toHex(ethQinq, 0, 22));
});

Deno.test("ethernet: parse at an offset, reuse `into`, and reject what is not a frame", () => {
  const buf = new Uint8Array(ethQinq.length + 10);
  buf.set(ethQinq, 7);
  const into = newEthernetInfo();
  const r = parseEthernet(buf, 7, ethQinq.length, into);
  equal(r, into);
  equal(into.dstOffset, 7);
  equal(into.payloadOffset, 29);
  equal(into.tagCount, 2);
  const again = parseEthernet(ethPlain, 0, ethPlain.length, into);
  equal(again, into);
  equal(into.tagCount, 0);

  ok(isError(parseEthernet(ethPlain, 0, 13)));
  ok(isError(parseEthernet(ethPlain, 40, 20)));
  ok(isError(parseEthernet(ethPlain, -1, 14)));
  ok(isError(parseEthernet(ethDot1q, 0, 17)), "tag without inner EtherType");
  const deep = new Uint8Array(14 + 4 * (MAX_VLAN_TAGS + 1) + 2);
  for (let i = 0; i <= MAX_VLAN_TAGS; i++) deep.set([0x81, 0x00, 0, 1], 12 + 4 * i);
  const e = parseEthernet(deep, 0, deep.length);
  ok(e instanceof CodecError);
  ok(/Too many VLAN tags/.test(e.reason));
  // Unknown EtherTypes stay numbers.
  const odd = ethPlain.slice();
  odd.set([0x12, 0x34], 12);
  equal(parsed(odd).etherType, 0x1234);
});

Deno.test("ethernet: emit and tag helpers check ranges and rewrite in place", () => {
  const b = new Uint8Array(14);
  ok(isError(emitEthernet(b, 0, { dst: M1, src: M2, tags: [{ vid: 4096 }], etherType: 0x800 })));
  ok(isError(emitEthernet(b, 0, { dst: M1, src: M2, tags: [{ vid: 1 }], etherType: 0x800 })), "no room");
  ok(isError(emitEthernet(b, 0, { dst: M1, src: M2, etherType: 0x10000 })));
  ok(isError(emitVlanTag(new Uint8Array(4), 0, { vid: 1, pcp: 8 })));
  const t = new Uint8Array(4);
  equal(emitVlanTag(t, 0, { tpid: ETHERTYPE_QINQ, vid: 200, pcp: 3 }), 4);
  equal(toHex(t), "88a860c8");

  // insert (shift right) turns the untagged frame into the tagged one
  const grow = new Uint8Array(ethPlain.length + 4);
  grow.set(ethPlain);
  equal(insertVlanTag(grow, 0, ethPlain.length, { vid: 100, pcp: 5, dei: true }), ethPlain.length + 4);
  equal(toHex(grow, 0, 18), toHex(ethDot1q, 0, 18));
  ok(isError(insertVlanTag(ethPlain.slice(), 0, ethPlain.length, { vid: 1 })), "no tail room");

  // push (headroom) does the same moving only the MACs
  const head = new Uint8Array(ethPlain.length + 4);
  head.set(ethPlain, 4);
  equal(pushVlanTag(head, 4, ethPlain.length, { vid: 100, pcp: 5, dei: true }), 0);
  equal(toHex(head, 0, 18), toHex(ethDot1q, 0, 18));
  equal(toHex(head, 18), toHex(ethPlain, 14));
  ok(isError(pushVlanTag(head, 3, 14, { vid: 1 })));

  // strip and pop undo them
  const s = ethDot1q.slice();
  equal(stripVlanTag(s, 0, s.length), s.length - 4);
  equal(toHex(s, 0, 14), toHex(ethPlain, 0, 14));
  const p = ethDot1q.slice();
  equal(popVlanTag(p, 0, p.length), 4);
  equal(toHex(p, 4, 14), toHex(ethPlain, 0, 14));
  ok(isError(stripVlanTag(ethPlain.slice(), 0, ethPlain.length)), "untagged");
  ok(isError(popVlanTag(ethDot1q.slice(), 0, 17)));

  const v = ethDot1q.slice();
  equal(setOuterVlanId(v, 0, v.length, 7), 0);
  equal(toHex(v, 14, 2), "b007"); // PCP 5 and DEI kept
  ok(isError(setOuterVlanId(v, 0, v.length, 5000)));
  equal(outerVlanId(v, 0, 10), -1);
});

Deno.test("ethernet: fuzz parse and tag helpers never throw nor escape the input", () => {
  const into = newEthernetInfo();
  fuzz(0xe7e7, [ethPlain, ethDot1q, ethQinq, ethArp], (buf, off, len) => {
    const r = parseEthernet(buf, off, len, into);
    if (!isError(r)) {
      assertWithin("payload", buf.length, r.payloadOffset, r.payloadLength);
      assertWithin("dst", buf.length, r.dstOffset, 6);
      assertWithin("src", buf.length, r.srcOffset, 6);
      assertWithin("type", buf.length, r.etherTypeOffset, 2);
      ok(r.tagCount <= MAX_VLAN_TAGS);
    }
    const vid = outerVlanId(buf, off, len);
    ok(vid >= -1 && vid <= 4095);
    const copy = buf.slice();
    const s = stripVlanTag(copy, off, len);
    if (!isError(s)) assertWithin("strip", copy.length, off, s);
    const p = popVlanTag(buf.slice(), off, len);
    if (!isError(p)) assertOffset("pop", buf.length, p);
    const q = pushVlanTag(buf.slice(), off, len, { vid: 1 });
    if (!isError(q)) assertOffset("push", buf.length, q);
  });
});

Deno.test("ethernet: setEtherType patches an emitted header", () => {
  const h = ethPlain.slice(0, 14);
  setEtherType(h, 0, ETHERTYPE_IPV6);
  equal(toHex(h), "00112233445566778899aabb86dd");
  const t = new Uint8Array(16);
  equal(
    emitEthernet(t, 2, { dst: ethPlain.subarray(0, 6), src: ethPlain.subarray(6, 12), etherType: 0 }),
    14,
  );
  setEtherType(t, 2, ETHERTYPE_IPV4);
  equal(toHex(t, 2), toHex(ethPlain, 0, 14));
  equal(toHex(t, 0, 2), "0000");
});
