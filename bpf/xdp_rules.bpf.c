// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xdp_rules.bpf.c - pktsh's one XDP program: parse -> match rules -> act.
 *
 * Parse: Ethernet, up to two VLAN tags (0x8100, 0x88a8, 0x9100), IPv4,
 * IPv6 with its extension headers, TCP, UDP, UDP-Lite, SCTP ports, ICMP
 * and ICMPv6; every advance of the cursor is checked against data_end.
 * Match: the active rule set (cfg.active, read once per packet) with
 * either engine: a linear scan (bpf_loop over the rules in priority order)
 * or the classifier (one lookup per dimension, each giving a class whose
 * bitmap holds the rules that accept the packet in that dimension; the
 * first bit set in all of them is the first matching rule).
 * Act: XDP_PASS or XDP_DROP, and optionally a copy of the first N bytes
 * into a ring buffer. It never returns XDP_ABORTED and never loses the
 * verdict the policy gives: a packet it cannot parse to its end (enum
 * xr_cause, each counted) is judged on what was parsed - a field it has
 * but whose bytes could not be read makes drop rules naming that field
 * match and pass rules naming it not - and then by the default verdict;
 * tiny and overlapping fragments, made only to slip past filters (RFC
 * 1858, 3128), do not reach the rules under a default of drop. A full
 * ring costs the copy (counted), never the verdict.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp_rules.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
_Static_assert((XR_NCAUSES & (XR_NCAUSES - 1)) == 0, "cause[] is indexed with a mask");

/* Set by the host before load. */
const volatile __u32 wakeup_every = XR_WAKEUP_DEFAULT; /* records per CPU between wakeups */
const volatile __u64 wakeup_fill = 1 << 20; /* ...or sooner, past this much unread */

/* Written by the host (mmapped .bss). */
struct xr_cfg cfg;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * XR_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xr_rule);
} rules SEC(".maps");

/* The classifier's class bitmaps; sized by the host. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1 << 20);
	__type(key, __u32);
	__type(value, __u64);
} cls_words SEC(".maps");

#define VALUE_CLASSES(name, n)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_ARRAY);		\
		__uint(map_flags, BPF_F_MMAPABLE);		\
		__uint(max_entries, 2 * (n));			\
		__type(key, __u32);				\
		__type(value, __u64);				\
	} name SEC(".maps")

VALUE_CLASSES(sport_cls, XR_PORT_VALUES);
VALUE_CLASSES(dport_cls, XR_PORT_VALUES);
VALUE_CLASSES(proto_cls, XR_PROTO_VALUES);
VALUE_CLASSES(vlan_cls, XR_VLAN_VALUES);

#define PREFIX_CLASSES(name, keytype)				\
	struct {						\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);		\
		__uint(map_flags, BPF_F_NO_PREALLOC);		\
		__uint(max_entries, 2 * XR_MAX_RULES);		\
		__type(key, struct keytype);			\
		__type(value, __u32);				\
	} name SEC(".maps")

PREFIX_CLASSES(src4, xr_lpm4);
PREFIX_CLASSES(dst4, xr_lpm4);
PREFIX_CLASSES(src6, xr_lpm6);
PREFIX_CLASSES(dst6, xr_lpm6);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XR_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xr_rule_stats);
} rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xr_stats);
} stats SEC(".maps");

/* Sized by the host (a power of two, at least a page). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} copies SEC(".maps");

/* Copy records per CPU since the last forced wakeup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} since_wakeup SEC(".maps");

/* What the parser found. */
struct key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u16 vlan;
	__u8 family;              /* 0: no IP header parsed (not IP, or broken) */
	__u8 proto;
	__u8 has_ports;
	__u8 nvlan;
	__u8 unknown;             /* XR_F_PROTO, XR_F_SPORT | XR_F_DPORT: fields the
				   * packet has but the parser could not read */
};

struct vlanhdr {
	__be16 tci;
	__be16 type;
};

