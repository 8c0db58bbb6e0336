/*
 * xdpclass.c - installing a rule set in the XDP program: the rules Lua
 * hands over are checked and converted to the form the program reads
 * (struct xr_rule), and for the classifier engine its maps are built
 * from them; then the new set is switched on in one store.
 *
 * The classifier does one lookup per field - LPM tries for source and
 * destination, tables indexed by port, protocol and VLAN - and each
 * lookup gives a class: a bitmap of the rules that accept the packet in
 * that field (with a summary bitmap of its non-zero words). Building
 * the classes is a sweep over the rules' ranges and prefixes, the one
 * costly step of a commit; it lives here, apart from the loading and
 * attaching in src/xdp.c, so that each can be read without the other.
 *
 * Rule sets are double-buffered (bpf/xdp_rules.h): a commit writes the
 * slot no packet reads - the rule array, and for the classifier its
 * class bitmaps, per-value class tables and prefix tries - then flips
 * cfg.active. Before the next commit may write the old slot, packets
 * still reading it must be gone: an update of an array-of-maps makes the
 * kernel wait for an RCU grace period (every XDP run is inside one), so
 * that is what sync_rcu() does. The mmappable tables are written in
 * place; only the tries take a system call per prefix.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "err.h"
#include "xdp/xdp_int.h"
#include "../../bpf/xdp_rules.h"
#include "xdp_rules.skel.h"
_Static_assert(sizeof(struct xr_rule) % 8 == 0, "array elements are 8-byte strided");

/* Waits until no XDP run can still see the slot that was active before
 * the last flip (see the comment at the top). */
static int sync_rcu(struct pktsh_xdp *x, struct pktsh_err *err)
{
	uint32_t zero = 0;

	if (!x->need_sync)
		return 0;
	if (bpf_map_update_elem(x->sync_outer, &zero, &x->sync_inner, BPF_ANY))
		return xdp_bpf_fail(err, errno, "waiting for packets on the old rule set");
	x->need_sync = 0;
	return 0;
}

static void mask_of(uint32_t *m, int len, int bits)
{
	int i;

	memset(m, 0, 16);
	for (i = 0; i < bits / 32; i++) {
		int l = len - i * 32;

		if (l >= 32)
			m[i] = 0xffffffffu;
		else if (l > 0)
			m[i] = htonl(~0u << (32 - l));
	}
}

/* A rule's address (src or dst) and its mask for a prefix of len bits
 * out of bits: -1 when len is out of range. */
static int prefix_of(uint32_t *addr, uint32_t *mask, const uint8_t *in, int len, int bits)
{
	int i;

	if (len < 0 || len > bits)
		return -1;
	mask_of(mask, len, bits);
	memcpy(addr, in, 16);
	for (i = 0; i < 4; i++)
		addr[i] &= mask[i];
	return 0;
}

static int convert(const struct pktsh_xdp_rule *in, struct xr_rule *r,
		   struct pktsh_err *err)
{
	int bits = in->family == 6 ? 128 : 32;

	memset(r, 0, sizeof(*r));
	if (in->id >= XR_MAX_RULES) {
		pktsh_err_set(err, EINVAL, "rule id %u out of range", in->id);
		return -1;
	}
	r->flags = in->flags & XR_F_ALL;
	r->family = (uint8_t)((r->flags & (XR_F_SRC | XR_F_DST)) ? in->family : 0);
	if (r->family && r->family != 4 && r->family != 6) {
		pktsh_err_set(err, EINVAL, "rule %u: family %d", in->id, in->family);
		return -1;
	}
	if (((r->flags & XR_F_SRC) && prefix_of(r->src, r->smask, in->src, in->src_len, bits)) ||
	    ((r->flags & XR_F_DST) && prefix_of(r->dst, r->dmask, in->dst, in->dst_len, bits))) {
		pktsh_err_set(err, EINVAL, "rule %u: bad prefix length", in->id);
		return -1;
	}
	r->sport_lo = (uint16_t)in->sport_lo;
	r->sport_hi = (uint16_t)in->sport_hi;
	r->dport_lo = (uint16_t)in->dport_lo;
	r->dport_hi = (uint16_t)in->dport_hi;
	r->proto = (uint8_t)in->proto;
	r->vlan = (uint16_t)(in->vlan & XR_VLAN_ID_MASK);
	r->id = in->id;
	switch (in->action) {
	case PKTSH_XDP_PASS:
	case PKTSH_XDP_DROP:
	case PKTSH_XDP_REDIRECT:
		r->verdict = (uint32_t)in->action;   /* the kernel's values */
		break;
	default:
		pktsh_err_set(err, EINVAL, "rule %u: unknown action %d", in->id,
			      (int)in->action);
		return -1;
	}
	r->copy = in->copy;
	return 0;
}

