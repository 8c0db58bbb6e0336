/* pending.h - the pending table for C callers (pending.c; the rest of
 * its interface is in pktsh.h). */
#ifndef PKTSH_ACCEL_PENDING_H
#define PKTSH_ACCEL_PENDING_H
#include "pktsh.h"

/* Asks the cache for key's home slot, ahead of a put or take of it. */
void pending_prefetch(const struct pktsh_pending *t, const void *key);
#endif
