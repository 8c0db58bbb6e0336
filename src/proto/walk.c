/*
 * walk.c - the one L2/L3 walker: link header, VLAN tags, PPPoE, MPLS,
 * IPv4 and IPv6 (extension headers included) and the tunnels they carry
 * (IP-in-IP, GRE with ERSPAN, Cisco MetaData and PPTP's PPP, VXLAN,
 * Geneve), down to
 * the innermost IP datagram, into the descriptor's decode cache.
 *
 * The Lua decoders (lua/pktsh/proto/packet.lua) call pktsh_walk through
 * the FFI the first time a packet is asked anything, dnsflow reads the
 * cache it leaves, and the DNS scan (src/accel/dnsscan.c) calls it for
 * every packet of a batch, so a packet the scan hands to the Lua path is
 * not walked again. pktsh_walk_at fills a copy's cache for an outer IP
 * layer (pkt:ip(1), pkt:udp(1)...); pktsh_walk_layers lists the headers
 * passed (summaries, JSON's tunnel stack, pkt:tunnels()).
 *
 * Every read is checked against the captured bytes, and an inner header
 * is read only inside the outer datagram that carries it. Every loop is
 * bounded: a walk passes PKTSH_WALK_MAX_HEADERS headers at most and
 * PKTSH_WALK_MAX_IP IP headers, so a packet nesting tunnels in tunnels
 * costs a bounded walk. A tunnel whose inner datagram is cut or malformed
 * leaves the cache on the outer one. Lengths as Wireshark reads them: an
 * IPv4 total length of 0 (TSO) is the frame's; an IPv6 payload length of
 * 0 is the Jumbo Payload option's, or (no extension header, TCP or UDP,
 * more than 65535 bytes: BIG TCP, as tcpdump reads it) the frame's, else
 * 0. A datagram ends at its length or where what carries it ends,
 * whichever is first (a PPPoE session's length, the outer IP or UDP
 * length, the frame on the wire): pkt.l3wend, and l3end within the
 * capture; each layer record's bound is its carrier's end as tcpdump
 * reads the lengths (its notes). A length that claims more than was
 * captured, or than its carrier holds, sets pkt.trunc.
 */
#include <string.h>
#include "pktsh.h"

enum { OK = PKTSH_PKT_OK, BAD = PKTSH_PKT_BAD, STALE = PKTSH_PKT_STALE };

static uint32_t be16(const uint8_t *d)
{
	return (uint32_t)d[0] << 8 | d[1];
}

static uint32_t le16(const uint8_t *d)
{
	return (uint32_t)d[1] << 8 | d[0];
}

