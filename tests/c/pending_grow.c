/*
 * pending_grow.c - the pending table's index doubling in place
 * (src/accel/pending.c, grow), with the probe runs laid out by hand
 * (tests/sh/test_pending_grow.sh builds it with src/accel/pending.c and
 * src/err.c). hash.c is compiled in with process tables under which an
 * 8-byte key hashes to its low 32 bits, so the test chooses each key's
 * home slot: runs that wrap past the top of the old index and of the
 * doubled one over slots emptied as the doubling goes, random layouts
 * crowded there, entries given back between doublings, and a table
 * grown to its bound.
 * Every key must be found with its value after each doubling. Prints
 * "ok"/"not ok" lines.
 */
#define pktsh_tabhash_process real_tabhash_process
#include "../../src/accel/hash.c"
#undef pktsh_tabhash_process

#include <stdio.h>
#include <stdlib.h>

static struct pktsh_tabhash low32;

const struct pktsh_tabhash *pktsh_tabhash_process(void)
{
	for (uint32_t b = 0; b < 256; b++)
		for (int i = 0; i < 4; i++)
			low32.tab[i][b] = b << (8 * i);
	return &low32;
}

static int failed;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	failed |= !ok;
}

struct model {
	uint64_t *keys;
	uint32_t n;
};

static int put(struct pktsh_pending *t, struct model *m, uint64_t key)
{
	m->keys[m->n++] = key;
	return pktsh_pending_put(t, &key, (double)key) == 0;
}

/* Every key of the model there with its value, nothing taken. */
static int all_found(struct pktsh_pending *t, const struct model *m)
{
	int ok = pktsh_pending_count(t) == m->n;

	for (uint32_t i = 0; i < m->n && ok; i++) {
		uint64_t k = m->keys[i];
		double v;

		/* take and put back: the put lands where the take emptied */
		ok = pktsh_pending_take(t, &k, &v) == 1 && v == (double)k &&
		     pktsh_pending_put(t, &k, (double)k) == 0;
	}
	return ok;
}

/* The first doubling (1024 to 2048 slots) with a run across the top:
 * 4 keys a home over the top 30 homes of the doubled index, 120 keys
 * from slot 994 of the first one, wrapping to its slot 89; then 10 keys
 * homed at 90..99 there whose homes move up (1114..1123), so slots the
 * wrapped keys probe over are emptied as the doubling goes. */
static void wraps(void)
{
	struct pktsh_err err;
	struct pktsh_pending *t = pktsh_pending_new(8, 100000, &err);
	struct model m = {calloc(100000, sizeof(uint64_t)), 0};
	struct pktsh_table_stats s;
	int ok = 1;

	for (uint64_t h = 2018; h < 2048; h++)
		for (uint64_t c = 1; c <= 4; c++)
			ok &= put(t, &m, c << 11 | h);
	for (uint64_t j = 0; j < 10; j++)
		ok &= put(t, &m, 7ull << 11 | (1114 + j));
	/* others up to 512, the most the first index holds (homes from 150) */
	for (uint64_t y = 150; m.n < 512; y++)
		ok &= put(t, &m, 5ull << 11 | y);
	check(ok && all_found(t, &m), "runs across the top of the first index, before doubling");
	ok = put(t, &m, 6ull << 11 | 700);
	check(ok && all_found(t, &m), "doubled: the run across the top moved, every key found");
	pktsh_pending_stats(t, &s);
	check(s.rekeys == 0, "no rekey so far: the runs stayed within the probe limit");
	/* (keys at random from here, some in the long run at the top: a
	 * rekey then is the probe limit's business) */
	/* grow on to 65536 slots, giving back every third key between */
	for (uint64_t i = 0; m.n < 30000; i++) {
		uint64_t k = (i * 0x9e3779b97f4a7c15ull) >> 20 | 1ull << 45;
		double v;

		ok &= put(t, &m, k);
		if (i % 3 == 2) {
			ok &= pktsh_pending_take(t, &m.keys[m.n - 2], &v) == 1;
			m.keys[m.n - 2] = m.keys[m.n - 1];
			m.n--;
		}
	}
	check(ok && all_found(t, &m), "grown to 65536 slots with takes between: every key found");
	pktsh_pending_free(t);
	free(m.keys);
}

/* Three keys: two homed at the first index's slots 1022 and 1023 whose
 * homes move up (2046, 2047), then one homed at 1022 that stays, in
 * slot 0 (wrapped). Taken before the other two, it would probe over
 * their slots to 1024 and be lost when they move. */
static void three(void)
{
	struct pktsh_err err;
	struct pktsh_pending *t = pktsh_pending_new(8, 100000, &err);
	struct model m = {calloc(1000, sizeof(uint64_t)), 0};
	int ok = 1;

	ok &= put(t, &m, 1ull << 11 | 2046);
	ok &= put(t, &m, 1ull << 11 | 2047);
	ok &= put(t, &m, 2ull << 11 | 1022);
	for (uint64_t y = 100; m.n < 512; y++)
		ok &= put(t, &m, 5ull << 11 | y);
	ok &= put(t, &m, 6ull << 11 | 700);     /* the 513th: doubled */
	check(ok && all_found(t, &m), "doubled with a key wrapped to slot 0 over two that move up");
	pktsh_pending_free(t);
	free(m.keys);
}

/* Tables of 600 keys at random (homes from their low bits), a fifth
 * taken between, doubled from 1024 to 2048 slots and checked after:
 * runs wrap past either top in many of them. */
static void random_layouts(void)
{
	uint64_t x = 88172645463325252ull;
	int ok = 1, n = 0;

	for (int round = 0; round < 2000 && ok; round++) {
		struct pktsh_err err;
		struct pktsh_pending *t = pktsh_pending_new(8, 1000000, &err);
		struct model m = {calloc(1000, sizeof(uint64_t)), 0};

		while (m.n < 512) {
			uint64_t k;
			double v;

			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			/* a sixth homed near the top of the first index, their
			 * homes after doubling near its middle or the top */
			k = x >> 11 << 11 | (x % 6 ? x >> 20 & 2047
					     : (x >> 50 & 1) << 10 | (1023 - (x >> 40) % 150));
			ok &= put(t, &m, k);
			if (x % 5 == 1 && m.n > 1) {
				ok &= pktsh_pending_take(t, &m.keys[0], &v) == 1;
				m.keys[0] = m.keys[m.n - 1];
				m.n--;
			}
		}
		ok &= put(t, &m, 1ull << 40);
		ok &= all_found(t, &m);
		struct pktsh_table_stats s;
		pktsh_pending_stats(t, &s);
		n += s.rekeys == 0;
		pktsh_pending_free(t);
		free(m.keys);
	}
	printf("# %d of 2000 doublings without a rekey\n", n);
	check(ok, "2000 random layouts doubled: every key found");
}

/* A small table doubled up to its bound and filled there. */
static void to_bound(void)
{
	struct pktsh_err err;
	struct pktsh_pending *t = pktsh_pending_new(8, 3000, &err);
	struct model m = {calloc(3000, sizeof(uint64_t)), 0};
	uint64_t k = 1;
	int ok = 1;

	for (uint64_t i = 1; i <= 3000; i++)
		ok &= put(t, &m, (i * 0x2545f4914f6cdd1dull) >> 16);
	check(ok && all_found(t, &m), "doubled to the bound (8192 slots) and full");
	check(pktsh_pending_put(t, &k, 1.0) == -1, "full at the bound");
	pktsh_pending_free(t);
	free(m.keys);
}

int main(void)
{
	wraps();
	three();
	random_layouts();
	to_bound();
	return failed;
}
