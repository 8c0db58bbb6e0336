/*
 * dnsscan.c - the dnsstats engine's scan: a batch of packets in one call
 * (pktsh_dnsstats_scan), each UDP packet's DNS message made and counted
 * (dnsstats.c), each TCP segment on a DNS port handed to the engine's
 * reassembler (src/proto/dnstcp.c) whose messages are counted the same
 * way, and each UDP fragment to the engine's IP reassembler
 * (src/proto/ipfrag.c), whose datagrams are counted so too. Headers are
 * walked by the one walker (pktsh_walk, src/proto/walk.c), through
 * encapsulations down to the innermost IP datagram (unless the options
 * say outer_only), which leaves its results in the descriptor: a packet
 * left to the general path is not walked again there. The general path,
 * pktsh.dnsflow in Lua, gets packets by index only in general mode (every
 * packet): the batch is scanned to its end in one call, and the caller
 * feeds those packets to dnsflow, which shares the TCP and IP
 * reassemblers and whose messages come back through pktsh_dnsstats_add.
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

enum { SKIP, UDP, TCP, FRAG };

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

static int port_listed(const uint8_t *ports, uint16_t port)
{
	return ports[port >> 3] >> (port & 7) & 1;
}

/* What the scan does with p, once walked: UDP (a message at the UDP
 * header, p->l4off), TCP (a segment for the reassembler), FRAG (a UDP
 * fragment for the IP reassembler) or SKIP. */
static int locate(const struct pktsh_pkt *p, const uint8_t *ports, int32_t outer_only)
{
	const uint8_t *d = p->data;
	uint32_t l4;

	if (p->l3state == PKTSH_PKT_NEW)
		pktsh_walk(p);
	if (p->l3state != PKTSH_PKT_OK || (outer_only && p->depth > 1))
		return SKIP;
	if (p->l4proto != PKTSH_IPPROTO_UDP && p->l4proto != PKTSH_IPPROTO_TCP)
		return SKIP;
	if (p->fragment != PKTSH_FRAG_NONE)
		return p->l4proto == PKTSH_IPPROTO_UDP ? FRAG : SKIP;
	l4 = p->l4off;
	/* a transport header dnsflow would read (UDP 8 bytes, TCP 20) */
	if (!l4 || l4 + (p->l4proto == PKTSH_IPPROTO_UDP ? 8u : 20u) > p->l3end)
		return SKIP;
	if (!port_listed(ports, be16(d + l4)) && !port_listed(ports, be16(d + l4 + 2)))
		return SKIP;
	return p->l4proto == PKTSH_IPPROTO_UDP ? UDP : TCP;
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

static void tcp_message(void *ctx, const uint8_t *msg, uint32_t len, int cut)
{
	const struct origin *o = ctx;

	dnsstats_message(o->e, msg, len, o->l3hdr, o->v6, o->sport, o->dport, o->ts, 1, o->pi, 0,
			 cut);
}

static void scan_tcp(struct pktsh_dnsstats *e, const struct pktsh_pkt *p, uint32_t pi, double ts)
{
	uint32_t l4 = p->l4off;
	int v6 = p->ethertype == PKTSH_ETH_IP6;
	struct origin o = {e, p->data + p->l3off, be16(p->data + l4), be16(p->data + l4 + 2), v6,
			   p->ts, pi};

	pktsh_dnstcp_advance(e->tcp, ts);
	dnstcp_segment(e->tcp, p, v6, ts, tcp_message, &o);
}

/* The message in the UDP datagram of p whose header is at l4 (the IP
 * datagram bounds it; a UDP length past the capture makes it cut). */
static void scan_udp(struct pktsh_dnsstats *e, const struct pktsh_pkt *p, uint32_t l4,
		     uint32_t pi)
{
	uint32_t ulen, end;

	if (l4 + 8 > p->l3end)
		return;
	ulen = be16(p->data + l4 + 4);
	if (ulen < 8)
		return;
	end = l4 + ulen < p->l3end ? l4 + ulen : p->l3end;
	if (end <= l4 + 8)
		return;
	/* cut short by the capture: an IP length claims bytes past it, and
	 * the UDP length runs past what is there (dnsflow's meta.truncated) */
	dnsstats_message(e, p->data + l4 + 8, end - l4 - 8, p->data + p->l3off,
			 p->ethertype == PKTSH_ETH_IP6, be16(p->data + l4), be16(p->data + l4 + 2),
			 p->ts, 0, pi, 0, p->trunc && l4 + ulen > p->l3end);
}

/* A UDP fragment into the reassembler; the message of a datagram it
 * completes counted as dnsflow's fragment() counts it (the same rules,
 * the general path's). */
static void scan_frag(struct pktsh_dnsstats *e, const struct pktsh_pkt *p, uint32_t pi,
		      double ts)
{
	int v6 = p->ethertype == PKTSH_ETH_IP6;
	const uint8_t *dg;
	uint32_t total, ulen, end;
	uint16_t sp, dp;

	pktsh_ipfrag_advance(e->frag, ts);
	switch (pktsh_ipfrag_add(e->frag, p, v6, ts, &dg, &total)) {
	case PKTSH_IPFRAG_CUT_FIRST:    /* decoded as it stands, as Wireshark does */
		if (p->fragdata + 8 <= p->l3end &&
		    (port_listed(e->ports, be16(p->data + p->fragdata)) ||
		     port_listed(e->ports, be16(p->data + p->fragdata + 2))))
			scan_udp(e, p, p->fragdata, pi);
		return;
	case PKTSH_IPFRAG_WHOLE:
		break;
	default:
		return;
	}
	if (total < 8) {
		e->c.frag_malformed++;
		return;
	}
	sp = be16(dg);
	dp = be16(dg + 2);
	ulen = be16(dg + 4);
	if (!port_listed(e->ports, sp) && !port_listed(e->ports, dp))
		return;
	if (ulen < 8) {
		e->c.frag_malformed++;
		return;
	}
	end = ulen < total ? ulen : total;
	if (end == 8)
		return;
	e->c.fragmented++;
	dnsstats_message(e, dg + 8, end - 8, p->data + p->l3off, v6, sp, dp, p->ts, 0, pi, 0, 0);
}

int32_t pktsh_dnsstats_scan(struct pktsh_dnsstats *e, const struct pktsh_pkt *pkts, uint32_t i,
			    uint32_t n, int64_t until, uint32_t *next)
{
	for (; i < n; i++) {
		const struct pktsh_pkt *p = &pkts[i];
		double ts;

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
		switch (locate(p, e->ports, e->outer_only)) {
		case UDP:
			scan_udp(e, p, p->l4off, i);
			break;
		case TCP:
			scan_tcp(e, p, i, ts);
			break;
		case FRAG:
			scan_frag(e, p, i, ts);
			break;
		}
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
