/*
 * pktsh.h - the FFI contract between the C host and the Lua library.
 *
 * Plain structs, enums and pktsh_* prototypes only: the build strips the
 * preprocessor lines and hands the rest, unchanged, to ffi.cdef
 * (build/gen/pktsh_cdef.lua). Never declare these again elsewhere;
 * tests/unit/test_cdef_layout.lua checks every struct against the C compiler.
 *
 * Conventions: entry points return int (0 or a count on success, -1 on
 * failure) and fill a caller-owned struct pktsh_err; Lua turns that into
 * `nil, err`. Opaque handles are released by their *_close function.
 */
#ifndef PKTSH_H
#define PKTSH_H
#include <stddef.h>
#include <stdint.h>

enum pktsh_tsrc {
	PKTSH_TSRC_FILE = 0,
	PKTSH_TSRC_SW = 1,
	PKTSH_TSRC_HW = 2,
	PKTSH_TSRC_XDP = 3
};

/* Room for a message with a full path and a long filter in it; a longer
 * one is cut and ends in "..." (src/err.c). */
enum pktsh_err_limits { PKTSH_ERR_MSG = 8192 };

struct pktsh_err {
	int errnum;           /* errno where there is one, else 0 */
	char msg[PKTSH_ERR_MSG];
};

/* One classic BPF instruction, as struct sock_filter and libpcap's
 * struct bpf_insn lay it out (what `tcpdump -dd` prints). */
struct pktsh_bpf_insn {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};
enum pktsh_bpf_limits { PKTSH_BPF_MAXINSNS = 4096 };

/* A descriptor's decode state (l2state, l3state). Receivers leave NEW;
 * the walker (pktsh_walk, below) moves it to OK or BAD. A released
 * descriptor is STALE (src/source/batch.c): no bytes, and every decoder
 * and accessor raises an error instead of reading. */
enum pktsh_pkt_state {
	PKTSH_PKT_NEW = 0,
	PKTSH_PKT_OK = 1,
	PKTSH_PKT_BAD = 2,
	PKTSH_PKT_STALE = 3
};

/*
 * The numbers C, the BPF program and Lua share, each under one name on
 * every side: Lua reads them as ffi.C.PKTSH_* (pktsh.proto.numbers has
 * them as tables by name), C and the BPF program by these names or by
 * the system's, which src/contract.c ties to these (libpcap's DLT_*,
 * the kernel's ETH_P_*, IPPROTO_*, XDP_* and bpf/xdp_rules.h).
 * tests/unit/test_numbers_literals.lua fails where a number is spelt out again.
 */

/* pkt.linktype: the libpcap DLT_* values the decoders read. RAW_BSD is
 * OpenBSD's DLT_RAW, RAW_LT the LINKTYPE_RAW a pcap file stores (files
 * read without libpcap keep it). */
enum pktsh_dlt {
	PKTSH_DLT_NULL = 0,
	PKTSH_DLT_EN10MB = 1,
	PKTSH_DLT_RAW = 12,
	PKTSH_DLT_RAW_BSD = 14,
	PKTSH_DLT_RAW_LT = 101,
	PKTSH_DLT_LOOP = 108,
	PKTSH_DLT_LINUX_SLL = 113,
	PKTSH_DLT_IPV4 = 228,
	PKTSH_DLT_IPV6 = 229,
	PKTSH_DLT_NFLOG = 239,
	PKTSH_DLT_LINUX_SLL2 = 276
};

/* The snapshot length where none is given (libpcap's largest). */
enum pktsh_snaplen { PKTSH_SNAPLEN_DEFAULT = 262144 };

/* pkt.ethertype, and the tag protocol ids of VLAN headers. */
enum pktsh_ethertype {
	PKTSH_ETH_IP4 = 0x0800,
	PKTSH_ETH_ARP = 0x0806,
	PKTSH_ETH_VLAN = 0x8100,      /* 802.1Q */
	PKTSH_ETH_IP6 = 0x86dd,
	PKTSH_ETH_QINQ = 0x88a8,      /* 802.1ad */
	PKTSH_ETH_QINQ_OLD = 0x9100   /* QinQ before 802.1ad */
};

/* A VLAN tag's id: the low 12 bits of its TCI. */
enum pktsh_vlan { PKTSH_VLAN_ID_MASK = 0x0fff };

/* pkt.l4proto, and the IPv6 extension headers the walkers step over. */
enum pktsh_ipproto {
	PKTSH_IPPROTO_HOPOPTS = 0,
	PKTSH_IPPROTO_ICMP = 1,
	PKTSH_IPPROTO_IGMP = 2,
	PKTSH_IPPROTO_IPIP = 4,
	PKTSH_IPPROTO_TCP = 6,
	PKTSH_IPPROTO_UDP = 17,
	PKTSH_IPPROTO_IPV6 = 41,
	PKTSH_IPPROTO_ROUTING = 43,
	PKTSH_IPPROTO_FRAGMENT = 44,
	PKTSH_IPPROTO_GRE = 47,
	PKTSH_IPPROTO_ESP = 50,
	PKTSH_IPPROTO_AH = 51,
	PKTSH_IPPROTO_ICMPV6 = 58,
	PKTSH_IPPROTO_NONE = 59,      /* IPv6 no next header */
	PKTSH_IPPROTO_DSTOPTS = 60,
	PKTSH_IPPROTO_SCTP = 132,
	PKTSH_IPPROTO_UDPLITE = 136
};

/* pkt.fragment */
enum pktsh_frag {
	PKTSH_FRAG_NONE = 0,
	PKTSH_FRAG_FIRST = 1,         /* holds the transport header */
	PKTSH_FRAG_LATER = 2          /* offset past 0: no transport header */
};

/*
 * One packet descriptor. data points into the receiver's memory and is
 * valid until the batch holding it is released. The fields after ifindex
 * are a decode cache written only by pktsh_walk (src/proto/walk.c), which
 * the decoders of lua/pktsh/proto/packet.lua call; receivers zero them.
 * Lua sees descriptors through const pointers, so a script cannot write
 * any field.
 *
 * The cache describes the innermost IP datagram the walker reached
 * (through tunnels: depth says how many IP headers down it is) and the
 * VLAN tags right after the link header.
 */
struct pktsh_pkt {
	const uint8_t *data;
	int64_t ts;           /* ns since the epoch; tsrc says which stamp it is */
	/* Every stamp the receiver had, 0 where none: a live ring fills the
	 * one ts is; tstamp = "both" fills both (ts is then the hardware
	 * one when there is one). Software: ns since the epoch;
	 * hardware: the NIC's clock (raw), or converted to the system's
	 * (pktsh_ring_opts.hwclock). Files and XDP copies leave both 0. */
	int64_t ts_sw;
	int64_t ts_hw;
	uint32_t caplen;      /* bytes at data */
	uint32_t len;         /* length on the wire */
	uint32_t ifindex;
	uint16_t linktype;    /* enum pktsh_dlt (or another DLT_*) of data */
	uint8_t tsrc;         /* enum pktsh_tsrc */
	uint8_t l2state;      /* enum pktsh_pkt_state */
	uint32_t l3off;       /* offset of the network header */
	uint32_t l3end;       /* end of the network datagram (<= caplen) */
	uint32_t l3wend;      /* where the datagram ends on the wire, as Wireshark
			       * reads it: its IP length, bounded by what carries
			       * it (the frame's length on the wire, a PPPoE
			       * session's length, the outer IP or UDP datagram's);
			       * may be past caplen. The one bound the DNS scan,
			       * dnsflow and the fields use. */
	uint32_t l4off;       /* offset of the transport header, 0 if none */
	uint32_t fragdata;    /* of a fragment: offset of its data (after the
			       * IPv4 header or the IPv6 fragment header), else 0 */
	uint16_t ethertype;   /* of the network header: enum pktsh_ethertype, ... */
	uint16_t vlanid0;     /* outer and inner VLAN ids (not "vlan": pkt:vlan() is a */
	uint16_t vlanid1;     /* method; not an array: LuaJIT lets a const struct's array be written) */
	uint8_t nvlan;        /* tags seen (0..2 recorded) */
	uint8_t l3state;      /* enum pktsh_pkt_state */
	uint8_t l4proto;      /* IP protocol of the transport header (enum pktsh_ipproto, ...) */
	uint8_t fragment;     /* enum pktsh_frag */
	uint8_t depth;        /* IP headers from the outside down to l3off's: 1
			       * plain, 2 or more inside tunnels, 0 no IP */
	uint8_t trunc;        /* 1 when an IP header's length claims bytes
			       * past the capture or past what carries it
			       * (pkt.truncated) */
};

/* --- The walker (src/proto/walk.c, lua/pktsh/proto/packet.lua) -----------
 * Encapsulations it walks through, by the numbers that name them:
 * ethertypes (a GRE or Geneve header names what it carries by one too),
 * PPP protocols (PPPoE, PPTP's GRE), UDP ports, GRE flag bits. */
enum pktsh_encap {
	PKTSH_ETH_TEB = 0x6558,            /* Ethernet in GRE, Geneve (transparent bridging) */
	PKTSH_ETH_PPPOE_DISCOVERY = 0x8863,
	PKTSH_ETH_PPPOE_SESSION = 0x8864,
	PKTSH_ETH_MPLS = 0x8847,
	PKTSH_ETH_MPLS_MCAST = 0x8848,
	PKTSH_ETH_ERSPAN2 = 0x88be,        /* ERSPAN type II (type I: no sequence number) */
	PKTSH_ETH_ERSPAN3 = 0x22eb,
	PKTSH_ETH_PPP = 0x880b,            /* PPP in GRE version 1 (PPTP) */
	PKTSH_ETH_CMD = 0x8909,            /* Cisco MetaData (in GRE) */
	PKTSH_PPP_IP4 = 0x0021,
	PKTSH_PPP_IP6 = 0x0057,
	PKTSH_PPP_MPLS = 0x0281,
	PKTSH_PORT_VXLAN = 4789,
	PKTSH_PORT_GENEVE = 6081,
	PKTSH_GRE_CSUM = 0x8000,
	PKTSH_GRE_ROUTING = 0x4000,
	PKTSH_GRE_KEY = 0x2000,
	PKTSH_GRE_SEQ = 0x1000,
	PKTSH_GRE_ACK = 0x0080             /* version 1 */
};
/* A walk passes at most MAX_HEADERS headers (VLAN tags, MPLS labels,
 * IPv6 extension headers, tunnel headers...) and MAX_IP IP headers:
 * nesting costs a bounded walk however it loops. */
