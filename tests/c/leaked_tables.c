/*
 * leaked_tables.c - the tables' probe limit, with hash tables a sender
 * knows (tests/sh/test_table_rekey.sh builds it with src/accel/pending.c,
 * src/accel/topk.c and src/err.c). hash.c is compiled in with the process
 * tables replaced by zeros, as if they had leaked: every key of one
 * length then hashes alike, and only the probe limit stands between the
 * table and a quadratic run. Prints "ok"/"not ok" lines.
 */
#define pktsh_tabhash_process real_tabhash_process
#include "../../src/accel/hash.c"
#undef pktsh_tabhash_process

static struct pktsh_tabhash zeros;

const struct pktsh_tabhash *pktsh_tabhash_process(void)
{
	return &zeros;
}

#include <stdio.h>

static int failed;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	failed |= !ok;
}

static void pending(void)
{
	struct pktsh_err err;
	struct pktsh_pending *t = pktsh_pending_new(16, 100000, &err);
	struct pktsh_table_stats s;
	uint64_t key[2] = {0, 0};
	int all = 1;
	double v;

	for (uint64_t i = 1; i <= 20000; i++) {
		key[0] = i;
		all &= pktsh_pending_put(t, key, (double)i) == 0;
	}
	for (uint64_t i = 1; i <= 20000; i++) {
		key[0] = i;
		all &= pktsh_pending_take(t, key, &v) == 1 && v == (double)i;
	}
	pktsh_pending_stats(t, &s);
	check(all && pktsh_pending_count(t) == 0, "pending: every key stored and found after rekeying");
	check(s.rekeys >= 1 && s.rekeys <= 3, "pending: known tables make the table draw its own");
	check((double)s.probes / (double)s.lookups < 4.0,
	      "pending: lookups stay short (20k keys on one slot would average 5,000 probes)");
	printf("# pending: %llu rekeys, %.2f probes per lookup, max %u\n",
	       (unsigned long long)s.rekeys, (double)s.probes / (double)s.lookups, s.max_probe);
	pktsh_pending_free(t);
}

static void topk(void)
{
	struct pktsh_err err;
	struct pktsh_topk64 *t = pktsh_topk64_new(8192, PKTSH_TOPK_KEYS_RAW, &err);
	struct pktsh_table_stats s;
	static uint64_t keys[6000];

	for (uint32_t i = 0; i < 6000; i++)
		keys[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
	check(pktsh_topk64_add(t, keys, 6000, NULL) == 6000 && pktsh_topk64_add(t, keys, 6000, NULL) == 0,
	      "top-k: every key counted, found again after rekeying");
	pktsh_topk64_stats(t, &s);
	check(s.rekeys >= 1 && s.rekeys <= 3, "top-k: known tables make the table draw its own");
	check((double)s.probes / (double)s.lookups < 4.0, "top-k: lookups stay short");
	printf("# top-k: %llu rekeys, %.2f probes per lookup, max %u\n",
	       (unsigned long long)s.rekeys, (double)s.probes / (double)s.lookups, s.max_probe);
	pktsh_topk64_free(t);
}

int main(void)
{
	pending();
	topk();
	return failed;
}