struct exthdr {
	__u8 nexthdr;
	__u8 len;
	__be16 frag;              /* fragment header: offset and flags */
};

static __always_inline int is_vlan(__be16 t)
{
	return t == bpf_htons(ETH_P_8021Q) || t == bpf_htons(ETH_P_8021AD) ||
	       t == bpf_htons(ETH_P_QINQ1);
}

static __always_inline int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP;
}

/* Bytes of the transport header the parser needs, for the protocols it
 * reads. A first fragment must hold them all, and a later fragment never
 * lands inside them in a datagram a real stack fragmented. */
enum {
	L4_TCP = sizeof(struct tcphdr),
	L4_UDP = sizeof(struct udphdr),
	L4_SCTP = 12,             /* the common header */
	L4_ICMP = 4               /* type, code, checksum */
};

static __always_inline __u32 l4_size(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return L4_TCP;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return L4_UDP;
	case IPPROTO_SCTP:
		return L4_SCTP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return L4_ICMP;
	}
	return 0;
}

/* Transport header at p, with avail bytes of the datagram from p on
 * (the frame may end sooner: end). 0 read (ports filled for protocols
 * that have them), -1 cut short. One switch, each case with its own
 * constant: the verifier then follows one path per protocol (l4_size()
 * and then a switch made it follow every pair, at 3 times the
 * instructions of the whole program). */
static __always_inline int parse_l4(void *p, void *end, __u32 avail,
				    __u8 proto, struct key *k)
{
	__be16 *ports = p;

	switch (proto) {
	case IPPROTO_TCP:
		if (avail < L4_TCP || p + L4_TCP > end)
			return -1;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (avail < L4_UDP || p + L4_UDP > end)
			return -1;
		break;
	case IPPROTO_SCTP:
		if (avail < L4_SCTP || p + L4_SCTP > end)
			return -1;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return avail < L4_ICMP || p + L4_ICMP > end ? -1 : 0;
	default:
		return 0;
	}
	if ((void *)(ports + 2) > end)   /* implied above; for the verifier */
		return -1;
	k->sport = bpf_ntohs(ports[0]);
	k->dport = bpf_ntohs(ports[1]);
	k->has_ports = 1;
	return 0;
}

/* The transport header was cut short: in a first fragment that is a tiny
 * fragment, else a truncated packet. The ports (if the protocol has
 * them) are there but unread. */
static __always_inline int l4_cut(struct key *k, int first_fragment)
{
	if (has_ports(k->proto))
		k->unknown |= XR_F_SPORT | XR_F_DPORT;
	return first_fragment ? XR_TINY_FRAGMENT : XR_TRUNCATED_L4;
}

/* A later fragment at offset off (bytes) of a datagram whose transport
 * header is proto's: it carries no transport header, unless it lands
 * inside the one the first fragment holds - an overlap, made only to
 * rewrite that header after the first fragment was judged (RFC 3128). */
static __always_inline int later_fragment(struct key *k, __u32 off)
{
	if (off >= l4_size(k->proto))
		return XR_COMPLETE;
	if (has_ports(k->proto))
		k->unknown |= XR_F_SPORT | XR_F_DPORT;
	return XR_FRAGMENT_OVERLAP;
}

static __always_inline int parse_ip4(void *p, void *end, struct key *k)
{
	struct iphdr *ip = p;
	__u32 hl, tot, frag;

	if ((void *)(ip + 1) > end)
		return XR_TRUNCATED_L3;
	hl = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (!tot)
		tot = 0xffff;            /* GRO's BIG TCP: the frame bounds it */
	if (ip->version != 4 || hl < sizeof(*ip) || tot < hl)
		return XR_MALFORMED_L3;
	if (p + hl > end)
		return XR_TRUNCATED_L3;
	k->family = 4;
	k->proto = ip->protocol;
	k->src[0] = ip->saddr;
	k->dst[0] = ip->daddr;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff)
		return later_fragment(k, (frag & 0x1fff) * 8);
	if (parse_l4(p + hl, end, tot - hl, ip->protocol, k))
		return l4_cut(k, frag & 0x2000);
	return XR_COMPLETE;
}