/* The classifier's builder: classes are emitted into the pool window. */
struct builder {
	struct pktsh_xdp *x;
	const struct xr_rule *r;
	uint32_t n;
	uint32_t w;               /* bitmap words */
	uint32_t sw;              /* summary words */
	uint32_t start;           /* window in the pool */
	uint32_t limit;
	uint32_t next;            /* classes emitted */
	uint64_t *cur;            /* the bitmap being built */
	struct pktsh_err *err;
};

static void bset(uint64_t *b, uint32_t i) { b[i / 64] |= 1ull << (i % 64); }
static void bclr(uint64_t *b, uint32_t i) { b[i / 64] &= ~(1ull << (i % 64)); }

/* Writes b->cur as a new class; its index, or -1 when the pool is full. */
static int64_t emit(struct builder *b)
{
	uint32_t stride = b->sw + b->w, i;
	uint64_t at = (uint64_t)b->start + (uint64_t)b->next * stride;
	uint64_t *dst;

	if (at + stride > b->limit) {
		pktsh_err_set(b->err, ENOSPC, "the classifier needs more bitmap "
			      "memory than class_words = %u allows for %u rules "
			      "(raise class_words, or use engine = \"linear\")",
			      b->x->info.class_words, b->n);
		return -1;
	}
	dst = b->x->words + at;
	memset(dst, 0, b->sw * 8);
	for (i = 0; i < b->w; i++) {
		dst[b->sw + i] = b->cur[i];
		if (b->cur[i])
			dst[i / 64] |= 1ull << (i % 64);
	}
	return b->next++;
}

/* The wildcard rules of one dimension (rules without its flag). */
static void wild(struct builder *b, uint32_t flag)
{
	uint32_t i;

	memset(b->cur, 0, b->w * 8);
	for (i = 0; i < b->n; i++)
		if (!(b->r[i].flags & flag))
			bset(b->cur, i);
}

struct event {
	uint32_t at;
	uint32_t pos;
	int add;
};

static int event_cmp(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return b->add - a->add;
}

/* The class of a field the packet has but the program could not read
 * (bpf/xdp_rules.h): the rules that do not name it, and the drop rules
 * that do - when in doubt, a drop rule applies and a pass rule does not. */
static int64_t unknown_class(struct builder *b, uint32_t flag)
{
	uint32_t i;

	wild(b, flag);
	for (i = 0; i < b->n; i++)
		if ((b->r[i].flags & flag) && b->r[i].verdict == PKTSH_XDP_DROP)
			bset(b->cur, i);
	return emit(b);
}

/* A dimension over values 0..nvals-1, plus "absent" at nvals (and, with
 * unknown, "unknown" at nvals + 1): sweeps the rules' ranges, emitting a
 * class per elementary interval. */
