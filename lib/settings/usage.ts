/**
 * The help text of `fluxcap -h`: every option, with its long name.
 * @module
 */

/** The usage text, in the spirit of fluxcap 3.2's. */
export const USAGE = `fluxcap: a network tap replication and aggregation tool

usage: fluxcap -cr|-rx|-tx|-io [options] <ring> ...
       fluxcap run|check|status ...            (one service from a config file: fluxcap run -h)

 create rings:    -cr -s <size> <ring> ...      (<size> may have k/m/g/t suffix)
 receive:         -rx -i <eth> <ring>           (capture from a NIC into a ring)
 transmit:        -tx -i <eth> <ring>           (send a ring out of a NIC)
 watch:           -io <ring> ...                (rates and drops, live)
 demo:            demo                          (a lab of network namespaces)
 modes by name:   --create, --receive, --transmit, --watch

encapsulation:
    -tx -E gretap:<host> <ring>    (GRETAP: keeps the MACs; preferred)
    -tx -E gre:<host>    <ring>    (GRE: the Ethernet header is dropped)
    -tx -E vxlan:<host>  <ring>    (VXLAN to UDP 4789; --vxlan-port to change)
    -rx -E gretap[:<local-ip>] [-i <eth>] <ring>
    -rx -E gre|vxlan[:<local-ip>[:<port>]]|erspan <ring>
    -E <encap>        --encap            tunnel kind and peer or local address [rx/tx]
    -K <key>          --key              GRE key or VXLAN VNI / ERSPAN session (integer or dotted quad) [rx/tx]
    --vxlan-port <port>                  VXLAN UDP port (default 4789) [rx/tx]
    --fragment                           allow IP fragmentation of VXLAN packets [tx]

packet broker:
    -f '<expr>'       --filter           keep only frames a tcpdump filter expression matches [rx/tx]
                                         (libpcap; -f 'vlan <n>' alone: outer tag VLAN n, no libpcap)
    --dedup <ms>                         drop a frame identical to one seen in the last ms (1..1000),
                                         ignoring VLAN tags, TTL, hop limit, MACs of IP frames [rx/tx]
    -tx -i <eth>,<eth>,... <ring>        output group: each flow to one member, with failover
    -tx -E gretap:<host>,<host> <ring>   the same over tunnels
    --balance flows|addresses            what a group hashes IP frames on (default flows) [tx]
    --all                                a group sends every frame to every member (replication from
                                         one process: one read of the ring for all outputs) [tx]
    -tx -i <eth> -i <eth> ... <ring>     the same as -i <eth>,<eth> --all

capture files:
    -w <path>         --write            write the ring to pcap (- for stdout) [tx]
                                         (a name ending in .pcapng, or --format pcapng, writes pcapng)
    -G <sec>          --rotate-seconds   start a new file every sec seconds [tx -w]
    -C <MB>           --rotate-megabytes start a new file before one exceeds MB megabytes [tx -w]
    -W <n>            --max-files        with -G/-C: keep the n newest files, delete older ones [tx -w]
    --max-disk <size>                    with -G/-C: delete the oldest files to stay under size (k/m/g/t)
    -z <cmd>          --post-rotate      run cmd FILE after each file is complete (no shell), e.g. -z gzip
    --format pcap|pcapng                 the file format [tx -w]
    --file-mode <mode>                   mode of created files (octal, default 0600) [tx -w]
    --read <file>                        replay pcap/pcapng into the ring [rx]
    --pace                               at the recorded pace [rx --read]
    --loop <n>                           n times (0: until stopped) [rx --read]

frame operations [rx/tx]:
    -V <vlan>         --vlan             tag with VLAN (rx: insert or replace; tx: insert) 1..4094
    -Q                --strip-vlan       strip the VLAN tag [rx]
    -f '<expr>'       --filter           keep only matching frames (see packet broker above)
    -d <percent>      --sample           keep about that percent of frames, at random (0..100)
    -s <length>       --snaplen          truncate frames to length (with -cr: --size, the ring size)
    -D <n>            --trim             trim n bytes from the end of each frame (after -s, as 3.2)

other options:
    -i <eth>          --interface        the network interface [rx/tx]
    -q                --qdisc-bypass     bypass the qdisc layer [tx]
    -R                --tx-ring          use PACKET_TX_RING instead of sendmmsg [tx]
    -k                --keep             keep an existing valid ring [cr]
    --force                              recreate a ring even while processes use it [cr]
    --from-oldest                        start at the oldest frame, not the live edge [tx]
    --json                               JSON lines instead of the terminal view [io]
    --once                               one snapshot, then exit [io]
    --metrics [addr:]port                Prometheus /metrics (127.0.0.1 unless an address is given) [rx/tx/io]
    --seconds <n>                        stop after n seconds [rx/tx/io/demo]
    -v                --verbose          settings and per-second counters on stderr
    -h                --help             this help
    --version                            the version

 kernel ring buffer options [rx; tx with -R]
    -Z <frame-size>   --frame-size       (max frame size, e.g. 2048)
    -B <num-blocks>   --blocks           (number of blocks comprising ring, e.g. 64)
    -S <block-size>   --block-size       (block size, log2; e.g. 22 = 4mb)
`;
