/* dnstcp.h - DNS over TCP for C callers (dnstcp.c). */
#ifndef PKTSH_PROTO_DNSTCP_H
#define PKTSH_PROTO_DNSTCP_H
#include <stdint.h>
#include "pktsh.h"

/* The TCP segment of p, walked (l3off, l3end, l4off, trunc); v6 when
 * IPv6; emit(ctx, msg, len, cut) for every message it completes, msg
 * valid only during the call, cut 1 when the capture cut the message
 * short (len is what was captured). Returns how many. */
uint32_t dnstcp_segment(struct pktsh_dnstcp *t, const struct pktsh_pkt *p, int v6, double ts,
			void (*emit)(void *ctx, const uint8_t *msg, uint32_t len, int cut),
			void *ctx);
#endif
