/* agetab.h - bounded per-key state that goes oldest first: the TCP flows
 * of dnstcp.c, the datagrams being rebuilt of ipfrag.c (agetab.c).
 *
 * The records lie in one array the owner allocates, each beginning with
 * a struct age_rec: its key (at most AGE_KEY_MAX bytes of addresses and
 * ports or ids, from packets) and its place in the age list. An
 * open-addressing index (linear probing, backward-shift deletion, load
 * at most one half) finds a record by its key's hash, which the owner
 * makes keyed (hash.c's tabulation), so nobody can line keys up in one
 * probe run; the age list (a record moves to the newest end when its
 * owner says it is active) gives the oldest in O(1), for eviction at a
 * bound and for expiry that looks only at what expires. */
#ifndef PKTSH_PROTO_AGETAB_H
#define PKTSH_PROTO_AGETAB_H
#include <stddef.h>
#include <stdint.h>

#define AGE_NIL 0xffffffffu
enum { AGE_KEY_MAX = 40 };

struct age_rec {
	uint8_t key[AGE_KEY_MAX];
	uint32_t klen, hash;
	uint32_t older, newer;   /* age order; free list through newer */
};

struct agetab {
	uint8_t *recs;           /* max records of stride bytes, or NULL until
				  * the first is taken */
	size_t stride;
	uint32_t max, nalloc, n, free_list;
	uint32_t oldest, newest;
	uint32_t *slots;         /* record + 1, or 0 */
	uint32_t mask;
	double last_sweep;       /* capture time of the last expiry check */
	int swept;               /* 1 once there was one */
};

/* For max records of stride bytes (a struct beginning with struct
 * age_rec): 0, or -1 without memory for the index. */
int agetab_init(struct agetab *t, uint32_t max, size_t stride);
void agetab_fini(struct agetab *t);

static inline struct age_rec *agetab_rec(const struct agetab *t, uint32_t e)
{
	return (struct age_rec *)(void *)(t->recs + (size_t)e * t->stride);
}

/* The record of key (hash h), or AGE_NIL. */
uint32_t agetab_find(const struct agetab *t, const uint8_t *key, uint32_t klen, uint32_t h);
/* A new record for key (hash h, absent), the newest: its number, or
 * AGE_NIL when the table is full (the owner evicts the oldest first) or
 * there is no memory. The rest of the record is the owner's to set: as
 * it was given back, or zeros when never used. */
uint32_t agetab_add(struct agetab *t, const uint8_t *key, uint32_t klen, uint32_t h);
/* Record e gone: out of the index and the age list, its number free. */
void agetab_remove(struct agetab *t, uint32_t e);
/* Record e becomes the newest. */
void agetab_touch(struct agetab *t, uint32_t e);
/* Capture time passes (ts, ns): 1 when the owner should expire what is
 * too old now, which is once a second of capture time (or when time went
 * back) and only when there are records, so a busy capture pays for
 * expiry once a second, not once a packet. */
int agetab_sweep_due(struct agetab *t, double ts);
#endif
