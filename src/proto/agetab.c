/*
 * agetab.c - bounded per-key state that goes oldest first (agetab.h says
 * what it is for): the index and the age list over the owner's records.
 */
#include <stdlib.h>
#include <string.h>
#include "proto/agetab.h"

int agetab_init(struct agetab *t, uint32_t max, size_t stride)
{
	uint32_t nslots = 16;

	while (nslots < 2 * max)
		nslots <<= 1;
	memset(t, 0, sizeof(*t));
	if (!(t->slots = calloc(nslots, sizeof(*t->slots))))
		return -1;
	t->mask = nslots - 1;
	t->max = max;
	t->stride = stride;
	t->free_list = t->oldest = t->newest = AGE_NIL;
	return 0;
}

void agetab_fini(struct agetab *t)
{
	free(t->recs);
	free(t->slots);
	t->recs = NULL;
	t->slots = NULL;
}

/* The slot holding the key, or the empty slot where it would go. */
static uint32_t slot(const struct agetab *t, const uint8_t *key, uint32_t klen, uint32_t h)
{
	uint32_t i = h & t->mask;

	for (; t->slots[i]; i = (i + 1) & t->mask) {
		const struct age_rec *r = agetab_rec(t, t->slots[i] - 1);

		if (r->hash == h && r->klen == klen && memcmp(r->key, key, klen) == 0)
			break;
	}
	return i;
}

uint32_t agetab_find(const struct agetab *t, const uint8_t *key, uint32_t klen, uint32_t h)
{
	uint32_t i = slot(t, key, klen, h);

	return t->slots[i] ? t->slots[i] - 1 : AGE_NIL;
}

/* Backward-shift deletion: the slots after i that probed past it move
 * back, so every lookup still finds them before an empty slot. */
static void unindex(struct agetab *t, uint32_t i)
{
	for (uint32_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		uint32_t home = agetab_rec(t, t->slots[j] - 1)->hash & t->mask;

		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
}

static void unlink_rec(struct agetab *t, struct age_rec *r)
{
	if (r->older != AGE_NIL)
		agetab_rec(t, r->older)->newer = r->newer;
	else
		t->oldest = r->newer;
	if (r->newer != AGE_NIL)
		agetab_rec(t, r->newer)->older = r->older;
	else
		t->newest = r->older;
}

static void push_newest(struct agetab *t, uint32_t e)
{
	struct age_rec *r = agetab_rec(t, e);

	r->older = t->newest;
	r->newer = AGE_NIL;
	if (t->newest != AGE_NIL)
		agetab_rec(t, t->newest)->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

uint32_t agetab_add(struct agetab *t, const uint8_t *key, uint32_t klen, uint32_t h)
{
	struct age_rec *r;
	uint32_t e;

	if (t->n >= t->max || klen > AGE_KEY_MAX)
		return AGE_NIL;
	if (t->free_list != AGE_NIL) {
		e = t->free_list;
		t->free_list = agetab_rec(t, e)->newer;
	} else {
		if (!t->recs && !(t->recs = calloc(t->max, t->stride)))
			return AGE_NIL;
		e = t->nalloc++;
	}
	r = agetab_rec(t, e);
	memcpy(r->key, key, klen);
	r->klen = klen;
	r->hash = h;
	t->slots[slot(t, key, klen, h)] = e + 1;
	push_newest(t, e);
	t->n++;
	return e;
}

void agetab_remove(struct agetab *t, uint32_t e)
{
	struct age_rec *r = agetab_rec(t, e);

	unlink_rec(t, r);
	unindex(t, slot(t, r->key, r->klen, r->hash));
	r->newer = t->free_list;
	t->free_list = e;
	t->n--;
}

void agetab_touch(struct agetab *t, uint32_t e)
{
	unlink_rec(t, agetab_rec(t, e));
	push_newest(t, e);
}

int agetab_sweep_due(struct agetab *t, double ts)
{
	int due;

	if (t->swept && !(ts - t->last_sweep > 1e9 || ts < t->last_sweep))
		return 0;
	due = t->swept && t->n > 0;
	t->last_sweep = ts;
	t->swept = 1;
	return due;
}
