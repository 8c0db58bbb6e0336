/*
 * xsk.h - what the AF_XDP socket's files share: xsk.c (UMEM, sockets,
 * the RX path) and xsktx.c (the TX path and its completions). Not part
 * of the FFI.
 *
 * Frames. A UMEM's frames are frame_size bytes each, addressed by their
 * offset in the UMEM. At any time a frame is in exactly one place: the
 * UMEM's free stack, a socket's fill ring, RX ring or current batch (the
 * kernel moves it from the fill ring to the RX ring), or a socket's TX
 * ring until it comes back through the completion ring. A frame of a
 * batch that is forwarded as it is (zero-copy) leaves the batch for the
 * TX ring; every other frame of the batch goes back to the fill ring
 * when the batch is released.
 */
#ifndef PKTSH_XSK_H
#define PKTSH_XSK_H
#include <pthread.h>
#include <stdint.h>
#include <xdp/xsk.h>
#include "pktsh.h"
#include "source/batch.h"

struct pktsh_xsk_umem {
	struct xsk_umem *umem;       /* libxdp's */
	struct region mem;           /* the frames; batch.h: never unmapped */
	uint32_t frame_size;
	uint32_t nframes;
	int refs;                    /* the creator's, and one per socket */
	int first_done;              /* the first socket took fill0/comp0 */
	int zerocopy;                /* the mode the first socket bound in */
	int need_wakeup;
	/* The first socket's fill and completion rings: libxdp makes them
	 * with the UMEM, on the UMEM's own socket. */
	struct xsk_ring_prod fill0;
	struct xsk_ring_cons comp0;
	struct pktsh_xsk **socks;    /* the sockets on it, to find a frame's batch */
	uint32_t nsocks, capsocks;
	pthread_mutex_t lock;        /* free, nfree, socks */
	uint64_t *free;              /* free frame addresses (a stack) */
	uint32_t nfree;
};

struct pktsh_xsk {
	struct xsk_socket *xsk;      /* libxdp's */
	struct pktsh_xsk_umem *u;
	int fd;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod *fill;  /* the UMEM's fill0/comp0 for its first */
	struct xsk_ring_cons *comp;  /* socket, else fill_own/comp_own */
	struct xsk_ring_prod fill_own;
	struct xsk_ring_cons comp_own;
	int map_fd;                  /* a dup of the XSKMAP it is in, or -1 */
	uint32_t reserve;            /* free frames kept for copies (tx_size) */
	/* Free frames kept by the TX path for copies, so that most sends
	 * take no lock. */
	uint64_t cache[64];
	uint32_t ncache;
	/* The current batch: the packets' addresses (as the RX ring gave
	 * them: the frame's plus the data's offset in it) and whether each
	 * was forwarded, by index in the batch. */
	struct batch_ring *br;
	uint64_t *held;
	uint8_t *given;
	uint32_t nheld;
	uint32_t in_flight;          /* frames in the TX ring, not completed */
	uint32_t queued;             /* put in the TX ring since the last kick */
	int32_t linger_us;
	int32_t busy_poll_us;
	int32_t stamp;               /* enum pktsh_xsk_stamp */
	int64_t clock_off;           /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct pktsh_xsk_info info;
	struct pktsh_xsk_stats stats;
};

/* Free frames of u into out (up to n, at most the stack's size above
 * keep): how many. */
uint32_t xsk_frames_take(struct pktsh_xsk_umem *u, uint64_t *out, uint32_t n,
			 uint32_t keep);
void xsk_frames_give(struct pktsh_xsk_umem *u, const uint64_t *addr, uint32_t n);

/* xsktx.c: takes back what the completion ring holds; how many. */
uint32_t xsk_complete(struct pktsh_xsk *s);
/* xsktx.c: starts the TX ring on what was queued (a sendto() where the
 * kernel wants one); -1 and err when the socket failed. */
int xsk_kick(struct pktsh_xsk *s, struct pktsh_err *err);
#endif
