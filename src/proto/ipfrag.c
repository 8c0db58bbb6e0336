/*
 * ipfrag.c - IP fragments back into datagrams (pktsh_ipfrag, src/pktsh.h):
 * the DNS over UDP that large answers send in fragments (DNSSEC, EDNS
 * buffers over the path's MTU). dnsstats' scan hands it every UDP
 * fragment and pktsh.dnsflow, its general path, shares the same one, as
 * both share the TCP reassembler: one set of rules and counters, and no
 * fragment crosses into Lua (there each cost about 1.5 us in strings and
 * tables; the scan also had to queue its whole batch behind it).
 *
 * The rules, as Wireshark reassembles: a datagram is keyed by its
 * addresses, IP id and protocol (IPv6: the fragment header's id and next
 * header); a fragment the capture cut short is not taken (counted in
 * cut; a cut first IPv4 fragment is the caller's to decode as it
 * stands); the same offset and length again is a duplicate, not taken;
 * where fragments overlap, the first copy of a byte wins; a datagram is
 * whole once its last fragment (MF clear) came and every byte from 0 to
 * its end is there. A second last fragment with another end drops it.
 *
 * Bounds, all of them on what packets choose: FRAG_MAX bytes and
 * FRAG_PIECES fragments a datagram (past them it is dropped), max_frags
 * datagrams at once (the one begun first makes room: evicted), max_buffer
 * bytes held (each fragment counted with PIECE_COST more; the datagrams
 * begun first go first), and timeout ns from a datagram's first fragment
 * (checked once a second of capture time; the work is what expires, plus
 * one). A fragment costs O(pieces) at most: its place among the pieces
 * sorted by offset, and the coverage check. The table is placed by the
 * keyed tabulation hash (hash.c), as the TCP flows' is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "accel/hash.h"
#include "proto/agetab.h"

#define FRAG_MAX 65535u
#define FRAG_PIECES 64u
#define PIECE_COST 64u

struct piece {
	uint32_t off, len;
	uint8_t *data;
};

struct dgram {
	struct age_rec r;        /* key, begun order (agetab.h) */
	double first;            /* its first fragment's time */
	uint32_t total;          /* its end, once the last fragment came */
	uint32_t has_total;
	uint32_t npieces;
	struct piece *pieces;    /* in arrival order, FRAG_PIECES of room */
	uint8_t sorted[FRAG_PIECES];   /* pieces by offset */
	uint64_t bytes;          /* held, PIECE_COST each included */
};

struct pktsh_ipfrag {
	struct agetab d;         /* of struct dgram, begun first first */
	double timeout;
	uint64_t max_buffer;
	struct pktsh_ipfrag_stats st;
	const struct pktsh_tabhash *th;
	uint8_t *out;            /* the datagram last made whole */
};

static uint32_t be16(const uint8_t *d)
{
	return (uint32_t)d[0] << 8 | d[1];
}

struct pktsh_ipfrag *pktsh_ipfrag_new(const struct pktsh_ipfrag_opts *o, struct pktsh_err *err)
{
	struct pktsh_ipfrag *t;

	if (o->max_frags < 1 || o->max_frags > (1u << 20)) {
		pktsh_err_set(err, EINVAL, "IP fragments: 1 to %u datagrams at once", 1u << 20);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || agetab_init(&t->d, o->max_frags, sizeof(struct dgram)) != 0) {
		free(t);
		pktsh_err_set(err, ENOMEM, "IP fragment state");
		return NULL;
	}
	t->max_buffer = o->max_buffer;
	t->timeout = o->timeout;
	t->th = pktsh_tabhash_process();
	return t;
}

static struct dgram *dgram_at(const struct pktsh_ipfrag *t, uint32_t e)
{
	return (struct dgram *)(void *)agetab_rec(&t->d, e);
}

static void release(struct pktsh_ipfrag *t, struct dgram *g)
{
	for (uint32_t i = 0; i < g->npieces; i++)
		free(g->pieces[i].data);
	t->st.buffered -= g->bytes;
	g->npieces = 0;
	g->bytes = 0;
}

void pktsh_ipfrag_free(struct pktsh_ipfrag *t)
{
	if (!t)
		return;
	for (uint32_t e = t->d.oldest; e != AGE_NIL; e = dgram_at(t, e)->r.newer)
		release(t, dgram_at(t, e));
	for (uint32_t i = 0; i < t->d.nalloc; i++)
		free(dgram_at(t, i)->pieces);
	agetab_fini(&t->d);
	free(t->out);
	free(t);
}