static int value_dim(struct builder *b, uint32_t flag, uint32_t nvals,
		     int unknown, uint64_t *tab, int which)
{
	struct event *ev = malloc(sizeof(*ev) * 2 * (b->n + 1));
	int64_t wc, c;
	uint32_t i, ne = 0, v, e = 0, active = 0;

	if (!ev) {
		pktsh_err_set(b->err, ENOMEM, "out of memory");
		return -1;
	}
	wild(b, flag);
	wc = emit(b);
	if (wc < 0)
		goto fail;
	for (i = 0; i < b->n; i++) {
		const struct xr_rule *r = &b->r[i];
		uint32_t lo, hi;

		if (!(r->flags & flag))
			continue;
		switch (which) {
		case XR_DIM_SPORT: lo = r->sport_lo; hi = r->sport_hi; break;
		case XR_DIM_DPORT: lo = r->dport_lo; hi = r->dport_hi; break;
		case XR_DIM_PROTO: lo = hi = r->proto; break;
		default: lo = hi = r->vlan; break;
		}
		ev[ne++] = (struct event){ lo, i, 1 };
		ev[ne++] = (struct event){ hi + 1, i, 0 };
	}
	qsort(ev, ne, sizeof(*ev), event_cmp);
	c = wc;
	for (v = 0; v < nvals; ) {
		uint32_t until = nvals;

		if (e < ne && ev[e].at == v) {
			while (e < ne && ev[e].at == v) {
				if (ev[e].add) {
					bset(b->cur, ev[e].pos);
					active++;
				} else {
					bclr(b->cur, ev[e].pos);
					active--;
				}
				e++;
			}
			c = active ? emit(b) : wc;
			if (c < 0)
				goto fail;
		}
		if (e < ne && ev[e].at < until)
			until = ev[e].at;
		for (; v < until; v++)
			tab[v] = (uint32_t)c;
	}
	tab[nvals] = (uint32_t)wc;
	if (unknown) {
		c = unknown_class(b, flag);
		if (c < 0)
			goto fail;
		tab[nvals + 1] = (uint32_t)c;
	}
	free(ev);
	return 0;
fail:
	free(ev);
	return -1;
}

static int keylist_add(struct keylist *l, const void *key, size_t ksz,
		       struct pktsh_err *err)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? 2 * l->cap : 64;
		void *k = realloc(l->keys, cap * ksz);

		if (!k) {
			pktsh_err_set(err, ENOMEM, "out of memory");
			return -1;
		}
		l->keys = k;
		l->cap = cap;
	}
	memcpy((uint8_t *)l->keys + (size_t)l->n++ * ksz, key, ksz);
	return 0;
}

static int prefix_len(const uint32_t *mask)
{
	int i, n = 0;

	for (i = 0; i < 4; i++)
		n += __builtin_popcount(mask[i]);
	return n;
}

/* Whether prefix (a, alen) lies inside rule prefix (ra, rmask). */
static int inside(const uint32_t *a, const uint32_t *ra, const uint32_t *rmask)
{
	int i;

	for (i = 0; i < 4; i++)
		if ((a[i] & rmask[i]) != ra[i])
			return 0;
	return 1;
}

/* A prefix dimension (src or dst) for one family: a class per distinct
 * prefix holding the rules whose prefix contains it (and the wildcards);
 * the trie's longest match picks it. */
