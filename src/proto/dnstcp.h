/* dnstcp.h - DNS over TCP for C callers (dnstcp.c). */
#ifndef PKTSH_PROTO_DNSTCP_H
#define PKTSH_PROTO_DNSTCP_H
#include <stdint.h>
#include "pktsh.h"

/* One TCP segment of p (its decode cache filled: l3off, l3end, l4off),
 * v6 when IPv6; emit(ctx, msg, len) for every message it completes, msg
 * valid only during the call. Returns how many. */
uint32_t dnstcp_segment(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int v6, double ts,
			void (*emit)(void *ctx, const uint8_t *msg, uint32_t len), void *ctx);
#endif