enum pktsh_walk_limits { PKTSH_WALK_MAX_HEADERS = 64, PKTSH_WALK_MAX_IP = 8 };
/* Fills p's decode cache from its bytes and returns l3state (OK when an
 * IP header was found), or STALE for a released descriptor, which it
 * leaves alone. Walking again changes nothing; the decoders call it
 * once per packet, the DNS scan for every packet it looks at. */
int pktsh_walk(const struct pktsh_pkt *p);
/* The same walk without its fast path for the common packets (tests
 * check that both leave the same cache). */
int pktsh_walk_slow(const struct pktsh_pkt *p);
/* out becomes a copy of p whose cache describes p's i-th IP header (1
 * the outermost; -1 the innermost, -2 the one around it...): OK, or BAD
 * when there is no such header. */
int pktsh_walk_at(const struct pktsh_pkt *p, int32_t i, struct pktsh_pkt *out);
/* The headers a walk of p passes after the link header, outside in. */
enum pktsh_layer_kind {
	PKTSH_LAYER_VLAN = 1,      /* sub: its tag protocol id */
	PKTSH_LAYER_PPPOE = 2,     /* session header and PPP protocol (sub) */
	PKTSH_LAYER_MPLS = 3,      /* one label stack entry */
	PKTSH_LAYER_IP4 = 4,       /* len: header (options) */
	PKTSH_LAYER_IP6 = 5,       /* len: header and extension headers */
	PKTSH_LAYER_IP6EXT = 6,    /* sub: its type; len 0 when cut */
	PKTSH_LAYER_GRE = 7,       /* sub: version */
	PKTSH_LAYER_ERSPAN = 8,    /* sub: type 1, 2 or 3 (type I has no header) */
	PKTSH_LAYER_PPP = 9,       /* PPP in GRE; sub: protocol */
	PKTSH_LAYER_UDP = 10,      /* under VXLAN or Geneve */
	PKTSH_LAYER_VXLAN = 11,
	PKTSH_LAYER_GENEVE = 12,
	PKTSH_LAYER_ETH = 13,      /* an Ethernet header inside a tunnel */
	PKTSH_LAYER_CMD = 14       /* Cisco MetaData in GRE; sub: its SGT */
};
struct pktsh_layer {
	uint32_t off;              /* where the header starts */
	uint32_t len;              /* its length */
	uint32_t end;              /* IP: where its length fields say the datagram
				    * ends (may be past caplen); else 0 */
	uint32_t bound;            /* where what carries the header ends it, as
				    * tcpdump reads the lengths: the frame's
				    * length on the wire, bounded by a PPPoE
				    * length; inside IP its IP length; inside a
				    * UDP tunnel the UDP length */
	uint16_t kind;             /* enum pktsh_layer_kind */
	uint16_t next;             /* what follows: an ethertype, or (IP) a protocol */
	uint16_t sub;
	uint16_t pad;
};
/* Lists the headers in out (cap of them at most: PKTSH_WALK_MAX_HEADERS
 * always suffice); returns how many, or -1 for a released descriptor. */
int pktsh_walk_layers(const struct pktsh_pkt *p, struct pktsh_layer *out, uint32_t cap);

/* count packets at pkt[0 .. count-1]. Released (by the source's next
 * batch, its release or its close), count is 0 and the descriptors are
 * STALE; the memory stays readable for the life of the process. */
struct pktsh_batch {
	const struct pktsh_pkt *pkt;
	uint32_t count;
	uint32_t cap;
};

/* Counters every source reports; unused ones stay 0. */
struct pktsh_src_stats {
	uint64_t received;    /* records read before the filter */
	uint64_t packets;     /* delivered to Lua */
	uint64_t bytes;       /* wire bytes delivered */
	uint64_t batches;
	uint64_t drops;
	uint64_t freeze_q;
};

enum pktsh_file_format {
	PKTSH_FORMAT_PCAP = 0,
	PKTSH_FORMAT_PCAPNG = 1
};

struct pktsh_file_info {
	int32_t linktype;
	uint32_t snaplen;
	int32_t format;       /* enum pktsh_file_format */
	int32_t nsec;         /* 1 if the file stores nanoseconds */
	int32_t swapped;      /* 1 if the file's byte order is not ours */
	int32_t direct;       /* 1 if pktsh walks the records, 0 if libpcap does */
	int32_t stream;       /* 1 for standard input, a pipe, a FIFO, a device */
};

/* Offline capture: pcap (us/ns, either byte order) or pcapng. guard 1
 * copies every packet to end right before a PROT_NONE page (slow; for
 * tests and fuzzing), as PKTSH_GUARD=1 in the environment does for every
 * source. */
struct pktsh_file;
int pktsh_file_open(struct pktsh_file **out, const char *path,
		    const char *filter, uint32_t batch_cap, int32_t guard,
		    struct pktsh_err *err);
/* Fills the file's batch: >0 packets, 0 at the end, -1 on error (a torn
 * or corrupt record is reported only after every complete packet before
 * it was delivered). The previous batch is invalid after this call. */
int pktsh_file_next(struct pktsh_file *f, struct pktsh_batch **out,
		    struct pktsh_err *err);
/* A stream (standard input, a pipe, a FIFO): waits up to timeout_ms for
 * bytes; 1 when pktsh_file_next would not wait for the start of a record
 * (always, for a regular file), 0 when none came. */
int pktsh_file_wait(struct pktsh_file *f, int32_t timeout_ms);
/* Ends the input before the first record whose time is ns or more past
 * the first record read after this call (the `duration` option); ns < 0
 * lifts the limit, and a new limit or none resumes an input it ended. */
int pktsh_file_limit(struct pktsh_file *f, int64_t ns);
int pktsh_file_info(const struct pktsh_file *f, struct pktsh_file_info *out);
/* Replaces the filter between batches: expr (tcpdump syntax), else the
 * n instructions at insns (checked with bpf_validate); neither: none. */
int pktsh_file_set_filter(struct pktsh_file *f, const char *expr,
			  const struct pktsh_bpf_insn *insns, uint32_t n,
			  struct pktsh_err *err);
int pktsh_file_stats(const struct pktsh_file *f, struct pktsh_src_stats *out);
void pktsh_file_close(struct pktsh_file *f);

/* pcap writer with nanosecond timestamps, or pcapng (src/source/writer.c);
 * flushed on close, at exit and on SIGINT/SIGTERM. The file always ends
 * on a record (block) boundary. The path is opened as src/outfile.c says:
 * a new file renamed over it (never through a symbolic link), a FIFO or
 * device as it is, "-" stdout. */
struct pktsh_writer;
int pktsh_writer_open(struct pktsh_writer **out, const char *path,
		      int32_t linktype, uint32_t snaplen,
		      struct pktsh_err *err);
/* pcapng: a section header (with comment, the writing application and
 * the OS when given) and the first interface (linktype, snaplen, name and
 * description when given, nanosecond time stamps). Strings may be NULL. */
struct pktsh_ng_opts {
	int32_t linktype;
	uint32_t snaplen;
	const char *comment;     /* the section's opt_comment */
	const char *userappl;    /* shb_userappl */
	const char *os;          /* shb_os */
	const char *ifname;      /* the first interface's if_name */
	const char *ifdescr;     /* its if_description */
};
int pktsh_writer_open_ng(struct pktsh_writer **out, const char *path,
			 const struct pktsh_ng_opts *o, struct pktsh_err *err);
/* pcapng: one more interface; *id is its number for write_ng. */
int pktsh_writer_add_iface(struct pktsh_writer *w, int32_t linktype,
			   uint32_t snaplen, const char *name, const char *descr,
			   uint32_t *id, struct pktsh_err *err);
/* A packet (pcap: interface 0 and no comment; pcapng: an Enhanced
 * Packet Block on interface iface with the comment when not NULL). */
int pktsh_writer_write(struct pktsh_writer *w, const uint8_t *data,
		       uint32_t caplen, uint32_t len, int64_t ts,
		       struct pktsh_err *err);
int pktsh_writer_write_ng(struct pktsh_writer *w, uint32_t iface,
			  const uint8_t *data, uint32_t caplen, uint32_t len,
			  int64_t ts, const char *comment, struct pktsh_err *err);
int pktsh_writer_flush(struct pktsh_writer *w, struct pktsh_err *err);
/* on 1: every record is written out at once (tcpdump -U); 0: buffered,
 * written out at least once a second by pktsh_writers_tick. */
int pktsh_writer_per_packet(struct pktsh_writer *w, int32_t on);
/* Writes out the calling thread's writers' records buffered for a second
 * or more (force 1: all of them). The library calls it between batches,
 * while waiting for input, in pktsh.sleep and at the REPL prompt. */
void pktsh_writers_tick(int32_t force);
int pktsh_writer_count(const struct pktsh_writer *w, uint64_t *packets);
/* Bytes in the file so far, buffered ones included (for -C rotation). */
int pktsh_writer_size(const struct pktsh_writer *w, uint64_t *bytes);
int pktsh_writer_close(struct pktsh_writer *w, struct pktsh_err *err);
/* Writes data to path, opened as the writer opens its file. */
int pktsh_output_write(const char *path, const char *data, size_t len,
		       struct pktsh_err *err);

/* Live capture: an AF_PACKET TPACKET_V3 ring on one interface. */
enum pktsh_direction {
	PKTSH_DIR_BOTH = 0,
	PKTSH_DIR_IN = 1,
	PKTSH_DIR_OUT = 2
};

/* Receive stamps. A TPACKET_V3 ring holds one stamp per packet
 * (tpacket3_hdr's tp_sec/tp_nsec, TP_STATUS_TS_RAW_HARDWARE or
 * TP_STATUS_TS_SOFTWARE saying which): HW asks the NIC for hardware
 * stamps (SIOCSHWTSTAMP) and gets them where the packet has one, else
 * software. SO_TIMESTAMPING does not reach ring frames, so BOTH reads
 * with recvmmsg(2) instead of a ring: each packet's SCM_TIMESTAMPING
 * carries the software and the raw hardware stamp together (a copy per
 * packet; see README "Time"). */
enum pktsh_tstamp {
	PKTSH_TSTAMP_SW = 0,
	PKTSH_TSTAMP_HW = 1,
	PKTSH_TSTAMP_BOTH = 2
};

