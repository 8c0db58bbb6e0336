/* xdp_int.h - what src/xdp.c (rules, attach) and src/xdpcopy.c (the copy
 * ring's reader) share inside the host. Not part of the FFI. */
#ifndef PKTSH_XDP_INT_H
#define PKTSH_XDP_INT_H
#include <stdint.h>
#include "pktsh.h"

/* The copy ring, read in place: a batch's records stay in the ring until
 * it is released, and only then does the consumer position move. */
struct xdp_copies {
	int fd;                   /* the BPF_MAP_TYPE_RINGBUF */
	uint32_t size;            /* data bytes (a power of two) */
	size_t page;
	unsigned long *cons_pos;  /* first page: ours to write */
	unsigned long *prod_pos;  /* second page: the kernel's */
	uint8_t *data;            /* size bytes, mapped twice in a row */
	void *cons_map;
	void *prod_map;
	unsigned long pos;        /* where the walk has got to */
	int held;                 /* the batch holds records up to pos */
	uint32_t ifindex;
	struct pktsh_batch batch;
	struct pktsh_src_stats stats;
};

int xdp_copies_open(struct xdp_copies *c, int ring_fd, uint32_t size,
		    uint32_t batch_cap, struct pktsh_err *err);
int xdp_copies_next(struct xdp_copies *c, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err);
void xdp_copies_release(struct xdp_copies *c);
void xdp_copies_close(struct xdp_copies *c);
#endif
