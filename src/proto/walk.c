/*
 * walk.c - the one L2/L3 walker (pktsh_walk): link header, VLAN tags,
 * IPv4 or IPv6 with its extension headers, into the descriptor's decode
 * cache. The Lua decoders (lua/pktsh/proto/packet.lua) call it through
 * the FFI the first time a packet is asked anything, dnsflow reads the
 * cache it leaves, and the DNS scan (src/accel/dnsscan.c) calls it for
 * every packet of a batch, so a packet the scan hands to the Lua path is
 * not walked twice.
 *
 * Every read is checked against caplen; every loop is bounded (VLAN tags,
 * IPv6 extension headers). Scripts see descriptors through const
 * pointers; the walker is the one writer of the cache, and it writes
 * only what the bytes determine, so walking a packet again changes
 * nothing. A released (STALE) descriptor is left alone.
 */
#include "pktsh.h"

enum { OK = PKTSH_PKT_OK, BAD = PKTSH_PKT_BAD, STALE = PKTSH_PKT_STALE };

static uint32_t be16(const uint8_t *d)
{
	return (uint32_t)d[0] << 8 | d[1];
}

static uint32_t be32(const uint8_t *d)
{
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

static int is_vlan(uint32_t et)
{
	return et == PKTSH_ETH_VLAN || et == PKTSH_ETH_QINQ || et == PKTSH_ETH_QINQ_OLD;
}

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

/* The offset after the link header and the ethertype it names (0 for
 * none we know); -1 when the header itself is not captured or the link
 * type is unknown. */
static int link_header(const struct pktsh_pkt *p, uint32_t *off, uint32_t *et)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, v, af;

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
		if (cap < 1)
			return -1;
		v = d[0] >> 4;
		*off = 0;
		*et = v == 4 ? PKTSH_ETH_IP4 : v == 6 ? PKTSH_ETH_IP6 : 0;
		return 0;
	case PKTSH_DLT_IPV4:
		*off = 0;
		*et = PKTSH_ETH_IP4;
		return 0;
	case PKTSH_DLT_IPV6:
		*off = 0;
		*et = PKTSH_ETH_IP6;
		return 0;
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

/* IPv4 at off: the datagram's end, transport header and fragment state.
 * 0, or -1 when it is not a well-formed IPv4 header. */
static int ip4(struct pktsh_pkt *p, uint32_t off)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, hlen, tot, fo;

	if (off + 20 > cap || d[off] >> 4 != 4)
		return -1;
	hlen = (d[off] & 15u) * 4;
	if (hlen < 20 || off + hlen > cap)
		return -1;
	tot = be16(d + off + 2);
	if (tot < hlen)
		return -1;
	p->l3end = off + tot < cap ? off + tot : cap;
	p->l4proto = d[off + 9];
	fo = be16(d + off + 6);
	if (fo & 0x1fff) {
		p->fragment = 2;
		p->fragdata = off + hlen;
	} else {
		p->fragment = fo & 0x2000 ? 1 : 0;
		if (p->fragment)
			p->fragdata = off + hlen;
		p->l4off = off + hlen;
	}
	return 0;
}

/* Extension headers of the "length in 8-octet units, not counting the
 * first" kind: hop-by-hop 0, routing 43, destination options 60. */
static int ext_generic(uint32_t nh)
{
	return nh == 0 || nh == 43 || nh == 60;
}

/* Extension headers walked at most: each advances 8 bytes or more, and
 * real chains are 3 or 4 long. */
enum { EXT_MAX = 16 };

/* IPv6 at off, its extension headers walked to the transport header. */
static int ip6(struct pktsh_pkt *p, uint32_t off)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, plen, stop, nh, o;

	if (off + 40 > cap || d[off] >> 4 != 6)
		return -1;
	plen = be16(d + off + 4);
	/* A zero payload length is a jumbogram (or a TSO capture): use the capture. */
	stop = plen == 0 ? cap : off + 40 + plen < cap ? off + 40 + plen : cap;
	p->l3end = stop;
	nh = d[off + 6];
	o = off + 40;
	for (int i = 0; i < EXT_MAX; i++) {
		if (ext_generic(nh)) {
			if (o + 8 > stop)
				goto cut;
			nh = d[o];
			o += (d[o + 1] + 1u) * 8;
		} else if (nh == 51) {          /* AH: length in 4-octet units, minus 2 */
			if (o + 8 > stop)
				goto cut;
			nh = d[o];
			o += (d[o + 1] + 2u) * 4;
		} else if (nh == 44) {          /* fragment */
			uint32_t fo;

			if (o + 8 > stop)
				goto cut;
			fo = be16(d + o + 2);
			nh = d[o];
			if (fo & 0xfff8) {
				p->fragment = 2;
				p->fragdata = o + 8;
				p->l4proto = (uint8_t)nh;
				return 0;
			}
			if (fo & 1) {
				p->fragment = 1;
				p->fragdata = o + 8;
			}
			o += 8;
		} else {
			break;
		}
	}
	p->l4proto = (uint8_t)nh;
	/* ESP (50), no-next (59) and unknown headers have no transport header we read. */
	if (o <= stop && nh != 50 && nh != 59)
		p->l4off = o;
	return 0;
cut:
	p->l4proto = (uint8_t)nh;
	return 0;
}

/* VLAN tags walked at most; real stacks are one or two deep. */
enum { VLAN_MAX = 8 };

int pktsh_walk(const struct pktsh_pkt *cp)
{
	struct pktsh_pkt *p = (struct pktsh_pkt *)cp;   /* the cache is the walker's */
	const uint8_t *d = p->data;
	uint32_t off, et, n = 0;

	if (p->l2state == STALE)
		return STALE;
	p->l3state = BAD;
	p->l3end = p->l4off = p->fragdata = 0;
	p->l4proto = p->fragment = p->depth = 0;
	if (link_header(p, &off, &et)) {
		p->l2state = BAD;
		return BAD;
	}
	for (; is_vlan(et) && n < VLAN_MAX; n++) {
		if (off + 4 > p->caplen) {
			p->nvlan = (uint8_t)n;
			p->l2state = BAD;
			return BAD;
		}
		if (n == 0)
			p->vlanid0 = (uint16_t)(be16(d + off) & 0x0fff);
		else if (n == 1)
			p->vlanid1 = (uint16_t)(be16(d + off) & 0x0fff);
		et = be16(d + off + 2);
		off += 4;
	}
	p->nvlan = (uint8_t)n;
	p->l3off = off;
	p->ethertype = (uint16_t)et;
	p->l2state = OK;
	if ((et == PKTSH_ETH_IP4 && ip4(p, off) == 0) ||
	    (et == PKTSH_ETH_IP6 && ip6(p, off) == 0)) {
		p->depth = 1;
		p->l3state = OK;
	}
	return p->l3state;
}