/* Hardware stamps as the NIC's clock gives them (RAW), or converted to
 * CLOCK_REALTIME (SYS) by the offset between the NIC's PTP hardware
 * clock and the system's, measured with PTP_SYS_OFFSET_EXTENDED at open
 * and once a second. (The kernel's own SYS_HARDWARE stamps are gone
 * since Linux 3.17.) */
enum pktsh_hwclock {
	PKTSH_HWCLOCK_RAW = 0,
	PKTSH_HWCLOCK_SYS = 1
};


/* PACKET_FANOUT modes as the kernel numbers them; NONE opens no group. */
enum pktsh_fanout {
	PKTSH_FANOUT_NONE = -1,
	PKTSH_FANOUT_HASH = 0,
	PKTSH_FANOUT_LB = 1,
	PKTSH_FANOUT_CPU = 2,
	PKTSH_FANOUT_ROLLOVER = 3,
	PKTSH_FANOUT_QM = 5
};

struct pktsh_ring_opts {
	const char *filter;        /* tcpdump syntax, or NULL */
	const struct pktsh_bpf_insn *insns;  /* or a classic BPF program (filter NULL) */
	uint32_t ninsns;
	int32_t lock_filter;       /* SO_LOCK_FILTER once attached */
	int32_t hwclock;           /* enum pktsh_hwclock */
	uint32_t snaplen;
	uint32_t block_size;       /* bytes, a multiple of the page size */
	uint32_t block_count;
	uint32_t block_timeout_ms; /* the kernel hands over a block this old */
	int32_t promisc;
	int32_t immediate;         /* hand over every packet at once */
	int32_t direction;         /* enum pktsh_direction */
	int32_t tstamp;            /* enum pktsh_tstamp */
	int32_t fanout_mode;       /* enum pktsh_fanout */
	int32_t fanout_defrag;     /* PACKET_FANOUT_FLAG_DEFRAG */
	uint32_t fanout_group;     /* group id, shared by the rings of one source */
	int32_t guard;             /* 1: guard-page copies, as for pktsh_file_open */
};

struct pktsh_ring_info {
	int32_t linktype;
	uint32_t snaplen;
	uint32_t ifindex;
	int32_t fd;
	int32_t tstamp;            /* what the ring really gives */
	uint32_t block_size;       /* 0 for BOTH (no ring: recvmmsg) */
	uint32_t block_count;
	int32_t phc_index;         /* the PTP clock hwclock SYS reads, or -1 */
	int32_t hwclock;
};

struct pktsh_ring;
int pktsh_ring_open(struct pktsh_ring **out, const char *ifname,
		    const struct pktsh_ring_opts *opts, struct pktsh_err *err);
/* Waits up to timeout_ms for a block and fills the ring's batch from it:
 * >0 packets, 0 nothing yet (or interrupted by a signal), -1 error. The
 * block stays the batch's until pktsh_ring_release or the next call. */
int pktsh_ring_next(struct pktsh_ring *r, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err);
void pktsh_ring_release(struct pktsh_ring *r);
/* Running totals: the kernel's PACKET_STATISTICS (reset by every read)
 * added up. Any thread may ask while another reads the ring (a fanout
 * worker): packets, bytes and batches are published by the reading
 * thread once per batch, the kernel's counters are read and added under
 * the ring's lock, so they are neither lost nor counted twice. */
int pktsh_ring_stats(struct pktsh_ring *r, struct pktsh_src_stats *out,
		     struct pktsh_err *err);
/* Compiles a tcpdump expression as pktsh_ring_open would for this ring
 * (its interface, link type and snaplen): the number of instructions
 * put in out (at most cap), or -1. */
int pktsh_ring_filter_compile(const struct pktsh_ring *r, const char *expr,
			      struct pktsh_bpf_insn *out, uint32_t cap,
			      struct pktsh_err *err);
/* Puts a new filter (n instructions; n 0: keep every packet, cut to the
 * snaplen) in place of the old with one SO_ATTACH_FILTER: the kernel
 * swaps the socket's filter pointer under RCU, so each packet is judged
 * by the old program or by the new one, never by none. A locked filter
 * (lock_filter) cannot be changed: -1, EPERM. */
int pktsh_ring_set_filter(struct pktsh_ring *r, const struct pktsh_bpf_insn *insns,
			  uint32_t n, struct pktsh_err *err);
int pktsh_ring_info(const struct pktsh_ring *r, struct pktsh_ring_info *out);
void pktsh_ring_close(struct pktsh_ring *r);

/* With -Z USER, drops to USER (src/privs.c): every source, rule set and
 * sender calls it once open (a fanout group once all its rings are),
 * pktsh_workers_start before its threads. Does nothing without -Z or
 * once done; fails again and again after a failed drop. */
int pktsh_privdrop(struct pktsh_err *err);
/* 1 while -Z USER is given and the drop has not happened yet. */
int pktsh_privs_pending(void);
/* -Z USER (pktsh -Z, or a script's own -Z before it opens anything):
 * the next pktsh_privdrop becomes USER. 0, or -1 when there is no such
 * user. */
int pktsh_privs_request(const char *user);

/* The DNS fast path (src/dnsq.c): header, first question and the full
 * RCODE (with the OPT record's extended bits, for responses) of one
 * message, without tables. 0, or minus an enum pktsh_dns_err; with 0,
 * records_error says whether the rest of the message (other questions,
 * the records) reads as Wireshark reads it (see dnsq.c).
 * pktsh_dns_question_wire leaves the text out (name_len 0), for loops
 * that count by name_hash; pktsh_dns_name_text makes the text of a wire
 * name later (the length, or -1 if it is not a whole wire name). */
enum pktsh_dns_err {
	PKTSH_DNS_SHORT_HEADER = 1,
	PKTSH_DNS_NAME_TRUNCATED = 2,
	PKTSH_DNS_LABEL_TRUNCATED = 3,
	PKTSH_DNS_NAME_TOO_LONG = 4,
	PKTSH_DNS_POINTER_TRUNCATED = 5,
	PKTSH_DNS_POINTER_NOT_BACKWARDS = 6,
	PKTSH_DNS_BAD_LABEL_TYPE = 7,
	PKTSH_DNS_QUESTION_TRUNCATED = 8,
	PKTSH_DNS_TOO_MANY_POINTERS = 9,    /* over PKTSH_DNS_MAX_HOPS in one name */
	PKTSH_DNS_RECORD_TRUNCATED = 10     /* a record's fields or data past the end */
};
/* Compression pointers one name may follow: a name of 255 octets has at
 * most 127 labels, and a compressor needs one pointer per label at most. */
enum pktsh_dns_limits { PKTSH_DNS_MAX_HOPS = 127 };

struct pktsh_dns_q {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
	uint16_t qtype;          /* 0 when qdcount is 0 */
	uint16_t qclass;         /* with the mDNS QU bit */
	uint16_t rcode;          /* ext << 4 | header RCODE */
	uint16_t name_len;       /* 0 when qdcount is 0 */
	uint16_t wire_len;       /* 0 when qdcount is 0 */
	uint16_t records_error;  /* 0, or the enum pktsh_dns_err that stopped
				  * the walk after the first question */
	uint64_t name_hash;      /* pktsh_name_hash of wire: equal names hash
				  * equal within a process (all its threads) */
	uint8_t wire[272];       /* the name uncompressed, labels lower-cased,
				  * ending in the root's 0; room for 16-byte copies */
	char name[1024];         /* presentation form: 255 octets, 4 bytes each at most */
};

int pktsh_dns_question(const uint8_t *msg, uint32_t len, struct pktsh_dns_q *q);
int pktsh_dns_question_wire(const uint8_t *msg, uint32_t len, struct pktsh_dns_q *q);
int pktsh_dns_name_text(const uint8_t *wire, uint32_t len, char *out);

/* DNS over TCP (src/proto/dnstcp.c): segments in, length-prefixed
 * messages out, per-direction flows reassembled in order within bounds
 * (max_flows flows, max_buffer bytes held; the least recently active
 * flow goes first). pktsh.dnsflow hands it TCP segments, dnsstats' scan
 * too. segment: p with its decode cache filled (l3off, l3end, l4off;
 * TCP), v6 1 for IPv6, ts in ns; returns how many messages it completed,
 * read by message(t, i, &len, &cut) until the next call (cut 1 when the
 * capture cut the message short: len bytes of it were captured). advance: capture time
 * passes (flows idle for timeout go, checked once a second); flush:
 * flows idle since before now - timeout go, or every flow with all. */
/* The DNS ports of the TCP reassembler and dnsstats: a bit per port. */
enum pktsh_dns_ports { PKTSH_DNS_PORTMAP_BYTES = 8192 };
struct pktsh_dnstcp_opts {
	const uint8_t *ports;     /* a bit per port, PKTSH_DNS_PORTMAP_BYTES */
	double timeout;           /* ns a flow may stay idle */
	uint32_t max_flows;
	uint32_t pad;
	uint64_t max_buffer;      /* bytes */
};
struct pktsh_dnstcp_stats {
	uint64_t tcp;             /* messages */
	uint64_t malformed;       /* zero length prefixes */
	uint64_t tcp_flows, tcp_dups, tcp_gaps, tcp_dropped, tcp_timeouts;
	uint64_t tcp_unfinished, tcp_evicted;
	uint64_t tcp_cut;         /* segments the capture cut short (snaplen) */
	uint64_t tcp_cut_resyncs; /* of those, cuts that hid where a message
				   * begins: the flow waited for one, as
				   * after a hole (no tcp_gaps) */
	uint64_t flows;           /* held now */
	uint64_t buffered, buffered_peak;
	uint64_t state_visits;    /* flows expiry and eviction looked at */
};
struct pktsh_dnstcp;
struct pktsh_dnstcp *pktsh_dnstcp_new(const struct pktsh_dnstcp_opts *o, struct pktsh_err *err);
void pktsh_dnstcp_free(struct pktsh_dnstcp *t);
int32_t pktsh_dnstcp_segment(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int32_t v6,
			     double ts);
const uint8_t *pktsh_dnstcp_message(const struct pktsh_dnstcp *t, uint32_t i, uint32_t *len,
				    int32_t *cut);
void pktsh_dnstcp_advance(struct pktsh_dnstcp *t, double ts);
void pktsh_dnstcp_flush(struct pktsh_dnstcp *t, double now, int32_t all);
int pktsh_dnstcp_stats(const struct pktsh_dnstcp *t, struct pktsh_dnstcp_stats *out);