int pktsh_ipfrag_stats(const struct pktsh_ipfrag *t, struct pktsh_ipfrag_stats *out)
{
	*out = t->st;
	out->frags = t->d.n;
	return 0;
}

/* --- the table (agetab.h) ---------------------------------------------- */

static uint32_t num(const struct pktsh_ipfrag *t, const struct dgram *g)
{
	return (uint32_t)(((const uint8_t *)g - t->d.recs) / sizeof(*g));
}

static void drop(struct pktsh_ipfrag *t, struct dgram *g)
{
	release(t, g);
	agetab_remove(&t->d, num(t, g));
}

static void evict(struct pktsh_ipfrag *t, struct dgram *g)
{
	t->st.evicted++;
	t->st.state_visits++;
	drop(t, g);
}

/* A new datagram, the newest; at max_frags the one begun first makes
 * room. NULL without memory. */
static struct dgram *new_dgram(struct pktsh_ipfrag *t, const uint8_t *key, uint32_t klen,
			       uint32_t h, double ts)
{
	struct dgram *g;
	uint32_t e;

	if (t->d.n >= t->d.max)
		evict(t, dgram_at(t, t->d.oldest));
	e = agetab_add(&t->d, key, klen, h);
	if (e == AGE_NIL)
		return NULL;
	g = dgram_at(t, e);
	/* a record keeps its pieces' array when given back */
	if (!g->pieces && !(g->pieces = malloc(FRAG_PIECES * sizeof(struct piece)))) {
		agetab_remove(&t->d, e);
		return NULL;
	}
	g->first = ts;
	g->total = g->has_total = 0;
	g->npieces = 0;
	g->bytes = 0;
	return g;
}

/* Room for n more bytes under max_buffer: the datagrams begun first go,
 * never keep. 0, or -1 when only keep is left. */
static int make_room(struct pktsh_ipfrag *t, uint64_t n, const struct dgram *keep)
{
	while (t->st.buffered + n > t->max_buffer) {
		uint32_t e = t->d.oldest;

		if (e != AGE_NIL && dgram_at(t, e) == keep)
			e = keep->r.newer;
		if (e == AGE_NIL)
			return -1;
		evict(t, dgram_at(t, e));
	}
	return 0;
}

/* --- time ----------------------------------------------------------- */

/* Datagrams begun before now - timeout go (all: every one), the oldest
 * first, stopping at the first that stays. */
static void sweep(struct pktsh_ipfrag *t, double now, int all)
{
	while (t->d.oldest != AGE_NIL) {
		struct dgram *g = dgram_at(t, t->d.oldest);

		t->st.state_visits++;
		if (!all && now - g->first <= t->timeout)
			break;
		t->st.timeouts++;
		drop(t, g);
	}
}

void pktsh_ipfrag_advance(struct pktsh_ipfrag *t, double ts)
{
	if (agetab_sweep_due(&t->d, ts))
		sweep(t, ts, 0);
}

void pktsh_ipfrag_flush(struct pktsh_ipfrag *t, double now, int32_t all)
{
	sweep(t, now, all != 0);
}

/* --- fragments ------------------------------------------------------- */

/* The rebuilt datagram in t->out when bytes 0 to g->total are all
 * there, else NULL. */
static const uint8_t *assemble(struct pktsh_ipfrag *t, const struct dgram *g)
{
	uint32_t covered = 0;

	for (uint32_t i = 0; i < g->npieces; i++) {
		const struct piece *pc = &g->pieces[g->sorted[i]];

		if (pc->off > covered)
			return NULL;
		if (pc->off + pc->len > covered)
			covered = pc->off + pc->len;
	}
	if (covered < g->total)
		return NULL;
	if (!t->out && !(t->out = malloc(FRAG_MAX)))
		return NULL;
	for (uint32_t i = g->npieces; i-- > 0;) {     /* the first copy of a byte wins */
		const struct piece *pc = &g->pieces[i];

		if (pc->off < g->total)
			memcpy(t->out + pc->off, pc->data,
			       pc->len < g->total - pc->off ? pc->len : g->total - pc->off);
	}
	return t->out;
}