static uint32_t be32(const uint8_t *d)
{
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static int is_vlan(uint32_t et)
{
	return et == PKTSH_ETH_VLAN || et == PKTSH_ETH_QINQ || et == PKTSH_ETH_QINQ_OLD;
}

/* The walk so far. Reads stay below cap: the captured bytes of the
 * datagram (or frame) that holds the current header. end is where that
 * datagram ends by its length fields as tcpdump reads them (the frame on
 * the wire for the outermost, bounded by a PPPoE length; an IP length
 * inside IP; a UDP length inside a UDP tunnel), which may be past the
 * capture; lim the same bound as Wireshark reads it: never past the
 * bound of what carries the container (an inner datagram cannot extend
 * past its carrier). cap <= lim <= end. */
struct cursor {
	struct pktsh_pkt *p;      /* the cache being filled */
	const uint8_t *d;
	uint32_t cap, end, lim;
	uint32_t off;             /* the next header ... */
	uint32_t et;              /* ... and what it is, as an ethertype */
	uint32_t headers;         /* passed so far */
	int32_t upto;             /* stop after this IP header (1 the outermost), or 0 */
	struct pktsh_layer *out;  /* NULL, or where headers passed are listed */
	uint32_t nout, outcap;
};

/* Lists a header (when asked to) and counts it; 0 once the walk has
 * passed as many as it may. */
static int pass(struct cursor *c, uint32_t kind, uint32_t off, uint32_t len,
		uint32_t next, uint32_t sub)
{
	if (c->headers >= PKTSH_WALK_MAX_HEADERS)
		return 0;
	c->headers++;
	if (c->out && c->nout < c->outcap) {
		struct pktsh_layer *l = &c->out[c->nout++];

		l->off = off;
		l->len = len;
		l->end = 0;
		l->bound = c->end;
		l->kind = (uint16_t)kind;
		l->next = (uint16_t)next;
		l->sub = (uint16_t)sub;
		l->pad = 0;
	}
	return 1;
}

/* --- link ------------------------------------------------------------- */

/* BSD address families of DLT_NULL / DLT_LOOP (10 is Linux's AF_INET6;
 * 24, 28, 30 the BSDs'). */
static uint32_t af_ethertype(uint32_t af)
{
	if (af == 2)
		return PKTSH_ETH_IP4;
	if (af == 10 || af == 24 || af == 28 || af == 30)
		return PKTSH_ETH_IP6;
	return 0;
}

/* The ethertype an IP header's first byte names by its version, or 0. */
static uint32_t ip_version_ethertype(uint8_t first)
{
	uint32_t v = first >> 4;

	return v == 4 ? PKTSH_ETH_IP4 : v == 6 ? PKTSH_ETH_IP6 : 0;
}

/* NFLOG (Linux's netfilter log: tcpdump -i nflog:N): a 4-byte header
 * (address family, version, resource id), then TLVs (a length that
 * counts their 4-byte head, a type; padded to 4 bytes) of which
 * NFULA_PAYLOAD holds the datagram. The TLVs are in the byte order of
 * the host that logged them; libpcap reads them so on a little-endian
 * host, and so does this (a big-endian writer's are not found). The
 * walk over them is bounded by the capture: each step is 4 bytes at
 * least. */
#define NFULA_PAYLOAD 9
static int nflog(const struct pktsh_pkt *p, uint32_t *off, uint32_t *et)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, o = 4;

	if (cap < 4)
		return -1;
	while (o + 4 <= cap) {
		/* tcpdump rounds the length up before it checks it */
		uint32_t len = (le16(d + o) + 3) & ~3u;

		if (len < 4)
			return -1;
		if (le16(d + o + 2) == NFULA_PAYLOAD) {
			*off = o + 4;
			/* the family names it, as tcpdump reads it */
			*et = af_ethertype(d[0]);
			return 0;
		}
		o += len;
	}
	return -1;
}

/* The offset after the link header and the ethertype it names (0 for
 * none we know); -1 when the header itself is not captured or the link
 * type is unknown. */
static int link_header(const struct pktsh_pkt *p, uint32_t *off, uint32_t *et)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, af;

	switch (p->linktype) {
	case PKTSH_DLT_EN10MB:
		if (cap < 14)
			return -1;
		*off = 14;
		*et = be16(d + 12);
		return 0;
	case PKTSH_DLT_RAW:
	case PKTSH_DLT_RAW_LT:
	case PKTSH_DLT_RAW_BSD:
	case PKTSH_DLT_IPV4:       /* by the version, as tcpdump and */
	case PKTSH_DLT_IPV6:       /* Wireshark read them: a link type */
		if (cap < 1)       /* that names the other is no matter */
			return -1;
		*off = 0;
		*et = ip_version_ethertype(d[0]);
		return 0;
	case PKTSH_DLT_NFLOG:
		return nflog(p, off, et);
	case PKTSH_DLT_LINUX_SLL:
		if (cap < 16)
			return -1;
		*off = 16;
		*et = be16(d + 14);
		return 0;
	case PKTSH_DLT_LINUX_SLL2:
		if (cap < 20)
			return -1;
		*off = 20;
		*et = be16(d);
		return 0;
	case PKTSH_DLT_NULL:
	case PKTSH_DLT_LOOP:
		if (cap < 4)
			return -1;
		af = be32(d);
		/* DLT_NULL holds the family in the capturing host's order: a
		 * value with only high bits set was written by the other one. */
		if (p->linktype == PKTSH_DLT_NULL && af > 0xffff)
			af = __builtin_bswap32(af);
		*off = 4;
		*et = af_ethertype(af);
		return 0;
	}
	return -1;
}

/* --- IP ----------------------------------------------------------------- */

/* The end of an IPv4 datagram whose total length is tot: a total length
 * of 0 is a TSO capture's, the datagram the rest of what holds it. */
static uint32_t ip4_claimed(const struct cursor *c, uint32_t off, uint32_t tot)
{
	if (tot == 0)
		return c->end > off ? c->end : off;
	return off + tot;
}