static __always_inline int is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_DSTOPTS || nh == IPPROTO_FRAGMENT ||
	       nh == IPPROTO_AH;
}

#define MAX_EXT_HEADERS 8

/* Whether the IPv6 header chain that starts with nh at offset off of the
 * frame holds the fragment header of a first fragment (offset 0, more
 * follow). Asked only of a chain cut short, to tell a tiny fragment (RFC
 * 7112) from a truncated packet: a flag carried through parse_ip6's walk
 * instead made the verifier tell apart the walk's states by it (four
 * times the instructions of the whole program). Reads with
 * bpf_xdp_load_bytes, and is verified once (a global function). */
__attribute__((noinline)) int ip6_first_fragment(struct xdp_md *ctx, __u32 off,
						 __u32 nh)
{
	int i;

	for (i = 0; i < MAX_EXT_HEADERS && is_ext(nh); i++) {
		struct exthdr e;

		if (bpf_xdp_load_bytes(ctx, off, &e, sizeof(e)))
			return 0;
		if (nh == IPPROTO_FRAGMENT)
			return (bpf_ntohs(e.frag) & 0xfff9) == 1;
		off += nh == IPPROTO_AH ? ((__u32)e.len + 2) * 4 : ((__u32)e.len + 1) * 8;
		nh = e.nexthdr;
	}
	return 0;
}

/* IPv6 at p, offset off of the frame. The extension headers cost one step
 * each; past MAX_EXT_HEADERS the protocol stays unknown. The walk only
 * adds up their lengths (used), checked against the payload length once
 * it is over: a comparison inside the loop would make the verifier tell
 * apart every length it has seen. */
static __always_inline int parse_ip6(struct xdp_md *ctx, void *p, void *end,
				     __u32 off, struct key *k)
{
	struct ipv6hdr *ip6 = p;
	__u32 plen, used = 0, hlen;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > end)
		return XR_TRUNCATED_L3;
	if (ip6->version != 6)
		return XR_MALFORMED_L3;
	k->family = 6;
	__builtin_memcpy(k->src, &ip6->saddr, 16);
	__builtin_memcpy(k->dst, &ip6->daddr, 16);
	plen = bpf_ntohs(ip6->payload_len);
	if (!plen)
		plen = 0xffff;           /* a jumbogram (BIG TCP): the frame bounds it */
	nh = ip6->nexthdr;
	p = ip6 + 1;
	for (i = 0; i < MAX_EXT_HEADERS && is_ext(nh); i++) {
		struct exthdr *e = p;

		if ((void *)(e + 1) > end)
			goto chain_cut;
		if (nh == IPPROTO_FRAGMENT) {
			__u32 fo = bpf_ntohs(e->frag);

			if (fo & 0xfff8) {
				k->proto = e->nexthdr;
				return later_fragment(k, fo & 0xfff8);
			}
			hlen = 8;
		} else if (nh == IPPROTO_AH) {
			hlen = ((__u32)e->len + 2) * 4;
		} else {
			hlen = ((__u32)e->len + 1) * 8;
		}
		used += hlen;
		nh = e->nexthdr;
		p += hlen;
	}
	if (p > end || used > plen)      /* the last header runs past the end */
		goto chain_cut;
	if (is_ext(nh)) {
		k->unknown = XR_F_PROTO | XR_F_SPORT | XR_F_DPORT;
		return XR_EXT_HEADERS_LIMIT;
	}
	k->proto = nh;
	if (parse_l4(p, end, plen - used, nh, k))
		return l4_cut(k, ip6_first_fragment(ctx, off + sizeof(*ip6), ip6->nexthdr));
	return XR_COMPLETE;
chain_cut:
	k->unknown = XR_F_PROTO | XR_F_SPORT | XR_F_DPORT;
	return ip6_first_fragment(ctx, off + sizeof(*ip6), ip6->nexthdr) ?
	       XR_TINY_FRAGMENT : XR_TRUNCATED_L3;
}

