/*
 * topk.c - space-saving top-k over 64-bit keys, fed a column at a time
 * (pktsh.topk.column). lua/pktsh/report/topk.lua keeps the tables users
 * read, merge and draw; this is its counting core for hot loops, with
 * the same counts until the table is full and, past that, a filter in
 * front of evictions (filtered space-saving, see filter_start: the same
 * bounds, far fewer evictions). dnsstats counts every query's name and
 * client: a Lua table lookup per key cost ~40 ns, this ~10.
 *
 * m entries, each one struct (key, count, err, hash, label length: one
 * cache line holds what a count or an eviction reads), and an
 * open-addressing index over them (linear probing, backward-shift
 * deletion) of 8-byte slots: the entry's hash beside its number + 1 (0 =
 * empty), so a probe reads an entry only when the hashes agree. When the
 * table is full a new key the filter lets in replaces one with the
 * smallest count: a scan collects every entry at the minimum as
 * candidates, and evictions take them in turn (skipping any whose count
 * has grown); a new scan happens only when they run out. On long-tail
 * or flood traffic most names are new (the filter lets in about one in
 * six of those on dnsstats' bench shapes; each filter cell also counts
 * the entries whose hash lands in it, so a key whose cell has none is
 * filtered without a look at the index: half of all keys on dnsstats'
 * one-way shape), so an eviction must not cost
 * a cache miss more than it has to: the candidates are known ahead, and
 * their entries and labels are asked of the cache a few evictions early;
 * the evicted key's slot is not looked for at all but left stale (it
 * names an entry that now holds another key, so a lookup reading it
 * compares keys and goes on, as past any other key's slot), and the
 * index is built again from the entries once stale slots number half the
 * entries: O(1) an eviction, amortised, and the index at most (m + m/2) /
 * 2m full.
 *
 * Keys come from packets (an address, a name's hash), so the index
 * hashes them under random tables (hash.c: simple tabulation), unless
 * they are keyed hashes already (PKTSH_TOPK_KEYS_HASHED: dnsstats' name
 * and client hashes, which a second hash would only slow down). An
 * insert that would land PKTSH_PROBE_LIMIT or more slots from home makes the
 * table draw tables of its own and rebuild the index (counted), as
 * pending.c does. Merged tables meet by key, never by slot.
 *
 * A table may keep a label per entry (pktsh_topk64_keep_labels): up to
 * a fixed number of bytes copied when a key enters, e.g. the wire form of
 * the name whose hash is the key, so that text is made only for the
 * entries a report shows, never per packet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "accel/hash.h"
#include "accel/topk.h"


struct entry {
	uint64_t key;
	double count, err;
	uint32_t hv;            /* the key's hash: its home slot is hv & mask */
	uint16_t label_len;
};

struct pktsh_topk64 {
	struct entry *ent;
	uint64_t *index;        /* nslots of hv << 32 | (entry + 1), or 0 */
	uint32_t *cand;         /* eviction candidates */
	uint32_t ncand, icand;
	double cmin;
	uint32_t m, size, mask;
	uint32_t stale;         /* slots left by evicted keys */
	double n;               /* keys counted */
	uint8_t *labels;        /* m * label_size bytes, or NULL */
	uint32_t label_size;
	uint32_t *filter;       /* FILTER_PER * m cells (rounded up to a
				 * power of two) once the table is full, or
				 * NULL: plain space-saving. A cell is a
				 * count (CELL_MAX at most) and, in its top
				 * byte, the entries whose hash lands in it
				 * (OCC_MANY: that many or more, no longer
				 * counted): one word, so the test most
				 * keys end at reads one cache line */
	uint32_t fshift;        /* a hash's cell: (hv * FILTER_MUL) >> fshift */
	struct pktsh_probes work;
	const struct pktsh_tabhash *th;   /* the process's, own, or NULL:
					   * the keys are keyed hashes */
	struct pktsh_tabhash *own;
};

/* Candidates this many evictions ahead are asked of the cache. */
#define CAND_AHEAD 8

/* Filter counters per table entry (the filter is FILTER_PER * m cells
 * rounded up to a power of two): see filter_start. */
#define FILTER_PER 4
#define OCC_SHIFT 24
#define CELL_MAX ((1u << OCC_SHIFT) - 1)
#define OCC_MANY 255u
#define FILTER_MUL 0x9e3779b1u  /* 2^32 / golden ratio: all of hv's bits
				 * reach a cell's, not only those of its slot */

