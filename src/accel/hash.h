/* hash.h - keyed hashing for tables keyed by packet bytes (hash.c). */
#ifndef PKTSH_HASH_H
#define PKTSH_HASH_H
#include <stdint.h>
#include "pktsh.h"

/* hash.c: SipHash-1-3 under a key of one's own. pktsh_hash_key gives
 * the process key (drawn once, shared by every thread); pktsh_hash_rekey
 * draws fresh random bits (0, or -1 when the kernel gave none and the
 * key is only hard to guess). */
struct pktsh_hkey {
	uint64_t k0, k1;
};
void pktsh_hash_key(struct pktsh_hkey *out);
int pktsh_hash_rekey(struct pktsh_hkey *k);

/* hash.c: the tables' slot hash, NH then simple tabulation, under random
 * tables: the process's (pktsh_tabhash_process, drawn once), or a
 * table's own after pktsh_tabhash_fill (0, or -1 as for rekey). Keys of
 * bytes are at most PKTSH_TABHASH_MAX bytes long. */
enum { PKTSH_TABHASH_MAX = 256 };
struct pktsh_tabhash {
	uint32_t tab[8][256];
	uint32_t nh[PKTSH_TABHASH_MAX / 4];
};
const struct pktsh_tabhash *pktsh_tabhash_process(void);
int pktsh_tabhash_fill(struct pktsh_tabhash *h);
uint32_t pktsh_tabhash_bytes(const struct pktsh_tabhash *h, const void *p, uint32_t len);

/* hash.c: a universal hash of len bytes (a multiple of 4, at most
 * PKTSH_ML61_MAX), below 2^61 - 1, under multipliers drawn once per
 * process: two inputs of one length collide with probability 2^-61. */
enum { PKTSH_ML61_MAX = 64 };
uint64_t pktsh_ml61(const void *p, uint32_t len);

/* hash.c: pktsh_name_hash of the name p[0, len) (len at most
 * PKTSH_NAME_MAX) whose buffer is zero from len to the next multiple of
 * 8, which is read: no copy. */
enum { PKTSH_NAME_MAX = 256 };
uint64_t name_hash_padded(const uint8_t *p, uint32_t len);

/* What the tables' lookups cost (pending.c, topk.c), as struct
 * pktsh_table_stats reports it; an insert PKTSH_PROBE_LIMIT or more
 * slots from home makes a table draw tables of its own. */
enum { PKTSH_PROBE_LIMIT = 128 };
struct pktsh_probes {
	uint64_t lookups, probes, rekeys;
	uint32_t max_probe;
};

static inline void pktsh_probes_count(struct pktsh_probes *p, uint32_t n)
{
	p->lookups++;
	p->probes += n;
	if (n > p->max_probe)
		p->max_probe = n;
}

int pktsh_probes_stats(const struct pktsh_probes *p, struct pktsh_table_stats *out);

static inline uint32_t pktsh_tabhash_u64(const struct pktsh_tabhash *h, uint64_t x)
{
	return h->tab[0][x & 255] ^ h->tab[1][x >> 8 & 255] ^ h->tab[2][x >> 16 & 255] ^
	       h->tab[3][x >> 24 & 255] ^ h->tab[4][x >> 32 & 255] ^ h->tab[5][x >> 40 & 255] ^
	       h->tab[6][x >> 48 & 255] ^ h->tab[7][x >> 56];
}
#endif
