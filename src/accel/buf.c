/*
 * buf.c - byte buffers whose memory goes back at once (pktsh_buf_new,
 * pktsh_buf_free): pktsh.dnsflow's TCP stream buffers. An FFI array is
 * freed only when LuaJIT's collector comes round to it, and a flood of
 * flows each holding most of a 64 KiB message would keep evicted
 * buffers alive meanwhile, twice dnsflow's byte cap and more; these are
 * freed when dnsflow lets go of them.
 */
#include <stdlib.h>
#include "pktsh.h"

uint8_t *pktsh_buf_new(uint32_t size)
{
	return malloc(size ? size : 1);
}

void pktsh_buf_free(uint8_t *p)
{
	free(p);
}