/* Fills k with what the headers give: enum xr_cause, XR_COMPLETE when
 * the packet was parsed to its end (a frame that is not IP included). */
static __always_inline int parse(struct xdp_md *ctx, void *data, void *end,
				 struct key *k)
{
	void *p = data;
	struct ethhdr *eth = p;
	__u32 off = sizeof(*eth);
	__be16 type;
	int i;

	if ((void *)(eth + 1) > end)
		return XR_TRUNCATED_L2;
	type = eth->h_proto;
	p = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlanhdr *vh = p;

		if (!is_vlan(type))
			break;
		if ((void *)(vh + 1) > end)
			return XR_TRUNCATED_L2;
		if (i == 0) {
			k->vlan = bpf_ntohs(vh->tci) & XR_VLAN_ID_MASK;
			k->nvlan = 1;
		}
		type = vh->type;
		p = vh + 1;
		off += sizeof(*vh);
	}
	if (type == bpf_htons(ETH_P_IP))
		return parse_ip4(p, end, k);
	if (type == bpf_htons(ETH_P_IPV6))
		return parse_ip6(ctx, p, end, off, k);
	return XR_COMPLETE;          /* not IP: only IP-less rules can match */
}

/* --- linear engine ----------------------------------------------------- */

static __always_inline int rule_matches(const struct xr_rule *r,
					const struct key *k)
{
	__u32 f = r->flags;
	__u32 u = f & k->unknown;
	int i;

	/* A field the packet has but the parser could not read: a drop rule
	 * naming it applies (for all we know its verdict is the policy's),
	 * a pass rule does not. */
	if (u && r->verdict != XDP_DROP)
		return 0;
	f &= ~u;
	if (r->family && r->family != k->family)
		return 0;
	if (f & XR_F_SRC) {
#pragma unroll
		for (i = 0; i < 4; i++)
			if ((k->src[i] & r->smask[i]) != r->src[i])
				return 0;
	}
	if (f & XR_F_DST) {
#pragma unroll
		for (i = 0; i < 4; i++)
			if ((k->dst[i] & r->dmask[i]) != r->dst[i])
				return 0;
	}
	if ((f & XR_F_PROTO) && (!k->family || k->proto != r->proto))
		return 0;
	if ((f & (XR_F_SPORT | XR_F_DPORT)) && !k->has_ports)
		return 0;
	if ((f & XR_F_SPORT) && (k->sport < r->sport_lo || k->sport > r->sport_hi))
		return 0;
	if ((f & XR_F_DPORT) && (k->dport < r->dport_lo || k->dport > r->dport_hi))
		return 0;
	if ((f & XR_F_VLAN) && (!k->nvlan || k->vlan != r->vlan))
		return 0;
	return 1;
}

struct linear_ctx {
	const struct key *k;
	__u32 base;
	__u32 pos;
};

static long linear_step(__u32 i, void *arg)
{
	struct linear_ctx *c = arg;
	__u32 idx = c->base + i;
	struct xr_rule *r = bpf_map_lookup_elem(&rules, &idx);

	if (!r)
		return 1;
	if (rule_matches(r, c->k)) {
		c->pos = i;
		return 1;
	}
	return 0;
}

static __always_inline __u32 linear(__u32 a, const struct xr_slot *s,
				    const struct key *k)
{
	struct linear_ctx c = { .k = k, .base = a * XR_MAX_RULES, .pos = XR_NO_RULE };
	__u32 n = s->nrules;

	if (n > XR_MAX_RULES)
		n = XR_MAX_RULES;
	if (n)
		bpf_loop(n, linear_step, &c, 0);
	return c.pos;
}

/* --- classifier -------------------------------------------------------- */

