/*
 * dnsscan.c - the DNS messages of a batch's UDP packets, in one call
 * (pktsh_dns_scan). dnsstats hands every batch to this first and feeds
 * pktsh.dnsflow (Lua) only the packets it leaves: TCP on a DNS port and
 * UDP fragments, which need flow state that lives in Lua; the whole UDP
 * packet, nine in ten of DNS traffic, needs none, and taking it here
 * costs a fifth of what the general path does.
 *
 * Headers are walked by the one walker (pktsh_walk, src/proto/walk.c),
 * which leaves its results in the descriptor: a packet left to dnsflow
 * is not walked again there. What the scan passes over, dnsflow would
 * pass over too (non-IP, IP without UDP or TCP, UDP and TCP on other
 * ports, UDP shorter than its header or with no payload); what it makes
 * a message of, dnsflow would have made the same message of (the UDP
 * length honoured, bounded by the IP datagram and the capture);
 * tests/sh/test_dnsstats.sh checks that both paths give the same
 * statistics. Either way the message is queued by pktsh_dns_msg_add,
 * which dnsstats also calls for dnsflow's messages.
 */
#include <string.h>
#include "pktsh.h"

enum { LEAVE, SKIP, UDP };

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

static int port_listed(const uint8_t *ports, uint16_t port)
{
	return ports[port >> 3] >> (port & 7) & 1;
}

/* What the scan does with p, once walked: UDP (a message at the UDP
 * header, p->l4off), SKIP or LEAVE. */
static int locate(const struct pktsh_pkt *p, const uint8_t *ports, uint32_t outer_only)
{
	const uint8_t *d = p->data;
	uint32_t l4;

	if (p->l3state == PKTSH_PKT_NEW)
		pktsh_walk(p);
	if (p->l3state != PKTSH_PKT_OK || (outer_only && p->depth > 1))
		return SKIP;
	if (p->l4proto != PKTSH_IPPROTO_UDP && p->l4proto != PKTSH_IPPROTO_TCP)
		return SKIP;
	if (p->fragment != PKTSH_FRAG_NONE)     /* dnsflow rebuilds UDP datagrams */
		return p->l4proto == PKTSH_IPPROTO_UDP ? LEAVE : SKIP;
	l4 = p->l4off;
	/* a transport header dnsflow would read (UDP 8 bytes, TCP 20) */
	if (!l4 || l4 + (p->l4proto == PKTSH_IPPROTO_UDP ? 8u : 20u) > p->l3end)
		return SKIP;
	if (!port_listed(ports, be16(d + l4)) && !port_listed(ports, be16(d + l4 + 2)))
		return SKIP;
	return p->l4proto == PKTSH_IPPROTO_UDP ? UDP : LEAVE;
}

/* An IPv4 address is its own key (the top-k tables hash their keys); an
 * IPv6 address needs 128 bits, so a keyed hash stands for it, kept
 * apart from IPv4 numbers and below 2^53 (a double holds it exactly). */
static uint64_t client_key(const uint8_t *a, int v6)
{
	if (!v6)
		return (uint64_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	return (pktsh_hash(a, 16) & ((1ull << 52) - 1)) | 1ull << 52;
}

static void fill(struct pktsh_dns_msg *m, const struct pktsh_dns_q *q, const uint8_t *l3hdr,
		 int v6, uint16_t sport, uint16_t dport)
{
	struct pktsh_dns_key *k = &m->key;
	int resp = q->flags >= 0x8000;
	uint32_t alen = v6 ? 16 : 4;
	const uint8_t *src = l3hdr + (v6 ? 8 : 12), *dst = src + alen;

	k->name = q->name_hash;
	k->id = q->id;
	k->ipver = v6 ? 6 : 4;
	memset(k->client, 0, sizeof(k->client) + sizeof(k->server));
	memcpy(k->client, resp ? dst : src, alen);
	memcpy(k->server, resp ? src : dst, alen);
	k->cport = resp ? dport : sport;
	k->sport = resp ? sport : dport;
	m->flags = q->flags;
	m->qdcount = q->qdcount;
	m->qtype = q->qtype;
	if (resp) {
		m->kind = PKTSH_DNS_RESPONSE;
		m->qslot = PKTSH_DNS_QSLOT_NONE;
		m->rslot = q->rcode;
		m->client_key = 0;
	} else {
		m->kind = PKTSH_DNS_QUERY;
		m->client_key = client_key(k->client, v6);
		m->qslot = !q->qdcount ? PKTSH_DNS_QSLOT_NONE :
			   q->qtype >= PKTSH_DNS_QSLOT_BIG ? PKTSH_DNS_QSLOT_BIG : q->qtype;
		m->rslot = PKTSH_DNS_RSLOT_NONE;
	}
}

void pktsh_dns_msg_add(struct pktsh_dns_scan *s, const uint8_t *msg, uint32_t len,
		       const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport,
		       double ts, int tcp)
{
	struct pktsh_dns_msg *m = &s->msgs[s->nmsgs++];
	struct pktsh_dns_q q;

	m->ts = ts;
	m->tcp = (uint8_t)tcp;
	m->v6 = (uint8_t)v6;
	if (pktsh_dns_question_wire(msg, len, &q) == 0) {
		fill(m, &q, l3hdr, v6, sport, dport);
		memcpy(s->arena + s->used, q.wire, q.wire_len);
		m->name_off = s->used;
		m->name_len = q.wire_len;
		s->used += q.wire_len;
		return;
	}
	m->qslot = PKTSH_DNS_QSLOT_NONE;
	m->rslot = PKTSH_DNS_RSLOT_NONE;
	m->client_key = 0;
	if (len < 12) {
		m->kind = PKTSH_DNS_UNREADABLE;
		m->flags = 0;
	} else {
		m->flags = be16(msg + 2);
		m->kind = m->flags >= 0x8000 ? PKTSH_DNS_BAD_RESPONSE : PKTSH_DNS_BAD_QUERY;
	}
}

uint32_t pktsh_dns_scan(const struct pktsh_pkt *pkts, uint32_t i, uint32_t n,
			const uint8_t *ports, struct pktsh_dns_scan *s)
{
	for (; i < n; i++) {
		const struct pktsh_pkt *p = &pkts[i];
		uint32_t l4, ulen, end;

		switch (locate(p, ports, s->outer_only)) {
		case SKIP:
			continue;
		case LEAVE:
			s->stop = PKTSH_DNS_SCAN_GENERAL;
			return i;
		}
		l4 = p->l4off;
		ulen = be16(p->data + l4 + 4);
		if (ulen < 8)
			continue;
		end = l4 + ulen < p->l3end ? l4 + ulen : p->l3end;
		if (end <= l4 + 8)
			continue;
		if (s->nmsgs >= s->cap || s->used + PKTSH_DNS_MSG_ARENA > s->arena_cap) {
			s->stop = PKTSH_DNS_SCAN_FULL;
			return i;
		}
		s->udp++;
		pktsh_dns_msg_add(s, p->data + l4 + 8, end - l4 - 8, p->data + p->l3off,
				  p->ethertype == PKTSH_ETH_IP6, be16(p->data + l4),
				  be16(p->data + l4 + 2), (double)p->ts, 0);
	}
	s->stop = PKTSH_DNS_SCAN_END;
	return n;
}
