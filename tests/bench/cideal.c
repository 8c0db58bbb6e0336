/*
 * cideal.c - the "C ideal" for make bench: what a careful C programmer
 * writes to parse L2-L4 and the DNS question name of every packet in a
 * capture, with libpcap and nothing else.
 *
 *   cc -O2 -o cideal tests/bench/cideal.c -lpcap
 *   cideal [-s] FILE
 *
 * Prints one "sum ..." line that tests/bench/parse.lua and parse_raw.lua
 * must reproduce exactly, then a "time_ns N" line (open + loop).
 *
 * -s (streams; what tests/bench/dnsshapes compares dnsstats with): DNS
 * over TCP as a DNS reader must take it, every message of every stream:
 * per-direction flows (addresses and ports) reassembled in order from the
 * SYN, or from the first segment with data when the capture starts
 * mid-flow (taken to start a message); retransmitted bytes skipped, a gap
 * resyncs the flow at the new segment; each length-prefixed message gets
 * the name walk below (a zero length counts as dnsbad), several in one
 * segment or one across several; FIN/RST end a flow. A segment of whole
 * messages while its flow is not tracked needs no state. The sum line then
 * counts the names of TCP messages instead of one per segment; a second
 * line says "streams tcpmsgs=N flowsfull=N" (flows not tracked: table
 * full).
 *
 * The parse (shared by all three):
 *   Ethernet (DLT_EN10MB only; other link types are only counted), up to
 *   two VLAN tags (0x8100, 0x88a8, 0x9100);
 *   IPv4: version 4, IHL >= 5, header within the capture, total length >=
 *   header; the datagram ends at min(total length, capture); a packet
 *   with a non-zero fragment offset has no transport header;
 *   IPv6: 40-byte header; ends at min(40 + payload length, capture);
 *   extension headers 0, 43, 60 ((len+1)*8 bytes), 51 ((len+2)*4) and 44
 *   (8 bytes; a non-zero offset means no transport header), at most 8;
 *   UDP: 8-byte header within the datagram, length field >= 8; DNS if
 *   either port is 53, from after the header to min(UDP length, datagram);
 *   TCP: data offset >= 5 and the header within the datagram; DNS if
 *   either port is 53, after the 2-byte length prefix, to the datagram end;
 *   DNS: a 12-byte header with QDCOUNT > 0 within the datagram, then the
 *   first question name is walked label by label: it ends at a zero byte
 *   or a compression pointer (0xc0); a label type 0x40/0x80, a name
 *   longer than 255 bytes or a label past the datagram end makes it bad.
 *   For a good name: dns += 1, labels += its labels, namebytes += its wire
 *   bytes before the terminator or pointer, and qtypes += QTYPE when the
 *   two bytes after the name are in the datagram.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sums {
	uint64_t packets, ip4, ip6, udp, tcp, dns, dnsbad, labels, namebytes, qtypes;
	uint64_t tcpmsgs, flowsfull;
};

static int streams;

static inline unsigned rd16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void dns_name(const uint8_t *p, uint32_t dns, uint32_t end, struct sums *s)
{
	uint32_t pos, start, nlabels = 0;
	unsigned l;

	if (dns + 12 > end || rd16(p + dns + 4) == 0)
		return;
	start = pos = dns + 12;
	for (;;) {
		if (pos >= end)
			goto bad;
		l = p[pos];
		if (l == 0) {
			s->namebytes += pos - start;
			pos += 1;
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			if (pos + 2 > end)
				goto bad;
			s->namebytes += pos - start;
			pos += 2;
			break;
		}
		if (l & 0xc0)
			goto bad;
		if (pos + 1 + l > end)
			goto bad;
		nlabels++;
		pos += 1 + l;
		if (pos - start > 255)
			goto bad;
	}
	s->dns++;
	s->labels += nlabels;
	if (pos + 2 <= end)
		s->qtypes += rd16(p + pos);
	return;
bad:
	s->dnsbad++;
}

static void tcp_stream(const uint8_t *p, uint32_t l3, int v6, uint32_t l4, uint32_t doff,
		       uint32_t l3end, struct sums *s);

static void parse(const uint8_t *p, uint32_t caplen, struct sums *s)
{
	uint32_t off = 14, l3, l3end, l4;
	unsigned et, proto;
	int tags = 0;

	if (caplen < 14)
		return;
	et = rd16(p + 12);
	while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && tags < 2) {
		if (off + 4 > caplen)
			return;
		et = rd16(p + off + 2);
		off += 4;
		tags++;
	}
	l3 = off;
	if (et == 0x0800) {
		unsigned hl, tot;

		if (off + 20 > caplen || (p[off] >> 4) != 4)
			return;
		hl = (p[off] & 15) * 4u;
		tot = rd16(p + off + 2);
		if (hl < 20 || off + hl > caplen || tot < hl)
			return;
		s->ip4++;
		l3end = off + tot < caplen ? off + tot : caplen;
		if (rd16(p + off + 6) & 0x1fff)
			return;
		proto = p[off + 9];
		l4 = off + hl;
	} else if (et == 0x86dd) {
		int n;

		if (off + 40 > caplen || (p[off] >> 4) != 6)
			return;
		s->ip6++;
		l3end = off + 40 + rd16(p + off + 4);
		if (l3end > caplen)
			l3end = caplen;
		proto = p[off + 6];
		l4 = off + 40;
		for (n = 0; n < 8; n++) {
			if (proto == 0 || proto == 43 || proto == 60 || proto == 51) {
				if (l4 + 8 > l3end)
					return;
				proto = p[l4];
				l4 += proto == 51 ? (p[l4 + 1] + 2u) * 4 : (p[l4 + 1] + 1u) * 8;
			} else if (proto == 44) {
				if (l4 + 8 > l3end)
					return;
				if (rd16(p + l4 + 2) & 0xfff8)
					return;
				proto = p[l4];
				l4 += 8;
			} else {
				break;
			}
		}
	} else {
		return;
	}
	if (proto == 17) {
		unsigned ulen;

		if (l4 + 8 > l3end)
			return;
		ulen = rd16(p + l4 + 4);
		if (ulen < 8)
			return;
		s->udp++;
		if (rd16(p + l4) == 53 || rd16(p + l4 + 2) == 53)
			dns_name(p, l4 + 8, l4 + ulen < l3end ? l4 + ulen : l3end, s);
	} else if (proto == 6) {
		unsigned doff;

		if (l4 + 20 > l3end)
			return;
		doff = (p[l4 + 12] >> 4) * 4u;
		if (doff < 20 || l4 + doff > l3end)
			return;
		s->tcp++;
		if (rd16(p + l4) != 53 && rd16(p + l4 + 2) != 53)
			return;
		if (streams)
			tcp_stream(p, l3, et == 0x86dd, l4, doff, l3end, s);
		else
			dns_name(p, l4 + doff + 2, l3end, s);
	}
}

/* --- -s: TCP streams ------------------------------------------------------- */