/* IP fragments back into datagrams (src/proto/ipfrag.c): dnsstats' scan
 * and pktsh.dnsflow share one (pktsh_dnsstats_frags). add: a UDP
 * fragment p (its decode cache filled: fragment, fragdata, l3off,
 * l3end), v6 1 for IPv6, ts in ns; WHOLE when it completed a datagram,
 * whose bytes from the transport header on are *data (len of them),
 * valid until the next add; CUT_FIRST for a first IPv4 fragment the
 * capture cut short, which the caller decodes as it stands (from
 * fragdata); HELD otherwise (kept, or not taken: see the stats). advance:
 * capture time passes (datagrams begun over timeout ago go, checked once
 * a second); flush: those begun before now - timeout go, or every one
 * with all. The counters: datagrams made whole; dups (a fragment again);
 * dropped (over a bound: 65535 bytes or 64 fragments a datagram, bytes
 * held, two last fragments that disagree); timeouts; evicted (room made
 * at max_frags or max_buffer); cut (fragments the capture cut short);
 * frags (datagrams held now); buffered, buffered_peak (bytes, 64 counted
 * per fragment besides its data); state_visits (datagrams expiry and
 * eviction looked at). */
enum pktsh_ipfrag_result { PKTSH_IPFRAG_HELD = 0, PKTSH_IPFRAG_WHOLE = 1, PKTSH_IPFRAG_CUT_FIRST = 2 };
struct pktsh_ipfrag_opts {
	double timeout;           /* ns from a datagram's first fragment */
	uint32_t max_frags;       /* datagrams held at once */
	uint32_t pad;
	uint64_t max_buffer;      /* bytes held */
};
struct pktsh_ipfrag_stats {
	uint64_t datagrams, dups, dropped, timeouts, evicted, cut;
	uint64_t frags, buffered, buffered_peak, state_visits;
};
struct pktsh_ipfrag;
struct pktsh_ipfrag *pktsh_ipfrag_new(const struct pktsh_ipfrag_opts *o, struct pktsh_err *err);
void pktsh_ipfrag_free(struct pktsh_ipfrag *t);
int32_t pktsh_ipfrag_add(struct pktsh_ipfrag *t, const struct pktsh_pkt *p, int32_t v6,
			 double ts, const uint8_t **data, uint32_t *len);
void pktsh_ipfrag_advance(struct pktsh_ipfrag *t, double ts);
void pktsh_ipfrag_flush(struct pktsh_ipfrag *t, double now, int32_t all);
int pktsh_ipfrag_stats(const struct pktsh_ipfrag *t, struct pktsh_ipfrag_stats *out);

/* Keyed hashing (hash.c). Everything keyed by packet bytes (pending
 * queries, top-k indexes, DNS question names, flow tables) hashes under
 * keys drawn from getrandom() once per process (names: see
 * pktsh_name_hash): the same in every thread and Lua state of the
 * process, so what workers hand back merges by hash, and different in
 * every run, so that no sender can choose keys that collide. pktsh_hash
 * is SipHash-1-3 under the process's 128-bit key, a pseudorandom
 * function, for hashes that may be shown; pktsh_siphash13 is SipHash-1-3
 * under the caller's key (k0, k1: the key's bytes 0-7 and 8-15,
 * little-endian). */
uint64_t pktsh_hash(const void *p, uint32_t len);
uint64_t pktsh_siphash13(uint64_t k0, uint64_t k1, const void *p, uint32_t len);
/* The hash of a DNS name in wire form (what struct pktsh_dns_q's
 * name_hash holds): a universal hash (multilinear mod 2^61 - 1, hash.c)
 * under multipliers drawn once per process like the key above, below
 * 2^61 - 1: two different names collide with probability 2^-61, and
 * nobody who cannot see the multipliers can aim one name at another. It
 * is not a pseudorandom function: for values that stay in the process.
 * Bytes past 256 are not hashed. */
uint64_t pktsh_name_hash(const void *p, uint32_t len);
/* A Lua table key for the number x that no sender can aim: 53 bits of
 * pktsh_hash of its 8 bytes (-0 taken as 0), a whole double. LuaJIT
 * hashes numbers by value, unkeyed, so a table keyed by ports or lengths
 * a sender chooses can be made one long chain; pktsh.hist and
 * pktsh.topk key their tables by this instead. */
double pktsh_hash_num(double x);

/* What a hash table's lookups cost (pending, top-k): probes / lookups is
 * the mean number of slots a lookup reads. An insert that would sit
 * probe_limit or more slots past its home slot draws a new random key
 * for the table and rebuilds it (rekeys): with a secret key that does
 * not happen by chance (under 1e-10 per insert at the tables' load of at
 * most one half), it is the backstop should the key ever leak. */
struct pktsh_table_stats {
	uint64_t lookups;
	uint64_t probes;
	uint64_t rekeys;
	uint32_t max_probe;      /* the longest lookup, in slots */
	uint32_t probe_limit;
};

/* Byte buffers freed at once, not when LuaJIT's collector runs (buf.c;
 * pktsh.dnsflow's TCP streams): NULL without memory. */
uint8_t *pktsh_buf_new(uint32_t size);
void pktsh_buf_free(uint8_t *p);

/* A bounded table of requests waiting for their answer (pending.c,
 * pktsh.pending): keys of key_len bytes, a number each (a time). put: 0
 * new, 1 replaced an entry with the same key (which becomes the newest),
 * 2 new after the oldest entry was dropped to make room (set_evict), -1
 * full (max_entries, without set_evict, or no memory). add: as put, but
 * an entry with the same key whose value is at or above stale stays as
 * it was (3): a retransmitted query keeps its first time. take: 1 and
 * *value, removing the entry, or 0. expire removes entries from the
 * oldest put on while their value is below `before`, and returns how
 * many: with values put in order (capture times) those are exactly the
 * entries below `before`, each in O(1). evicted counts set_evict's drops;
 * visits the entries expiry and eviction looked at (the work they cost). */
struct pktsh_pending;
struct pktsh_pending *pktsh_pending_new(uint32_t key_len, uint32_t max_entries,
					struct pktsh_err *err);
void pktsh_pending_free(struct pktsh_pending *t);
void pktsh_pending_set_evict(struct pktsh_pending *t, int32_t evict);
int pktsh_pending_put(struct pktsh_pending *t, const void *key, double value);
int pktsh_pending_add(struct pktsh_pending *t, const void *key, double value, double stale);
int pktsh_pending_take(struct pktsh_pending *t, const void *key, double *value);
uint32_t pktsh_pending_expire(struct pktsh_pending *t, double before);
uint32_t pktsh_pending_count(const struct pktsh_pending *t);
uint64_t pktsh_pending_evicted(const struct pktsh_pending *t);
uint64_t pktsh_pending_visits(const struct pktsh_pending *t);
int pktsh_pending_stats(const struct pktsh_pending *t, struct pktsh_table_stats *out);

/* Puts and takes for n records at base, stride bytes apart: a record's
 * key is at its start, its value (a double) at value_off. out[i] for a
 * put is what pktsh_pending_put returned (0, 1 or 2); for a take the value, or NaN when the
 * key is absent. Stops before a put that finds the table full and returns
 * its index (else n), so the caller can make room and go on from there. */
enum pktsh_pending_op { PKTSH_PENDING_SKIP = 0, PKTSH_PENDING_PUT = 1, PKTSH_PENDING_TAKE = 2 };
uint32_t pktsh_pending_batch(struct pktsh_pending *t, const void *base, uint32_t stride,
			     uint32_t value_off, const uint8_t *op, uint32_t n, double *out);

/* Space-saving top-k over 64-bit keys (topk.c, pktsh.topk.column),
 * filtered once full (a key not kept counts in a filter cell of its
 * keyed hash and enters only when that cell reaches the smallest count;
 * the bounds are space-saving's): add counts keys[0..n-1] and returns
 * how many entered the table, their indices in fresh (room for n; may be
 * NULL). entries copies up to cap
 * entries out and returns how many there are. keys: KEYS_RAW keys are
 * hashed under random tables before they index the table; KEYS_HASHED
 * keys are pktsh_hash values already, and their own bits index it (a
 * raw key given as HASHED can be chosen to collide: the table then
 * rekeys, see pktsh_table_stats, but costs more until it does). */
enum pktsh_topk_keys { PKTSH_TOPK_KEYS_RAW = 0, PKTSH_TOPK_KEYS_HASHED = 1 };
struct pktsh_topk64;
struct pktsh_topk64 *pktsh_topk64_new(uint32_t m, int32_t keys, struct pktsh_err *err);
void pktsh_topk64_free(struct pktsh_topk64 *t);
uint32_t pktsh_topk64_add(struct pktsh_topk64 *t, const uint64_t *keys, uint32_t n,
			  uint32_t *fresh);
uint32_t pktsh_topk64_entries(const struct pktsh_topk64 *t, uint64_t *keys, double *counts,
			      double *errs, uint32_t cap);
int pktsh_topk64_stats(const struct pktsh_topk64 *t, struct pktsh_table_stats *out);
/* Labels: each entry keeps up to size bytes given when its key entered
 * (dnsstats: a name's wire form). labels copies every entry's label, in
 * the order entries gives them, end to end into out (when the total fits
 * cap; out may be NULL to ask) with entry e's from offs[e] to offs[e + 1]
 * (offs: size + 1 of them, filled whenever it is not NULL), and returns
 * the total: one call at report time, the text made only for the rows
 * shown. total: keys counted. */
int pktsh_topk64_keep_labels(struct pktsh_topk64 *t, uint32_t size, struct pktsh_err *err);
uint32_t pktsh_topk64_labels(const struct pktsh_topk64 *t, uint8_t *out, uint32_t cap,
			     uint32_t *offs);
double pktsh_topk64_total(const struct pktsh_topk64 *t);

