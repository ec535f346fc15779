/**
 * The help text of `fluxcap -h`.
 * @module
 */

/** The usage text, in the spirit of fluxcap 3.2's. */
export const USAGE = `fluxcap: a network tap replication and aggregation tool

usage: fluxcap -cr|-rx|-tx|-io [options] <ring> ...

 create rings:    -cr -s <size> <ring> ...      (<size> may have k/m/g/t suffix)
 receive:         -rx -i <eth> <ring>           (capture from a NIC into a ring)
 transmit:        -tx -i <eth> <ring>           (send a ring out of a NIC)
 watch:           -io <ring> ...                (rates and drops, live)
 demo:            demo                          (a lab of network namespaces)

encapsulation:
    -tx -E gretap:<host> <ring>    (GRETAP: keeps the MACs; preferred)
    -tx -E gre:<host>    <ring>    (GRE: the Ethernet header is dropped)
    -tx -E vxlan:<host>  <ring>    (VXLAN to UDP 4789; --vxlan-port to change)
    -rx -E gretap[:<local-ip>] [-i <eth>] <ring>
    -rx -E gre|vxlan[:<local-ip>[:<port>]]|erspan <ring>
    -K <key>         GRE key or VXLAN VNI / ERSPAN session (integer or dotted quad) [rx/tx]
    --fragment       allow IP fragmentation of VXLAN packets [tx]

packet broker:
    -f '<expr>'      keep only frames a tcpdump filter expression matches (libpcap) [rx/tx]
                     (-f 'vlan <n>' alone: only frames whose outer tag is VLAN n, no libpcap)
    --dedup <ms>     drop a frame identical to one seen in the last ms (1..1000), ignoring
                     VLAN tags, IPv4 TTL and checksum, IPv6 hop limit, MACs of IP frames [rx/tx]
    -tx -i <eth>,<eth>,... <ring>        output group: each flow to one member
    -tx -E gretap:<host>,<host> <ring>   (both directions together; failover)
    --balance flows|addresses  what a group hashes IP frames on (default flows) [tx]

capture files:
    -tx -w <path>    write the ring to pcap (- for stdout; -G <sec>, -C <MB> rotate)
                     (a name ending in .pcapng, or --format pcapng, writes pcapng)
    -W <n>           with -G/-C: keep the n newest files, delete older ones
    --max-disk <size>   with -G/-C: delete the oldest files to stay under size (k/m/g/t)
    -z <cmd>         run cmd FILE after each file is complete (no shell), e.g. -z gzip
    --file-mode <mode>  mode of created files (octal, default 0600)
    -rx --read <file> [--pace] [--loop <n>]   replay pcap/pcapng into the ring

other options:
    -V <vlan>        tag with VLAN (rx: insert or replace; tx: insert) 1..4094 [rx/tx]
    -Q               strip the VLAN tag [rx]
    -d <percent>     keep about that percent of frames, at random (0..100) [rx/tx]
    -s <length>      truncate frames to length (snaplen) [rx/tx]
    -D <n>           trim n bytes from the end of each frame [rx/tx]
    -q               bypass the qdisc layer [tx]
    -R               use PACKET_TX_RING instead of sendmmsg [tx]
    -k               keep an existing valid ring [cr]
    -v               verbose
    --from-oldest    start reading at the oldest frame, not the live edge [tx]
    --json           JSON lines instead of the terminal view [io]
    --once           one snapshot, then exit [io]
    --metrics [addr:]port   Prometheus /metrics [rx/tx/io]
    -h               this help

 kernel ring buffer options [rx]
    -Z <frame-size>  (max frame size, e.g. 2048)
    -B <num-blocks>  (number of blocks comprising ring, e.g. 64)
    -S <block-size>  (block size, log2; e.g. 22 = 4mb)
`;
