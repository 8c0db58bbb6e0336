/*
 * pending.c - a bounded table of requests waiting for their answer
 * (pktsh.pending): keys of one fixed length, a number (a time) each.
 *
 * dnsstats keeps every unanswered query here, a million times a second,
 * and a one-way capture (a SPAN port of one direction) keeps a million of
 * them at once. So:
 *
 * - Entries sit in one region, reserved for the bound, handed out in
 *   order and never moved: an entry is value, two links and the key (24
 *   bytes for dnsstats' 8-byte keys). From MAP_FROM bytes the region is
 *   a mapping, whose untouched pages cost nothing, so memory follows the
 *   most entries ever held, not the bound.
 * - The entries are linked in put order (a put of a key already there
 *   moves it to the newest end): values put in order, as capture times
 *   are, make it an expiry list ordered by time. pktsh_pending_expire
 *   takes entries off the oldest end and stops at the first it keeps, so
 *   each timed-out entry costs O(1), never a walk of the table; a full
 *   table made with evict set drops its oldest entry for a new one, O(1).
 * - Big arrays (the index and the entries' region from 2 MiB) are
 *   mapped with transparent huge pages asked for: a million waiting
 *   queries touch 40 MB, and with 4 KiB pages the page faults cost more
 *   than the lookups (a quarter of a one-way capture's time, measured).
 * - The index is open addressing with linear probing over 8-byte slots
 *   (the key's 32-bit hash and the entry's number): a probe reads only
 *   the slot array, an entry is read when its hash matches. Deletion
 *   shifts the following slots back (no tombstones), so probes stay short
 *   however many requests come and go. The index doubles up to twice the
 *   bound (load at most one half) and never shrinks. It doubles in place
 *   (grow): its memory is reserved for the bound at the start, the upper
 *   half is untouched zeros until then, and the slots are moved within
 *   it. A new index for each doubling, the old one freed, made twice the
 *   final size of fresh pages present, and the kernel zeroing fresh pages
 *   was a quarter of a one-way capture's time.
 *
 * The keys come from packets, so the hash is keyed (hash.c: NH and
 * tabulation under random tables): nobody can line keys up in one probe
 * run. Keys that are keyed hashes already (dnsstats' match keys,
 * pending_keys_hashed) give their own bits instead, hashed once, not
 * twice. Should that ever fail, an insert that would land
 * PKTSH_PROBE_LIMIT or more slots past its home slot makes the table
 * draw tables of its own and rebuild the index (counted as a rekey).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "err.h"
#include "accel/hash.h"
#include "accel/pending.h"

#define MIN_SLOTS 1024u
#define NIL 0xffffffffu
#define FREED 0xfffffffeu      /* older of an entry given back */
#define AHEAD 8                /* expiry asks for slots this many entries ahead */

/* An entry: its value, its neighbours in put order, then the key. */
struct entry {
	double value;
	uint32_t older, newer;
	uint8_t key[];
};

struct pktsh_pending {
	uint64_t *slots;        /* hash << 32 | (entry + 1); 0: empty */
	uint32_t nslots;        /* a power of two */
	uint32_t mask;
	uint32_t max_slots;
	uint8_t *region;        /* max_entries entries of stride bytes */
	size_t region_len;
	uint32_t stride;        /* 16 + key_len, 8-aligned */
	uint32_t key_len;
	uint32_t count;
	uint32_t max_entries;
	uint32_t used;          /* entries handed out from the region so far */
	uint32_t free_list;     /* entries given back, linked through newer */
	uint32_t oldest, newest;
	uint32_t ahead;         /* the entry whose slot expiry asked for last, or NIL */
	double max_value;       /* the largest value put since the table was last empty */
	int32_t evict;
	uint64_t evicted;
	uint64_t visits;        /* entries expiry and eviction looked at */
	struct pktsh_probes work;
	const struct pktsh_tabhash *th;   /* the process's, or own */
	struct pktsh_tabhash *own;
};

static struct entry *ent(const struct pktsh_pending *t, uint32_t e)
{
	return (struct entry *)(void *)(t->region + (size_t)e * t->stride);
}

