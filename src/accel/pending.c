/*
 * pending.c - a bounded table of requests waiting for their answer
 * (pktsh.pending): keys of one fixed length, a number (a time) each.
 *
 * dnsstats keeps every unanswered query here, a million times a second.
 * As a Lua table that cost a record per query and a trace LuaJIT could
 * not compile well; here a put or a take is one hash and, nearly always,
 * one cache line of hashes. Open addressing with linear probing; deletion shifts
 * the following entries back (no tombstones), so probes stay short
 * however many queries come and go. Nothing is allocated per entry: the
 * slot array doubles up to twice max_entries and never shrinks.
 *
 * The keys come from packets, so the hash is keyed (hash.c: NH and
 * tabulation under random tables): nobody can line queries up in one
 * probe run. Should that ever fail, an insert that would land
 * PKTSH_PROBE_LIMIT or more slots past its home slot makes the table draw
 * tables of its own and rebuild (counted as a rekey).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "accel/hash.h"

#define MIN_SLOTS 1024u

/* Slot i is hashes[i] (0: empty) and the entry at entries + i * stride:
 * the value, then the key. Probes read only the dense hash array (4
 * bytes a slot, mostly in L1); an entry is read when its hash matches. */
struct pktsh_pending {
	uint32_t *hashes;
	uint8_t *entries;
	uint32_t nslots;        /* a power of two */
	uint32_t mask;
	uint32_t stride;        /* 8 + key_len, 8-aligned */
	uint32_t key_len;
	uint32_t count;
	uint32_t max_entries;
	uint32_t max_slots;
	struct pktsh_probes work;
	const struct pktsh_tabhash *th;   /* the process's, or own */
	struct pktsh_tabhash *own;
};

static uint8_t *entry(const struct pktsh_pending *t, uint32_t i)
{
	return t->entries + (size_t)i * t->stride;
}

static double *value_of(uint8_t *e)
{
	return (double *)(void *)e;
}

static uint32_t hash(const struct pktsh_pending *t, const uint8_t *k)
{
	uint32_t h = pktsh_tabhash_bytes(t->th, k, t->key_len);

	return h + (h == 0);    /* never 0, the empty mark */
}

static uint32_t slots_for(uint32_t entries)
{
	uint32_t n = MIN_SLOTS;

	while (n < entries * 2u && n < (1u << 30))
		n <<= 1;
	return n;
}

/* Two arrays of nslots; 0, or -1 without memory. */
static int alloc_slots(struct pktsh_pending *t, uint32_t nslots)
{
	t->hashes = calloc(nslots, sizeof(*t->hashes));
	t->entries = malloc((size_t)nslots * t->stride);
	if (!t->hashes || !t->entries) {
		free(t->hashes);
		free(t->entries);
		return -1;
	}
	t->nslots = nslots;
	t->mask = nslots - 1;
	return 0;
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
	t->stride = (8u + key_len + 7u) & ~7u;
	t->max_entries = max_entries;
	t->max_slots = slots_for(max_entries);
	if (alloc_slots(t, MIN_SLOTS < t->max_slots ? MIN_SLOTS : t->max_slots) != 0) {
		free(t);
		pktsh_err_set(err, ENOMEM, "pending table");
		return NULL;
	}
	return t;
}

void pktsh_pending_free(struct pktsh_pending *t)
{
	if (!t)
		return;
	free(t->hashes);
	free(t->entries);
	free(t->own);
	free(t);
}

uint32_t pktsh_pending_count(const struct pktsh_pending *t)
{
	return t->count;
}

/* The slot holding key, or the empty slot where it would go; counted. */
static uint32_t find(struct pktsh_pending *t, const uint8_t *key, uint32_t h)
{
	uint32_t i = h & t->mask, n = 1;

	for (;; i = (i + 1) & t->mask, n++) {
		uint32_t sh = t->hashes[i];

		if (sh == 0 || (sh == h && memcmp(entry(t, i) + 8, key, t->key_len) == 0))
			break;
	}
	pktsh_probes_count(&t->work, n);
	return i;
}