/* The piece (off, n bytes at data) into g, in its place by offset. 0, or
 * -1 without memory. */
static int add_piece(struct pktsh_ipfrag *t, struct dgram *g, uint32_t off, const uint8_t *data,
		     uint32_t n)
{
	struct piece *pc = &g->pieces[g->npieces];
	uint32_t j = g->npieces;

	if (!(pc->data = malloc(n ? n : 1)))
		return -1;
	memcpy(pc->data, data, n);
	pc->off = off;
	pc->len = n;
	while (j > 0 && g->pieces[g->sorted[j - 1]].off > off) {
		g->sorted[j] = g->sorted[j - 1];
		j--;
	}
	g->sorted[j] = (uint8_t)g->npieces;
	g->npieces++;
	g->bytes += n + PIECE_COST;
	t->st.buffered += n + PIECE_COST;
	if (t->st.buffered > t->st.buffered_peak)
		t->st.buffered_peak = t->st.buffered;
	return 0;
}

/* The fragment's key, offset, whether it is the last, and whether the
 * capture cut its datagram short; klen. */
static uint32_t read_fragment(const struct pktsh_pkt *p, int v6, uint8_t *key, uint32_t *off,
			      int *last, int *cut)
{
	const uint8_t *d = p->data;
	uint32_t l3 = p->l3off, len;

	if (!v6) {
		uint32_t fo = be16(d + l3 + 6);

		*off = (fo & 0x1fff) * 8;
		*last = !(fo & 0x2000);
		memcpy(key, d + l3 + 12, 8);
		memcpy(key + 8, d + l3 + 4, 2);
		key[10] = d[l3 + 9];
		len = be16(d + l3 + 2);
		*cut = len != 0 && l3 + len > p->l3end;
		return 11;
	}
	{
		uint32_t o = p->fragdata - 8, fo = be16(d + o + 2);   /* the fragment header */

		*off = fo & 0xfff8;
		*last = !(fo & 1);
		memcpy(key, d + l3 + 8, 32);
		memcpy(key + 32, d + o + 4, 4);
		key[36] = d[o];
		len = be16(d + l3 + 4);
		*cut = len != 0 && l3 + 40 + len > p->l3end;
		return 37;
	}
}

int32_t pktsh_ipfrag_add(struct pktsh_ipfrag *t, const struct pktsh_pkt *p, int32_t v6,
			 double ts, const uint8_t **data, uint32_t *len)
{
	uint8_t key[AGE_KEY_MAX];
	uint32_t klen, off, n, h, e;
	int last, cut;
	struct dgram *g;
	const uint8_t *out;

	if (p->fragment == PKTSH_FRAG_NONE || p->fragdata > p->l3end)
		return PKTSH_IPFRAG_HELD;
	klen = read_fragment(p, v6 != 0, key, &off, &last, &cut);
	n = p->l3end - p->fragdata;
	if (cut) {
		t->st.cut++;
		return !v6 && off == 0 ? PKTSH_IPFRAG_CUT_FIRST : PKTSH_IPFRAG_HELD;
	}
	h = pktsh_tabhash_bytes(t->th, key, klen);
	e = agetab_find(&t->d, key, klen, h);
	if (e != AGE_NIL) {
		g = dgram_at(t, e);
		for (uint32_t k = 0; k < g->npieces; k++) {
			if (g->pieces[k].off == off && g->pieces[k].len == n) {
				t->st.dups++;
				return PKTSH_IPFRAG_HELD;
			}
		}
	} else if (!(g = new_dgram(t, key, klen, h, ts))) {
		t->st.dropped++;
		return PKTSH_IPFRAG_HELD;
	}
	if (off + n > FRAG_MAX || g->npieces >= FRAG_PIECES ||
	    make_room(t, (uint64_t)n + PIECE_COST, g) != 0 ||
	    (last && g->has_total && g->total != off + n) ||
	    add_piece(t, g, off, p->data + p->fragdata, n) != 0) {
		t->st.dropped++;
		drop(t, g);
		return PKTSH_IPFRAG_HELD;
	}
	if (last) {
		g->total = off + n;
		g->has_total = 1;
	}
	if (!g->has_total || !(out = assemble(t, g)))
		return PKTSH_IPFRAG_HELD;
	*data = out;
	*len = g->total;
	drop(t, g);
	t->st.datagrams++;
	return PKTSH_IPFRAG_WHOLE;
}