static uint32_t hash(const struct pktsh_pending *t, const uint8_t *k)
{
	uint32_t h;

	if (t->key_len == 8) {
		uint64_t w;

		memcpy(&w, k, 8);
		if (!t->th)             /* a keyed hash already */
			return (uint32_t)(w ^ w >> 32);
		h = pktsh_tabhash_u64(t->th, w);
	} else {
		h = pktsh_tabhash_bytes(t->th, k, t->key_len);
	}
	return h;
}

static uint32_t slot_hash(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

static uint32_t slot_entry(uint64_t s)
{
	return (uint32_t)s - 1;
}

#define MAP_FROM ((size_t)64 << 10)
#define HUGE_FROM ((size_t)2 << 20)

/* len zeroed bytes: mapped from MAP_FROM (pages are touched as they are
 * used), huge pages asked for from HUGE_FROM; NULL without memory. */
static void *big_zalloc(size_t len)
{
	void *p;

	if (len < MAP_FROM)
		return calloc(1, len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (len >= HUGE_FROM)
		madvise(p, len, MADV_HUGEPAGE);   /* a hint: without THP, 4 KiB pages */
	return p;
}

/* The first n bytes of big_zalloc's p (of len) zero again: a mapping's
 * pages given back (they read as zeros, and cost nothing until used
 * again), not written over. */
static void big_zero(void *p, size_t n, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (len < MAP_FROM || madvise(p, (n + page - 1) & ~(page - 1), MADV_DONTNEED) != 0)
		memset(p, 0, n);
}

static void big_free(void *p, size_t len)
{
	if (!p)
		return;
	if (len < MAP_FROM)
		free(p);
	else
		munmap(p, len);
}

static uint32_t slots_for(uint32_t entries)
{
	uint32_t n = MIN_SLOTS;

	while (n < entries * 2u && n < (1u << 30))
		n <<= 1;
	return n;
}

struct pktsh_pending *pktsh_pending_new(uint32_t key_len, uint32_t max_entries,
					struct pktsh_err *err)
{
	struct pktsh_pending *t;

	if (key_len == 0 || key_len > 256 || max_entries == 0 || max_entries > (1u << 28)) {
		pktsh_err_set(err, 0, "pending table: key length 1-256 and 1-%u entries", 1u << 28);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		pktsh_err_set(err, ENOMEM, "pending table");
		return NULL;
	}
	t->key_len = key_len;
	t->th = pktsh_tabhash_process();
	t->stride = (16u + key_len + 7u) & ~7u;
	t->max_entries = max_entries;
	t->max_slots = slots_for(max_entries);
	t->nslots = MIN_SLOTS < t->max_slots ? MIN_SLOTS : t->max_slots;
	t->mask = t->nslots - 1;
	t->slots = big_zalloc((size_t)t->max_slots * sizeof(*t->slots));
	t->region_len = (size_t)max_entries * t->stride;
	t->region = big_zalloc(t->region_len);
	t->free_list = t->oldest = t->newest = t->ahead = NIL;
	t->max_value = -HUGE_VAL;
	if (!t->slots || !t->region) {
		pktsh_pending_free(t);
		pktsh_err_set(err, ENOMEM, "pending table");
		return NULL;
	}
	return t;
}

void pktsh_pending_free(struct pktsh_pending *t)
{
	if (!t)
		return;
	big_free(t->region, t->region_len);
	big_free(t->slots, (size_t)t->max_slots * sizeof(*t->slots));
	free(t->own);
	free(t);
}

void pending_keys_hashed(struct pktsh_pending *t)
{
	if (t->key_len == 8 && t->count == 0 && !t->own)
		t->th = NULL;
}

void pktsh_pending_set_evict(struct pktsh_pending *t, int32_t evict)
{
	t->evict = evict != 0;
}

uint32_t pktsh_pending_count(const struct pktsh_pending *t)
{
	return t->count;
}

/* A probe run from home: its line, and the next when home lies in the
 * last half of its line. */
static void prefetch_run(const struct pktsh_pending *t, uint32_t home)
{
	__builtin_prefetch(&t->slots[home]);
	__builtin_prefetch(&t->slots[(home + 4) & t->mask]);
}

void pending_prefetch(const struct pktsh_pending *t, const void *key)
{
	prefetch_run(t, hash(t, key) & t->mask);
}

/* dnsstats' keys are 8 bytes: compared as one word, not by a call. */
static int same_key(const struct pktsh_pending *t, const uint8_t *a, const uint8_t *b)
{
	uint64_t x, y;

	if (t->key_len != 8)
		return memcmp(a, b, t->key_len) == 0;
	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	return x == y;
}

/* The slot holding key, or the empty slot where it would go; counted. */
static uint32_t find(struct pktsh_pending *t, const uint8_t *key, uint32_t h)
{
	uint32_t i = h & t->mask, n = 1;

	for (;; i = (i + 1) & t->mask, n++) {
		uint64_t s = t->slots[i];

		if (s == 0 || (slot_hash(s) == h && same_key(t, ent(t, slot_entry(s))->key, key)))
			break;
	}
	pktsh_probes_count(&t->work, n);
	return i;
}

/* The empty slot for a hash known to be absent (a rebuild). */
static uint32_t free_slot(const struct pktsh_pending *t, uint32_t h)
{
	uint32_t i = h & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	return i;
}

/* The index again over nslots (a power of two, at least the present
 * count), each entry's hash computed afresh: the slots are copied out,
 * the index cleared and each slot put back. 0, or -1 without memory
 * (unchanged). */
static int reindex(struct pktsh_pending *t, uint32_t nslots)
{
	uint32_t oldn = t->nslots;
	uint64_t *old = malloc((size_t)oldn * sizeof(*old));

	if (!old)
		return -1;
	memcpy(old, t->slots, (size_t)oldn * sizeof(*old));
	memset(t->slots, 0, (size_t)(nslots > oldn ? nslots : oldn) * sizeof(*old));
	t->nslots = nslots;
	t->mask = nslots - 1;
	for (uint32_t i = 0; i < oldn; i++) {
		uint64_t s = old[i];
		uint32_t h;

		if (!s)
			continue;
		h = hash(t, ent(t, slot_entry(s))->key);
		t->slots[free_slot(t, h)] = (uint64_t)h << 32 | (uint32_t)s;
	}
	free(old);
	return 0;
}

/* The index doubled in place. The old slots are taken in probe order
 * starting after the first empty one (so each run of full slots from its
 * start, and a run that wraps past the top last) and put again over
 * twice as many slots. One whose home stays lands, over slots already
 * taken, no later than its old place, which was just emptied; one whose
 * home moves up goes to the upper half, zeros at first, where the run it
 * joins holds only keys homed at or above its own start, never more than
 * fit below the top: only the last keys taken, those of the run that
 * wrapped, can probe past the top, onto slots already taken. So a probe
 * never passes a slot still to be taken, and emptying one leaves no gap
 * in anyone's probe (tests/c/pending_grow.c lays such runs out). */
static void grow(struct pktsh_pending *t)
{
	uint64_t *sl = t->slots;
	uint32_t n = t->nslots, start = 0;

	while (sl[start])         /* load at most one half: there is one */
		start++;
	t->nslots = n * 2u;
	t->mask = t->nslots - 1;
	for (uint32_t k = 1; k <= n; k++) {
		uint32_t i = (start + k) & (n - 1);
		uint64_t s = sl[i];

		if (!s)
			continue;
		sl[i] = 0;
		sl[free_slot(t, slot_hash(s))] = s;
	}
}

/* An insert would sit too far from home: tables of the table's own, all
 * entries rehashed (the index grows too, when it may). Nothing changes
 * without memory for them. */
static void rekey(struct pktsh_pending *t)
{
	const struct pktsh_tabhash *old = t->th;
	struct pktsh_tabhash *fresh = malloc(sizeof(*fresh));
	uint32_t n = t->nslots < t->max_slots ? t->nslots * 2u : t->nslots;

	if (!fresh)
		return;
	pktsh_tabhash_fill(fresh);
	t->th = fresh;
	if (reindex(t, n) < 0) {
		t->th = old;
		free(fresh);
		return;
	}
	free(t->own);
	t->own = fresh;
	t->work.rekeys++;
}

/* The time list: unlink e, or link it as the newest. */
static void unlink_entry(struct pktsh_pending *t, uint32_t e)
{
	struct entry *x = ent(t, e);

	if (x->older != NIL)
		ent(t, x->older)->newer = x->newer;
	else
		t->oldest = x->newer;
	if (x->newer != NIL)
		ent(t, x->newer)->older = x->older;
	else
		t->newest = x->older;
}

static void link_newest(struct pktsh_pending *t, uint32_t e)
{
	struct entry *x = ent(t, e);

	x->older = t->newest;
	x->newer = NIL;
	if (t->newest != NIL)
		ent(t, t->newest)->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

/* A free entry number (put makes room first: there is one). */
static uint32_t alloc_entry(struct pktsh_pending *t)
{
	uint32_t e = t->free_list;

	if (e != NIL) {
		t->free_list = ent(t, e)->newer;
		return e;
	}
	return t->used++;
}

/* Backward-shift deletion: the slots after i that probed past it move
 * back, so every lookup still finds them before an empty slot. The
 * entry goes back to the free list. Returns the one slot that became
 * empty (the last one moved, or i). */
static uint32_t delete_at(struct pktsh_pending *t, uint32_t i)
{
	uint32_t e = slot_entry(t->slots[i]);

	for (uint32_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
		uint64_t s = t->slots[j];

		if (!s)
			break;
		/* j's slot may fill the hole at i unless its home slot lies
		 * in (i, j] */
		if (((j - (slot_hash(s) & t->mask)) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = s;
			i = j;
		}
	}
	t->slots[i] = 0;
	unlink_entry(t, e);
	ent(t, e)->older = FREED;
	ent(t, e)->newer = t->free_list;
	t->free_list = e;
	t->count--;
	return i;
}

/* The slot of entry e (present). */
static uint32_t slot_of(struct pktsh_pending *t, uint32_t e)
{
	uint32_t h = hash(t, ent(t, e)->key), i = h & t->mask;

	while (slot_entry(t->slots[i]) != e)
		i = (i + 1) & t->mask;
	return i;
}

/* Expiry and eviction take entries in time order, and each one's slot
 * is anywhere in the index (a cache miss in a table of a million): the
 * slot of the entry AHEAD places newer is asked for now. The cursor
 * moves one entry per drop; when its entry was given back (answered),
 * or it ran off the newest end, it is found again from the oldest. A
 * hint only: a stale cursor costs a useless prefetch, never a count. */
static void prefetch_ahead(struct pktsh_pending *t)
{
	uint32_t a = t->ahead;

	if (a == NIL || ent(t, a)->older == FREED) {
		a = t->oldest;
		for (int k = 0; k < AHEAD && a != NIL; k++)
			a = ent(t, a)->newer;
	} else {
		a = ent(t, a)->newer;
	}
	t->ahead = a;
	if (a != NIL) {
		const struct entry *x = ent(t, a);

		prefetch_run(t, hash(t, x->key) & t->mask);
		/* the next step's entry: answered queries give their entries
		 * back from anywhere in the list, so list order is not memory
		 * order, and each step would wait for its entry */
		if (x->newer != NIL) {
			const uint8_t *n = (const uint8_t *)ent(t, x->newer);

			__builtin_prefetch(n);
			__builtin_prefetch(n + t->stride - 1);
		}
	}
}

/* Expiry and eviction: the oldest goes, found through its slot.
 * Returns the slot that became empty. */
static uint32_t drop_oldest(struct pktsh_pending *t)
{
	t->visits++;
	prefetch_ahead(t);
	return delete_at(t, slot_of(t, t->oldest));
}

/* An entry already there with a value below stale takes the new value
 * and becomes the newest (1); one at or above it stays as it was (3). */
static int put(struct pktsh_pending *t, const void *key, double value, double stale)
{
	uint32_t h = hash(t, key);
	uint32_t i = find(t, key, h), e;
	struct entry *x;
	int evicted = 0;

	if (!(value <= t->max_value))       /* an upper bound: add may not store it */
		t->max_value = value;
	if (t->slots[i]) {
		e = slot_entry(t->slots[i]);
		if (!(ent(t, e)->value < stale))
			return 3;
		ent(t, e)->value = value;
		unlink_entry(t, e);
		link_newest(t, e);
		return 1;
	}
	if (t->count >= t->max_entries) {
		uint32_t f;

		if (!t->evict || t->oldest == NIL)
			return -1;
		/* the one slot emptied: where k goes now when it lies on k's
		 * probe, else i still is (the empty slot the probe ended at;
		 * a deletion moves slots back, never into an empty one) */
		f = drop_oldest(t);
		if (((f - h) & t->mask) < ((i - h) & t->mask))
			i = f;
		t->evicted++;
		evicted = 1;
	}
	if ((t->count + 1u) * 2u > t->nslots && t->nslots < t->max_slots) {
		grow(t);
		i = free_slot(t, h);
	}
	e = alloc_entry(t);
	if (((i - h) & t->mask) >= PKTSH_PROBE_LIMIT) {
		rekey(t);
		h = hash(t, key);
		i = free_slot(t, h);
	}
	t->slots[i] = (uint64_t)h << 32 | (e + 1u);
	x = ent(t, e);
	x->value = value;
	if (t->key_len == 8)            /* dnsstats': a move, not a call */
		memcpy(x->key, key, 8);
	else
		memcpy(x->key, key, t->key_len);
	link_newest(t, e);
	t->count++;
	return evicted ? 2 : 0;
}

int pktsh_pending_put(struct pktsh_pending *t, const void *key, double value)
{
	return put(t, key, value, HUGE_VAL);
}

int pktsh_pending_add(struct pktsh_pending *t, const void *key, double value, double stale)
{
	return put(t, key, value, stale);
}

int pktsh_pending_take(struct pktsh_pending *t, const void *key, double *value)
{
	uint32_t h = hash(t, key);
	uint32_t i = find(t, key, h);

	if (!t->slots[i])
		return 0;
	*value = ent(t, slot_entry(t->slots[i]))->value;
	delete_at(t, i);
	return 1;
}

/* Every entry goes (all expired): the index cleared in one sweep and the
 * entries handed out again from the start, instead of a random-access
 * delete each (a one-way capture's end held a million). Still O(1) an
 * entry. */
static uint32_t clear_all(struct pktsh_pending *t)
{
	uint32_t n = t->count;

	big_zero(t->slots, (size_t)t->nslots * sizeof(*t->slots),
		 (size_t)t->max_slots * sizeof(*t->slots));
	t->count = t->used = 0;
	t->max_value = -HUGE_VAL;
	t->free_list = t->oldest = t->newest = t->ahead = NIL;
	t->visits += n;
	return n;
}

uint32_t pktsh_pending_expire(struct pktsh_pending *t, double before)
{
	uint32_t n = 0;

	if (t->count > 0 && t->max_value < before)
		return clear_all(t);
	while (t->oldest != NIL) {
		t->visits++;
		if (ent(t, t->oldest)->value >= before)
			break;
		drop_oldest(t);
		n++;
	}
	return n;
}

uint64_t pktsh_pending_evicted(const struct pktsh_pending *t)
{
	return t->evicted;
}

uint64_t pktsh_pending_visits(const struct pktsh_pending *t)
{
	return t->visits;
}

int pktsh_pending_stats(const struct pktsh_pending *t, struct pktsh_table_stats *out)
{
	return pktsh_probes_stats(&t->work, out);
}

uint32_t pktsh_pending_batch(struct pktsh_pending *t, const void *base, uint32_t stride,
			     uint32_t value_off, const uint8_t *op, uint32_t n, double *out)
{
	const uint8_t *rec = base;

	for (uint32_t i = 0; i < n; i++, rec += stride) {
		double v;

		switch (op[i]) {
		case PKTSH_PENDING_PUT:
			memcpy(&v, rec + value_off, sizeof(v));
			out[i] = pktsh_pending_put(t, rec, v);
			if (out[i] < 0)
				return i;
			break;
		case PKTSH_PENDING_TAKE:
			out[i] = pktsh_pending_take(t, rec, &v) ? v : NAN;
			break;
		default:
			break;
		}
	}
	return n;
}
