/*
 * dnsstats.c - the dnsstats engine's counting (src/pktsh.h says what it
 * counts; dnsscan.c turns packets into the messages counted here).
 *
 * Everything per message happens in C, without allocating: the counters,
 * the query types and response codes (arrays indexed by them), the
 * pending table (pending.c) that matches responses to queries, the
 * space-saving tables of names and clients (topk.c, labels kept per
 * counter so text is made only for what a report shows), and the latency
 * histograms. Lua reads the results at report time (and at each
 * --interval), never per packet: when every packet crossed into Lua,
 * string and table garbage for names seen once cost more than the rest
 * of the work on long-tail and flood traffic.
 *
 * Order: a message is counted as soon as it is made, unless its batch
 * has packets waiting for the general path (pktsh.dnsflow, in Lua);
 * then the batch's messages are queued with their packets' indices, and
 * batch_end counts both queues merged in packet order. Counting in
 * packet order keeps the numbers equal to a run that took every packet
 * through dnsflow (tested).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "accel/dnsstats.h"
#include "accel/hash.h"
#include "accel/pending.h"
#include "accel/topk.h"

#define LOG_BINS (80 * PKTSH_DNSSTATS_LOG_SUB + 1)
#define EXACT_SLOTS 32768u     /* a power of two, over twice EXACT_MAX */
#define NAME_LABEL 256u        /* a wire name is at most 255 bytes */
#define KEY53 ((1ull << 53) - 1)

#define LAT_QUEUE 512u       /* latencies waiting for the exact table */
#define LAT_AHEAD 8u         /* slots asked of the cache this far ahead */

/* Latencies in ns: exact values (value, count) in an open-addressing
 * table while at most EXACT_MAX are distinct, and log2 bins always. A
 * slot's value and count sit side by side: one cache line a lookup.
 * The table is 512 KiB and a lookup lands anywhere in it, so values
 * wait in a queue and go in a run at a time with their slots asked of
 * the cache a few values ahead (the order values go in changes no count,
 * nor whether the table goes over); the queue is emptied when it fills
 * and at the end of every batch, before anything reads the table. */
struct dnsstats_lat {
	double *ex;             /* EXACT_SLOTS (value, count) pairs; NULL once over */
	uint32_t nexact;
	int over;
	double queue[LAT_QUEUE];
	uint32_t home[LAT_QUEUE];
	uint32_t nqueue;
	double bins[LOG_BINS];
	double n, sum, min, max;
};

/* --- latencies ------------------------------------------------------- */

/* pktsh.hist's log_index(v, 128): 0 below 1, else with v = m * 2^e and
 * 0.5 <= m < 1, (e - 1) * 128 + 1 + the sub-bucket of m (exact: scaling
 * by powers of two is). The top bin takes the (absurd) rest. Read off
 * v's bits: v >= 1 is 1.f * 2^(x - 1023) with x its biased exponent, so
 * e - 1 = x - 1023 and m * 2 - 1 = f, whose sub-bucket of 128 is f's
 * top 7 bits: bits 45 up are x * 128 + that. */
_Static_assert(PKTSH_DNSSTATS_LOG_SUB == 128, "log_index reads 7 bits of the fraction");
static uint32_t log_index(double v)
{
	uint64_t w;
	uint64_t i;

	if (!(v >= 1))
		return 0;
	memcpy(&w, &v, 8);
	i = (w >> 45) - ((uint64_t)1023 << 7) + 1;   /* +inf: past the top */
	return i < LOG_BINS ? (uint32_t)i : LOG_BINS - 1;
}

static uint32_t exact_home(double v)
{
	uint64_t w;

	memcpy(&w, &v, 8);
	return pktsh_tabhash_u64(pktsh_tabhash_process(), w) & (EXACT_SLOTS - 1);
}

/* v into the exact table, probing from slot i (its home). */
static void exact_add(struct dnsstats_lat *l, double v, uint32_t i)
{
	if (l->over)
		return;
	for (;; i = (i + 1) & (EXACT_SLOTS - 1)) {
		if (l->ex[2 * i + 1] == 0)
			break;
		if (l->ex[2 * i] == v) {
			l->ex[2 * i + 1] += 1;
			return;
		}
	}
	if (l->nexact >= PKTSH_DNSSTATS_EXACT_MAX) {
		/* past the bound: only the log2 bins are read from now on */
		l->over = 1;
		free(l->ex);
		l->ex = NULL;
		return;
	}
	l->ex[2 * i] = v;
	l->ex[2 * i + 1] = 1;
	l->nexact++;
}