/* The dnsstats engine (src/accel/dnsscan.c, dnsstats.c; the library
 * module pktsh.app.dnsstats drives it). A batch at a time: scan reads
 * pkts[i, n) up to the first packet at or after until (ns; INT64_MAX:
 * no limit, whatever a packet's time), sets *next
 * to where it stopped, and returns how many packets it left for the
 * general path (pktsh.dnsflow; with opts.general every packet, else
 * none), their indices at deferred(e); every packet is walked by
 * pktsh_walk, through encapsulations unless opts.outer_only. Everything
 * else it counts itself: UDP messages, TCP through the engine's
 * pktsh_dnstcp (tcp(e)) and UDP fragments through its pktsh_ipfrag
 * (frags(e)), both of which dnsflow shares. When it left none the
 * batch is counted; else the caller hands each message dnsflow finds in
 * the deferred packets to add (pi: the packet's index in the batch; cut:
 * 1 when the capture cut the message short, dnsflow's meta.truncated) and
 * calls batch_end, which counts everything in packet order. finish ends
 * the input: every waiting query counts as unanswered.
 *
 * Counting (counts): messages, queries, responses, malformed, by
 * transport and IP version; query types of queries with a question and
 * response codes (RCODE with the OPT record's extended bits) of
 * responses (types: which 0 qtypes, 1 rcodes, the non-zero ones); a
 * message the capture cut short (a UDP length or TCP length prefix past
 * the captured bytes) counts in truncated, and as a query or response with its RCODE when
 * its first 4 bytes are there, with its question when that is whole
 * (Wireshark reads the same), never as malformed for what is missing;
 * queries (QUERY opcode, a question) wait in a pending table keyed by a
 * 61-bit universal hash of the name's hash, id, addresses and ports, and
 * a response takes its query out: matched with its latency, or answered
 * after timeout (the query unanswered, the response unmatched), or
 * unmatched; a query sent again leaves its first copy unanswered, as
 * does one still waiting timeout after it was sent (expired each batch,
 * O(1) each) or at finish, and the oldest when max_pending wait
 * (pending_evicted). Names and clients of queries go through space-saving
 * top-k tables (topk(e, 0) names, keyed by 53 bits of the name hash and
 * labelled with its wire form; topk(e, 1) clients, keyed by an IPv4
 * address or 2^52 + 52 bits of a keyed hash of an IPv6 one, labelled
 * with its 16 bytes). Latencies (ns): exact values while at most 20,000
 * are distinct (latency which 0: value, count pairs), log2 bins with 128
 * sub-buckets (pktsh.hist's log_index; which 1: index, count) always;
 * latency returns how many there are, the first cap copied out. */
enum pktsh_dns_kind {
	PKTSH_DNS_QUERY = 0, PKTSH_DNS_RESPONSE = 1, PKTSH_DNS_BAD_QUERY = 2,
	PKTSH_DNS_BAD_RESPONSE = 3, PKTSH_DNS_UNREADABLE = 4
};
enum pktsh_dnsstats_which {
	PKTSH_DNSSTATS_QTYPES = 0, PKTSH_DNSSTATS_RCODES = 1,
	PKTSH_DNSSTATS_NAMES = 0, PKTSH_DNSSTATS_CLIENTS = 1,
	PKTSH_DNSSTATS_LAT_EXACT = 0, PKTSH_DNSSTATS_LAT_LOG = 1
};
enum pktsh_dnsstats_limits {
	PKTSH_DNSSTATS_EXACT_MAX = 20000, PKTSH_DNSSTATS_LOG_SUB = 128
};
/* The kinds of enum pktsh_dns_kind, and the message slots counted by
 * transport, IP version and kind (struct pktsh_dnsstats_counts.slots). */
enum pktsh_dnsstats_slots { PKTSH_DNS_KINDS = 5, PKTSH_DNSSTATS_SLOTS = 20 };
struct pktsh_dnsstats_opts {
	const uint8_t *ports;     /* a bit per port, PKTSH_DNS_PORTMAP_BYTES */
	double timeout;           /* ns before a query counts as unanswered */
	double tcp_timeout;       /* ns a TCP flow may stay idle */
	uint64_t max_buffer;      /* bytes of TCP streams held, and as many
				   * of IP fragments */
	double frag_timeout;      /* ns a fragmented datagram may take */
	uint32_t max_frags;       /* fragmented datagrams held at once */
	uint32_t capacity;        /* counters per top-k table */
	uint32_t max_pending;     /* queries waiting at once */
	uint32_t max_flows;       /* TCP flows */
	int32_t general;          /* 1: every packet to the general path */
	int32_t outer_only;       /* 1: a packet whose IP datagram is inside
				   * another (IP in IP, GRE, VXLAN, Geneve)
				   * is passed over */
};
struct pktsh_dnsstats_counts {
	double packets, dns, queries, responses, malformed;
	double udp, tcp, ip4, ip6;
	double matched, unanswered, unmatched;
	double pending;           /* queries waiting now */
	double pending_evicted;   /* counted unanswered early: max_pending waited */
	double deferred;          /* packets left for the general path */
	double fragmented;        /* UDP messages rebuilt from IP fragments */
	double frag_malformed;    /* rebuilt datagrams whose UDP header is not */
	double tc;                /* messages with QR and TC set: responses the
				   * server cut short (the TC bit) */
	double truncated;         /* messages the capture cut short (the UDP
				   * length or TCP length prefix claims
				   * bytes past the frame):
				   * counted by what is there (id, QR and
				   * RCODE from 4 bytes, the question once
				   * whole), never malformed */
	/* messages by slot (tcp * 2 + v6) * PKTSH_DNS_KINDS + kind: one add
	 * per message gives every breakdown (transport, IP version, kind);
	 * dns, udp, tcp, ip4 and ip6 above are their sums, made when read */
	double slots[PKTSH_DNSSTATS_SLOTS];
};
/* n, sum, min, max of the latencies counted; exact_over 1 once more
 * than EXACT_MAX were distinct (then only the log2 bins hold them). */
struct pktsh_dnsstats_latency {
	double n, sum, min, max;
	int32_t exact_over;
	int32_t pad;
};
struct pktsh_dnsstats;
struct pktsh_dnsstats *pktsh_dnsstats_new(const struct pktsh_dnsstats_opts *o,
					  struct pktsh_err *err);
void pktsh_dnsstats_free(struct pktsh_dnsstats *e);
int32_t pktsh_dnsstats_scan(struct pktsh_dnsstats *e, const struct pktsh_pkt *pkts, uint32_t i,
			    uint32_t n, int64_t until, uint32_t *next);
const uint32_t *pktsh_dnsstats_deferred(const struct pktsh_dnsstats *e);
void pktsh_dnsstats_add(struct pktsh_dnsstats *e, const uint8_t *msg, uint32_t len,
			const struct pktsh_pkt *p, int32_t v6, uint16_t sport, uint16_t dport,
			double ts, int32_t tcp, uint32_t pi, int32_t cut);
void pktsh_dnsstats_batch_end(struct pktsh_dnsstats *e);
void pktsh_dnsstats_finish(struct pktsh_dnsstats *e);
int pktsh_dnsstats_counts(const struct pktsh_dnsstats *e, struct pktsh_dnsstats_counts *out);
uint32_t pktsh_dnsstats_types(const struct pktsh_dnsstats *e, int32_t which, uint32_t *keys,
			      double *counts, uint32_t cap);
uint32_t pktsh_dnsstats_latency(const struct pktsh_dnsstats *e, int32_t which, double *keys,
				double *counts, uint32_t cap);
int pktsh_dnsstats_latency_stats(const struct pktsh_dnsstats *e,
				 struct pktsh_dnsstats_latency *out);
struct pktsh_topk64 *pktsh_dnsstats_topk(const struct pktsh_dnsstats *e, int32_t which);
struct pktsh_dnstcp *pktsh_dnsstats_tcp(const struct pktsh_dnsstats *e);
struct pktsh_ipfrag *pktsh_dnsstats_frags(const struct pktsh_dnsstats *e);
int pktsh_dnsstats_pending_stats(const struct pktsh_dnsstats *e, struct pktsh_table_stats *out);
/* Every message the engine sees (scan, TCP, add) goes to tap too, as it
 * is made (NULL: none; pktsh_dnstap_add, below). The caller keeps tap
 * open while e may see messages. */
struct pktsh_dnstap;
void pktsh_dnsstats_tap(struct pktsh_dnsstats *e, struct pktsh_dnstap *tap);

/* Prometheus /metrics over HTTP (src/report/metrics.c, pktsh.metrics):
 * a thread of libmicrohttpd serves the latest published snapshot, in the
 * text format 0.0.4 or, when the scraper's Accept header asks for it,
 * OpenMetrics 1.0.0. serve binds addr ("HOST:PORT", "[V6]:PORT", ":PORT";
 * port 0 picks one: see info.addr) at once; the server starts in the
 * background then, or with -Z pending at the first publish or wanted
 * after the drop (info.serving says when it does; libmicrohttpd itself
 * is loaded at the first connection; a failure to start comes back from
 * publish or wanted). publish copies both texts and never waits for a
 * request being served. With max_age (seconds, 0: off) a request that
 * finds the current snapshot older asks for a new one and waits for it
 * (half a second at most): wanted is then 1 until the next publish, for
 * a loop that publishes only when asked (-1 with err: the server could
 * not start). */
struct pktsh_metrics_info {
	char addr[64];             /* the address bound, "127.0.0.1:9153", "[::]:9153" */
	int32_t serving;           /* 1 once its thread runs (accepting) */
	uint64_t published;        /* snapshots */
	uint64_t requests;         /* HTTP requests */
	uint64_t scrapes;          /* of /metrics */
	uint64_t openmetrics;      /* of those, answered in OpenMetrics */
	uint64_t not_found;
};
struct pktsh_metrics_srv;
int pktsh_metrics_serve(struct pktsh_metrics_srv **out, const char *addr,
			struct pktsh_err *err);
int pktsh_metrics_publish(struct pktsh_metrics_srv *m, const char *prom, size_t prom_len,
			  const char *om, size_t om_len, struct pktsh_err *err);
int pktsh_metrics_max_age(struct pktsh_metrics_srv *m, double seconds);
int pktsh_metrics_wanted(struct pktsh_metrics_srv *m, struct pktsh_err *err);
int pktsh_metrics_info(struct pktsh_metrics_srv *m, struct pktsh_metrics_info *out);
void pktsh_metrics_close(struct pktsh_metrics_srv *m);

/* dnstap output (src/report/dnstap.c, pktsh.dnstap): every DNS message
 * as a dnstap Message in Frame Streams, to spec: a file path,
 * "unix:PATH" or "tcp:HOST:PORT". add copies the message into a queue of
 * queue_bytes (default 4 MiB) and returns; a thread encodes and writes.
 * A full queue drops the message (counted), or with wait = 1 makes add
 * wait for room (for files read offline). l3hdr is the IP header the
 * addresses are read from (IPv4: 12, IPv6: 8 bytes in); the client is
 * the source of a query (QR 0), the destination of a response. */
