/* topk.h - the top-k counting core for C callers (topk.c). */
#ifndef PKTSH_ACCEL_TOPK_H
#define PKTSH_ACCEL_TOPK_H
#include <stdint.h>
#include "pktsh.h"

/* The hash of key k in t (what the two below take). */
uint32_t topk64_hash(const struct pktsh_topk64 *t, uint64_t k);
/* Counts key k, whose hash is h, once; when it enters the table (1 is
 * returned) its entry keeps the first len bytes of label (at most the
 * size given to pktsh_topk64_keep_labels; nothing without). 0 when k
 * was counted already. */
int topk64_add_labelled(struct pktsh_topk64 *t, uint64_t k, uint32_t h, const void *label,
			uint32_t len);
/* Asks the cache for what counting a key of hash h reads first. */
void topk64_prefetch(const struct pktsh_topk64 *t, uint32_t h);
#endif