/* The cache's fragment, fragdata and l4off for an IPv4 header whose
 * flags and fragment offset are fo and whose payload starts at data. */
static void ip4_fragment(struct pktsh_pkt *p, uint32_t fo, uint32_t data)
{
	p->fragdata = 0;
	p->l4off = data;
	p->fragment = PKTSH_FRAG_NONE;
	if (fo & 0x3fff) {
		p->fragdata = data;
		if (fo & 0x1fff) {
			p->fragment = PKTSH_FRAG_LATER;
			p->l4off = 0;
		} else {
			p->fragment = PKTSH_FRAG_FIRST;
		}
	}
}

/* The IP parsers write the cache only once the header is known whole
 * (an inner header that is not leaves the outer one's in place); each
 * returns 0 and where the datagram claims to end, or -1. */
static int ip4(struct cursor *c, uint32_t off, uint32_t *claimed)
{
	struct pktsh_pkt *p = c->p;
	const uint8_t *d = c->d;
	uint32_t hlen, tot, end;

	if (off + 20 > c->cap || d[off] >> 4 != 4)
		return -1;
	hlen = (d[off] & 15u) * 4;
	if (hlen < 20 || off + hlen > c->cap)
		return -1;
	tot = be16(d + off + 2);
	if (tot != 0 && tot < hlen)
		return -1;
	end = ip4_claimed(c, off, tot);
	if (end < off + hlen)
		end = off + hlen;
	*claimed = end;
	p->l3end = min32(end, c->cap);
	p->l3wend = min32(end, c->lim);
	p->l4proto = d[off + 9];
	ip4_fragment(p, be16(d + off + 6), off + hlen);
	return 0;
}

/* Extension headers of the "length in 8-octet units, not counting the
 * first" kind: hop-by-hop, routing, destination options. */
static int ext_generic(uint32_t nh)
{
	return nh == PKTSH_IPPROTO_HOPOPTS || nh == PKTSH_IPPROTO_ROUTING ||
	       nh == PKTSH_IPPROTO_DSTOPTS;
}

/* Extension headers walked at most per IPv6 header: each advances 8
 * bytes or more, and real chains are 3 or 4 long. */
enum { EXT_MAX = 16 };

/* The Jumbo Payload option (RFC 2675) of the hop-by-hop header at o (n
 * bytes, captured), or 0. */
static uint32_t jumbo(const uint8_t *d, uint32_t o, uint32_t n)
{
	for (uint32_t i = 2; i < n;) {
		uint32_t type = d[o + i];

		if (type == 0) {            /* Pad1 */
			i++;
			continue;
		}
		if (i + 2 > n || i + 2 + d[o + i + 1] > n)
			return 0;
		if (type == 0xc2 && d[o + i + 1] == 4)
			return be32(d + o + i + 2);
		i += 2u + d[o + i + 1];
	}
	return 0;
}

/* Where an IPv6 datagram with payload length 0 ends (see the top). */
static uint32_t ip6_zero_plen(const struct cursor *c, uint32_t off)
{
	const uint8_t *d = c->d;
	uint32_t nh = d[off + 6], o = off + 40;

	if (nh == PKTSH_IPPROTO_HOPOPTS && o + 8 <= c->cap) {
		uint32_t n = (d[o + 1] + 1u) * 8, j;

		if (o + n <= c->cap && (j = jumbo(d, o, n)) > 65535)
			return off + 40 + j;
	}
	if ((nh == PKTSH_IPPROTO_TCP || nh == PKTSH_IPPROTO_UDP) && c->end > off + 40 + 65535)
		return c->end;
	return off + 40;
}

