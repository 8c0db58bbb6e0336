/*
 * dnstcp.c - DNS over TCP: segments in, whole length-prefixed messages
 * out. The one reassembler of the tree: dnsstats' C scan hands it the
 * TCP segments of a batch without going back to Lua, and
 * lua/pktsh/proto/dnsflow.lua hands it the segments it is fed (through
 * pktsh_dnstcp_segment), so both see the same messages.
 *
 * Rules (dnsflow.lua's, which documents them): per-direction flows
 * (addresses, then ports) reassembled in order from the SYN, or from the
 * first segment with data when the capture starts mid-flow (taken to
 * start a message); a segment of whole messages while its flow is not
 * tracked needs no state; retransmitted bytes are skipped. After a hole,
 * a segment that begins a plausible DNS message (plausible(): a length
 * prefix and a header whose opcode is assigned and whose counts fit)
 * means the hole lost data: the message it broke is given up (tcp_gaps)
 * and the flow goes on there, as Wireshark does; a segment inside a
 * message is held (OOO_SEGS per flow, OOO_BYTES) until the hole fills,
 * else the hole is given up (counted) and the flow waits (hunts) for a
 * segment that begins a message. A capture that starts inside a message
 * waits the same way. A late segment of whole messages inside the last
 * hole (reordered, not lost) still gives its messages. FIN/RST end a
 * flow; a zero length prefix counts as malformed.
 *
 * A segment the capture cut short (a snaplen under it: the IP length
 * claims bytes past the frame) is no hole: its sequence space is whole,
 * only the contents of its last bytes are unknown (tcp_cut). The message
 * those bytes cut is emitted cut (the emitter's cut: dnsstats counts it
 * in truncated, from what was captured after its length prefix; none
 * when nothing was), and its length prefix says where it ends: the flow
 * passes over the rest of it (skip, a count, whatever its length) and
 * goes on in step. When the cut hides where a message begins (its
 * prefix, or a message after the cut one), the flow waits for a segment
 * that begins one, as after a hole, but counts no gap (tcp_cut_resyncs).
 * Wireshark 4.0 dissects the messages of a cut segment as far as they
 * go and reassembles nothing across it: where a cut message goes on in
 * the next segments it reads those as new messages (tests/pcaps
 * gen__dns-tcp-snaplen-span).
 *
 * Bounds: at max_flows a new flow evicts the least recently active one;
 * bytes that would pass max_buffer evict the least recently active flows
 * first (a flow's message that alone cannot fit is dropped and the flow
 * resyncs). Flows sit on a list in activity order, so eviction takes
 * O(1) and expiry (checked once a second of capture time) looks only at
 * what expires. Every held byte counts, each held segment with
 * PIECE_COST more for its bookkeeping. The flow table is keyed by
 * addresses and ports from packets: its slots are placed by the keyed
 * tabulation hash (hash.c), as pending.c's are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "accel/hash.h"
#include "proto/agetab.h"
#include "proto/dnstcp.h"

#define OOO_SEGS 16
#define OOO_BYTES 65536u
#define PIECE_COST 64u
#define BUF_MAX 131072u
#define KEY_MAX 36

struct seg {
	uint32_t seq, len;      /* len bytes captured */
	uint32_t miss;          /* then miss more the capture cut off */
	uint8_t *data;
};

struct flow {
	struct age_rec r;       /* key, activity order (agetab.h) */
	uint32_t nxt;
	double last;
	uint8_t *buf;
	uint32_t cap, off, len;
	struct seg *ooo;        /* OOO_SEGS of them once a segment waits */
	uint32_t nooo, ooobytes;
	uint32_t hole0, hole1;  /* the last hole's sequence range, when has_hole */
	uint32_t skip;          /* bytes left of a message the capture cut (counted) */
	uint8_t hunt;           /* after a hole: waiting for a message to begin */
	uint8_t has_hole;
};

struct pktsh_dnstcp {
	struct agetab flows;    /* of struct flow, least recently active first */
	uint8_t ports[PKTSH_DNS_PORTMAP_BYTES];
	double timeout;
	uint64_t max_buffer;
	struct pktsh_dnstcp_stats st;
	const struct pktsh_tabhash *th;
	/* pktsh_dnstcp_segment's messages: copies, valid to the next call */
	uint8_t *out;
	uint32_t out_cap, out_used, nout, out_max;
	uint32_t *out_off, *out_len;
	uint8_t *out_cut;       /* 1: the capture cut the message short */
};

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