struct pktsh_dnstap_opts {
	uint32_t queue_bytes;
	int32_t wait;
	uint32_t timeout_ms;       /* a socket write or read stalled this long
				    * drops the connection (default 5000) */
	const char *identity;      /* Dnstap.identity; NULL: the host name */
};
struct pktsh_dnstap_stats {
	uint64_t queued;           /* messages taken into the queue */
	uint64_t dropped;          /* not taken: the queue was full */
	uint64_t written;          /* handed to the output */
	uint64_t lost;             /* taken but not written: the output was down */
	uint64_t connects;         /* outputs opened (a collector reconnected, ...) */
	uint64_t errors;           /* failed opens and writes */
	uint64_t pending;          /* bytes in the queue */
	int32_t connected;
	char last_error[200];
};
struct pktsh_dnstap;
int pktsh_dnstap_open(struct pktsh_dnstap **out, const char *spec,
		      const struct pktsh_dnstap_opts *opts, struct pktsh_err *err);
void pktsh_dnstap_add(struct pktsh_dnstap *t, const uint8_t *msg, uint32_t len,
		      const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport,
		      int64_t ts, int tcp);
int pktsh_dnstap_stats(struct pktsh_dnstap *t, struct pktsh_dnstap_stats *out);
/* Writes what is queued, ends the stream (STOP), fills final (may be
 * NULL) with the last counts and frees t; -1 if the output stopped
 * taking data (given up after 10 s). */
int pktsh_dnstap_close(struct pktsh_dnstap *t, struct pktsh_dnstap_stats *final,
		       struct pktsh_err *err);

/* The interfaces libpcap can capture on, in its order (src/source/ifaces.c,
 * tcpdump -D): fills out[0 .. max-1] and returns how many there are
 * (call again with more room if that is more than max), or -1. */
enum pktsh_iface_flag {
	PKTSH_IF_LOOPBACK = 0x01,
	PKTSH_IF_UP = 0x02,
	PKTSH_IF_RUNNING = 0x04,
	PKTSH_IF_WIRELESS = 0x08,
	PKTSH_IF_STATUS_MASK = 0x30,    /* connection status: */
	PKTSH_IF_STATUS_UNKNOWN = 0x00,
	PKTSH_IF_STATUS_CONNECTED = 0x10,
	PKTSH_IF_STATUS_DISCONNECTED = 0x20,
	PKTSH_IF_STATUS_NOT_APPLICABLE = 0x30
};

struct pktsh_iface {
	char name[64];
	char description[192];
	uint32_t flags;         /* enum pktsh_iface_flag bits */
};

int pktsh_ifaces(struct pktsh_iface *out, int max, struct pktsh_err *err);
/* The name of interface index into buf (0), or -1 when there is none. */
int pktsh_if_name(uint32_t index, char *buf, size_t len);

/* Compile a tcpdump filter for a link type: 0 if it compiles, else -1
 * with the reason. */
int pktsh_filter_check(const char *expr, int32_t linktype, uint32_t snaplen,
		       struct pktsh_err *err);

/* Interrupts (SIGINT, SIGTERM). Loops over sources call pktsh_stopping()
 * once per batch and end, as if the input had ended, when it is non-zero. */
int pktsh_stopping(void);
/* How many times the terminal was resized (SIGWINCH): reports redrawn in
 * place redraw the whole screen when it changes. */
int32_t pktsh_winch(void);

/* The size of the terminal at fd (src/report/term.c): 0, or -1 when fd
 * is not a terminal. */
int pktsh_term_size(int32_t fd, int32_t *rows, int32_t *cols);

/* Wall-clock and monotonic time in ns (src/host/clock.c). */
int64_t pktsh_now_ns(void);
int64_t pktsh_mono_ns(void);
/* Sleeps ns nanoseconds, or less when the process is asked to stop
 * (Ctrl-C, SIGTERM) or, in a worker, its group is: 0 after the whole
 * time, 1 when stopped early. */
int pktsh_sleep_ns(int64_t ns);

const char *pktsh_version(void);
/* libbpf's and libxdp's own messages (src/xdp/bpflog.c): hidden unless
 * on is 1 (shown on stderr) or 2 (their debug lines too); on < 0 only
 * asks. Returns the setting before. */
int32_t pktsh_bpf_verbose(int32_t on);
/* Sending whole Ethernet frames on one interface (src/source/sender.c). */

/* Transmit stamps (SO_TIMESTAMPING): SW the kernel's software stamp
 * taken as the driver takes the frame, HW the NIC's (SIOCSHWTSTAMP
 * turns it on), BOTH the two for every frame (OPT_TX_SWHW where the
 * kernel has it). They come back on the socket's error queue; the
 * sender drains it into records of its own. */
enum pktsh_txts {
	PKTSH_TXTS_NONE = 0,
	PKTSH_TXTS_SW = 1,
	PKTSH_TXTS_HW = 2,
	PKTSH_TXTS_BOTH = 3
};

struct pktsh_sender_opts {
	int32_t tx_ring;           /* 1: bulk sends through a PACKET_TX_RING */
	int32_t qdisc_bypass;      /* 1: PACKET_QDISC_BYPASS (faster; captures
				      on the sending interface miss the frames) */
	int32_t tstamp;            /* enum pktsh_txts */
	uint32_t ring_frames;      /* TX ring slots, 0: the default (512) */
};

struct pktsh_sender_stats {
	uint64_t packets;          /* frames the driver accepted */
	uint64_t bytes;
	uint64_t errors;           /* frames given up on */
	uint64_t retries;          /* sends again after the device dropped a frame */
	uint64_t stamps;           /* transmit stamp records handed out */
	uint64_t stamps_lost;      /* records dropped: tx_stamps was not called
				      for over PKTSH_TXTS_KEEP of them */
};

struct pktsh_sender_info {
	uint32_t ifindex;
	int32_t fd;
	int32_t tx_ring;           /* 1 if the TX ring is in use */
	int32_t qdisc_bypass;
	uint32_t max_ring_frame;   /* longer frames go through send(2) */
	uint32_t ring_frames;      /* slots in the TX ring */
	int32_t tstamp;            /* enum pktsh_txts in force */
	int32_t swhw;              /* 1 if OPT_TX_SWHW is in force (BOTH) */
};

/* One frame's transmit stamps: id as the send that carried it numbered
 * it (frames are numbered 0, 1, 2 ... in the order the driver accepted
 * them); sw in ns since the epoch, hw in the NIC's clock; 0: none. */
struct pktsh_tx_stamp {
	uint64_t id;
	int64_t sw;
	int64_t hw;
};
enum pktsh_txts_limits { PKTSH_TXTS_KEEP = 65536 };

struct pktsh_sender;
int pktsh_sender_open(struct pktsh_sender **out, const char *ifname,
		      const struct pktsh_sender_opts *opts,
		      struct pktsh_err *err);
/* Sends the frame count times: the number sent (the driver accepted),
 * which is less than count only after an error (err says why) or an
 * interrupt; -1 when nothing was sent. The frames sent get the ids
 * pktsh_sender_next_id gave before the call, onwards. */
int pktsh_sender_send(struct pktsh_sender *s, const uint8_t *data,
		      uint32_t len, uint32_t count, struct pktsh_err *err);
/* The id the next frame sent will have. */
uint64_t pktsh_sender_next_id(const struct pktsh_sender *s);
/* The batch form: frames of their own each. queue copies one frame into
 * the next TX ring slot (a frame too big for a slot, or a sender without
 * a ring, flushes what is queued and goes out at once): 0, or -1 for a
 * frame that cannot be sent (shorter than an Ethernet header, over the
 * MTU; nothing is queued) or a failed send. When the ring is full it is
 * flushed first. flush hands every queued frame to the kernel with one
 * send(2) and returns how many the driver accepted (in queue order,
 * from the id next_id gave before the first queue), or -1 when none. */
int pktsh_sender_queue(struct pktsh_sender *s, const uint8_t *data,
		       uint32_t len, struct pktsh_err *err);
int pktsh_sender_flush(struct pktsh_sender *s, struct pktsh_err *err);
/* Queues the captured bytes of n packets and flushes: the number sent.
 * Packets that cannot be sent (see queue) are skipped and counted in
 * *skipped; -1 only when the device fails. */
int pktsh_sender_send_pkts(struct pktsh_sender *s, const struct pktsh_pkt *pkts,
			   uint32_t n, uint32_t *skipped, struct pktsh_err *err);
/* Transmit stamp records: drains the error queue (recvmmsg, in batches),
 * waiting up to timeout_ms for the first when none is ready, and copies
 * up to cap records to out, oldest first: their number, or -1. With
 * BOTH a record waits for its second stamp (a frame whose second stamp
 * has not come 100 ms after its first, or with flush, goes out with 0
 * for it). */
int pktsh_sender_tx_stamps(struct pktsh_sender *s, struct pktsh_tx_stamp *out,
			   uint32_t cap, int32_t timeout_ms, int32_t flush,
			   struct pktsh_err *err);
int pktsh_sender_stats(const struct pktsh_sender *s,
		       struct pktsh_sender_stats *out);
int pktsh_sender_info(const struct pktsh_sender *s,
		      struct pktsh_sender_info *out);
void pktsh_sender_close(struct pktsh_sender *s);

/* Sleeps until CLOCK_MONOTONIC reaches mono_ns (clock_nanosleep), then
 * spins the last spin_ns: 0 on time, 1 if a signal or pktsh_stopping()
 * cut it short. For schedules (replay, probes). */
int pktsh_sleep_until(int64_t mono_ns, int64_t spin_ns);

/* The offset (system minus PTP clock, ns) from n samples of
 * PTP_SYS_OFFSET_EXTENDED: 3 * n values (system before, PTP clock,
 * system after), the narrowest window wins. *window gets its width. */
int64_t pktsh_phc_offset(const int64_t *samples, uint32_t n, int64_t *window);
/* --- Fanout workers (src/workers.c, lua/pktsh/parallel.lua) ---------------
 * A group of threads, each with its own Lua state that re-runs the script
 * up to its pktsh.parallel call and works on one ring of a fanout group
 * (or on a share of a list of files). Only strings cross threads: the job
 * in, one result or error text out. */