static int ip6(struct cursor *c, uint32_t off, uint32_t *claimed)
{
	struct pktsh_pkt *p = c->p;
	const uint8_t *d = c->d;
	uint32_t plen, stop, nh, o;

	if (off + 40 > c->cap || d[off] >> 4 != 6)
		return -1;
	plen = be16(d + off + 4);
	*claimed = plen ? off + 40 + plen : ip6_zero_plen(c, off);
	stop = p->l3end = min32(*claimed, c->cap);
	p->l3wend = min32(*claimed, c->lim);
	p->l4off = p->fragdata = 0;
	p->fragment = PKTSH_FRAG_NONE;
	nh = d[off + 6];
	o = off + 40;
	for (int i = 0; i < EXT_MAX; i++) {
		uint32_t len;

		if (!ext_generic(nh) && nh != PKTSH_IPPROTO_AH && nh != PKTSH_IPPROTO_FRAGMENT)
			break;
		if (o + 8 > stop) {
			pass(c, PKTSH_LAYER_IP6EXT, o, 0, 0, nh);
			break;
		}
		if (nh == PKTSH_IPPROTO_FRAGMENT) {
			uint32_t fo = be16(d + o + 2);

			if (!pass(c, PKTSH_LAYER_IP6EXT, o, 8, d[o], nh))
				break;
			if (fo & 0xfff8) {
				p->fragment = PKTSH_FRAG_LATER;
				p->fragdata = o + 8;
				p->l4proto = d[o];
				return 0;
			}
			if (fo & 1) {
				p->fragment = PKTSH_FRAG_FIRST;
				p->fragdata = o + 8;
			}
			nh = d[o];
			o += 8;
			continue;
		}
		/* AH: length in 4-octet units, minus 2 */
		len = nh == PKTSH_IPPROTO_AH ? (d[o + 1] + 2u) * 4 : (d[o + 1] + 1u) * 8;
		if (!pass(c, PKTSH_LAYER_IP6EXT, o, len, d[o], nh))
			break;
		nh = d[o];
		o += len;
	}
	p->l4proto = (uint8_t)nh;
	/* ESP, no-next and unknown headers have no transport header we read. */
	if (o <= stop && !ext_generic(nh) && nh != PKTSH_IPPROTO_AH &&
	    nh != PKTSH_IPPROTO_FRAGMENT && nh != PKTSH_IPPROTO_ESP && nh != PKTSH_IPPROTO_NONE)
		p->l4off = o;
	return 0;
}

/* --- tunnels --------------------------------------------------------------- */

/* Cisco MetaData as GRE carries it (as Wireshark reads it): the
 * ethertype of what follows, version, length, options, the SGT; 8 bytes. */
static int cmd(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, et;

	if (off + 8 > c->cap)
		return -1;
	et = be16(d + off);
	if (!pass(c, PKTSH_LAYER_CMD, off, 8, et, be16(d + off + 6)))
		return -1;
	c->off = off + 8;
	c->et = et;
	return 0;
}

/* GRE (RFC 2784/2890; version 1 is PPTP's): the offset after the header
 * and the protocol it carries (as an ethertype) in c->off, c->et.
 * ERSPAN type I (no sequence number) is Ethernet at once. 0 to go on. */
static int gre(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, flags, ver, proto, hl = 4;

	if (off + 4 > c->cap)
		return -1;
	flags = be16(d + off);
	ver = flags & 7;
	proto = be16(d + off + 2);
	if (ver == 0) {
		if (flags & PKTSH_GRE_ROUTING)
			return -1;          /* source routes (RFC 1701): not walked */
		hl += (flags & PKTSH_GRE_CSUM) ? 4 : 0;
		hl += (flags & PKTSH_GRE_KEY) ? 4 : 0;
		hl += (flags & PKTSH_GRE_SEQ) ? 4 : 0;
	} else if (ver == 1 && proto == PKTSH_ETH_PPP && (flags & PKTSH_GRE_KEY)) {
		hl = 8 + ((flags & PKTSH_GRE_SEQ) ? 4 : 0) + ((flags & PKTSH_GRE_ACK) ? 4 : 0);
	} else {
		return -1;
	}
	if (off + hl > c->cap || !pass(c, PKTSH_LAYER_GRE, off, hl, proto, ver))
		return -1;
	c->off = off + hl;
	c->et = proto;
	if (proto == PKTSH_ETH_CMD)
		return cmd(c);
	if (proto == PKTSH_ETH_ERSPAN2 && !(flags & PKTSH_GRE_SEQ)) {
		if (!pass(c, PKTSH_LAYER_ERSPAN, c->off, 0, PKTSH_ETH_TEB, 1))
			return -1;
		c->et = PKTSH_ETH_TEB;
	}
	return 0;
}

