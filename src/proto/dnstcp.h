/* dnstcp.h - DNS over TCP for C callers (dnstcp.c). */
#ifndef PKTSH_PROTO_DNSTCP_H
#define PKTSH_PROTO_DNSTCP_H
#include <stdint.h>
#include "pktsh.h"

/* One TCP segment in the packet bytes d: its IP header at l3off, TCP
 * header at l4off, the datagram ending at stop (within the capture); v6
 * when IPv6; emit(ctx, msg, len) for every message it completes, msg
 * valid only during the call. Returns how many. */
uint32_t dnstcp_segment(struct pktsh_dnstcp *t, const uint8_t *d, uint32_t l3off, uint32_t l4off,
			uint32_t stop, int v6, double ts,
			void (*emit)(void *ctx, const uint8_t *msg, uint32_t len), void *ctx);
#endif
