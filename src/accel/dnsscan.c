/*
 * dnsscan.c - the DNS messages of a batch's plain UDP packets, in one
 * call (pktsh_dns_scan). dnsstats hands every batch to this first and
 * feeds pktsh.dnsflow (Lua) only the packets it leaves: TCP on a DNS
 * port, fragments, IPv6 extension headers, link types other than
 * Ethernet, malformed IP headers. Those need flow state or rules that
 * live in Lua; the plain UDP packet, nine in ten of DNS traffic, needs
 * neither, and walking it here costs a fifth of what the general path
 * does.
 *
 * What it passes over, dnsflow would pass over too (non-IP, IP without
 * UDP or TCP, UDP and TCP on other ports, UDP shorter than its header or
 * with no payload); what it makes a message of, dnsflow would have made
 * the same message of (the UDP length honoured, bounded by the IP
 * datagram and the capture); tests/sh/test_dnsstats.sh checks that both
 * paths give the same statistics. Either way the message is queued by
 * pktsh_dns_msg_add, which dnsstats also calls for dnsflow's messages.
 */
#include <string.h>
#include "pktsh.h"

enum { LEAVE, SKIP, UDP };

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
	return proto == PKTSH_IPPROTO_UDP ? UDP : LEAVE;
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

/* ts_ns is the packet's time in whole ns: dnstap gets it exact (a
 * double of ns since the epoch is only good to 256 ns). */
static void msg_add(struct pktsh_dns_scan *s, const uint8_t *msg, uint32_t len,
		    const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport,
		    int64_t ts_ns, int tcp)
{
	struct pktsh_dns_msg *m = &s->msgs[s->nmsgs++];
	struct pktsh_dns_q q;

	if (s->tap)
		pktsh_dnstap_add(s->tap, msg, len, l3hdr, v6, sport, dport, ts_ns, tcp);
	m->ts = (double)ts_ns;
	m->tcp = (uint8_t)tcp;
	m->v6 = (uint8_t)v6;
	if (pktsh_dns_question_wire(msg, len, &q) == 0) {
		fill(m, &q, l3hdr, v6, sport, dport);
		memcpy(s->arena + s->used, q.wire, q.wire_len);
		m->name_off = s->used;
		m->name_len = q.wire_len;
		s->used += q.wire_len;
	} else {
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
	m->slot = (uint8_t)((tcp * 2 + v6) * 5 + m->kind);
}

void pktsh_dns_msg_add(struct pktsh_dns_scan *s, const uint8_t *msg, uint32_t len,
		       const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport,
		       double ts, int tcp)
{
	msg_add(s, msg, len, l3hdr, v6, sport, dport, (int64_t)ts, tcp);
}

uint32_t pktsh_dns_scan(const struct pktsh_pkt *pkts, uint32_t i, uint32_t n,
			const uint8_t *ports, struct pktsh_dns_scan *s)
{
	for (; i < n; i++) {
		const struct pktsh_pkt *p = &pkts[i];
		uint32_t l3, l4, stop, ulen, end;
		int v6;

		switch (locate(p, ports, &l4, &stop, &l3, &v6)) {
		case SKIP:
			continue;
		case LEAVE:
			s->stop = PKTSH_DNS_SCAN_GENERAL;
			return i;
		}
		if (l4 + 8 > stop)
			continue;
		ulen = be16(p->data + l4 + 4);
		if (ulen < 8)
			continue;
		end = l4 + ulen < stop ? l4 + ulen : stop;
		if (end <= l4 + 8)
			continue;
		if (s->nmsgs >= s->cap || s->used + PKTSH_DNS_MSG_ARENA > s->arena_cap) {
			s->stop = PKTSH_DNS_SCAN_FULL;
			return i;
		}
		s->udp++;
		msg_add(s, p->data + l4 + 8, end - l4 - 8, p->data + l3, v6,
			be16(p->data + l4), be16(p->data + l4 + 2), p->ts, 0);
	}
	s->stop = PKTSH_DNS_SCAN_END;
	return n;
}
