/*
 * dnsscan.c - the dnsstats engine's scan: a batch of packets in one call
 * (pktsh_dnsstats_scan), each plain UDP packet's DNS message made and
 * counted (dnsstats.c), each TCP segment on a DNS port handed to the
 * engine's reassembler (src/proto/dnstcp.c) whose messages are counted
 * the same way. What it cannot walk (fragments, IPv6 extension headers,
 * link types other than Ethernet, malformed IP headers) it leaves for the
 * general path, pktsh.dnsflow in Lua, by index: the batch is scanned to
 * its end in one call, and the caller feeds only those packets to
 * dnsflow, whose messages come back through pktsh_dnsstats_add.
 *
 * What it passes over, dnsflow would pass over too (non-IP, IP without
 * UDP or TCP, UDP and TCP on other ports, UDP shorter than its header or
 * with no payload); what it makes a message of, dnsflow would have made
 * the same message of (the UDP length honoured, bounded by the IP
 * datagram and the capture); tests/sh/test_dnsstats.sh checks that both
 * paths give the same statistics.
 */
#include <stdlib.h>
#include <string.h>
#include "pktsh.h"
#include "accel/dnsstats.h"
#include "proto/dnstcp.h"

enum { LEAVE, SKIP, UDP, TCP };

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

/* Where a plain packet's UDP header is, and its addresses: UDP, SKIP or
 * LEAVE. */
static int locate(const struct pktsh_pkt *p, const uint8_t *ports, uint32_t *l4,
		  uint32_t *stop, uint32_t *l3, int *v6)
{
	const uint8_t *d = p->data;
	uint32_t cap = p->caplen, off = 14, n = 0;
	uint16_t et;
	uint8_t proto;

	if (p->linktype != PKTSH_DLT_EN10MB)
		return LEAVE;
	if (cap < 14)
		return SKIP;
	et = be16(d + 12);
	while ((et == PKTSH_ETH_VLAN || et == PKTSH_ETH_QINQ ||
		et == PKTSH_ETH_QINQ_OLD) && n < 8) {
		if (off + 4 > cap)
			return SKIP;
		et = be16(d + off + 2);
		off += 4;
		n++;
	}
	*l3 = off;
	if (et == PKTSH_ETH_IP4) {
		uint32_t hlen, tot;

		if (off + 20 > cap || d[off] >> 4 != 4)
			return LEAVE;
		hlen = (d[off] & 15u) * 4;
		tot = be16(d + off + 2);
		if (hlen < 20 || off + hlen > cap || tot < hlen || (be16(d + off + 6) & 0x3fff))
			return LEAVE;               /* malformed, or a fragment */
		*stop = off + tot < cap ? off + tot : cap;
		*l4 = off + hlen;
		proto = d[off + 9];
		*v6 = 0;
	} else if (et == PKTSH_ETH_IP6) {
		uint32_t plen;

		if (off + 40 > cap || d[off] >> 4 != 6)
			return LEAVE;
		plen = be16(d + off + 4);
		proto = d[off + 6];
		if (plen == 0)
			return LEAVE;               /* jumbogram or TSO: dnsflow's rule */
		*stop = off + 40 + plen < cap ? off + 40 + plen : cap;
		*l4 = off + 40;
		*v6 = 1;
		if (proto != PKTSH_IPPROTO_UDP && proto != PKTSH_IPPROTO_TCP) {
			/* extension headers may lead to UDP; ESP, no-next, ICMPv6... do not */
			if (proto == PKTSH_IPPROTO_HOPOPTS || proto == PKTSH_IPPROTO_ROUTING ||
			    proto == PKTSH_IPPROTO_DSTOPTS || proto == PKTSH_IPPROTO_AH ||
			    proto == PKTSH_IPPROTO_FRAGMENT)
				return LEAVE;
			return SKIP;
		}
	} else {
		return SKIP;
	}
	if (proto != PKTSH_IPPROTO_UDP && proto != PKTSH_IPPROTO_TCP)
		return SKIP;
	if (*l4 + 4 > *stop) {
		/* no ports to look at: dnsflow passes UDP over, TCP may hold state */
		return proto == PKTSH_IPPROTO_UDP ? SKIP : LEAVE;
	}
	{
		uint16_t sp = be16(d + *l4), dp = be16(d + *l4 + 2);

		if (!(ports[sp >> 3] >> (sp & 7) & 1) && !(ports[dp >> 3] >> (dp & 7) & 1))
			return SKIP;
	}
	return proto == PKTSH_IPPROTO_UDP ? UDP : TCP;
}