/* ERSPAN type II (version 1) and III (version 2) headers. */
static int erspan(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, ver, hl;

	if (off + 8 > c->cap)
		return -1;
	ver = d[off] >> 4;
	if (c->et == PKTSH_ETH_ERSPAN2 && ver == 1) {
		hl = 8;
	} else if (c->et == PKTSH_ETH_ERSPAN3 && ver == 2) {
		if (off + 12 > c->cap)
			return -1;
		/* frame type 0 is Ethernet; O adds a platform sub-header */
		if ((d[off + 10] >> 2 & 0x1f) != 0)
			return -1;
		hl = 12 + ((d[off + 11] & 1) ? 8 : 0);
	} else {
		return -1;
	}
	if (off + hl > c->cap || !pass(c, PKTSH_LAYER_ERSPAN, off, hl, PKTSH_ETH_TEB, ver + 1))
		return -1;
	c->off = off + hl;
	c->et = PKTSH_ETH_TEB;
	return 0;
}

/* PPP's protocol numbers for IPv4, IPv6 and MPLS, as ethertypes. */
static uint32_t ppp_ethertype(uint32_t proto)
{
	switch (proto) {
	case PKTSH_PPP_IP4: return PKTSH_ETH_IP4;
	case PKTSH_PPP_IP6: return PKTSH_ETH_IP6;
	case PKTSH_PPP_MPLS: return PKTSH_ETH_MPLS;
	}
	return 0;
}

/* PPP in GRE: the address and control bytes may be there (0xff 0x03),
 * the protocol is 1 byte when compressed (odd) or 2. */
static int ppp(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, o = off, proto;

	if (o + 2 <= c->cap && d[o] == 0xff && d[o + 1] == 0x03)
		o += 2;
	if (o + 1 > c->cap)
		return -1;
	if (d[o] & 1) {
		proto = d[o];
		o += 1;
	} else {
		if (o + 2 > c->cap)
			return -1;
		proto = be16(d + o);
		o += 2;
	}
	c->et = ppp_ethertype(proto);
	if (!c->et || !pass(c, PKTSH_LAYER_PPP, off, o - off, c->et, proto))
		return -1;
	c->off = o;
	return 0;
}

/* VXLAN and Geneve over the UDP header at l4 (whose datagram ends at
 * l3end, claimed end claimed): the cursor moves inside when the UDP
 * port is the tunnel's and its header is whole. */
static int udp_tunnel(struct cursor *c, uint32_t claimed)
{
	const uint8_t *d = c->d;
	uint32_t l4 = c->p->l4off, l3end = c->p->l3end, sp, dp, ulen, uend, cap, off, hl;
	int vxlan, geneve;

	if (l4 + 8 > l3end)
		return -1;
	sp = be16(d + l4);
	dp = be16(d + l4 + 2);
	vxlan = dp == PKTSH_PORT_VXLAN || sp == PKTSH_PORT_VXLAN;
	geneve = dp == PKTSH_PORT_GENEVE || sp == PKTSH_PORT_GENEVE;
	if (!vxlan && !geneve)
		return -1;
	ulen = be16(d + l4 + 4);
	/* a UDP length of 0 in a datagram over 65535 bytes: BIG TCP's */
	if (ulen == 0 && claimed - l4 > 65535)
		uend = claimed;
	else if (ulen >= 8)
		uend = l4 + ulen;
	else
		return -1;
	cap = min32(uend, l3end);
	off = l4 + 8;
	if (vxlan) {
		hl = 8;
		if (off + hl > cap)
			return -1;
		c->et = PKTSH_ETH_TEB;
	} else {
		if (off + 8 > cap || d[off] >> 6 != 0)
			return -1;
		hl = 8 + (d[off] & 0x3fu) * 4;
		if (off + hl > cap)
			return -1;
		c->et = be16(d + off + 2);
	}
	if (!pass(c, PKTSH_LAYER_UDP, l4, 8, 0, 0) ||
	    !pass(c, vxlan ? PKTSH_LAYER_VXLAN : PKTSH_LAYER_GENEVE, off, hl, c->et, 0))
		return -1;
	c->cap = cap;
	c->end = min32(uend, claimed);
	c->lim = min32(uend, c->p->l3wend);
	c->off = off + hl;
	return 0;
}

/* After a whole IP header (the cache's now), claiming to end at claimed:
 * into the tunnel it carries, if any. 0 to go on with c->off, c->et. */
