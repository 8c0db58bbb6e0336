/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * xdp_rules.h - what the XDP program (bpf/xdp_rules.bpf.c) and the host
 * (src/xdp*.c) share: the rule as the linear engine reads it, the
 * classifier's layout, the counters, the configuration the host flips,
 * and the header of a copy record in the ring buffer.
 *
 * Rule sets are double-buffered: every per-rule-set table has two slots,
 * the host writes the slot no packet reads, then flips cfg.active. A
 * packet reads cfg.active once, so it sees one whole rule set.
 */
#ifndef PKTSH_XDP_RULES_H
#define PKTSH_XDP_RULES_H
#include <linux/types.h>

/* Numbers the program and the host share; the host's src/contract.c
 * ties those Lua sees too to src/pktsh.h's names for them. */
enum xr_limits {
	XR_MAX_RULES = 16384,     /* per rule set (the map sizes) */
	XR_MAX_WORDS = XR_MAX_RULES / 64,
	XR_MAX_SWORDS = XR_MAX_WORDS / 64,
	XR_COPY_MAX = 4096,       /* bytes a copy record can hold */
	XR_WAKEUP_DEFAULT = 4096  /* copy records per CPU between wakeups */
};
enum xr_no_rule { XR_NO_RULE = 0xffffffffu };      /* rule id of "no rule matched" */
enum xr_copy_whole { XR_COPY_WHOLE = 0xffffffffu }; /* a rule's copy: the whole packet */

/* Classifier dimensions (one lookup each per packet). */
enum xr_dim {
	XR_DIM_SRC = 0,
	XR_DIM_DST = 1,
	XR_DIM_SPORT = 2,
	XR_DIM_DPORT = 3,
	XR_DIM_PROTO = 4,
	XR_DIM_VLAN = 5,
	XR_NDIMS = 6
};

/* The per-value class tables hold __u64 (array elements are 8-byte
 * aligned, so the host's mmapped view must use the same stride).
 * Past the values, the index of "absent" (the packet has no such field:
 * a rule naming it does not match) and of "unknown" (the packet has the
 * field but the program could not read it, see enum xr_cause: a pass
 * rule naming it does not match, a drop rule does). */
enum xr_values {
	XR_PORT_NONE = 65536,     /* no transport ports (ICMP, later fragment, ...) */
	XR_PORT_UNKNOWN = 65537,  /* ports not readable */
	XR_PORT_VALUES = 65538,
	XR_PROTO_NONE = 256,      /* not IP, or an IP header not parsed */
	XR_PROTO_UNKNOWN = 257,   /* IPv6 header chain not walked to its end */
	XR_PROTO_VALUES = 258,
	XR_VLAN_ID_MASK = 0x0fff, /* of a tag's TCI */
	XR_VLAN_NONE = XR_VLAN_ID_MASK + 1,  /* untagged */
	XR_VLAN_VALUES = 4097
};

enum xr_flags {
	XR_F_SRC = 1 << 0,
	XR_F_DST = 1 << 1,
	XR_F_SPORT = 1 << 2,
	XR_F_DPORT = 1 << 3,
	XR_F_PROTO = 1 << 4,
	XR_F_VLAN = 1 << 5,
	XR_F_ALL = (1 << 6) - 1
};

/* Why a packet could not be parsed to its end: it is still judged, on
 * what was parsed (struct xr_stats counts each cause). */
enum xr_cause {
	XR_COMPLETE = 0,
	XR_TRUNCATED_L2 = 1,      /* Ethernet or VLAN header cut short: nothing parsed */
	XR_TRUNCATED_L3 = 2,      /* IP header cut short (nothing parsed), or an
				   * IPv6 extension header (addresses kept) */
	XR_MALFORMED_L3 = 3,      /* IP version, IHL or total length wrong: nothing parsed */
	XR_TRUNCATED_L4 = 4,      /* transport header cut short: ports unknown */
	XR_EXT_HEADERS_LIMIT = 5, /* more IPv6 extension headers than the walk
				   * takes: protocol and ports unknown */
	XR_TINY_FRAGMENT = 6,     /* first fragment without the whole transport
				   * header (RFC 1858; IPv6: RFC 7112) */
	XR_FRAGMENT_OVERLAP = 7,  /* later fragment whose offset lands inside the
				   * transport header (RFC 3128) */
	XR_NCAUSES = 8
};

enum xr_engine {
	XR_ENGINE_LINEAR = 0,
	XR_ENGINE_CLASSIFIER = 1
};

/* One rule, in match order at rules[slot * XR_MAX_RULES + position].
 * Addresses and masks in network byte order (IPv4 in word 0), ports and
 * VLAN in host order. */
struct xr_rule {
	__u32 src[4];
	__u32 smask[4];
	__u32 dst[4];
	__u32 dmask[4];
	__u16 sport_lo;
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u16 vlan;
	__u8 proto;
	__u8 family;              /* 0 any, 4, 6 (when src or dst is set) */
	__u32 flags;              /* enum xr_flags: the fields that must match */
	__u32 id;                 /* counter index */
	__u32 verdict;            /* XDP_PASS or XDP_DROP */
	__u32 copy;               /* bytes to copy (0 none, XR_COPY_WHOLE) */
	__u32 pad;                /* a multiple of 8: the array's element stride */
};

/* Per rule set. The classifier's classes live in the cls_words pool at
 * cls_base: class c is [SW summary words][W bitmap words] at
 * cls_base + c * (swords + words). Bit i of the bitmap is rule position i;
 * summary bit j says bitmap word j is not zero. */
struct xr_slot {
	__u32 nrules;
	__u32 engine;             /* enum xr_engine */
	__u32 verdict;            /* default: XDP_PASS or XDP_DROP */
	__u32 dims;               /* 1 << XR_DIM_x for each dimension in use */
	__u32 words;
	__u32 swords;
	__u32 cls_base;
	__u32 all_class;          /* every rule: the class of an unused dimension */
	__u32 def_class[2];       /* src, dst: no prefix in the trie matched */
};

struct xr_cfg {
	__u32 active;             /* the slot packets read: 0 or 1 */
	__u32 trace;              /* 1: store the matched rule in last_rule */
	__u32 last_rule;
	__u32 last_pos;
	struct xr_slot slot[2];
};

/* LPM trie keys: the slot comes first, so prefixlen = 32 + the prefix. */
struct xr_lpm4 {
	__u32 prefixlen;
	__u32 slot;
	__u8 addr[4];
};

struct xr_lpm6 {
	__u32 prefixlen;
	__u32 slot;
	__u8 addr[16];
};

/* Per rule, per CPU. */
struct xr_rule_stats {
	__u64 packets;
	__u64 bytes;
	__u64 copied;
	__u64 copy_lost;
};

/* Whole program, per CPU. */
struct xr_stats {
	__u64 packets;
	__u64 bytes;
	__u64 matched;
	__u64 unmatched;          /* took the default verdict */
	__u64 passed;
	__u64 dropped;
	__u64 copied;
	__u64 copy_lost;          /* the ring was full */
	__u64 wakeups;
	__u64 cause[XR_NCAUSES];  /* by enum xr_cause ([0] unused) */
};

/* A copy record in the ring buffer: this header, then caplen bytes. */
struct xr_copy_hdr {
	__u64 ktime_ns;           /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 ifindex;
	__u32 rx_queue;
	__u32 rule_id;
	__u32 verdict;
	__u32 len;                /* wire length */
	__u32 caplen;
};

#endif