/* The queued values into the exact table, their slots asked of the
 * cache LAT_AHEAD values ahead. */
static void exact_flush(struct dnsstats_lat *l)
{
	uint32_t n = l->nqueue;

	l->nqueue = 0;
	if (l->over)
		return;
	for (uint32_t i = 0; i < n && i < LAT_AHEAD; i++)
		__builtin_prefetch(&l->ex[2 * l->home[i]], 1);
	for (uint32_t i = 0; i < n; i++) {
		if (i + LAT_AHEAD < n && l->ex)
			__builtin_prefetch(&l->ex[2 * l->home[i + LAT_AHEAD]], 1);
		exact_add(l, l->queue[i], l->home[i]);
	}
}

static void lat_add(struct dnsstats_lat *l, double v)
{
	uint32_t b = log_index(v);

	if (!l->over) {
		if (l->nqueue == LAT_QUEUE)
			exact_flush(l);
		l->home[l->nqueue] = exact_home(v);
		l->queue[l->nqueue++] = v;
	}
	l->bins[b] += 1;
	if (l->n == 0 || v < l->min)
		l->min = v;
	if (l->n == 0 || v > l->max)
		l->max = v;
	l->n += 1;
	l->sum += v;
}

/* --- the engine ------------------------------------------------------ */

struct pktsh_dnsstats *pktsh_dnsstats_new(const struct pktsh_dnsstats_opts *o,
					  struct pktsh_err *err)
{
	struct pktsh_dnsstats *e = calloc(1, sizeof(*e));
	struct pktsh_dnstcp_opts to = {0};
	struct pktsh_ipfrag_opts fo = {0};

	if (!e) {
		pktsh_err_set(err, ENOMEM, "dnsstats");
		return NULL;
	}
	memcpy(e->ports, o->ports, sizeof(e->ports));
	e->general = o->general;
	e->outer_only = o->outer_only;
	e->timeout = o->timeout;
	to.ports = o->ports;
	to.timeout = o->tcp_timeout;
	to.max_flows = o->max_flows;
	to.max_buffer = o->max_buffer;
	fo.timeout = o->frag_timeout;
	fo.max_frags = o->max_frags;
	fo.max_buffer = o->max_buffer;
	if (!(e->tcp = pktsh_dnstcp_new(&to, err)) ||
	    !(e->frag = pktsh_ipfrag_new(&fo, err)) ||
	    !(e->pend = pktsh_pending_new(8, o->max_pending, err)) ||
	    !(e->names = pktsh_topk64_new(o->capacity, PKTSH_TOPK_KEYS_HASHED, err)) ||
	    !(e->clients = pktsh_topk64_new(o->capacity, PKTSH_TOPK_KEYS_RAW, err)) ||
	    pktsh_topk64_keep_labels(e->names, NAME_LABEL, err) != 0 ||
	    pktsh_topk64_keep_labels(e->clients, 16, err) != 0)
		goto fail;
	pktsh_pending_set_evict(e->pend, 1);
	pending_keys_hashed(e->pend);
	e->lat = calloc(1, sizeof(*e->lat));
	e->qtype_n = calloc(65536, sizeof(*e->qtype_n));
	e->rcode_n = calloc(4096, sizeof(*e->rcode_n));
	e->qtypes_seen = malloc(65536 * sizeof(*e->qtypes_seen));
	e->rcodes_seen = malloc(4096 * sizeof(*e->rcodes_seen));
	if (!e->lat || !e->qtype_n || !e->rcode_n || !e->qtypes_seen || !e->rcodes_seen)
		goto nomem;
	e->lat->ex = calloc(2 * EXACT_SLOTS, sizeof(double));
	if (!e->lat->ex)
		goto nomem;
	return e;
nomem:
	pktsh_err_set(err, ENOMEM, "dnsstats");
fail:
	pktsh_dnsstats_free(e);
	return NULL;
}