static uint32_t slot_hv(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

static uint32_t slot_entry(uint64_t s)
{
	return (uint32_t)s - 1;
}

static uint64_t slot_make(uint32_t hv, uint32_t e)
{
	return (uint64_t)hv << 32 | (e + 1u);
}

static uint32_t hash_of(const struct pktsh_topk64 *t, uint64_t k)
{
	return t->th ? pktsh_tabhash_u64(t->th, k) : (uint32_t)(k ^ k >> 32);
}

struct pktsh_topk64 *pktsh_topk64_new(uint32_t m, int32_t keys, struct pktsh_err *err)
{
	struct pktsh_topk64 *t;
	uint32_t nslots = 16;

	if (m == 0 || m > (1u << 26)) {
		pktsh_err_set(err, EINVAL, "top-k: 1 to %u counters", 1u << 26);
		return NULL;
	}
	while (nslots < 2 * m)
		nslots <<= 1;
	t = calloc(1, sizeof(*t));
	if (t) {
		t->ent = malloc(m * sizeof(*t->ent));
		t->cand = malloc(m * sizeof(*t->cand));
		t->index = calloc(nslots, sizeof(*t->index));
	}
	if (!t || !t->ent || !t->cand || !t->index) {
		pktsh_topk64_free(t);
		pktsh_err_set(err, ENOMEM, "top-k of %u counters", m);
		return NULL;
	}
	t->m = m;
	t->mask = nslots - 1;
	t->th = keys == PKTSH_TOPK_KEYS_HASHED ? NULL : pktsh_tabhash_process();
	return t;
}

void pktsh_topk64_free(struct pktsh_topk64 *t)
{
	if (!t)
		return;
	free(t->ent);
	free(t->own);
	free(t->cand);
	free(t->index);
	free(t->labels);
	free(t->filter);
	free(t);
}

int pktsh_topk64_keep_labels(struct pktsh_topk64 *t, uint32_t size, struct pktsh_err *err)
{
	if (size == 0 || size > 65535 || t->labels) {
		pktsh_err_set(err, EINVAL, "top-k labels: 1 to 65535 bytes, set once");
		return -1;
	}
	/* untouched pages cost nothing: only the entries used are written */
	t->labels = malloc((size_t)t->m * size);
	if (!t->labels) {
		pktsh_err_set(err, ENOMEM, "top-k labels of %u counters", t->m);
		return -1;
	}
	t->label_size = size;
	return 0;
}

uint32_t pktsh_topk64_labels(const struct pktsh_topk64 *t, uint8_t *out, uint32_t cap,
			     uint32_t *offs)
{
	uint32_t total = 0;

	for (uint32_t e = 0; e < t->size; e++) {
		if (offs)
			offs[e] = total;
		total += t->labels ? t->ent[e].label_len : 0;
	}
	if (offs)
		offs[t->size] = total;
	if (!out || total > cap)
		return total;
	for (uint32_t e = 0, o = 0; e < t->size && t->labels; e++) {
		memcpy(out + o, t->labels + (size_t)e * t->label_size, t->ent[e].label_len);
		o += t->ent[e].label_len;
	}
	return total;
}

double pktsh_topk64_total(const struct pktsh_topk64 *t)
{
	return t->n;
}

/* The filter's cells (a power of two). */
static uint32_t ncells(const struct pktsh_topk64 *t)
{
	return 1u << (32 - t->fshift);
}

/* The number of the filter cell of a key with hash h. */
static uint32_t cell_of(const struct pktsh_topk64 *t, uint32_t h)
{
	return (h * FILTER_MUL) >> t->fshift;
}

static uint32_t *cell(const struct pktsh_topk64 *t, uint32_t h)
{
	return &t->filter[cell_of(t, h)];
}

static uint32_t cell_count(uint32_t f)
{
	return f & CELL_MAX;
}

/* A cell's count set to n, its entries kept. */
static void cell_set(uint32_t *a, uint32_t n)
{
	*a = (*a & ~CELL_MAX) | n;
}

/* One entry more (+1) or fewer (-1) with hash h. */
static void occ_add(struct pktsh_topk64 *t, uint32_t h, int d)
{
	uint32_t *a = cell(t, h);

	if (*a >> OCC_SHIFT != OCC_MANY)
		*a += (uint32_t)d << OCC_SHIFT;
}

/* Every cell's entries counted again (the filter made, or rekeyed). */
static void occ_fill(struct pktsh_topk64 *t)
{
	for (uint32_t i = 0, n = ncells(t); i < n; i++)
		t->filter[i] &= CELL_MAX;
	for (uint32_t e = 0; e < t->size; e++)
		occ_add(t, t->ent[e].hv, 1);
}

uint32_t topk64_hash(const struct pktsh_topk64 *t, uint64_t k)
{
	return hash_of(t, k);
}

void topk64_prefetch(const struct pktsh_topk64 *t, uint32_t h)
{
	__builtin_prefetch(&t->index[h & t->mask]);
	if (t->filter)
		__builtin_prefetch(cell(t, h), 1);
}

/* The slot holding key k (hash h), or the empty slot where it would go;
 * counted. */
static uint32_t find(struct pktsh_topk64 *t, uint64_t k, uint32_t h)
{
	uint32_t i = h & t->mask, n = 1;

	for (;; i = (i + 1) & t->mask, n++) {
		uint64_t s = t->index[i];

		if (!s || (slot_hv(s) == h && t->ent[slot_entry(s)].key == k))
			break;
	}
	pktsh_probes_count(&t->work, n);
	return i;
}

/* Indexes entry e at the first free slot from its home. */
static uint32_t place(struct pktsh_topk64 *t, uint32_t e)
{
	uint32_t i = t->ent[e].hv & t->mask;

	while (t->index[i])
		i = (i + 1) & t->mask;
	t->index[i] = slot_make(t->ent[e].hv, e);
	return i;
}

/* The index built again from the entries: stale slots gone. */
static void reindex(struct pktsh_topk64 *t)
{
	memset(t->index, 0, ((size_t)t->mask + 1) * sizeof(*t->index));
	for (uint32_t e = 0; e < t->size; e++)
		place(t, e);
	t->stale = 0;
}

/* The smallest count of a full table. */
static double min_count(const struct pktsh_topk64 *t)
{
	double lo = t->ent[0].count;

	for (uint32_t e = 1; e < t->size; e++)
		if (t->ent[e].count < lo)
			lo = t->ent[e].count;
	return lo;
}

/* Plain space-saving from now on. */
static void filter_stop(struct pktsh_topk64 *t)
{
	free(t->filter);
	t->filter = NULL;
}

/* Every filter cell set to the smallest count: after a rekey the keys
 * land in other cells, and a key not kept was counted at most that
 * often (see filter_start), so the cells stay upper bounds. */
static void filter_fill(struct pktsh_topk64 *t)
{
	double lo;

	if (!t->filter)
		return;
	lo = min_count(t);
	if (lo >= CELL_MAX) {
		filter_stop(t);
		return;
	}
	for (uint32_t i = 0, n = ncells(t); i < n; i++)
		t->filter[i] = (uint32_t)lo;
	occ_fill(t);
}

/* The filter of "filtered space-saving" (Homem & Carvalho 2010), made
 * when the table fills up: nothing changes before, so a table that never
 * fills counts exactly as it did. A key not kept counts in its cell (the
 * cell of its hash, so keyed as the index is); it replaces an entry at
 * the smallest count c_min only when its cell's count + 1 > c_min, and
 * an evicted key's count goes to its cell. Every cell is then at least
 * the true count of each key not kept that hashes to it, and at most
 * c_min (an increment stops at c_min, an eviction writes c_min), so a
 * key enters exactly when its cell is at c_min, with count c_min + 1 and
 * err c_min as in plain space-saving: its bounds hold as they did (true
 * <= count <= true + err, err <= c_min <= n/m: the counts kept sum to
 * at most n), but a key seen once among millions no longer evicts a
 * counter and copies its label. Without memory for the filter the table
 * stays plain space-saving. */
static void filter_start(struct pktsh_topk64 *t)
{
	uint32_t bits = 1;

	while (bits < 30 && (1ull << bits) < (uint64_t)FILTER_PER * t->m)
		bits++;
	t->filter = calloc((size_t)1 << bits, sizeof(*t->filter));
	if (!t->filter)
		return;
	t->fshift = 32 - bits;
	occ_fill(t);
}

/* Tables of the table's own (drawn afresh each time), every entry
 * hashed and indexed again; without memory the index stays as it is. */
static void rekey(struct pktsh_topk64 *t)
{
	if (!t->own && !(t->own = malloc(sizeof(*t->own))))
		return;
	pktsh_tabhash_fill(t->own);
	t->th = t->own;
	for (uint32_t e = 0; e < t->size; e++)
		t->ent[e].hv = hash_of(t, t->ent[e].key);
	reindex(t);
	filter_fill(t);
	t->work.rekeys++;
}

/* Every entry at the smallest count becomes a candidate. */
static void rescan(struct pktsh_topk64 *t)
{
	double lo = min_count(t);

	t->ncand = t->icand = 0;
	for (uint32_t e = 0; e < t->size; e++)
		if (t->ent[e].count == lo)
			t->cand[t->ncand++] = e;
	t->cmin = lo;
}

/* The candidate evictions will take CAND_AHEAD later, asked of the
 * cache: its entry and the start of its label. */
static void prefetch_candidate(const struct pktsh_topk64 *t)
{
	uint32_t far = t->icand + CAND_AHEAD, e;

	if (far >= t->ncand)
		return;
	e = t->cand[far];
	__builtin_prefetch(&t->ent[e], 1);
	if (t->labels)
		__builtin_prefetch(t->labels + (size_t)e * t->label_size, 1);
}

/* An entry with the smallest count (the table is full), the next
 * candidate; pop_min takes it. */
static uint32_t peek_min(struct pktsh_topk64 *t)
{
	for (;;) {
		for (; t->icand < t->ncand; t->icand++) {
			uint32_t e = t->cand[t->icand];

			if (t->ent[e].count == t->cmin)
				return e;
		}
		rescan(t);
	}
}

static void pop_min(struct pktsh_topk64 *t)
{
	t->icand++;
	prefetch_candidate(t);
}

/* count_key's answer for a key counted in the filter only. */
#define FILTERED INT64_MAX

/* Entry e holds k (hash h) from now on, without a label yet. */
static void hold(struct pktsh_topk64 *t, uint32_t e, uint64_t k, uint32_t h)
{
	t->ent[e].key = k;
	t->ent[e].hv = h;
	t->ent[e].label_len = 0;
}

/* The entry k takes: a new one while there is room. */
static uint32_t new_entry(struct pktsh_topk64 *t, uint64_t k, uint32_t h)
{
	uint32_t e = t->size++;

	t->ent[e].count = 1;
	t->ent[e].err = 0;
	hold(t, e, k, h);
	if (t->size == t->m)
		filter_start(t);
	return e;
}

/* The entry k (hash h, not in the table) takes in a full table: the one
 * of smallest count, when k's filter cell reaches that count; FILTERED
 * when the filter keeps k out. */
static int64_t evict_for(struct pktsh_topk64 *t, uint64_t k, uint32_t h)
{
	uint32_t e = peek_min(t);

	if (t->filter && t->ent[e].count >= CELL_MAX)
		filter_stop(t);         /* cells count to CELL_MAX */
	if (t->filter) {
		uint32_t *a = cell(t, h);

		if (cell_count(*a) + 1.0 <= t->ent[e].count) {
			++*a;
			return FILTERED;
		}
		/* the evicted key's count bounds its true count */
		cell_set(cell(t, t->ent[e].hv), (uint32_t)t->ent[e].count);
		occ_add(t, t->ent[e].hv, -1);
	}
	pop_min(t);
	t->stale++;             /* e's old slot stays, stale */
	t->ent[e].err = t->ent[e].count;
	t->ent[e].count += 1;
	hold(t, e, k, h);
	if (t->filter)
		occ_add(t, h, 1);
	return e;
}

/* count_key past its two common ends: k is in the table beyond its home
 * slot, or not in it (absent: its filter cell says so). */
static __attribute__((noinline)) int64_t count_rest(struct pktsh_topk64 *t, uint64_t k,
						    uint32_t h, int absent)
{
	int64_t e;

	if (!absent) {
		uint32_t s = find(t, k, h);

		if (t->index[s]) {
			e = slot_entry(t->index[s]);
			t->ent[e].count += 1;
			return e;
		}
	}
	e = t->size < t->m ? new_entry(t, k, h) : evict_for(t, k, h);
	if (e == FILTERED)
		return e;
	if (((place(t, (uint32_t)e) - h) & t->mask) >= PKTSH_PROBE_LIMIT)
		rekey(t);
	else if (t->stale > t->m / 2)
		reindex(t);
	return -1 - e;
}

/* count_fast's answer when k takes neither common end. */
#define REST INT64_MIN

/* The two ends most keys take, inline: k counted in its filter cell
 * (FILTERED) or found in its home slot (its entry); else REST, with
 * *absent set when the filter says k is not in the table. */
static inline __attribute__((always_inline)) int64_t count_fast(struct pktsh_topk64 *t,
								uint64_t k, uint32_t h,
								int *absent)
{
	uint32_t *a = NULL;

	*absent = 0;
	t->n += 1;
	if (t->filter) {
		a = cell(t, h);

		/* A cell with no entry's hash in it says without a look at
		 * the index that k is not in the table. Such a k is counted in
		 * its cell while that stays under t->cmin, from the last
		 * scan: at most the smallest count (counts only grow), so no
		 * key that should enter is kept out. Most keys of a long tail
		 * or a flood end here. No entries: the word is the count. */
		*absent = *a >> OCC_SHIFT == 0;
		if (*absent && *a + 1.0 <= t->cmin) {
			++*a;
			return FILTERED;
		}
	}
	if (!*absent) {
		uint64_t s = t->index[h & t->mask];

		if (s && slot_hv(s) == h && t->ent[slot_entry(s)].key == k) {
			pktsh_probes_count(&t->work, 1);
			t->ent[slot_entry(s)].count += 1;
			return slot_entry(s);
		}
		/* an empty home slot says k is not in the table either (no
		 * run starts there; evicted keys' slots stay, never empty):
		 * the filter's test as above, the cell's count alone */
		if (!s && a && cell_count(*a) + 1.0 <= t->cmin) {
			pktsh_probes_count(&t->work, 1);
			++*a;
			return FILTERED;
		}
	}
	return REST;
}

/* Counts k (hash h) once; the entry that holds it, -1 - the entry when
 * k entered the table with this count, or FILTERED. */
static inline __attribute__((always_inline)) int64_t count_key(struct pktsh_topk64 *t,
							       uint64_t k, uint32_t h)
{
	int absent;
	int64_t r = count_fast(t, k, h, &absent);

	return r != REST ? r : count_rest(t, k, h, absent);
}

uint32_t pktsh_topk64_add(struct pktsh_topk64 *t, const uint64_t *keys, uint32_t n,
			  uint32_t *fresh)
{
	uint32_t nfresh = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (count_key(t, keys[i], hash_of(t, keys[i])) >= 0)
			continue;
		if (fresh)
			fresh[nfresh] = i;
		nfresh++;
	}
	return nfresh;
}