static int descend(struct cursor *c, uint32_t claimed)
{
	const struct pktsh_pkt *p = c->p;

	if (p->fragment != PKTSH_FRAG_NONE || !p->l4off)
		return -1;
	switch (p->l4proto) {
	case PKTSH_IPPROTO_UDP:
		return udp_tunnel(c, claimed);
	case PKTSH_IPPROTO_TCP:
		return -1;
	case PKTSH_IPPROTO_IPIP:
		c->et = PKTSH_ETH_IP4;
		break;
	case PKTSH_IPPROTO_IPV6:
		c->et = PKTSH_ETH_IP6;
		break;
	case PKTSH_IPPROTO_GRE:
		break;
	default:
		return -1;
	}
	/* tcpdump reads on by the outer IP length, Wireshark by the outer
	 * datagram as its own carrier left it */
	c->cap = p->l3end;
	c->end = claimed;
	c->lim = p->l3wend;
	c->off = p->l4off;
	if (p->l4proto == PKTSH_IPPROTO_GRE)
		return gre(c);
	return 0;
}

/* The IP header at c->off, listed; once whole, the cache's: 0 and the
 * end it claims, or -1. */
static int ip_layer(struct cursor *c, uint32_t *claimed)
{
	struct pktsh_pkt *p = c->p;
	int v6 = c->et == PKTSH_ETH_IP6;
	uint32_t at = c->nout, off = c->off;

	if (p->depth >= PKTSH_WALK_MAX_IP ||
	    !pass(c, v6 ? PKTSH_LAYER_IP6 : PKTSH_LAYER_IP4, off, 0, 0, 0))
		return -1;
	if ((v6 ? ip6(c, off, claimed) : ip4(c, off, claimed)) != 0)
		return -1;
	if (c->out && at < c->nout) {
		c->out[at].len = (p->l4off ? p->l4off : p->l3end) - off;
		c->out[at].end = *claimed;
		c->out[at].next = p->l4proto;
	}
	p->l3off = off;
	p->ethertype = (uint16_t)c->et;
	p->depth++;
	p->l3state = OK;
	if (*claimed > c->cap)      /* cut by the capture or by its carrier */
		p->trunc = 1;
	return 0;
}

/* --- the walk ------------------------------------------------------------ */

/* MPLS label stack entries: the IP version in the first nibble after the
 * bottom of the stack says what follows (no pseudowires). */
static int mpls(struct cursor *c)
{
	const uint8_t *d = c->d;

	for (;;) {
		uint32_t off = c->off;

		if (off + 4 > c->cap || !pass(c, PKTSH_LAYER_MPLS, off, 4, 0, 0))
			return -1;
		c->off = off + 4;
		if (d[off + 2] & 1)
			break;
	}
	if (c->off >= c->cap)
		return -1;
	c->et = ip_version_ethertype(d[c->off]);
	if (c->out && c->nout)
		c->out[c->nout - 1].next = (uint16_t)c->et;
	return c->et ? 0 : -1;
}

/* PPPoE session: version/type 0x11, code 0, then PPP's protocol. Its
 * length (from after the 6-byte header, the PPP protocol included)
 * bounds the datagram it carries; one past the frame is the frame's
 * (tcpdump and Wireshark both read it so). */
static int pppoe(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, et, pend;

	if (off + 8 > c->cap || d[off] != 0x11 || d[off + 1] != 0)
		return -1;
	et = ppp_ethertype(be16(d + off + 6));
	if (!et || !pass(c, PKTSH_LAYER_PPPOE, off, 8, et, be16(d + off + 6)))
		return -1;
	pend = off + 6 + be16(d + off + 4);
	c->cap = min32(c->cap, pend);
	c->end = min32(c->end, pend);
	c->lim = min32(c->lim, pend);
	c->off = off + 8;
	c->et = et;
	return 0;
}