static __always_inline __u32 ctz64(__u64 x)
{
	__u32 n = 0;

	if (!(x & 0xffffffffULL)) { n += 32; x >>= 32; }
	if (!(x & 0xffffULL)) { n += 16; x >>= 16; }
	if (!(x & 0xffULL)) { n += 8; x >>= 8; }
	if (!(x & 0xfULL)) { n += 4; x >>= 4; }
	if (!(x & 0x3ULL)) { n += 2; x >>= 2; }
	if (!(x & 0x1ULL)) n += 1;
	return n;
}

static __always_inline __u64 word(__u32 idx)
{
	__u64 *w = bpf_map_lookup_elem(&cls_words, &idx);

	return w ? *w : 0;
}

static __always_inline __u32 value_class(void *map, __u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);

	return c ? (__u32)*c : 0;
}

static __always_inline __u32 prefix_class(__u32 a, const struct xr_slot *s,
					  const struct key *k, int dst)
{
	const __u32 *addr = dst ? k->dst : k->src;
	__u32 *c = 0;

	if (k->family == 4) {
		struct xr_lpm4 key = { .prefixlen = 64, .slot = a };

		__builtin_memcpy(key.addr, addr, 4);
		c = bpf_map_lookup_elem(dst ? (void *)&dst4 : (void *)&src4, &key);
	} else if (k->family == 6) {
		struct xr_lpm6 key = { .prefixlen = 32 + 128, .slot = a };

		__builtin_memcpy(key.addr, addr, 16);
		c = bpf_map_lookup_elem(dst ? (void *)&dst6 : (void *)&src6, &key);
	}
	return c ? *c : s->def_class[dst ? 1 : 0];
}

/* Where a packet's ports and protocol are looked up in the value tables:
 * the value, or "absent" or "unknown" past the values (bpf/xdp_rules.h). */
static __always_inline __u32 port_index(const struct key *k, __u16 port)
{
	if (k->has_ports)
		return port;
	return (k->unknown & XR_F_SPORT) ? XR_PORT_UNKNOWN : XR_PORT_NONE;
}

static __always_inline __u32 proto_index(const struct key *k)
{
	if (!k->family)
		return XR_PROTO_NONE;
	return (k->unknown & XR_F_PROTO) ? XR_PROTO_UNKNOWN : k->proto;
}

/* The classifier's walk, one step per bpf_loop iteration: either load
 * the next summary word (the AND over the six classes), or test the
 * bitmap word named by the lowest bit left in it. */
struct classify_ctx {
	__u32 b[XR_NDIMS];        /* index of each class's first summary word */
	__u32 sw;
	__u32 si;                 /* next summary word */
	__u32 cur;                /* summary word m came from */
	__u32 pos;
	__u64 m;
};

static __always_inline __u64 and6(const struct classify_ctx *c, __u32 off)
{
	return word(c->b[0] + off) & word(c->b[1] + off) &
	       word(c->b[2] + off) & word(c->b[3] + off) &
	       word(c->b[4] + off) & word(c->b[5] + off);
}

static long classify_step(__u32 i, void *arg)
{
	struct classify_ctx *c = arg;
	__u32 wi;
	__u64 x;

	if (!c->m) {
		if (c->si >= c->sw)
			return 1;
		c->cur = c->si++;
		c->m = and6(c, c->cur);
		return 0;
	}
	wi = c->cur * 64 + ctz64(c->m);
	c->m &= c->m - 1;
	x = and6(c, c->sw + wi);
	if (x) {
		c->pos = wi * 64 + ctz64(x);
		return 1;
	}
	return 0;
}