static int prefix_dim(struct builder *b, int dst, int family, uint32_t spare,
		      int trie_fd, struct keylist *keys)
{
	uint32_t flag = dst ? XR_F_DST : XR_F_SRC, i, j;
	uint8_t *done = calloc(b->n ? b->n : 1, 1);

	if (!done) {
		pktsh_err_set(b->err, ENOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < b->n; i++) {
		const struct xr_rule *r = &b->r[i];
		const uint32_t *a = dst ? r->dst : r->src;
		const uint32_t *m = dst ? r->dmask : r->smask;
		int len = prefix_len(m);
		int64_t c;

		if (!(r->flags & flag) || r->family != family || done[i])
			continue;
		wild(b, flag);
		for (j = 0; j < b->n; j++) {
			const struct xr_rule *q = &b->r[j];
			const uint32_t *qa = dst ? q->dst : q->src;
			const uint32_t *qm = dst ? q->dmask : q->smask;

			if (!(q->flags & flag) || q->family != family)
				continue;
			if (prefix_len(qm) == len && !memcmp(qa, a, 16))
				done[j] = 1;     /* the same prefix: one class */
			if (prefix_len(qm) <= len && inside(a, qa, qm))
				bset(b->cur, j);
		}
		c = emit(b);
		if (c < 0)
			goto fail;
		if (family == 4) {
			struct xr_lpm4 k = { .prefixlen = 32 + (uint32_t)len, .slot = spare };

			memcpy(k.addr, a, 4);
			if (bpf_map_update_elem(trie_fd, &k, &(uint32_t){ (uint32_t)c }, BPF_ANY) ||
			    keylist_add(keys, &k, sizeof(k), b->err))
				goto trie_fail;
		} else {
			struct xr_lpm6 k = { .prefixlen = 32 + (uint32_t)len, .slot = spare };

			memcpy(k.addr, a, 16);
			if (bpf_map_update_elem(trie_fd, &k, &(uint32_t){ (uint32_t)c }, BPF_ANY) ||
			    keylist_add(keys, &k, sizeof(k), b->err))
				goto trie_fail;
		}
	}
	free(done);
	return 0;
trie_fail:
	if (!b->err->msg[0])
		xdp_bpf_fail(b->err, errno, "updating a prefix trie");
fail:
	free(done);
	return -1;
}

static void clear_tries(struct pktsh_xdp *x, uint32_t s)
{
	int fds[4] = { bpf_map__fd(x->skel->maps.src4), bpf_map__fd(x->skel->maps.dst4),
		       bpf_map__fd(x->skel->maps.src6), bpf_map__fd(x->skel->maps.dst6) };
	size_t ksz[4] = { sizeof(struct xr_lpm4), sizeof(struct xr_lpm4),
			  sizeof(struct xr_lpm6), sizeof(struct xr_lpm6) };
	int t;
	uint32_t i;

	for (t = 0; t < 4; t++) {
		struct keylist *l = &x->slot[s].tries[t];

		for (i = 0; i < l->n; i++)
			bpf_map_delete_elem(fds[t], (uint8_t *)l->keys + i * ksz[t]);
		l->n = 0;
	}
}

static int build_classifier(struct pktsh_xdp *x, uint32_t spare,
			    const struct xr_rule *r, uint32_t n,
			    struct xr_slot *s, struct pktsh_err *err)
{
	struct slot_state *act = &x->slot[spare ^ 1];
	uint32_t pool = x->info.class_words;
	uint32_t lo_room = act->base, hi_room = pool - (act->base + act->used);
	struct builder b = { .x = x, .r = r, .n = n, .err = err };
	uint32_t flags = 0, i;
	int64_t all;
	int rc = -1;

	b.w = n ? (n + 63) / 64 : 1;
	b.sw = (b.w + 63) / 64;
	if (act->used == 0) {
		b.start = 0;
		b.limit = pool;
	} else if (hi_room >= lo_room) {
		b.start = act->base + act->used;
		b.limit = pool;
	} else {
		b.start = 0;
		b.limit = act->base;
	}
	b.cur = calloc(b.w, 8);
	if (!b.cur) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		flags |= r[i].flags;
	wild(&b, 0);                 /* every rule */
	all = emit(&b);
	if (all < 0)
		goto out;
	s->all_class = (uint32_t)all;
	s->dims = 0;
	clear_tries(x, spare);
	for (i = 0; i < 2; i++) {
		uint32_t flag = i ? XR_F_DST : XR_F_SRC;
		int64_t dc;

		if (!(flags & flag))
			continue;
		s->dims |= 1u << (i ? XR_DIM_DST : XR_DIM_SRC);
		wild(&b, flag);
		dc = emit(&b);
		if (dc < 0)
			goto out;
		s->def_class[i] = (uint32_t)dc;
		if (prefix_dim(&b, (int)i, 4, spare,
			       bpf_map__fd(i ? x->skel->maps.dst4 : x->skel->maps.src4),
			       &x->slot[spare].tries[i]) ||
		    prefix_dim(&b, (int)i, 6, spare,
			       bpf_map__fd(i ? x->skel->maps.dst6 : x->skel->maps.src6),
			       &x->slot[spare].tries[2 + i]))
			goto out;
	}
	{
		/* nvals: the field's values, below its NONE index */
		static const struct { uint32_t flag, nvals, values; int unknown, dim; } vd[4] = {
			{ XR_F_SPORT, XR_PORT_NONE, XR_PORT_VALUES, 1, XR_DIM_SPORT },
			{ XR_F_DPORT, XR_PORT_NONE, XR_PORT_VALUES, 1, XR_DIM_DPORT },
			{ XR_F_PROTO, XR_PROTO_NONE, XR_PROTO_VALUES, 1, XR_DIM_PROTO },
			{ XR_F_VLAN, XR_VLAN_NONE, XR_VLAN_VALUES, 0, XR_DIM_VLAN },
		};
		int d;

		for (d = 0; d < 4; d++) {
			if (!(flags & vd[d].flag))
				continue;
			s->dims |= 1u << vd[d].dim;
			if (value_dim(&b, vd[d].flag, vd[d].nvals, vd[d].unknown,
				      x->vtab[d] + (size_t)spare * vd[d].values, vd[d].dim))
				goto out;
		}
	}
	s->words = b.w;
	s->swords = b.sw;
	s->cls_base = b.start;
	x->slot[spare].base = b.start;
	x->slot[spare].used = b.next * (b.sw + b.w);
	rc = 0;
out:
	free(b.cur);
	return rc;
}

static void reset_counters(struct pktsh_xdp *x, uint32_t id)
{
	memset(x->pcpu, 0, (size_t)x->ncpu * sizeof(struct xr_rule_stats));
	bpf_map_update_elem(bpf_map__fd(x->skel->maps.rule_stats), &id, x->pcpu, BPF_ANY);
}

int pktsh_xdp_commit(struct pktsh_xdp *x, const struct pktsh_xdp_rule *in,
		     uint32_t n, int32_t engine, int32_t default_drop,
		     struct pktsh_err *err)
{
	struct xr_cfg *cfg = &x->skel->bss->cfg;
	uint32_t spare, i;
	struct xr_slot s;
	struct xr_rule *r;
	uint8_t live[XR_MAX_RULES / 8];

	if (n > XR_MAX_RULES) {
		pktsh_err_set(err, ENOSPC, "%u rules: at most %u", n, XR_MAX_RULES);
		return -1;
	}
	if (sync_rcu(x, err))
		return -1;
	spare = (__atomic_load_n(&cfg->active, __ATOMIC_ACQUIRE) & 1) ^ 1;
	r = x->rules + (size_t)spare * XR_MAX_RULES;
	memset(live, 0, sizeof(live));
	for (i = 0; i < n; i++) {
		if (convert(&in[i], &r[i], err))
			return -1;
		if (live[r[i].id / 8] & (1 << (r[i].id % 8))) {
			pktsh_err_set(err, EINVAL, "rule id %u used twice", r[i].id);
			return -1;
		}
		live[r[i].id / 8] |= (uint8_t)(1 << (r[i].id % 8));
	}
	memset(&s, 0, sizeof(s));
	s.nrules = n;
	s.verdict = default_drop ? PKTSH_XDP_DROP : PKTSH_XDP_PASS;
	s.engine = engine == PKTSH_XDP_CLASSIFIER ? XR_ENGINE_CLASSIFIER : XR_ENGINE_LINEAR;
	if (s.engine == XR_ENGINE_CLASSIFIER) {
		if (build_classifier(x, spare, r, n, &s, err))
			return -1;
	} else {
		clear_tries(x, spare);
		x->slot[spare].used = 0;
		x->slot[spare].base = 0;
	}
	/* New ids start from zero (no packet can still count on an old
	 * holder of the id: the grace period above is over). */
	for (i = 0; i < n; i++)
		if (!(x->live[r[i].id / 8] & (1 << (r[i].id % 8))))
			reset_counters(x, r[i].id);
	memcpy(x->live, live, sizeof(live));
	cfg->slot[spare] = s;
	__atomic_store_n(&cfg->active, spare, __ATOMIC_SEQ_CST);
	x->need_sync = 1;
	x->info.engine = (int32_t)s.engine;
	x->info.nrules = n;
	x->info.class_words_used = x->slot[spare].used;
	return 0;
}
