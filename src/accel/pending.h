/* pending.h - the pending table for C callers (pending.c; the rest of
 * its interface is in pktsh.h). */
#ifndef PKTSH_ACCEL_PENDING_H
#define PKTSH_ACCEL_PENDING_H
#include "pktsh.h"

/* Asks the cache for key's home slot, ahead of a put or take of it. */
void pending_prefetch(const struct pktsh_pending *t, const void *key);
/* Keys of 8 bytes that are keyed hashes already (dnsstats' match keys):
 * their bits make the home slot, without a second hash, until a probe
 * run past PKTSH_PROBE_LIMIT makes the table draw tables of its own.
 * Only while the table is empty. */
void pending_keys_hashed(struct pktsh_pending *t);
#endif