/* One step from the header at c->off (an ethertype's): 0 to go on. */
static int step(struct cursor *c)
{
	const uint8_t *d = c->d;
	uint32_t off = c->off, claimed;

	if (c->et == PKTSH_ETH_IP4 || c->et == PKTSH_ETH_IP6) {
		if (ip_layer(c, &claimed))
			return -1;
		if (c->upto > 0 && c->p->depth >= (uint32_t)c->upto)
			return -1;
		return descend(c, claimed);
	}
	switch (c->et) {
	case PKTSH_ETH_VLAN:
	case PKTSH_ETH_QINQ:
	case PKTSH_ETH_QINQ_OLD:
		if (off + 4 > c->cap || !pass(c, PKTSH_LAYER_VLAN, off, 4, be16(d + off + 2), c->et))
			return -1;
		c->et = be16(d + off + 2);
		c->off = off + 4;
		return 0;
	case PKTSH_ETH_TEB:
		if (off + 14 > c->cap || !pass(c, PKTSH_LAYER_ETH, off, 14, be16(d + off + 12), 0))
			return -1;
		c->et = be16(d + off + 12);
		c->off = off + 14;
		return 0;
	case PKTSH_ETH_PPPOE_SESSION:
		return pppoe(c);
	case PKTSH_ETH_MPLS:
	case PKTSH_ETH_MPLS_MCAST:
		return mpls(c);
	case PKTSH_ETH_ERSPAN2:
	case PKTSH_ETH_ERSPAN3:
		return erspan(c);
	case PKTSH_ETH_PPP:
		return ppp(c);
	}
	return -1;
}

/* The link header and the VLAN tags right after it (l2state, l3off,
 * ethertype, nvlan, vlanid0/1): 0, or -1 when they are not captured. */
static int link_layer(struct cursor *c)
{
	struct pktsh_pkt *p = c->p;
	uint32_t n = 0;

	if (link_header(p, &c->off, &c->et))
		return -1;
	for (; is_vlan(c->et); n++) {
		uint32_t off = c->off;

		if (off + 4 > c->cap) {
			p->nvlan = (uint8_t)min32(n, 255);
			return -1;
		}
		if (!pass(c, PKTSH_LAYER_VLAN, off, 4, be16(c->d + off + 2), c->et))
			break;
		if (n == 0)
			p->vlanid0 = (uint16_t)(be16(c->d + off) & PKTSH_VLAN_ID_MASK);
		else if (n == 1)
			p->vlanid1 = (uint16_t)(be16(c->d + off) & PKTSH_VLAN_ID_MASK);
		c->et = be16(c->d + off + 2);
		c->off = off + 4;
	}
	p->nvlan = (uint8_t)min32(n, 255);
	p->l3off = c->off;
	p->ethertype = (uint16_t)c->et;
	return 0;
}

static int walk(struct pktsh_pkt *p, int32_t upto, struct pktsh_layer *out,
		uint32_t outcap, uint32_t *nout)
{
	struct cursor c = {
		.p = p, .d = p->data, .cap = p->caplen, .end = p->len,
		.upto = upto, .out = out, .outcap = outcap,
	};
	if (c.end < c.cap)
		c.end = c.cap;
	c.lim = c.end;
	p->l3state = BAD;
	p->l3end = p->l3wend = p->l4off = p->fragdata = 0;
	p->l4proto = p->fragment = p->depth = p->trunc = 0;
	if (link_layer(&c)) {
		p->l2state = BAD;
	} else {
		p->l2state = OK;
		while (step(&c) == 0)
			;
	}
	if (nout)
		*nout = c.nout;
	return p->l3state;
}

/* --- the fast path ------------------------------------------------------ */

/* The walk of the packets most captures are made of, Ethernet with up to
 * two VLAN tags, then IPv4 (options or not, fragments too) or IPv6
 * without extension headers, then anything but a tunnel, without the
 * cursor and header bookkeeping: the same cache as walk() leaves (tests
 * compare the two over every test capture and mutations of them), in a
 * third of the instructions; the DNS scan walks every packet. 0 when it
 * is done, -1 to leave the packet to walk() (it may have written the
 * cache: walk() writes all of it again). */
