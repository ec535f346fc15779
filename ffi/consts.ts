/**
 * Kernel constants and struct layouts (x86_64), in one place. Offsets measured and listed in the shared
 * FFI notes; each struct is `NAME_SIZE` plus `NAME_<FIELD>` byte offsets.
 *
 * @module
 */

// open(2)
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NOFOLLOW = 0o400000;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_CLOEXEC = 0o2000000;

// mmap(2)
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_POPULATE = 0x8000;
export const MAP_FAILED = 0xffffffffffffffffn;

// fcntl(2) open-file-description locks
export const F_OFD_GETLK = 36;
export const F_OFD_SETLK = 37;
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
/** struct flock: l_type(i16)@0 l_whence(i16)@2 l_start(i64)@8 l_len(i64)@16 l_pid(i32)@24 */
export const FLOCK_SIZE = 32;
export const FLOCK_TYPE = 0;
export const FLOCK_WHENCE = 2;
export const FLOCK_START = 8;
export const FLOCK_LEN = 16;
export const FLOCK_PID = 24;

// futex(2)
export const SYS_futex = 202;
export const FUTEX_WAIT = 0;
export const FUTEX_WAKE = 1;

// clock_gettime(2)
export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;

// statvfs(3): f_bsize@0 f_frsize@8 f_blocks@16 f_bfree@24 f_bavail@32 (all u64), size 112
export const STATVFS_SIZE = 112;
export const STATVFS_FRSIZE = 8;
export const STATVFS_BLOCKS = 16;
export const STATVFS_BAVAIL = 32;

// sockets
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const SO_SNDBUFFORCE = 32;
export const SO_BINDTODEVICE = 25;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_GRE = 47;
export const IPPROTO_UDP = 17;
export const IPPROTO_RAW = 255;
export const IP_HDRINCL = 3;
export const IP_MTU_DISCOVER = 10;
export const IP_PMTUDISC_DONT = 0;
export const IP_PMTUDISC_DO = 2;
export const IPV6_MTU_DISCOVER = 23;
export const IPV6_DONTFRAG = 62;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;

// AF_PACKET
export const ETH_P_ALL = 0x0003;
export const SOL_PACKET = 263;
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_MR_PROMISC = 1;
export const PACKET_RX_RING = 5;
export const PACKET_STATISTICS = 6;
export const PACKET_VERSION = 10;
export const PACKET_RESERVE = 12;
export const PACKET_TX_RING = 13;
export const PACKET_LOSS = 14;
export const PACKET_IGNORE_OUTGOING = 23;
export const PACKET_QDISC_BYPASS = 20;
export const TPACKET_V2 = 1;
export const TPACKET_V3 = 2;
export const PACKET_OUTGOING = 4;
export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1;
export const TP_STATUS_SEND_REQUEST = 1;
export const TP_STATUS_SENDING = 2;
export const TP_STATUS_WRONG_FORMAT = 4;
export const TP_STATUS_VLAN_VALID = 0x10;
export const TP_STATUS_VLAN_TPID_VALID = 0x40;
export const TP_STATUS_BLK_TMO = 0x20;
export const TPACKET_ALIGNMENT = 16;
export const TPACKET2_HDRLEN = 52;

/** sockaddr_ll: family(u16)@0 protocol(u16 BE)@2 ifindex(i32)@4 hatype@8 pkttype@10 halen@11 addr@12 */
export const SOCKADDR_LL_SIZE = 20;
/** packet_mreq: ifindex(i32)@0 type(u16)@4 alen(u16)@6 address[8]@8 */
export const PACKET_MREQ_SIZE = 16;
/** ifreq: name[16]@0, union@16 (ifindex / mtu / flags / hwaddr: family@16 MAC@18) */
export const IFREQ_SIZE = 40;
export const IFREQ_UNION = 16;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCGIFMTU = 0x8921;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCGIFINDEX = 0x8933;
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

/** iovec: base@0 len@8 */
export const IOVEC_SIZE = 16;
/** msghdr: name@0 namelen(u32)@8 iov@16 iovlen@24 control@32 controllen@40 flags@48; mmsghdr adds len@56 */
export const MSGHDR_NAME = 0;
export const MSGHDR_NAMELEN = 8;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MSGHDR_FLAGS = 48;
export const MMSGHDR_LEN = 56;
export const MMSGHDR_SIZE = 64;