/* The empty slot for a hash known to be absent (a rebuild). */
static uint32_t free_slot(const struct pktsh_pending *t, uint32_t h)
{
	uint32_t i = h & t->mask;

	while (t->hashes[i])
		i = (i + 1) & t->mask;
	return i;
}

/* Moves every entry into fresh arrays of nslots (a power of two),
 * keeping those whose value is not below `before` and hashing them again
 * when the key changed (rehash); returns how many were dropped, or -1
 * without memory (the table is unchanged). */
static int64_t rebuild(struct pktsh_pending *t, uint32_t nslots, double before, int rehash)
{
	struct pktsh_pending old = *t;
	uint32_t gone = 0;

	if (alloc_slots(t, nslots) != 0) {
		*t = old;
		return -1;
	}
	t->count = 0;
	for (uint32_t i = 0; i < old.nslots; i++) {
		uint8_t *e = entry(&old, i);
		uint32_t h = old.hashes[i], j;

		if (!h)
			continue;
		if (*value_of(e) < before) {
			gone++;
			continue;
		}
		if (rehash)
			h = hash(t, e + 8);
		j = free_slot(t, h);
		t->hashes[j] = h;
		memcpy(entry(t, j), e, t->stride);
		t->count++;
	}
	free(old.hashes);
	free(old.entries);
	return gone;
}

/* An insert would sit too far from home: tables of the table's own, all
 * entries rehashed (the table grows too, when it may). Nothing changes
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
	if (rebuild(t, n, -HUGE_VAL, 1) < 0) {
		t->th = old;
		free(fresh);
		return;
	}
	free(t->own);
	t->own = fresh;
	t->work.rekeys++;
}

int pktsh_pending_put(struct pktsh_pending *t, const void *key, double value)
{
	uint32_t h = hash(t, key);
	uint32_t i = find(t, key, h);

	if (t->hashes[i]) {
		*value_of(entry(t, i)) = value;
		return 1;
	}
	if (t->count >= t->max_entries)
		return -1;
	if ((t->count + 1u) * 2u > t->nslots && t->nslots < t->max_slots) {
		if (rebuild(t, t->nslots * 2u, -HUGE_VAL, 0) < 0)
			return -1;
		i = free_slot(t, h);
	}
	if (((i - h) & t->mask) >= PKTSH_PROBE_LIMIT) {
		rekey(t);
		h = hash(t, key);
		i = free_slot(t, h);
	}
	t->hashes[i] = h;
	*value_of(entry(t, i)) = value;
	memcpy(entry(t, i) + 8, key, t->key_len);
	t->count++;
	return 0;
}

/* Backward-shift deletion: the entries after slot i that probed past it
 * move back, so every lookup still finds them before an empty slot. */
static void delete_at(struct pktsh_pending *t, uint32_t i)
{
	for (uint32_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
		uint32_t h = t->hashes[j];

		if (!h)
			break;
		/* j's entry may fill the hole at i unless its home slot lies
		 * in (i, j] */
		if (((j - (h & t->mask)) & t->mask) >= ((j - i) & t->mask)) {
			t->hashes[i] = h;
			memcpy(entry(t, i), entry(t, j), t->stride);
			i = j;
		}
	}
	t->hashes[i] = 0;
	t->count--;
}

int pktsh_pending_take(struct pktsh_pending *t, const void *key, double *value)
{
	uint32_t h = hash(t, key);
	uint32_t i = find(t, key, h);

	if (!t->hashes[i])
		return 0;
	*value = *value_of(entry(t, i));
	delete_at(t, i);
	return 1;
}

uint32_t pktsh_pending_expire(struct pktsh_pending *t, double before)
{
	uint32_t n = t->count;
	int64_t gone;

	if (n == 0)
		return 0;
	gone = rebuild(t, t->nslots, before, 0);
	if (gone >= 0)
		return (uint32_t)gone;
	/* no memory for second arrays: empty these instead */
	memset(t->hashes, 0, (size_t)t->nslots * sizeof(*t->hashes));
	t->count = 0;
	return n;
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