static void queue_free(struct dns_queue *q)
{
	free(q->msgs);
	free(q->arena);
}

void pktsh_dnsstats_free(struct pktsh_dnsstats *e)
{
	if (!e)
		return;
	pktsh_dnstcp_free(e->tcp);
	pktsh_ipfrag_free(e->frag);
	pktsh_pending_free(e->pend);
	pktsh_topk64_free(e->names);
	pktsh_topk64_free(e->clients);
	if (e->lat)
		free(e->lat->ex);
	free(e->lat);
	free(e->qtype_n);
	free(e->rcode_n);
	free(e->qtypes_seen);
	free(e->rcodes_seen);
	free(e->deferred);
	queue_free(&e->scanq);
	queue_free(&e->sideq);
	free(e);
}

/* --- counting one message ------------------------------------------- */

/* The pending table's key: a universal hash (hash.c, mod 2^61 - 1) of
 * the match key's words after the name, only those an IPv4 key fills
 * for IPv4 (4 words, not 10). Two different keys get one value with
 * probability 2^-61 over the process's random multipliers (keys of the
 * two lengths differ in the version, in their second word), and nobody
 * who cannot see the multipliers can aim a key at a slot: the pending
 * table takes its bits as they are (pending_keys_hashed) instead of
 * hashing them again. A response answers the query of its conversation
 * (addresses, ports) with its id, whatever its question, opcode or
 * question count: the pairing Wireshark's dns.time makes. */
static uint64_t match_key(const struct dns_key *k)
{
	const size_t from = offsetof(struct dns_key, id);
	uint8_t v4[16];

	if (k->ipver == 6)
		return pktsh_ml61((const uint8_t *)k + from, sizeof(*k) - from);
	memcpy(v4, (const uint8_t *)k + from, 8);
	memcpy(v4 + 8, k->client, 4);
	memcpy(v4 + 12, k->server, 4);
	return pktsh_ml61(v4, sizeof(v4));
}

/* An IPv4 client is its address (the top-k tables hash their keys); an
 * IPv6 one 2^52 plus 52 bits of a universal hash of it: below 2^53, so a
 * double holds every key exactly. */