/** tpacket_req3: block_size@0 block_nr@4 frame_size@8 frame_nr@12 retire_blk_tov@16 sizeof_priv@20 feature_req_word@24 */
export const TPACKET_REQ3_SIZE = 28;
export const TPACKET_REQ_SIZE = 16;
/** tpacket_block_desc + tpacket_hdr_v1 */
export const BLOCK_STATUS = 8;
export const BLOCK_NUM_PKTS = 12;
export const BLOCK_FIRST_PKT = 16;
/** tpacket3_hdr */
export const T3_NEXT = 0;
export const T3_SEC = 4;
export const T3_NSEC = 8;
export const T3_SNAPLEN = 12;
export const T3_LEN = 16;
export const T3_STATUS = 20;
export const T3_MAC = 24;
export const T3_VLAN_TCI = 32;
export const T3_VLAN_TPID = 36; // hv1: rxhash@28 vlan_tci(u32)@32 vlan_tpid@36 (the shared notes say 34: wrong)
/** tpacket2_hdr */
export const T2_STATUS = 0;
export const T2_LEN = 4;
export const T2_SNAPLEN = 8;
export const T2_MAC = 12;
export const T2_DATA = 32;

/** pollfd: fd@0 events(i16)@4 revents(i16)@6 */
export const POLLFD_SIZE = 8;
export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;

// tunnels (appended for lib/io/tunnel*.ts)
export const IP_MTU = 14;
export const IPV6_MTU = 24;
export const IPV6_V6ONLY = 26;
export const EAI_NONAME = -2;
/** sockaddr_in: family(u16)@0 port(u16 BE)@2 addr[4]@4 zero[8]@8 */
export const SOCKADDR_IN_SIZE = 16;
/** sockaddr_in6: family(u16)@0 port(u16 BE)@2 flowinfo(u32)@4 addr[16]@8 scope_id(u32)@24 */
export const SOCKADDR_IN6_SIZE = 28;
/** struct addrinfo: flags@0 family@4 socktype@8 protocol@12 addrlen(u32)@16 addr(ptr)@24 canonname@32 next@40 */
export const ADDRINFO_SIZE = 48;
export const AI_FAMILY = 4;
export const AI_SOCKTYPE = 8;
export const AI_ADDR = 24;
export const AI_NEXT = 40;

/** struct stat (x86_64): st_dev(u64)@0 st_ino(u64)@8 st_mode(u32)@24 st_size(i64)@48, size 144 */
export const STAT_SIZE = 144;
export const STAT_ST_DEV = 0;
export const STAT_ST_INO = 8;
export const STAT_MODE = 24;
export const STAT_ST_SIZE = 48;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;

// tunnel transmit without IP_HDRINCL (appended for lib/io/tunnel_tx.ts)
export const IP_TTL = 2;
export const IPV6_UNICAST_HOPS = 16;
export const SO_ATTACH_FILTER = 26;
export const SO_NO_CHECK = 11;

// per-packet receive metadata on tunnel sockets (appended for lib/io/tunnel_rx.ts)
/** msghdr: control(ptr)@32 controllen(size_t)@40 */
export const MSGHDR_CONTROL = 32;
export const MSGHDR_CONTROLLEN = 40;
/** msg_flags: some control messages did not fit the control buffer */
export const MSG_CTRUNC = 0x08;
/** cmsghdr (x86_64): len(size_t)@0 level(i32)@8 type(i32)@12, data@16; each one padded to 8 bytes */
export const CMSG_HDR_SIZE = 16;
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
/** SO_TIMESTAMPNS_OLD on x86_64; its control message (SCM_TIMESTAMPNS) holds a timespec {i64 sec, i64 nsec} */
export const SO_TIMESTAMPNS = 35;
export const SCM_TIMESTAMPNS = 35;
/** the kernel attaches the socket's cumulative drop count (u32) to datagrams queued after a drop */
export const SO_RXQ_OVFL = 40;
/** getsockopt: u32[SK_MEMINFO_VARS] of socket memory counters, the drop count at SK_MEMINFO_DROPS */
export const SO_MEMINFO = 55;
export const SK_MEMINFO_VARS = 9;
export const SK_MEMINFO_DROPS = 8;