/* topk64_add_labelled past count_fast: the rest of the count, and the
 * label of a key that entered. */
static __attribute__((noinline)) int add_rest(struct pktsh_topk64 *t, uint64_t k, uint32_t h,
					      int absent, const void *label, uint32_t len)
{
	int64_t r = count_rest(t, k, h, absent);
	uint32_t e;

	if (r >= 0)
		return 0;
	e = (uint32_t)(-1 - r);
	if (t->labels) {
		if (len > t->label_size)
			len = t->label_size;
		memcpy(t->labels + (size_t)e * t->label_size, label, len);
		t->ent[e].label_len = (uint16_t)len;
	}
	return 1;
}

/* The common ends return before any call, so this saves no registers
 * for them (a prologue and epilogue were 15 instructions a key). */
int topk64_add_labelled(struct pktsh_topk64 *t, uint64_t k, uint32_t h, const void *label,
			uint32_t len)
{
	int absent;

	if (count_fast(t, k, h, &absent) != REST)
		return 0;
	return add_rest(t, k, h, absent, label, len);
}

uint32_t pktsh_topk64_entries(const struct pktsh_topk64 *t, uint64_t *keys, double *counts,
			      double *errs, uint32_t cap)
{
	uint32_t n = t->size < cap ? t->size : cap;

	for (uint32_t e = 0; e < n; e++) {
		keys[e] = t->ent[e].key;
		counts[e] = t->ent[e].count;
		errs[e] = t->ent[e].err;
	}
	return t->size;
}

int pktsh_topk64_stats(const struct pktsh_topk64 *t, struct pktsh_table_stats *out)
{
	return pktsh_probes_stats(&t->work, out);
}