static uint64_t client_key(const struct dns_msg *m)
{
	const uint8_t *a = m->key.client;

	if (!m->v6)
		return (uint64_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	return (pktsh_ml61(a, 16) & ((1ull << 52) - 1)) | 1ull << 52;
}

static void count_type(double *n, uint16_t *seen, uint32_t *nseen, uint32_t t)
{
	if (n[t] == 0)
		seen[(*nseen)++] = (uint16_t)t;
	n[t] += 1;
}

static void match_query(struct pktsh_dnsstats *e, const struct dns_msg *m)
{
	/* Its id again in its conversation while unanswered: within the
	 * timeout a retransmission, which keeps the first copy's time (as
	 * Wireshark's dns.time does, whose retransmission timer is 5 s too);
	 * later a new query, the first unanswered. Room made for it drops
	 * the oldest query, unanswered too. */
	int r = pktsh_pending_add(e->pend, &m->mk, m->ts, m->ts - e->timeout);

	if (r == 1 || r == 2)
		e->c.unanswered++;
}

static void match_response(struct pktsh_dnsstats *e, const struct dns_msg *m)
{
	double sent, d;

	if (!pktsh_pending_take(e->pend, &m->mk, &sent)) {
		e->c.unmatched++;
		return;
	}
	d = m->ts - sent;
	if (d > e->timeout) {
		/* answered too late: the query had timed out */
		e->c.unanswered++;
		e->c.unmatched++;
		return;
	}
	e->c.matched++;
	lat_add(e->lat, d);
}

/* A response Wireshark stops reading (cut by the capture, or malformed)
 * gets no dns.time: it answers its query, which is then not unanswered,
 * but gives no latency and is not matched. */
static void answer_unread(struct pktsh_dnsstats *e, const struct dns_msg *m)
{
	double sent;

	if (!pktsh_pending_take(e->pend, &m->mk, &sent))
		e->c.unmatched++;
}

static void count_query(struct pktsh_dnsstats *e, const struct dns_msg *m, const uint8_t *wire)
{
	e->c.queries++;
	topk64_add_labelled(e->clients, m->ck, m->ch, m->key.client, m->v6 ? 16 : 0);
	match_query(e, m);
	if (!m->qdcount)
		return;
	count_type(e->qtype_n, e->qtypes_seen, &e->nqtypes, m->qtype);
	topk64_add_labelled(e->names, m->key.name & KEY53, m->nh, wire, m->name_len);
}

static void count_message(struct pktsh_dnsstats *e, const struct dns_msg *m,
			  const uint8_t *wire)
{
	if (m->kind == PKTSH_DNS_UNREADABLE) {  /* under 4 bytes: no message */
		if (m->cut)
			e->c.truncated++;
		else
			e->c.malformed++;
		return;
	}
	/* tc: QR and TC both set (a response, readable or not) */
	if ((m->flags & 0x8200) == 0x8200)
		e->c.tc++;
	if (m->cut)
		e->c.truncated++;
	/* the messages by transport and IP version are sums of these
	 * (pktsh_dnsstats_counts): one add a message, no branch on either */
	e->c.slots[(m->tcp * 2 + m->v6) * PKTSH_DNS_KINDS + m->kind]++;
	switch (m->kind) {
	case PKTSH_DNS_QUERY:
		if (m->bad_records)
			e->c.malformed++;
		count_query(e, m, wire);
		break;
	case PKTSH_DNS_RESPONSE:
		e->c.responses++;
		count_type(e->rcode_n, e->rcodes_seen, &e->nrcodes, m->rcode);
		if (m->cut)
			answer_unread(e, m);
		else
			match_response(e, m);
		break;
	case PKTSH_DNS_BAD_QUERY:
		e->c.queries++;
		e->c.malformed++;
		match_query(e, m);
		break;
	case PKTSH_DNS_BAD_RESPONSE:      /* its header is whole: RCODE too */
		e->c.responses++;
		e->c.malformed++;
		count_type(e->rcode_n, e->rcodes_seen, &e->nrcodes, m->rcode);
		answer_unread(e, m);
		break;
	}
}

/* --- making a message ------------------------------------------------- */

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

/* The conversation and id: who asked whom (m->flags' QR says which way). */
static void fill_key(struct dns_msg *m, uint16_t id, const uint8_t *l3hdr, int v6,
		     uint16_t sport, uint16_t dport)
{
	struct dns_key *k = &m->key;
	int resp = m->flags >= 0x8000;

	k->id = id;
	k->ipver = v6 ? 6 : 4;
	/* copies of a fixed size (moves, not calls) */
	if (v6) {
		const uint8_t *src = l3hdr + 8, *dst = l3hdr + 24;

		memcpy(k->client, resp ? dst : src, 16);
		memcpy(k->server, resp ? src : dst, 16);
	} else {
		const uint8_t *src = l3hdr + 12, *dst = l3hdr + 16;

		memset(k->client, 0, sizeof(k->client) + sizeof(k->server));
		memcpy(k->client, resp ? dst : src, 4);
		memcpy(k->server, resp ? src : dst, 4);
	}
	k->cport = resp ? dport : sport;
	k->sport = resp ? sport : dport;
	m->mk = match_key(k);
	m->ck = resp ? 0 : client_key(m);
}

static void fill(struct dns_msg *m, const struct pktsh_dns_q *q, int cut)
{
	m->key.name = q->name_hash;
	m->flags = q->flags;
	m->qdcount = q->qdcount;
	m->qtype = q->qtype;
	m->rcode = q->rcode;
	m->name_len = q->wire_len;
	m->kind = q->flags >= 0x8000 ? PKTSH_DNS_RESPONSE : PKTSH_DNS_QUERY;
	/* records that do not fit a whole message: Wireshark marks it
	 * malformed and reads a response no further (no dns.time), a
	 * query's question still counts */
	m->bad_records = q->records_error && !cut;
	if (m->bad_records && m->kind == PKTSH_DNS_RESPONSE)
		m->kind = PKTSH_DNS_BAD_RESPONSE;
}

/* Room in q for one more message and its name: 0, or -1 without memory. */
static int queue_room(struct dns_queue *q)
{
	if (q->n >= q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 1024;
		struct dns_msg *m = realloc(q->msgs, cap * sizeof(*m));

		if (!m)
			return -1;
		q->msgs = m;
		q->cap = cap;
	}
	if (q->used + NAME_LABEL > q->arena_cap) {
		uint32_t cap = q->arena_cap ? q->arena_cap * 2 : 65536;
		uint8_t *a = realloc(q->arena, cap);

		if (!a)
			return -1;
		q->arena = a;
		q->arena_cap = cap;
	}
	return 0;
}

/* The table slots m's counting will read, asked of the cache now: on a
 * one-way capture or a flood the pending table holds a million queries
 * (16 MB of slots) and every lookup there missed the cache. */
static inline __attribute__((always_inline)) void prefetch(const struct pktsh_dnsstats *e,
							    const struct dns_msg *m)
{
	if (!m->qdcount)
		return;
	if (m->kind == PKTSH_DNS_QUERY) {
		topk64_prefetch(e->clients, m->ch);
		topk64_prefetch(e->names, m->nh);
		pending_prefetch(e->pend, &m->mk);
	} else if (m->kind == PKTSH_DNS_RESPONSE) {
		pending_prefetch(e->pend, &m->mk);
	}
}

static void pipe_count_oldest(struct pktsh_dnsstats *e)
{
	struct pipe_msg *s = &e->pipe[e->pipe_head];

	count_message(e, &s->m, s->q.wire);
	e->pipe_head = (e->pipe_head + 1) % PIPE_DEPTH;
	e->pipe_n--;
}

/* The pipe's next slot, the oldest in flight counted first when the
 * pipe is full (so counting order is the order of arrival); pipe_push
 * puts it in flight once it is made there. */
static struct pipe_msg *pipe_slot(struct pktsh_dnsstats *e)
{
	if (e->pipe_n == PIPE_DEPTH)
		pipe_count_oldest(e);
	return &e->pipe[(e->pipe_head + e->pipe_n) % PIPE_DEPTH];
}

/* The message made in pipe_slot's slot into flight. */
static void pipe_push(struct pktsh_dnsstats *e, struct pipe_msg *s)
{
	e->pipe_n++;
	prefetch(e, &s->m);
}

void dnsstats_pipe_drain(struct pktsh_dnsstats *e)
{
	while (e->pipe_n)
		pipe_count_oldest(e);
}

/* Whether a question that failed with rc (a negative enum pktsh_dns_err)
 * failed only for bytes the capture left out: a cut message is not
 * malformed for that. */
static int cut_short(int rc)
{
	switch (-rc) {
	case PKTSH_DNS_SHORT_HEADER:
	case PKTSH_DNS_NAME_TRUNCATED:
	case PKTSH_DNS_LABEL_TRUNCATED:
	case PKTSH_DNS_POINTER_TRUNCATED:
	case PKTSH_DNS_QUESTION_TRUNCATED:
		return 1;
	}
	return 0;
}

/* A message without a readable question: what its header says, once
 * its first 4 bytes (id and flags) are there, as Wireshark reads it: a
 * query or response (RCODE from the flags), malformed unless the capture
 * cut it. With fewer it is no DNS message (Wireshark shows none). */
static void unreadable(struct dns_msg *m, const uint8_t *msg, uint32_t len, int cut)
{
	m->qdcount = 0;
	m->key.name = 0;
	m->bad_records = 0;
	if (len < 4) {
		m->kind = PKTSH_DNS_UNREADABLE;
		m->flags = 0;
		return;
	}
	m->flags = be16(msg + 2);
	m->rcode = m->flags & 15;
	if (cut)
		m->kind = m->flags >= 0x8000 ? PKTSH_DNS_RESPONSE : PKTSH_DNS_QUERY;
	else
		m->kind = m->flags >= 0x8000 ? PKTSH_DNS_BAD_RESPONSE : PKTSH_DNS_BAD_QUERY;
}

/* Where a message is made: in the pipe's next slot, the queue's next
 * message, or (no memory for the queue) m itself, counted at once, a
 * little out of order. Made in place: a message is 120 bytes. */
void dnsstats_message(struct pktsh_dnsstats *e, const uint8_t *msg, uint32_t len,
		      const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport, int64_t ts,
		      int tcp, uint32_t pi, int side, int cut)
{
	struct pktsh_dns_q qq, *q = &qq;
	struct dns_msg alone, *m = &alone;
	struct dns_queue *dq = side ? &e->sideq : &e->scanq;
	struct pipe_msg *s = NULL;
	int rc;

	if (e->tap && len >= 4)         /* fewer bytes are no DNS message */
		pktsh_dnstap_add(e->tap, msg, len, l3hdr, v6, sport, dport, ts, tcp);
	if (!e->queueing) {
		s = pipe_slot(e);
		m = &s->m;
		q = &s->q;      /* the name read where it is counted from */
	} else if (queue_room(dq) == 0)
		m = &dq->msgs[dq->n];
	m->ts = (double)ts;
	m->tcp = (uint8_t)tcp;
	m->v6 = (uint8_t)v6;
	m->pi = pi;
	m->name_len = 0;
	m->cut = (uint8_t)(cut != 0);
	rc = pktsh_dns_question_wire(msg, len, q);
	if (rc == 0)
		fill(m, q, cut);
	else
		unreadable(m, msg, len, cut && cut_short(rc));
	if (m->kind != PKTSH_DNS_UNREADABLE)    /* the id (2 bytes) is there */
		fill_key(m, be16(msg), l3hdr, v6, sport, dport);
	if (m->kind == PKTSH_DNS_QUERY) {       /* its top-k slots, hashed once */
		m->ch = topk64_hash(e->clients, m->ck);
		m->nh = topk64_hash(e->names, m->key.name & KEY53);
	}
	if (s) {
		pipe_push(e, s);
	} else if (m == &alone) {
		count_message(e, m, q->wire);
	} else {
		m->name_off = dq->used;
		memcpy(dq->arena + dq->used, q->wire, m->name_len);
		dq->used += m->name_len;
		dq->n++;
	}
}

void pktsh_dnsstats_add(struct pktsh_dnsstats *e, const uint8_t *msg, uint32_t len,
			const struct pktsh_pkt *p, int32_t v6, uint16_t sport, uint16_t dport,
			double ts, int32_t tcp, uint32_t pi, int32_t cut)
{
	dnsstats_message(e, msg, len, p->data + p->l3off, v6 != 0, sport, dport, (int64_t)ts,
			 tcp != 0, pi, 1, cut != 0);
}

void pktsh_dnsstats_tap(struct pktsh_dnsstats *e, struct pktsh_dnstap *tap)
{
	e->tap = tap;
}

/* --- the end of a batch ----------------------------------------------- */

/* Counts the oldest message of q; the table slots of the one
 * PIPE_DEPTH later in q asked of the cache, as the pipe does. */
static void count_queued(struct pktsh_dnsstats *e, struct dns_queue *q)
{
	struct dns_msg *m = &q->msgs[q->head++];

	if (q->head + PIPE_DEPTH - 1 < q->n)
		prefetch(e, &q->msgs[q->head + PIPE_DEPTH - 1]);
	count_message(e, m, q->arena + m->name_off);
}

void dnsstats_batch_end(struct pktsh_dnsstats *e)
{
	struct dns_queue *a = &e->scanq, *b = &e->sideq;

	dnsstats_pipe_drain(e);
	for (uint32_t i = 0; i + 1 < PIPE_DEPTH; i++) {
		if (i < a->n)
			prefetch(e, &a->msgs[i]);
		if (i < b->n)
			prefetch(e, &b->msgs[i]);
	}
	while (a->head < a->n || b->head < b->n) {
		if (b->head >= b->n || (a->head < a->n && a->msgs[a->head].pi < b->msgs[b->head].pi))
			count_queued(e, a);
		else
			count_queued(e, b);
	}
	a->n = a->head = a->used = 0;
	b->n = b->head = b->used = 0;
	exact_flush(e->lat);
	e->queueing = 0;
	e->ndeferred = 0;
	/* queries waiting longer than the timeout: unanswered, O(1) each */
	e->c.unanswered += pktsh_pending_expire(e->pend, e->last_ts - e->timeout);
	pktsh_dnstcp_advance(e->tcp, e->last_ts);
	pktsh_ipfrag_advance(e->frag, e->last_ts);
}

void pktsh_dnsstats_batch_end(struct pktsh_dnsstats *e)
{
	dnsstats_batch_end(e);
}

void pktsh_dnsstats_finish(struct pktsh_dnsstats *e)
{
	dnsstats_batch_end(e);
	pktsh_dnstcp_flush(e->tcp, 0, 1);
	pktsh_ipfrag_flush(e->frag, 0, 1);
	e->c.unanswered += pktsh_pending_expire(e->pend, HUGE_VAL);
}

/* --- reading ----------------------------------------------------------- */

int pktsh_dnsstats_counts(const struct pktsh_dnsstats *e, struct pktsh_dnsstats_counts *out)
{
	*out = e->c;
	out->dns = out->udp = out->tcp = out->ip4 = out->ip6 = 0;
	for (uint32_t i = 0; i < PKTSH_DNSSTATS_SLOTS; i++) {
		uint32_t tv = i / PKTSH_DNS_KINDS;      /* tcp * 2 + v6 */

		out->dns += e->c.slots[i];
		*(tv >= 2 ? &out->tcp : &out->udp) += e->c.slots[i];
		*(tv & 1 ? &out->ip6 : &out->ip4) += e->c.slots[i];
	}
	out->pending = pktsh_pending_count(e->pend);
	out->pending_evicted = (double)pktsh_pending_evicted(e->pend);
	return 0;
}

uint32_t pktsh_dnsstats_types(const struct pktsh_dnsstats *e, int32_t which, uint32_t *keys,
			      double *counts, uint32_t cap)
{
	const uint16_t *seen = which == PKTSH_DNSSTATS_RCODES ? e->rcodes_seen : e->qtypes_seen;
	const double *n = which == PKTSH_DNSSTATS_RCODES ? e->rcode_n : e->qtype_n;
	uint32_t total = which == PKTSH_DNSSTATS_RCODES ? e->nrcodes : e->nqtypes;

	for (uint32_t i = 0; i < total && i < cap; i++) {
		keys[i] = seen[i];
		counts[i] = n[seen[i]];
	}
	return total;
}

uint32_t pktsh_dnsstats_latency(const struct pktsh_dnsstats *e, int32_t which, double *keys,
				double *counts, uint32_t cap)
{
	const struct dnsstats_lat *l = e->lat;
	int log = which == PKTSH_DNSSTATS_LAT_LOG;
	/* the log2 bins are counts alone; the exact slots (value, count) */
	const double *c = log ? l->bins : l->ex;
	uint32_t n = 0, slots = log ? LOG_BINS : EXACT_SLOTS, step = log ? 1 : 2;

	if (!c)
		return 0;               /* the exact values went past the bound */
	for (uint32_t i = 0; i < slots; i++) {
		double count = c[i * step + step - 1];

		if (count == 0)
			continue;
		if (n < cap) {
			keys[n] = log ? i : c[i * step];
			counts[n] = count;
		}
		n++;
	}
	return n;
}

int pktsh_dnsstats_latency_stats(const struct pktsh_dnsstats *e,
				 struct pktsh_dnsstats_latency *out)
{
	const struct dnsstats_lat *l = e->lat;

	memset(out, 0, sizeof(*out));
	out->n = l->n;
	out->sum = l->sum;
	out->min = l->min;
	out->max = l->max;
	out->exact_over = l->over;
	return 0;
}

struct pktsh_topk64 *pktsh_dnsstats_topk(const struct pktsh_dnsstats *e, int32_t which)
{
	return which == PKTSH_DNSSTATS_CLIENTS ? e->clients : e->names;
}

struct pktsh_dnstcp *pktsh_dnsstats_tcp(const struct pktsh_dnsstats *e)
{
	return e->tcp;
}

struct pktsh_ipfrag *pktsh_dnsstats_frags(const struct pktsh_dnsstats *e)
{
	return e->frag;
}

int pktsh_dnsstats_pending_stats(const struct pktsh_dnsstats *e, struct pktsh_table_stats *out)
{
	return pktsh_pending_stats(e->pend, out);
}