static uint32_t be32(const uint8_t *d)
{
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

struct pktsh_dnstcp *pktsh_dnstcp_new(const struct pktsh_dnstcp_opts *o, struct pktsh_err *err)
{
	struct pktsh_dnstcp *t;

	if (o->max_flows < 1 || o->max_flows > (1u << 24)) {
		pktsh_err_set(err, EINVAL, "DNS over TCP: 1 to %u flows", 1u << 24);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || agetab_init(&t->flows, o->max_flows, sizeof(struct flow)) != 0) {
		free(t);
		pktsh_err_set(err, ENOMEM, "DNS over TCP state");
		return NULL;
	}
	t->max_buffer = o->max_buffer;
	t->timeout = o->timeout;
	t->th = pktsh_tabhash_process();
	memcpy(t->ports, o->ports, sizeof(t->ports));
	return t;
}

static void release(struct pktsh_dnstcp *t, struct flow *f);

static struct flow *flow_at(const struct pktsh_dnstcp *t, uint32_t e)
{
	return (struct flow *)(void *)agetab_rec(&t->flows, e);
}

static uint32_t fnum(const struct pktsh_dnstcp *t, const struct flow *f)
{
	return (uint32_t)(((const uint8_t *)f - t->flows.recs) / sizeof(*f));
}

void pktsh_dnstcp_free(struct pktsh_dnstcp *t)
{
	if (!t)
		return;
	for (uint32_t e = t->flows.oldest; e != AGE_NIL; e = flow_at(t, e)->r.newer)
		release(t, flow_at(t, e));
	for (uint32_t i = 0; i < t->flows.nalloc; i++)
		free(flow_at(t, i)->ooo);
	agetab_fini(&t->flows);
	free(t->out);
	free(t->out_off);
	free(t->out_len);
	free(t->out_cut);
	free(t);
}

int pktsh_dnstcp_stats(const struct pktsh_dnstcp *t, struct pktsh_dnstcp_stats *out)
{
	*out = t->st;
	out->flows = t->flows.n;
	return 0;
}

/* --- bytes held ------------------------------------------------------- */

static void hold(struct pktsh_dnstcp *t, int64_t n)
{
	t->st.buffered += (uint64_t)n;
	if (t->st.buffered > t->st.buffered_peak)
		t->st.buffered_peak = t->st.buffered;
}

static void free_buf(struct pktsh_dnstcp *t, struct flow *f)
{
	free(f->buf);
	t->st.buffered -= f->cap;
	f->buf = NULL;
	f->cap = f->off = f->len = 0;
}

/* What a flow holds: its stream buffer and its out-of-order segments. */
static void release(struct pktsh_dnstcp *t, struct flow *f)
{
	for (uint32_t i = 0; i < f->nooo; i++)
		free(f->ooo[i].data);
	t->st.buffered -= f->ooobytes + (uint64_t)f->nooo * PIECE_COST;
	f->nooo = f->ooobytes = 0;
	free_buf(t, f);
}

/* --- the table (agetab.h) ---------------------------------------------- */

static void drop_flow(struct pktsh_dnstcp *t, struct flow *f)
{
	release(t, f);
	agetab_remove(&t->flows, fnum(t, f));
}

static void evict_flow(struct pktsh_dnstcp *t, struct flow *f)
{
	t->st.tcp_evicted++;
	t->st.state_visits++;
	drop_flow(t, f);
}

/* A new flow at sequence number nxt, the newest; at max_flows the least
 * recently active one makes room. NULL without memory. */
static struct flow *new_flow(struct pktsh_dnstcp *t, const uint8_t *key, uint32_t klen,
			     uint32_t h, uint32_t nxt, double ts)
{
	struct flow *f;
	uint32_t e;

	if (t->flows.n >= t->flows.max)
		evict_flow(t, flow_at(t, t->flows.oldest));
	e = agetab_add(&t->flows, key, klen, h);
	if (e == AGE_NIL)
		return NULL;
	f = flow_at(t, e);
	f->nxt = nxt;
	f->last = ts;
	f->buf = NULL;
	f->cap = f->off = f->len = 0;
	f->nooo = f->ooobytes = 0;
	f->hunt = f->has_hole = 0;
	f->hole0 = f->hole1 = 0;
	f->skip = 0;
	t->st.tcp_flows++;
	return f;
}

/* Room for n more bytes under max_buffer: the least recently active
 * flows go first, never keep. 0 when only keep is left. */
static int make_room(struct pktsh_dnstcp *t, uint64_t n, struct flow *keep)
{
	while (t->st.buffered + n > t->max_buffer) {
		uint32_t e = t->flows.oldest;

		if (e != AGE_NIL && flow_at(t, e) == keep)
			e = keep->r.newer;
		if (e == AGE_NIL)
			return 0;
		evict_flow(t, flow_at(t, e));
	}
	return 1;
}

/* --- streams ------------------------------------------------------------ */

struct emitter {
	void (*fn)(void *ctx, const uint8_t *msg, uint32_t len, int cut);
	void *ctx;
};

/* The length of the message whose start f holds followed by d[0, n)
 * (prefix included), or 0 while its prefix is incomplete. */
static uint32_t message_len(const struct flow *f, const uint8_t *d, uint32_t n)
{
	if (f->len >= 2)
		return 2u + be16(f->buf + f->off);
	if (f->len == 1 && n >= 1)
		return 2u + (uint32_t)(f->buf[f->off] << 8 | d[0]);
	if (f->len == 0 && n >= 2)
		return 2u + be16(d);
	return 0;
}

/* Room in f's buffer for d[0, n): 0 when there is none under the bounds. */
static int reserve(struct pktsh_dnstcp *t, struct flow *f, const uint8_t *d, uint32_t n)
{
	uint32_t need = f->len + n, cap, ml;
	uint8_t *b;

	if (f->off + need <= f->cap)
		return 1;
	if (need <= f->cap && f->off >= f->len) {      /* the data fits once moved down */
		memcpy(f->buf, f->buf + f->off, f->len);
		f->off = 0;
		return 1;
	}
	ml = message_len(f, d, n);
	cap = need > ml ? need : ml;
	cap = (cap + 255u) & ~255u;
	if (cap > BUF_MAX || !make_room(t, cap - f->cap, f))
		return 0;
	b = malloc(cap);
	if (!b)
		return 0;
	if (f->len)
		memcpy(b, f->buf + f->off, f->len);
	free(f->buf);
	hold(t, (int64_t)cap - f->cap);
	f->buf = b;
	f->cap = cap;
	f->off = 0;
	return 1;
}

/* Emits the whole messages at the start of d[0, n); the bytes used and,
 * in *k, how many. */
static uint32_t messages(struct pktsh_dnstcp *t, const uint8_t *d, uint32_t n,
			 const struct emitter *em, uint32_t *k)
{
	uint32_t pos = 0;

	*k = 0;
	while (n - pos >= 2) {
		uint32_t l = be16(d + pos);

		if (l == 0) {
			t->st.malformed++;
			pos += 2;
			continue;
		}
		if (n - pos - 2 < l)
			break;
		t->st.tcp++;
		(*k)++;
		em->fn(em->ctx, d + pos + 2, l, 0);
		pos += 2 + l;
	}
	return pos;
}

static void append(struct flow *f, const uint8_t *d, uint32_t n)
{
	memcpy(f->buf + f->off + f->len, d, n);
	f->len += n;
}

/* Resynchronises f at seq: what it held is dropped. */
static void resync(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq)
{
	release(t, f);
	f->nxt = seq;
}

/* Segment data: n bytes at d as captured, then miss bytes the capture
 * cut off (a snaplen shorter than the segment: they exist, their
 * sequence space is whole, only their contents are unknown). */
struct span {
	const uint8_t *d;
	uint32_t n, miss;
};

/* s without its first r bytes (already taken). */
static struct span after(struct span s, uint32_t r)
{
	if (r <= s.n) {
		s.d += r;
		s.n -= r;
	} else {
		s.miss -= r - s.n < s.miss ? r - s.n : s.miss;
		s.n = 0;
	}
	return s;
}

/* Whether d[0, n) plausibly begins a DNS message: a length prefix and a
 * header (12 bytes, whole) whose opcode is assigned and whose counts fit
 * in that length (a question takes 5 bytes at least, a record 11). After
 * a hole a flow resynchronises only at such a segment, as Wireshark
 * does. */
static int plausible(const uint8_t *d, uint32_t n)
{
	uint32_t l, op;

	if (n < 14)
		return 0;
	l = be16(d);
	op = (uint32_t)(d[4] >> 3) & 15u;
	if (l < 12 || op == 3 || op > 6)
		return 0;
	return 12u + 5u * be16(d + 6) +
	       11u * ((uint32_t)be16(d + 8) + be16(d + 10) + be16(d + 12)) <= l;
}

/* A hole in f before seq: the message it broke is given up (counted), and
 * f waits for a segment that begins a message (hunt) unless this one
 * does. The hole's range is kept: a segment of it arriving late
 * (reordered, not lost) still gives its whole messages. */
static void hole(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq)
{
	t->st.tcp_gaps++;
	release(t, f);
	f->hole0 = f->nxt;
	f->hole1 = seq;
	f->has_hole = 1;
	f->nxt = seq;
	f->hunt = 1;
}

/* The message begun by p[0, len) (less than all of it) runs into miss
 * bytes the capture cut off. With its length prefix it is emitted cut
 * (from its first byte after the prefix on, as Wireshark shows it) and
 * f, when given, passes over the rest of it (skip); when the cut hides
 * where a message begins (its prefix, or one after the cut message), f
 * waits for a segment that begins one, as after a hole: no bytes were
 * lost on the network, so no tcp_gaps (tcp_cut_resyncs). Returns the
 * messages emitted. */
static uint32_t cut(struct pktsh_dnstcp *t, struct flow *f, const uint8_t *p, uint32_t len,
		    uint32_t miss, const struct emitter *em)
{
	uint32_t rest = len >= 2 ? 2u + be16(p) - len : 0, k = 0;

	if (len > 2) {
		t->st.tcp++;
		em->fn(em->ctx, p + 2, len - 2, 1);
		k = 1;
	}
	if (!f)
		return k;
	if (len >= 2 && rest > miss) {
		f->skip = rest - miss;
	} else if (len < 2 || rest < miss) {
		t->st.tcp_cut_resyncs++;
		release(t, f);
		f->hunt = 1;
	}
	return k;
}

/* Whether the message begun by p[0, len) ends where the miss bytes cut
 * off after it end: nothing of it, and nothing after it, is left. */
static int cut_ends(const uint8_t *p, uint32_t len, uint32_t miss)
{
	return len >= 2 && 2u + be16(p) - len == miss;
}

/* In-order data for flow f; returns the messages emitted. */
static uint32_t take(struct pktsh_dnstcp *t, struct flow *f, struct span s,
		     const struct emitter *em)
{
	uint32_t k, used;

	f->nxt += s.n + s.miss;
	if (f->skip) {           /* the rest of a message cut before */
		uint32_t r = f->skip < s.n + s.miss ? f->skip : s.n + s.miss;

		f->skip -= r;
		s = after(s, r);
		if (s.n == 0 && s.miss == 0)
			return 0;
	}
	if (f->len == 0) {
		used = messages(t, s.d, s.n, em, &k);
		if (s.miss)
			return k + cut(t, f, s.d + used, s.n - used, s.miss, em);
		if (used == s.n)
			return k;
		s = after(s, used);
		if (!reserve(t, f, s.d, s.n)) {
			t->st.tcp_dropped++;
			resync(t, f, f->nxt);
			return k;
		}
		append(f, s.d, s.n);
		return k;
	}
	if (!reserve(t, f, s.d, s.n)) {
		t->st.tcp_dropped++;
		resync(t, f, f->nxt);
		return 0;
	}
	append(f, s.d, s.n);
	used = messages(t, f->buf + f->off, f->len, em, &k);
	f->off += used;
	f->len -= used;
	if (s.miss) {
		k += cut(t, f, f->buf + f->off, f->len, s.miss, em);
		f->len = 0;
	}
	if (f->len == 0)
		free_buf(t, f);
	return k;
}

/* Held segments that now fit, in order (the newest held first among
 * those that fit, as dnsflow.lua took them). */
static uint32_t drain(struct pktsh_dnstcp *t, struct flow *f, const struct emitter *em)
{
	uint32_t k = 0;
	int progress = 1;

	while (progress && f->nooo) {
		progress = 0;
		for (uint32_t i = f->nooo; i-- > 0;) {
			struct seg g = f->ooo[i];
			struct span s = {g.data, g.len, g.miss};
			int32_t rel = (int32_t)(g.seq - f->nxt);

			if (rel > 0)
				continue;
			memmove(&f->ooo[i], &f->ooo[i + 1], (f->nooo - i - 1) * sizeof(g));
			f->nooo--;
			f->ooobytes -= g.len;
			t->st.buffered -= g.len + PIECE_COST;
			if ((int64_t)rel + g.len + g.miss > 0)
				k += take(t, f, after(s, (uint32_t)-rel), em);
			free(g.data);
			progress = 1;
			if (!f->nooo)
				break;           /* all taken, or take() resynchronised f */
		}
	}
	return k;
}

/* A segment after a hole while f waits for a message to begin. */
static uint32_t hunt(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq, struct span s,
		     const struct emitter *em)
{
	if (!plausible(s.d, s.n)) {
		if ((int32_t)(seq + s.n + s.miss - f->nxt) > 0)
			f->nxt = seq + s.n + s.miss;
		return 0;
	}
	f->hunt = 0;
	f->skip = 0;
	f->nxt = seq;
	return take(t, f, s, em);
}

/* Old data: a retransmission, or a segment of the last hole arriving
 * late, whose whole messages (and the one the capture cut) are then
 * emitted on their own. */
static uint32_t late(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq, struct span s,
		     const struct emitter *em)
{
	uint32_t k, used, end = seq + s.n + s.miss;

	if (f->has_hole && (int32_t)(seq - f->hole0) >= 0 &&
	    (int32_t)(end - f->hole1) <= 0 && plausible(s.d, s.n)) {
		/* the hole shrinks by what it took (a retransmission of it is old) */
		if (seq == f->hole0)
			f->hole0 = end;
		else
			f->hole1 = seq;
		used = messages(t, s.d, s.n, em, &k);
		if (s.miss)
			k += cut(t, NULL, s.d + used, s.n - used, s.miss, em);
		return k;
	}
	t->st.tcp_dups++;
	return 0;
}

/* Holds a segment that came after a hole (it may be reordering): 0 when
 * there is no room under the bounds. */
static int hold_segment(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq, struct span s)
{
	uint8_t *copy;

	if (f->nooo >= OOO_SEGS || f->ooobytes + s.n > OOO_BYTES ||
	    t->st.buffered + s.n + PIECE_COST > t->max_buffer)
		return 0;
	if (!f->ooo)
		f->ooo = malloc(OOO_SEGS * sizeof(*f->ooo));
	copy = malloc(s.n ? s.n : 1);
	if (!copy || !f->ooo) {
		free(copy);
		return 0;
	}
	memcpy(copy, s.d, s.n);
	f->ooo[f->nooo] = (struct seg){seq, s.n, s.miss, copy};
	f->nooo++;
	f->ooobytes += s.n;
	hold(t, (int64_t)s.n + PIECE_COST);
	return 1;
}

/* Data at seq for flow f; returns the messages emitted. */
static uint32_t segment(struct pktsh_dnstcp *t, struct flow *f, uint32_t seq, struct span s,
			const struct emitter *em)
{
	int32_t rel = (int32_t)(seq - f->nxt);
	uint32_t k;

	if (rel < 0 && (int64_t)rel + s.n + s.miss <= 0)
		return late(t, f, seq, s, em);
	if (f->hunt)
		return hunt(t, f, seq, s, em);
	if (rel <= 0) {
		k = take(t, f, after(s, (uint32_t)-rel), em);
		return k + (f->nooo ? drain(t, f, em) : 0);
	}
	/* A gap. A segment that begins a message: the hole lost data (the
	 * capture missed it), go on here. Else hold the segment while there
	 * is room (the hole may be reordering), then give the hole up. */
	if (plausible(s.d, s.n)) {
		hole(t, f, seq);
		return hunt(t, f, seq, s, em);
	}
	if (hold_segment(t, f, seq, s))
		return 0;
	hole(t, f, seq);
	f->nxt = seq + s.n + s.miss;
	return 0;
}

/* --- segments ------------------------------------------------------------ */

/* Expires flows idle since before now - timeout, least recently active
 * first, and stops at the first that is not; all: every flow. */
static void sweep(struct pktsh_dnstcp *t, double now, int all)
{
	while (t->flows.oldest != AGE_NIL) {
		struct flow *f = flow_at(t, t->flows.oldest);

		t->st.state_visits++;
		if (!all && now - f->last <= t->timeout)
			break;
		if (f->len > 0 || f->nooo)
			t->st.tcp_timeouts++;
		drop_flow(t, f);
	}
}

void pktsh_dnstcp_advance(struct pktsh_dnstcp *t, double ts)
{
	if (agetab_sweep_due(&t->flows, ts))
		sweep(t, ts, 0);
}

void pktsh_dnstcp_flush(struct pktsh_dnstcp *t, double now, int32_t all)
{
	sweep(t, now, all);
}

/* Bytes of p's TCP segment the capture cut off: those the innermost IP
 * length claims past the frame when the datagram runs to the frame's
 * end. An IPv4 total length of 0 (TSO) is the frame's, as the walker
 * reads it: its length on the wire; an IPv6 payload length of 0 claims
 * nothing here. */
static uint32_t missing(const struct pktsh_pkt *p, int v6)
{
	uint32_t l, end;

	if (!p->trunc || p->l3end != p->caplen)
		return 0;
	l = be16(p->data + p->l3off + (v6 ? 4 : 2));
	if (l == 0 && v6)
		return 0;
	end = l ? p->l3off + (v6 ? 40u : 0u) + l : p->len;
	return end > p->l3end ? end - p->l3end : 0;
}

/* p's flow key (addresses, then ports) into key; its length. */
static uint32_t flow_key(const struct pktsh_pkt *p, int v6, uint8_t *key)
{
	uint32_t alen = v6 ? 16 : 4;

	memcpy(key, p->data + p->l3off + (v6 ? 8 : 12), 2 * alen);
	memcpy(key + 2 * alen, p->data + p->l4off, 4);
	return 2 * alen + 4;
}

/* A segment with data of a flow that is not tracked (the capture began
 * after its SYN, or its state went): a segment of whole messages (the
 * last maybe cut, ending with the segment) needs no state; else a flow
 * starts here, waiting for a message to begin when this segment begins
 * inside one (counted as a gap). */
static uint32_t untracked(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int v6, uint32_t seq,
			  struct span s, int end, double ts, const struct emitter *em)
{
	uint8_t key[KEY_MAX];
	uint32_t klen, l = s.n >= 2 ? be16(s.d) : 0, used, k;
	struct flow *f;

	if (!s.miss && l > 0 && l + 2 == s.n) {
		t->st.tcp++;
		em->fn(em->ctx, s.d + 2, l, 0);
		return 1;
	}
	if (s.n >= 14 && !plausible(s.d, s.n)) {
		/* the capture began inside a message: wait for one to begin */
		t->st.tcp_gaps++;
		if (end)
			return 0;
		klen = flow_key(p, v6, key);
		f = new_flow(t, key, klen, pktsh_tabhash_bytes(t->th, key, klen),
			     seq + s.n + s.miss, ts);
		if (f)
			f->hunt = 1;
		return 0;
	}
	used = messages(t, s.d, s.n, em, &k);
	if (s.miss && (end || cut_ends(s.d + used, s.n - used, s.miss)))
		return k + cut(t, NULL, s.d + used, s.n - used, s.miss, em);
	if (!s.miss && (used == s.n || end))
		return k;
	/* a message continues in the next segments: keep the rest */
	klen = flow_key(p, v6, key);
	f = new_flow(t, key, klen, pktsh_tabhash_bytes(t->th, key, klen), seq + used, ts);
	if (!f)
		return k;
	return k + take(t, f, after(s, used), em);
}

uint32_t dnstcp_segment(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int v6, double ts,
			void (*emit)(void *ctx, const uint8_t *msg, uint32_t len, int cut),
			void *ctx)
{
	const uint8_t *d = p->data;
	uint32_t off = p->l4off, stop = p->l3end, h, seq, klen, hash = 0, k;
	uint16_t sp, dp;
	uint8_t flags, key[KEY_MAX];
	int syn, end;
	struct flow *f = NULL;
	struct emitter em = {emit, ctx};
	struct span s;

	if (off == 0 || off + 20 > stop)
		return 0;
	sp = be16(d + off);
	dp = be16(d + off + 2);
	if (!(t->ports[sp >> 3] >> (sp & 7) & 1) && !(t->ports[dp >> 3] >> (dp & 7) & 1))
		return 0;
	h = (uint32_t)(d[off + 12] >> 4) * 4;
	if (h < 20 || off + h > stop)
		return 0;
	s = (struct span){d + off + h, stop - off - h, missing(p, v6)};
	if (s.miss)
		t->st.tcp_cut++;
	flags = d[off + 13];
	syn = flags & 2;
	end = flags & 5;        /* FIN or RST */
	seq = be32(d + off + 4);
	/* the key only when a flow may exist or will */
	if (syn || t->flows.n > 0) {
		uint32_t e;

		klen = flow_key(p, v6, key);
		hash = pktsh_tabhash_bytes(t->th, key, klen);
		e = agetab_find(&t->flows, key, klen, hash);
		if (e != AGE_NIL)
			f = flow_at(t, e);
	}
	if (syn) {
		if (f)
			drop_flow(t, f);
		f = NULL;
		seq++;
	}
	if (!f && !syn)
		return s.n + s.miss ? untracked(t, p, v6, seq, s, end, ts, &em) : 0;
	if (f) {
		f->last = ts;
		agetab_touch(&t->flows, fnum(t, f));
	} else {
		f = new_flow(t, key, klen, hash, seq, ts);
		if (!f)
			return 0;
	}
	k = s.n + s.miss ? segment(t, f, seq, s, &em) : 0;
	if (end) {
		if (f->len > 0 || f->nooo)
			t->st.tcp_unfinished++;
		drop_flow(t, f);
	}
	return k;
}

/* --- for Lua: the messages copied out ------------------------------------ */

static void collect(void *ctx, const uint8_t *msg, uint32_t len, int cut)
{
	struct pktsh_dnstcp *t = ctx;

	if (t->nout >= t->out_max) {
		uint32_t m = t->out_max ? t->out_max * 2 : 64;
		uint32_t *o = realloc(t->out_off, m * sizeof(*o));
		uint32_t *l = o ? realloc(t->out_len, m * sizeof(*l)) : NULL;
		uint8_t *c = l ? realloc(t->out_cut, m) : NULL;

		if (o)
			t->out_off = o;
		if (l)
			t->out_len = l;
		if (!c)
			return;
		t->out_cut = c;
		t->out_max = m;
	}
	if (t->out_used + len > t->out_cap) {
		uint32_t c = t->out_cap ? t->out_cap : 65536;
		uint8_t *b;

		while (c < t->out_used + len)
			c *= 2;
		b = realloc(t->out, c);
		if (!b)
			return;
		t->out = b;
		t->out_cap = c;
	}
	memcpy(t->out + t->out_used, msg, len);
	t->out_off[t->nout] = t->out_used;
	t->out_len[t->nout] = len;
	t->out_cut[t->nout] = (uint8_t)(cut != 0);
	t->out_used += len;
	t->nout++;
}

int32_t pktsh_dnstcp_segment(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int32_t v6,
			     double ts)
{
	t->nout = t->out_used = 0;
	dnstcp_segment(t, p, v6 != 0, ts, collect, t);
	return (int32_t)t->nout;
}

const uint8_t *pktsh_dnstcp_message(const struct pktsh_dnstcp *t, uint32_t i, uint32_t *len,
				    int32_t *cut)
{
	if (i >= t->nout)
		return NULL;
	*len = t->out_len[i];
	*cut = t->out_cut[i];
	return t->out + t->out_off[i];
}