#define NFLOWS (1u << 16)       /* slots; at most 3/4 of them used */
#define KEYMAX 37               /* version, two IPv6 addresses, two ports */

struct flow {
	uint8_t key[KEYMAX], klen;
	uint32_t nxt;           /* next sequence number expected */
	uint8_t *buf;           /* the start of an unfinished message */
	uint32_t len, cap;
};

static struct flow *flows;
static uint32_t nflows;

static uint32_t key_hash(const uint8_t *k, unsigned n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *k++) * 16777619u;
	return h & (NFLOWS - 1);
}

/* The slot of key k, or the empty slot where it would go. */
static struct flow *flow_slot(const uint8_t *k, unsigned n)
{
	uint32_t i = key_hash(k, n);

	while (flows[i].klen && (flows[i].klen != n || memcmp(flows[i].key, k, n)))
		i = (i + 1) & (NFLOWS - 1);
	return &flows[i];
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void flow_del(struct flow *f)
{
	uint32_t i = (uint32_t)(f - flows), j = i;

	free(f->buf);
	for (;;) {
		uint32_t home;

		j = (j + 1) & (NFLOWS - 1);
		if (!flows[j].klen)
			break;
		home = key_hash(flows[j].key, flows[j].klen);
		if (((j - home) & (NFLOWS - 1)) >= ((j - i) & (NFLOWS - 1))) {
			flows[i] = flows[j];
			i = j;
		}
	}
	memset(&flows[i], 0, sizeof(flows[i]));
	nflows--;
}

static struct flow *flow_new(struct flow *slot, const uint8_t *k, unsigned n, uint32_t nxt,
			     struct sums *s)
{
	if (nflows >= NFLOWS / 4 * 3) {
		s->flowsfull++;
		return NULL;
	}
	memset(slot, 0, sizeof(*slot));
	memcpy(slot->key, k, n);
	slot->klen = (uint8_t)n;
	slot->nxt = nxt;
	nflows++;
	return slot;
}

static void keep(struct flow *f, const uint8_t *d, uint32_t n)
{
	if (f->len + n > f->cap) {
		f->cap = (f->len + n) * 2;
		f->buf = realloc(f->buf, f->cap);
		if (!f->buf) {
			perror("cideal");
			exit(1);
		}
	}
	memcpy(f->buf + f->len, d, n);
	f->len += n;
}

/* The whole length-prefixed messages at the start of d[0, n); returns the
 * bytes they take. */
static uint32_t tcp_msgs(const uint8_t *d, uint32_t n, struct sums *s)
{
	uint32_t pos = 0, l;

	while (n - pos >= 2) {
		l = rd16(d + pos);
		if (l == 0) {
			s->dnsbad++;
			pos += 2;
			continue;
		}
		if (n - pos - 2 < l)
			break;
		s->tcpmsgs++;
		dns_name(d, pos + 2, pos + 2 + l, s);
		pos += 2 + l;
	}
	return pos;
}

/* In-order bytes d[0, n) of flow f. */
static void take(struct flow *f, const uint8_t *d, uint32_t n, struct sums *s)
{
	uint32_t used;

	f->nxt += n;
	if (f->len == 0) {
		used = tcp_msgs(d, n, s);
		if (used < n)
			keep(f, d + used, n - used);
		return;
	}
	keep(f, d, n);
	used = tcp_msgs(f->buf, f->len, s);
	memmove(f->buf, f->buf + used, f->len - used);
	f->len -= used;
}

static void tcp_stream(const uint8_t *p, uint32_t l3, int v6, uint32_t l4, uint32_t doff,
		       uint32_t l3end, struct sums *s)
{
	unsigned alen = v6 ? 16 : 4, klen = 1 + 2 * alen + 4, flags = p[l4 + 13];
	uint32_t seq = (uint32_t)rd16(p + l4 + 4) << 16 | rd16(p + l4 + 6);
	const uint8_t *d = p + l4 + doff;
	uint32_t n = l3end - l4 - doff, used;
	uint8_t key[KEYMAX];
	struct flow *slot = NULL, *f = NULL;

	if (!flows && !(flows = calloc(NFLOWS, sizeof(*flows)))) {
		perror("cideal");
		exit(1);
	}
	key[0] = (uint8_t)v6;
	memcpy(key + 1, p + l3 + (v6 ? 8 : 12), 2 * alen);
	memcpy(key + 1 + 2 * alen, p + l4, 4);
	if (nflows || (flags & 2)) {
		slot = flow_slot(key, klen);
		if (slot->klen)
			f = slot;
	}
	if (flags & 2) {                        /* SYN: a new stream */
		if (f) {
			flow_del(f);
			slot = flow_slot(key, klen);
		}
		f = flow_new(slot, key, klen, seq + 1, s);
		seq++;
	}
	if (n > 0 && !f) {
		used = tcp_msgs(d, n, s);
		if (used < n && !(flags & 5)) {
			f = flow_new(flow_slot(key, klen), key, klen, seq + used, s);
			if (f)
				take(f, d + used, n - used, s);
		}
		return;
	}
	if (n > 0) {
		int32_t rel = (int32_t)(seq - f->nxt);

		if (rel < 0 && (int64_t)rel + n <= 0)
			n = 0;                          /* all of it seen before */
		else if (rel < 0) {
			d -= rel;
			n += (uint32_t)rel;
		} else if (rel > 0) {
			f->len = 0;                     /* a gap: resync here */
			f->nxt = seq;
		}
		if (n)
			take(f, d, n, s);
	}
	if (f && (flags & 5))                   /* FIN, RST */
		flow_del(f);
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct sums s = {0};
	struct timespec t0, t1;
	pcap_t *pc;
	int rc, eth;

	if (argc == 3 && !strcmp(argv[1], "-s")) {
		streams = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: cideal [-s] FILE\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pc = pcap_open_offline(argv[1], errbuf);
	if (!pc) {
		fprintf(stderr, "cideal: %s\n", errbuf);
		return 1;
	}
	eth = pcap_datalink(pc) == DLT_EN10MB;
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		s.packets++;
		if (eth)
			parse(data, h->caplen, &s);
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "cideal: %s\n", pcap_geterr(pc));
		return 1;
	}
	pcap_close(pc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("sum packets=%llu ip4=%llu ip6=%llu udp=%llu tcp=%llu dns=%llu dnsbad=%llu "
	       "labels=%llu namebytes=%llu qtypes=%llu\n",
	       (unsigned long long)s.packets, (unsigned long long)s.ip4,
	       (unsigned long long)s.ip6, (unsigned long long)s.udp,
	       (unsigned long long)s.tcp, (unsigned long long)s.dns,
	       (unsigned long long)s.dnsbad, (unsigned long long)s.labels,
	       (unsigned long long)s.namebytes, (unsigned long long)s.qtypes);
	if (streams)
		printf("streams tcpmsgs=%llu flowsfull=%llu\n", (unsigned long long)s.tcpmsgs,
		       (unsigned long long)s.flowsfull);
	printf("time_ns %lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
	       (t1.tv_nsec - t0.tv_nsec));
	return 0;
}