static int walk_fast(struct pktsh_pkt *p)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, end = p->len > cap ? p->len : cap;
	uint32_t off = 14, et, n = 0, claimed, proto;

	if (p->linktype != PKTSH_DLT_EN10MB || cap < 14)
		return -1;
	et = be16(d + 12);
	for (; is_vlan(et); n++, off += 4) {
		if (n == 2 || off + 4 > cap)
			return -1;
		if (n == 0)
			p->vlanid0 = (uint16_t)(be16(d + off) & PKTSH_VLAN_ID_MASK);
		else
			p->vlanid1 = (uint16_t)(be16(d + off) & PKTSH_VLAN_ID_MASK);
		et = be16(d + off + 2);
	}
	if (et == PKTSH_ETH_IP4) {
		uint32_t hlen, tot;

		if (off + 20 > cap || d[off] >> 4 != 4)
			return -1;
		hlen = (d[off] & 15u) * 4;
		tot = be16(d + off + 2);
		if (hlen < 20 || off + hlen > cap || (tot != 0 && tot < hlen))
			return -1;
		claimed = tot == 0 ? end : off + tot;   /* end > off: cap >= off + 20 */
		proto = d[off + 9];
		ip4_fragment(p, be16(d + off + 6), off + hlen);
	} else if (et == PKTSH_ETH_IP6) {
		uint32_t plen;

		if (off + 40 > cap || d[off] >> 4 != 6)
			return -1;
		proto = d[off + 6];
		plen = be16(d + off + 4);
		/* extension headers, and a length of 0 (jumbograms, BIG TCP) */
		if (plen == 0 || ext_generic(proto) || proto == PKTSH_IPPROTO_AH ||
		    proto == PKTSH_IPPROTO_FRAGMENT)
			return -1;
		claimed = off + 40 + plen;
		p->fragdata = 0;
		p->fragment = PKTSH_FRAG_NONE;
		p->l4off = 0;
		if (off + 40 <= min32(claimed, cap) && proto != PKTSH_IPPROTO_ESP &&
		    proto != PKTSH_IPPROTO_NONE)
			p->l4off = off + 40;
	} else {
		return -1;
	}
	/* what descend() would walk into */
	if (p->fragment == PKTSH_FRAG_NONE && p->l4off) {
		if (proto == PKTSH_IPPROTO_IPIP || proto == PKTSH_IPPROTO_IPV6 ||
		    proto == PKTSH_IPPROTO_GRE)
			return -1;
		if (proto == PKTSH_IPPROTO_UDP) {
			uint32_t sp, dp;

			if (p->l4off + 8 <= min32(claimed, cap)) {
				sp = be16(d + p->l4off);
				dp = be16(d + p->l4off + 2);
				if (sp == PKTSH_PORT_VXLAN || dp == PKTSH_PORT_VXLAN ||
				    sp == PKTSH_PORT_GENEVE || dp == PKTSH_PORT_GENEVE)
					return -1;
			}
		}
	}
	p->l2state = OK;
	p->nvlan = (uint8_t)n;
	p->l3off = off;
	p->ethertype = (uint16_t)et;
	p->l4proto = (uint8_t)proto;
	p->l3end = min32(claimed, cap);
	p->l3wend = min32(claimed, end);
	p->depth = 1;
	p->trunc = claimed > cap;
	p->l3state = OK;
	return 0;
}

int pktsh_walk(const struct pktsh_pkt *cp)
{
	struct pktsh_pkt *p = (struct pktsh_pkt *)cp;   /* the cache is the walker's */

	if (p->l2state == STALE)
		return STALE;
	if (walk_fast(p) == 0)
		return OK;
	return walk(p, 0, NULL, 0, NULL);
}

int pktsh_walk_slow(const struct pktsh_pkt *cp)
{
	struct pktsh_pkt *p = (struct pktsh_pkt *)cp;

	if (p->l2state == STALE)
		return STALE;
	return walk(p, 0, NULL, 0, NULL);
}

int pktsh_walk_at(const struct pktsh_pkt *p, int32_t i, struct pktsh_pkt *out)
{
	if (p->l2state == STALE)
		return STALE;
	if (i < 0) {
		if (p->l3state == PKTSH_PKT_NEW)
			pktsh_walk(p);
		i += p->depth + 1;
	}
	*out = *p;
	if (i < 1)
		i = PKTSH_WALK_MAX_IP + 1;  /* no such layer: the walk ends short of it */
	walk(out, i, NULL, 0, NULL);
	return out->depth == (uint32_t)i ? out->l3state : BAD;
}

int pktsh_walk_layers(const struct pktsh_pkt *p, struct pktsh_layer *out, uint32_t cap)
{
	struct pktsh_pkt copy = *p;
	uint32_t n = 0;

	if (p->l2state == STALE)
		return -1;
	walk(&copy, 0, out, cap, &n);
	return (int)n;
}