static __always_inline __u32 classify(__u32 a, const struct xr_slot *s,
				      const struct key *k)
{
	__u32 dims = s->dims, all = s->all_class;
	__u32 stride = s->swords + s->words;
	struct classify_ctx c = { .sw = s->swords, .pos = XR_NO_RULE };
	__u32 cls[XR_NDIMS];
	int d;

	if (c.sw > XR_MAX_SWORDS)
		return XR_NO_RULE;
	cls[XR_DIM_SRC] = (dims & (1 << XR_DIM_SRC)) ? prefix_class(a, s, k, 0) : all;
	cls[XR_DIM_DST] = (dims & (1 << XR_DIM_DST)) ? prefix_class(a, s, k, 1) : all;
	cls[XR_DIM_SPORT] = (dims & (1 << XR_DIM_SPORT)) ? value_class(&sport_cls,
		a * XR_PORT_VALUES + port_index(k, k->sport)) : all;
	cls[XR_DIM_DPORT] = (dims & (1 << XR_DIM_DPORT)) ? value_class(&dport_cls,
		a * XR_PORT_VALUES + port_index(k, k->dport)) : all;
	cls[XR_DIM_PROTO] = (dims & (1 << XR_DIM_PROTO)) ? value_class(&proto_cls,
		a * XR_PROTO_VALUES + proto_index(k)) : all;
	cls[XR_DIM_VLAN] = (dims & (1 << XR_DIM_VLAN)) ? value_class(&vlan_cls,
		a * XR_VLAN_VALUES + (k->nvlan ? k->vlan : XR_VLAN_NONE)) : all;
#pragma unroll
	for (d = 0; d < XR_NDIMS; d++)
		c.b[d] = s->cls_base + cls[d] * stride;
	/* At most every summary word plus every bitmap word. */
	bpf_loop(XR_MAX_SWORDS * 65, classify_step, &c, 0);
	return c.pos;
}

/* --- copy to user space ------------------------------------------------ */

/* A record is reserved in the ring and the bytes are loaded from the packet
 * straight into it (no per-CPU staging copy). Ring space comes in size
 * classes: the ring's 8-byte record header, struct xr_copy_hdr (32) and
 * caplen bytes, rounded up to a multiple of 64. So a record takes at most
 * 63 bytes more than it holds (128-byte copies: 192 bytes of ring, not
 * 168), bpf_ringbuf_reserve gets the constant size the verifier insists
 * on (one inlined reservation per class), and every record starts on a
 * cache line of its own: the reader on another CPU never pulls away a
 * line the next record is being written into, which measured more than
 * the saved copy. The padding after the bytes is not written. */
#define REC_ALIGN 64
#define REC_SIZE(c) ((c) * REC_ALIGN - 8)     /* reserved for class c */
#define REC_CLASSES ((8 + sizeof(struct xr_copy_hdr) + XR_COPY_MAX + REC_ALIGN - 1) / REC_ALIGN)
_Static_assert(REC_CLASSES == 65, "copy() has a case per size class");

/* Reserves a record of size (a constant), fills it and submits it. */
static __always_inline int emit(struct xdp_md *ctx, const __u64 size, __u64 n,
				__u64 ts, __u32 rule_id, __u32 verdict,
				__u32 wire, __u64 flags)
{
	struct xr_copy_hdr *h = bpf_ringbuf_reserve(&copies, size, 0);

	if (!h)
		return -1;
	/* A no-op (the class fits n), kept so the verifier sees n's bound:
	 * without the barrier clang drops it. */
	barrier_var(n);
	if (n > size - sizeof(*h))
		n = size - sizeof(*h);
	if (n && bpf_xdp_load_bytes(ctx, 0, h + 1, n))
		n = 0;
	h->ktime_ns = ts;
	h->ifindex = ctx->ingress_ifindex;
	h->rx_queue = ctx->rx_queue_index;
	h->rule_id = rule_id;
	h->verdict = verdict;
	h->len = wire;
	h->caplen = n;
	bpf_ringbuf_submit(h, flags);
	return 0;
}

