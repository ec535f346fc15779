#!/usr/bin/python3
"""Sends GRE, GRETAP and ERSPAN packets crafted with scapy, described as JSON on stdin:
{"dst": "198.18.1.2", "packets": [{"kind": ..., ...}, ...]} — see tests/tunnel/gre.test.ts."""
import json
import sys

from scapy.all import IP, IPv6, GRE, Raw, send, conf  # noqa: E402
from scapy.contrib.erspan import ERSPAN_I, ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific  # noqa: E402

conf.verb = 0
spec = json.load(sys.stdin)
dst = spec["dst"]
outer = (lambda: IPv6(dst=dst, nh=47)) if ":" in dst else (lambda: IP(dst=dst, proto=47))
pkts = []
for p in spec["packets"]:
    k = p["kind"]
    data = bytes.fromhex(p.get("hex", ""))
    key = p.get("key")
    if k == "gretap":
        g = GRE(proto=0x6558, key_present=1, key=key) if key is not None else GRE(proto=0x6558)
        pkts.append(outer() / g / Raw(data))
    elif k == "gre":
        g = GRE(proto=p["proto"], key_present=1, key=key) if key is not None else GRE(proto=p["proto"])
        pkts.append(outer() / g / Raw(data))
    elif k == "erspan1":
        pkts.append(outer() / GRE(proto=0x88BE) / ERSPAN_I() / Raw(data))
    elif k == "erspan2":
        pkts.append(outer() / GRE(proto=0x88BE, seqnum_present=1, sequence_number=p.get("seq", 1))
                    / ERSPAN_II(ver=1, session_id=p["session"], vlan=p.get("vlan", 0), en=3, index=77) / Raw(data))
    elif k == "erspan3":
        e = ERSPAN_III(session_id=p["session"], vlan=p.get("vlan", 0), timestamp=0x12345678, hw=5, d=1)
        if p.get("platform"):
            e.o = 1
            e = e / ERSPAN_PlatformSpecific(platf_id=3, info1=0x1234, info2=0xCAFEF00D)
        pkts.append(outer() / GRE(proto=0x22EB) / e / Raw(data))
    elif k == "raw47":
        pkts.append(outer() / Raw(data))
    else:
        raise SystemExit(f"unknown packet kind {k!r}")
send(pkts)
print(f"sent {len(pkts)}")