/* Packet i goes to the general path; the batch's messages queue from
 * here on, to be counted in packet order with dnsflow's. */
static void defer(struct pktsh_dnsstats *e, uint32_t i)
{
	if (e->ndeferred >= e->deferred_cap) {
		uint32_t cap = e->deferred_cap ? e->deferred_cap * 2 : 256;
		uint32_t *d = realloc(e->deferred, cap * sizeof(*d));

		if (!d)
			return;             /* no memory: the packet is passed over */
		e->deferred = d;
		e->deferred_cap = cap;
	}
	e->deferred[e->ndeferred++] = i;
	if (!e->queueing)
		dnsstats_pipe_drain(e);
	e->queueing = 1;
	e->c.deferred++;
}

/* Where a TCP segment's messages come from, for the callback. */
struct origin {
	struct pktsh_dnsstats *e;
	const uint8_t *l3hdr;
	uint16_t sport, dport;
	int v6;
	int64_t ts;
	uint32_t pi;
};

static void tcp_message(void *ctx, const uint8_t *msg, uint32_t len)
{
	const struct origin *o = ctx;

	dnsstats_message(o->e, msg, len, o->l3hdr, o->v6, o->sport, o->dport, o->ts, 1, o->pi, 0);
}

static void scan_tcp(struct pktsh_dnsstats *e, const struct pktsh_pkt *p, uint32_t pi,
		     uint32_t l3, uint32_t l4, uint32_t stop, int v6, double ts)
{
	struct origin o = {e, p->data + l3, be16(p->data + l4), be16(p->data + l4 + 2), v6, p->ts, pi};

	pktsh_dnstcp_advance(e->tcp, ts);
	dnstcp_segment(e->tcp, p->data, l3, l4, stop, v6, ts, tcp_message, &o);
}

int32_t pktsh_dnsstats_scan(struct pktsh_dnsstats *e, const struct pktsh_pkt *pkts, uint32_t i,
			    uint32_t n, int64_t until, uint32_t *next)
{
	for (; i < n; i++) {
		const struct pktsh_pkt *p = &pkts[i];
		uint32_t l3, l4, stop, ulen, end;
		double ts;
		int v6;

		if (until != INT64_MAX && p->ts >= until)
			break;
		ts = (double)p->ts;
		e->c.packets++;
		if (ts > e->last_ts)
			e->last_ts = ts;
		if (e->general) {
			defer(e, i);
			continue;
		}
		switch (locate(p, e->ports, &l4, &stop, &l3, &v6)) {
		case SKIP:
			continue;
		case LEAVE:
			defer(e, i);
			continue;
		case TCP:
			scan_tcp(e, p, i, l3, l4, stop, v6, ts);
			continue;
		}
		if (l4 + 8 > stop)
			continue;
		ulen = be16(p->data + l4 + 4);
		if (ulen < 8)
			continue;
		end = l4 + ulen < stop ? l4 + ulen : stop;
		if (end <= l4 + 8)
			continue;
		dnsstats_message(e, p->data + l4 + 8, end - l4 - 8, p->data + l3, v6,
				 be16(p->data + l4), be16(p->data + l4 + 2), p->ts, 0, i, 0);
	}
	*next = i;
	if (e->ndeferred == 0)
		dnsstats_batch_end(e);
	return (int32_t)e->ndeferred;
}

const uint32_t *pktsh_dnsstats_deferred(const struct pktsh_dnsstats *e)
{
	return e->deferred;
}