enum pktsh_worker_status {
	PKTSH_WORKER_RUNNING = 0,  /* no result yet */
	PKTSH_WORKER_OK = 1,       /* out is the serialised result */
	PKTSH_WORKER_FAILED = 2    /* out is the error message and traceback */
};

struct pktsh_worker_info {
	int32_t index;             /* 1 .. count */
	int32_t count;
	struct pktsh_ring *ring;   /* this worker's ring, NULL for files */
	const char *job;           /* the parent's serialised job */
	size_t job_len;
};

struct pktsh_workers;
/* Starts n threads; rings (n of them, or NULL) stay the caller's, and must
 * stay open until pktsh_workers_close. The job is copied. */
int pktsh_workers_start(struct pktsh_workers **out, int32_t n,
			struct pktsh_ring *const *rings, const char *job,
			size_t job_len, struct pktsh_err *err);
/* Waits up to timeout_ms; returns how many workers are still running
 * (0: all ended and joined). */
int pktsh_workers_wait(struct pktsh_workers *w, int32_t timeout_ms);
/* Asks the workers' loops to end as if their input had ended. */
void pktsh_workers_stop(struct pktsh_workers *w);
/* Worker i's (1-based) status and text, valid until close; RUNNING until
 * every worker is joined. */
int32_t pktsh_workers_result(const struct pktsh_workers *w, int32_t i,
			     const char **data, size_t *len);
/* Stops, joins every thread and frees the group. */
void pktsh_workers_close(struct pktsh_workers *w);
/* In a worker thread: 0 and this worker's info, -1 in any other thread. */
int pktsh_worker_self(struct pktsh_worker_info *out);
/* In a worker thread: non-zero once the parent asked the group to stop. */
int pktsh_worker_stopping(void);
/* In a worker thread: hands back the result (status OK) or error text. */
int pktsh_worker_done(int32_t status, const char *data, size_t len);
/* In a worker thread: data (len bytes, copied) replaces this worker's
 * published snapshot; 0, or -1 outside a worker or without memory. */
int pktsh_worker_publish(const char *data, size_t len);
/* Worker i's (1-based) latest snapshot: its length, copied to buf when it
 * fits in cap (call with cap 0 for the length), or -1 when it published
 * none. */
int64_t pktsh_workers_snapshot(struct pktsh_workers *w, int32_t i, char *buf, size_t cap);
/* The -j N of the command line (1 without it). */
int32_t pktsh_jobs(void);
/* A fresh PACKET_FANOUT group id (16 bits, not 0) for this process. */
uint32_t pktsh_fanout_group_new(void);
/* --- end of fanout workers --- */
/* --- XDP rules (src/xdp.c, lua/pktsh/xdp.lua) -----------------------------
 * One XDP program on an interface; the Lua side owns the rule list and
 * hands the whole set, in match order, to pktsh_xdp_commit, which writes
 * it into the slot no packet reads and flips: a packet sees the old set
 * or the new one, never a mixture. */
enum pktsh_xdp_mode {
	PKTSH_XDP_NATIVE = 0,
	PKTSH_XDP_SKB = 1,
	PKTSH_XDP_UNATTACHED = 2   /* loaded only: pktsh_xdp_test_run */
};

enum pktsh_xdp_attach {
	PKTSH_XDP_LINK = 0,        /* a bpf_link: gone when the process is */
	PKTSH_XDP_DISPATCHER = 1   /* libxdp's multi-program dispatcher */
};

enum pktsh_xdp_engine {
	PKTSH_XDP_LINEAR = 0,
	PKTSH_XDP_CLASSIFIER = 1
};

struct pktsh_xdp_opts {
	int32_t mode;              /* enum pktsh_xdp_mode */
	int32_t attach;            /* enum pktsh_xdp_attach */
	uint32_t ring_size;        /* copy ring bytes (power of two), 0: default */
	uint32_t class_words;      /* classifier bitmap pool (u64 words), 0: default */
	uint32_t wakeup_every;     /* copy records per CPU between wakeups, 0: default */
};

/* pktsh_xdp_rule.flags: the fields a rule matches (bpf/xdp_rules.h's
 * enum xr_flags, the same bits). */
enum pktsh_xdp_rule_flags {
	PKTSH_XDP_F_SRC = 1,
	PKTSH_XDP_F_DST = 2,
	PKTSH_XDP_F_SPORT = 4,
	PKTSH_XDP_F_DPORT = 8,
	PKTSH_XDP_F_PROTO = 16,
	PKTSH_XDP_F_VLAN = 32
};
/* All ones: a rule's copy of the whole packet; the rule id of "no rule
 * matched" (pktsh_xdp_test.rule_id). */
enum pktsh_xdp_copy { PKTSH_XDP_COPY_WHOLE = 0xffffffff };
enum pktsh_xdp_no_rule { PKTSH_XDP_NO_RULE = 0xffffffff };
/* pktsh_xdp_test.action, a rule's verdict: the kernel's enum xdp_action. A
 * rule's action is PASS, DROP or REDIRECT (to the AF_XDP socket on the
 * packet's rx queue, src/source/xsk.c; a queue without one takes the rule
 * set's default). */
enum pktsh_xdp_action {
	PKTSH_XDP_ABORTED = 0,
	PKTSH_XDP_DROP = 1,
	PKTSH_XDP_PASS = 2,
	PKTSH_XDP_TX = 3,
	PKTSH_XDP_REDIRECT = 4
};

/* One rule as the Lua side validated it. Addresses in network order
 * (IPv4 in the first 4 bytes); a field is matched when its flag is set. */
struct pktsh_xdp_rule {
	uint32_t id;               /* counter index, < pktsh_xdp_info.max_rules */
	uint32_t flags;            /* enum pktsh_xdp_rule_flags */
	int32_t family;            /* 0, 4 or 6 */
	uint8_t src[16];
	uint8_t dst[16];
	int32_t src_len;           /* prefix lengths */
	int32_t dst_len;
	uint32_t sport_lo;
	uint32_t sport_hi;
	uint32_t dport_lo;
	uint32_t dport_hi;
	uint32_t proto;
	uint32_t vlan;
	int32_t action;            /* enum pktsh_xdp_action: PASS, DROP or REDIRECT */
	uint32_t copy;             /* bytes to copy, 0 none, PKTSH_XDP_COPY_WHOLE */
};

struct pktsh_xdp_counters {
	uint64_t packets;
	uint64_t bytes;
	uint64_t copied;
	uint64_t copy_lost;
	uint64_t no_socket;        /* redirect rule: no socket on the queue */
};

/* packets = matched + unmatched. A packet the program could not parse
 * to its end is still judged (on what it parsed, then the default) and
 * counted under one cause; parse_errors is their sum. */
struct pktsh_xdp_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t parse_errors;     /* the sum of the causes below */
	uint64_t matched;
	uint64_t unmatched;        /* took the default action */
	uint64_t passed;
	uint64_t dropped;
	uint64_t redirected;       /* handed to an AF_XDP socket */
	uint64_t no_socket;        /* redirect rule matched, no socket on the
				      queue: took the default (in passed or dropped) */
	uint64_t copied;
	uint64_t copy_lost;        /* the copy ring was full */
	uint64_t wakeups;
	uint64_t truncated_l2;     /* Ethernet/VLAN header cut short */
	uint64_t truncated_l3;     /* IP header or IPv6 extension header cut short */
	uint64_t malformed_l3;     /* IP version, header length or total length wrong */
	uint64_t truncated_l4;     /* transport header cut short */
	uint64_t ext_headers_limit;  /* more IPv6 extension headers than walked */
	uint64_t tiny_fragment;    /* first fragment without the whole transport header */
	uint64_t fragment_overlap; /* later fragment landing in the transport header */
};

struct pktsh_xdp_info {
	uint32_t ifindex;
	int32_t mode;              /* what is really attached */
	int32_t attach;
	uint32_t prog_id;
	int32_t engine;            /* of the active rule set */
	uint32_t nrules;
	uint32_t max_rules;
	uint32_t ring_size;
	uint32_t class_words;      /* pool size */
	uint32_t class_words_used; /* by the active rule set */
	uint32_t copy_max;         /* bytes a copy record can hold */
	char note[256];            /* e.g. why the dispatcher was not used */
};

struct pktsh_xdp_test {
	uint32_t action;           /* enum pktsh_xdp_action the program returned */
	uint32_t rule_id;          /* or PKTSH_XDP_NO_RULE */
	uint32_t position;         /* of that rule in match order */
	uint32_t repeat;
	uint64_t ns_per_run;       /* the kernel's average duration */
};

struct pktsh_xdp;
/* ifname may be NULL with mode PKTSH_XDP_UNATTACHED. */
int pktsh_xdp_open(struct pktsh_xdp **out, const char *ifname,
		   const struct pktsh_xdp_opts *opts, struct pktsh_err *err);
/* Installs rules[0..n-1] (in match order) as the rule set, atomically. */
int pktsh_xdp_commit(struct pktsh_xdp *x, const struct pktsh_xdp_rule *rules,
		     uint32_t n, int32_t engine, int32_t default_drop,
		     struct pktsh_err *err);
int pktsh_xdp_rule_counters(struct pktsh_xdp *x, uint32_t id,
			    struct pktsh_xdp_counters *out, struct pktsh_err *err);
int pktsh_xdp_stats(struct pktsh_xdp *x, struct pktsh_xdp_stats *out,
		    struct pktsh_err *err);
int pktsh_xdp_info(const struct pktsh_xdp *x, struct pktsh_xdp_info *out);
/* Runs the program on one frame (BPF_PROG_TEST_RUN) repeat times. */
int pktsh_xdp_test_run(struct pktsh_xdp *x, const uint8_t *frame, uint32_t len,
		       uint32_t repeat, struct pktsh_xdp_test *out,
		       struct pktsh_err *err);
/* Copy records as a batch, consumed in place from the ring: >0 packets,
 * 0 none within timeout_ms (or a signal), -1 error. The records stay the
 * batch's until pktsh_xdp_copies_release or the next call. */
int pktsh_xdp_copies_next(struct pktsh_xdp *x, struct pktsh_batch **out,
			  int32_t timeout_ms, struct pktsh_err *err);
void pktsh_xdp_copies_release(struct pktsh_xdp *x);
int pktsh_xdp_copies_stats(struct pktsh_xdp *x, struct pktsh_src_stats *out);
/* Detaches at once; the rule set stays readable until pktsh_xdp_close. */
int pktsh_xdp_detach(struct pktsh_xdp *x, struct pktsh_err *err);
void pktsh_xdp_close(struct pktsh_xdp *x);
/* Owner records of the programs pktsh attached through libxdp's
 * dispatcher, which outlive a killed pktsh (src/xdpowner.c). */