static __always_inline void copy(struct xdp_md *ctx, struct xr_stats *st,
				 struct xr_rule_stats *rs, __u32 rule_id,
				 __u32 want, __u32 verdict, __u32 wire)
{
	__u32 zero = 0, n = want, cls;
	__u32 *since = bpf_map_lookup_elem(&since_wakeup, &zero);
	__u64 flags = BPF_RB_NO_WAKEUP, ts;
	int err;

	if (!since)
		return;
	if (n > wire)
		n = wire;
	if (n > XR_COPY_MAX)
		n = XR_COPY_MAX;
	ts = bpf_ktime_get_ns();
	/* A wakeup costs the reader a context switch and this CPU an IPI:
	 * batch them, but wake the reader early when the ring is filling
	 * (checked every 64 records: the query reads the ring's positions). */
	if (++*since >= wakeup_every ||
	    (!(*since & 63) &&
	     bpf_ringbuf_query(&copies, BPF_RB_AVAIL_DATA) >= wakeup_fill)) {
		*since = 0;
		flags = BPF_RB_FORCE_WAKEUP;
		st->wakeups++;
	}
	cls = (8 + sizeof(struct xr_copy_hdr) + n + REC_ALIGN - 1) / REC_ALIGN;
	switch (cls) {                    /* 1 .. REC_CLASSES */
#define C(c) case c: err = emit(ctx, REC_SIZE(c), n, ts, rule_id, verdict, wire, flags); break;
#define C8(c) C(c) C(c + 1) C(c + 2) C(c + 3) C(c + 4) C(c + 5) C(c + 6) C(c + 7)
	C8(1) C8(9) C8(17) C8(25) C8(33) C8(41) C8(49) C8(57) C(65)
#undef C8
#undef C
	default:
		err = -1;
	}
	if (err) {
		st->copy_lost++;
		if (rs)
			rs->copy_lost++;
		return;
	}
	st->copied++;
	if (rs)
		rs->copied++;
}

/* --- the program ------------------------------------------------------- */

/* Tiny and overlapping fragments exist only to slip past filters: RFC
 * 1858 and 3128 have a filter drop them outright. Under a default of drop
 * they take it without meeting the rules (a rule on addresses or the
 * protocol alone would otherwise pass them); under a default of pass the
 * rules judge them, their ports unknown. */
static __always_inline int skips_rules(int cause, const struct xr_slot *s)
{
	return (cause == XR_TINY_FRAGMENT || cause == XR_FRAGMENT_OVERLAP) &&
	       s->verdict == XDP_DROP;
}

SEC("xdp")
int xdp_rules(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0, a, pos, idx, wire, verdict;
	struct xr_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct xr_rule_stats *rs;
	const struct xr_slot *s;
	struct xr_rule *r;
	struct key k = {};
	int cause;

	if (!st)
		return XDP_PASS;
	wire = bpf_xdp_get_buff_len(ctx);
	st->packets++;
	st->bytes += wire;
	cause = parse(ctx, data, end, &k);
	a = *(volatile __u32 *)&cfg.active & 1;
	s = &cfg.slot[a];
	pos = XR_NO_RULE;
	if (cause)
		st->cause[cause & (XR_NCAUSES - 1)]++;
	if (!skips_rules(cause, s))
		pos = s->engine == XR_ENGINE_CLASSIFIER ? classify(a, s, &k)
							: linear(a, s, &k);
	r = 0;
	if (pos < XR_MAX_RULES) {
		idx = a * XR_MAX_RULES + pos;
		r = bpf_map_lookup_elem(&rules, &idx);
	}
	if (cfg.trace) {
		cfg.last_pos = r ? pos : XR_NO_RULE;
		cfg.last_rule = r ? r->id : XR_NO_RULE;
	}
	if (!r) {
		verdict = s->verdict == XDP_DROP ? XDP_DROP : XDP_PASS;
		st->unmatched++;
		goto out;
	}
	st->matched++;
	verdict = r->verdict == XDP_DROP ? XDP_DROP : XDP_PASS;
	idx = r->id;
	rs = bpf_map_lookup_elem(&rule_stats, &idx);
	if (rs) {
		rs->packets++;
		rs->bytes += wire;
	}
	if (r->copy)
		copy(ctx, st, rs, r->id, r->copy, verdict, wire);
out:
	if (verdict == XDP_DROP)
		st->dropped++;
	else
		st->passed++;
	return verdict;
}