enum pktsh_xdp_owner_action {
	PKTSH_OWNER_KEPT = 0,      /* owner alive, another namespace, or listed only */
	PKTSH_OWNER_DETACHED = 1,  /* owner dead: program detached, record removed */
	PKTSH_OWNER_GONE = 2,      /* owner dead, program no longer attached: record removed */
	PKTSH_OWNER_FAILED = 3     /* owner dead, not cleaned up: note says why */
};

struct pktsh_xdp_owner {
	int32_t pid;               /* the process that attached the program */
	int32_t alive;             /* 1 while it runs (same pid, same start time) */
	int32_t here;              /* 1 if recorded in this network namespace */
	int32_t action;            /* enum pktsh_xdp_owner_action */
	uint64_t start;            /* its start time, clock ticks after boot */
	uint64_t netns;            /* inode of its network namespace */
	uint32_t ifindex;          /* in that namespace */
	uint32_t prog_id;
	char name[96];             /* the record's file name */
	char note[160];            /* why a clean-up failed */
};

/* Lists the owner records (the first cap into out, *n of them in all)
 * and, with clean, detaches the programs of owners that have died (in
 * this network namespace) and removes their records. */
int pktsh_xdp_owners(struct pktsh_xdp_owner *out, uint32_t cap, uint32_t *n,
		     int32_t clean, struct pktsh_err *err);
/* Records this process as the owner of x's program on ifname, as the
 * dispatcher attach does (tests use it); closing x removes the record. */
int pktsh_xdp_own(struct pktsh_xdp *x, const char *ifname, struct pktsh_err *err);
/* --- end of XDP rules --- */
/* --- AF_XDP sockets (src/source/xsk*.c, lua/pktsh/source/xsk.lua) --------
 * One socket per rx queue of an interface, built with libxdp's xsk API,
 * fed by the redirect rules of a rule set's XDP program (its XSKMAP).
 * Frames live in a UMEM, one per socket or shared by several (sockets on
 * other queues and interfaces too): a batch points straight into it and
 * its frames go back to the fill ring when the batch is released. A
 * socket is used by one thread at a time; sockets sharing a UMEM may be
 * used by different threads (the free frames are under a lock, taken
 * once per batch). */
enum pktsh_xsk_zerocopy {
	PKTSH_XSK_ZC_AUTO = 0,     /* zero-copy where the driver has it, else copy */
	PKTSH_XSK_ZC_ON = 1,       /* XDP_ZEROCOPY or an error */
	PKTSH_XSK_ZC_OFF = 2       /* XDP_COPY */
};

/* A packet's ts from an AF_XDP socket. The frames carry no kernel stamp:
 * pktsh's XDP program writes one (bpf_ktime_get_ns) in each redirected
 * packet's metadata, but reading it touches every frame's first cache
 * line, a miss per packet (the kernel wrote the frame on another core)
 * that a loop reading only lengths would not take. */
enum pktsh_xsk_stamp {
	PKTSH_XSK_STAMP_BATCH = 0, /* one clock reading per batch taken from the
				      RX ring (tsrc SW): when the host saw it */
	PKTSH_XSK_STAMP_XDP = 1    /* the program's, per packet (tsrc XDP) */
};

struct pktsh_xsk_opts {
	uint32_t frame_size;       /* bytes per UMEM frame: 2048 or 4096 (0: 2048) */
	uint32_t frames;           /* UMEM frames per socket (0: fill_size + tx_size) */
	uint32_t rx_size;          /* ring entries, powers of two (0: 16384 for RX
				      and fill, 2048 for TX and completion) */
	uint32_t tx_size;
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t batch;            /* packets per batch at most (0: 256) */
	int32_t zerocopy;          /* enum pktsh_xsk_zerocopy */
	int32_t need_wakeup;       /* 1: XDP_USE_NEED_WAKEUP */
	int32_t busy_poll_us;      /* > 0: SO_BUSY_POLL, and the wait busy-polls */
	int32_t busy_poll_budget;  /* > 0: SO_BUSY_POLL_BUDGET */
	int32_t prefer_busy_poll;  /* 1: SO_PREFER_BUSY_POLL */
	int32_t linger_us;         /* > 0: an empty RX ring is looked at again
				      after this long before the thread sleeps
				      in poll(), so wakeups come a batch at a
				      time (see README) */
	int32_t guard;             /* 1: guard-page copies, as for pktsh_file_open */
	int32_t stamp;             /* enum pktsh_xsk_stamp */
};

/* Counters of one socket. The first group is pktsh's own; the second is
 * the kernel's XDP_STATISTICS, running totals. */
struct pktsh_xsk_stats {
	uint64_t packets;          /* delivered to Lua */
	uint64_t bytes;
	uint64_t batches;
	uint64_t unstamped;        /* stamp XDP: packets without the program's
				      timestamp (stamped by the host) */
	uint64_t tx_packets;       /* put in the TX ring */
	uint64_t tx_bytes;
	uint64_t tx_zerocopy;      /* of them, received frames sent as they were */
	uint64_t tx_completed;     /* frames back from the completion ring */
	uint64_t tx_dropped;       /* given up: no room in the TX ring in time */
	uint64_t kicks;            /* sendto() calls to start the TX ring */
	uint64_t rx_dropped;       /* lost in the kernel (no free frame, too big) */
	uint64_t rx_invalid_descs;
	uint64_t tx_invalid_descs;
	uint64_t rx_ring_full;     /* lost: the RX ring was full */
	uint64_t rx_fill_ring_empty_descs;  /* times the fill ring was empty */
	uint64_t tx_ring_empty_descs;
};

struct pktsh_xsk_info {
	uint32_t ifindex;
	uint32_t queue;
	int32_t fd;
	int32_t zerocopy;          /* 1 if bound in zero-copy mode */
	int32_t need_wakeup;
	int32_t busy_poll;         /* 1 if the busy-poll options were taken */
	uint32_t napi_id;          /* SO_INCOMING_NAPI_ID, 0 if none */
	uint32_t rx_size;
	uint32_t tx_size;
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t frame_size;
	uint32_t frames;           /* of its UMEM (all sockets sharing it) */
	uint32_t umem_sockets;     /* sockets sharing its UMEM */
	uint32_t tx_budget;        /* frames one sendto() sends in copy mode */
	uint32_t free_frames;      /* the UMEM's, in no ring and no batch */
	uint32_t fill_frames;      /* in this socket's fill ring */
	uint32_t in_flight;        /* in its TX ring, not completed yet */
	uint32_t held;             /* in its current batch */
	uint32_t cached;           /* free, kept by its TX path for copies */
	char note[256];            /* e.g. why zero-copy was not used */
};

struct pktsh_xsk_umem;
struct pktsh_xsk;
/* A UMEM for sockets sockets: opts->frames frames each (default
 * fill_size + tx_size) of frame_size bytes. Freed once it is released and
 * its last socket is closed. */
int pktsh_xsk_umem_new(struct pktsh_xsk_umem **out, uint32_t sockets,
		       const struct pktsh_xsk_opts *opts, struct pktsh_err *err);
void pktsh_xsk_umem_release(struct pktsh_xsk_umem *u);
/* The number of rx queues of ifname. */
int pktsh_xsk_queues(const char *ifname, uint32_t *out, struct pktsh_err *err);
/* A socket on queue of ifname, its frames in umem (the first socket of
 * a UMEM sets the mode: zero-copy, need_wakeup), registered in the
 * XSKMAP of rules (NULL: none; a rule set on another interface is an
 * error) so that the rule set's redirect rules feed it. */
int pktsh_xsk_open(struct pktsh_xsk **out, const char *ifname, uint32_t queue,
		   struct pktsh_xsk_umem *umem, struct pktsh_xdp *rules,
		   const struct pktsh_xsk_opts *opts, struct pktsh_err *err);
/* The next batch from socks[0..n-1], taken in turn from *cursor on; waits
 * up to timeout_ms when they are all empty: >0 packets (the batch is
 * socks[*cursor]'s until pktsh_xsk_release or its next batch), 0 nothing
 * (or a signal), -1 error. Sends queued on those sockets are started
 * first. */
int pktsh_xsk_next(struct pktsh_xsk *const *socks, uint32_t n, uint32_t *cursor,
		   struct pktsh_batch **out, int32_t timeout_ms,
		   struct pktsh_err *err);
/* The batch's frames go back to the fill ring (or to the TX ring, for
 * those forwarded). */
void pktsh_xsk_release(struct pktsh_xsk *s);
/* Queues pkts[0..n-1] on s's TX ring: a frame received by a socket of the
 * same UMEM and still in its batch goes as it is (zero-copy; it comes
 * back through the completion ring), any other packet is copied into a
 * free frame. Waits up to timeout_ms for room. Returns how many were
 * queued (fewer after a timeout, counted in tx_dropped, or an interrupt),
 * -1 on error (a released packet). */
int pktsh_xsk_forward(struct pktsh_xsk *s, const struct pktsh_pkt *pkts, uint32_t n,
		      int32_t timeout_ms, struct pktsh_err *err);
/* The same for one frame of bytes (copied): 1, 0 after a timeout, -1. */
int pktsh_xsk_send(struct pktsh_xsk *s, const uint8_t *data, uint32_t len,
		   int32_t timeout_ms, struct pktsh_err *err);
/* Starts the TX ring on what is queued and takes back completed frames;
 * with timeout_ms > 0 waits up to that long until every frame sent has
 * completed. The number still in flight. */
int pktsh_xsk_flush(struct pktsh_xsk *s, int32_t timeout_ms, struct pktsh_err *err);
int pktsh_xsk_stats(struct pktsh_xsk *s, struct pktsh_xsk_stats *out,
		    struct pktsh_err *err);
int pktsh_xsk_info(const struct pktsh_xsk *s, struct pktsh_xsk_info *out);
/* The open socket on (ifindex, queue) in this process, or NULL: how a
 * worker thread finds the socket its parent opened for it. */
struct pktsh_xsk *pktsh_xsk_lookup(uint32_t ifindex, uint32_t queue);
/* Takes the socket out of its XSKMAP, then closes it. */
void pktsh_xsk_close(struct pktsh_xsk *s);
/* --- end of AF_XDP sockets --- */
#endif
