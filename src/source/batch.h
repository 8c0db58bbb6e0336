/*
 * batch.h - the batch layer every receiver fills (file.c, ring.c,
 * xdpcopy.c). Not part of the FFI.
 *
 * Lua keeps packets as bare pointers to descriptors and header views as
 * bare pointers into packet bytes; nothing tells C when the last one
 * goes. So the memory they point into is never handed back to the
 * system while the process runs:
 *  - descriptors come in windows from a per-source ring of slots much
 *    larger than one batch; a released window is poisoned (stale state,
 *    no bytes), so a kept packet is a clean Lua error until the ring
 *    wraps round to its slot, and only ever a read of descriptors;
 *  - a closed source's ring (and its struct pktsh_batch) goes to a pool
 *    for the next source, poisoned, never to free();
 *  - the bytes (read buffers, arenas, kernel rings) live in regions that
 *    go back to a pool as zero pages, never unmapped.
 * The guard mode copies every packet so that its last byte sits right
 * before a PROT_NONE page: a read one byte past caplen faults.
 */
#ifndef PKTSH_BATCH_H
#define PKTSH_BATCH_H
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include "pktsh.h"

/* A page-aligned address range that is ours for the life of the process. */
struct region {
	uint8_t *addr;
	size_t len;               /* the whole range; a user may use a prefix */
};

/* Anonymous zeroed memory of at least need bytes (read-write). */
int region_get(struct region *r, size_t need, struct pktsh_err *err);
/* Maps fd (MAP_SHARED, prot) at the start of a region of at least need bytes. */
int region_map(struct region *r, size_t need, int prot, int fd, off_t off,
	       struct pktsh_err *err);
/* Back to zero pages and into the pool; *r is cleared. NULL addr: nothing. */
void region_put(struct region *r);

/* Guard mode: each packet of a batch copied to the end of its own slot of
 * pages, the page after it PROT_NONE. */
struct guard_arena {
	struct region mem;
	size_t slot_pages;        /* data pages per slot (a guard page follows) */
	uint32_t nslots;
};

/* Batch headers Lua may hold, used in turn so that a kept batch reads
 * as empty (count 0) for this many batches after its release. */
#define BATCH_HDRS 64

struct batch_ring {
	struct pktsh_batch *batch;    /* the current one, in hdr */
	struct pktsh_batch hdr[BATCH_HDRS];
	uint32_t nhdr;                /* batches delivered, for the next hdr */
	int delivered;                /* the current hdr went to Lua */
	uint32_t cap;                 /* packets per batch, at most */
	struct pktsh_pkt *slot;       /* nslots descriptors */
	uint32_t nslots;
	uint32_t poisoned;            /* slots below it initialised (poisoned
				       * or handed out since): a window is
				       * poisoned as it is first reached */
	uint32_t cur;                 /* first slot of the window */
	int guard;
	struct guard_arena arena;
	struct batch_ring *next;      /* in the pool */
};

/* A ring for batches of at most cap packets (from the pool when one is
 * free); guard: 1 on, 0 unless PKTSH_GUARD=1 is set. */
struct batch_ring *batch_ring_get(uint32_t cap, int guard, struct pktsh_err *err);
/* Releases the batch and gives the ring to the pool. NULL: nothing. */
void batch_ring_put(struct batch_ring *r);
/* Poisons the current batch's descriptors; the batch is empty after it. */
void batch_release(struct batch_ring *r);
/* Releases the current batch and opens a new, empty window. */
void batch_begin(struct batch_ring *r);
/* After filling: in guard mode copies each packet in front of a guard
 * page. 0, or -1 when that memory cannot be had (the batch is then
 * empty). */
int batch_end(struct batch_ring *r, struct pktsh_err *err);

/* CLOCK_REALTIME - CLOCK_MONOTONIC now, in ns: what turns the XDP
 * program's bpf_ktime_get_ns() stamps into wall-clock time. */
int64_t mono_to_wall(void);

/* The window's descriptors, writable (Lua sees them through a const
 * pointer). */
static inline struct pktsh_pkt *batch_window(struct batch_ring *r)
{
	return &r->slot[r->cur];
}

/* The next descriptor of the window (cleared); the caller checks
 * room (batch->count < batch->cap) first. */
static inline struct pktsh_pkt *batch_add(struct batch_ring *r)
{
	struct pktsh_pkt *p = &r->slot[r->cur + r->batch->count++];

	memset(p, 0, sizeof(*p));
	return p;
}

/* The next descriptor of the window as its last release left it: the
 * poison (ring_new poisons every slot and a release the window, so a
 * slot outside the window always is), every field 0 but data, l2state and
 * l3state, which the caller must set. For a receiver whose per-packet
 * cost is the descriptor writes: it writes only the fields it has. */
static inline struct pktsh_pkt *batch_add_poisoned(struct batch_ring *r)
{
	return &r->slot[r->cur + r->batch->count++];
}

/* Asks for the lines of the next window, to be written: called while Lua
 * reads the current batch, so that they arrive before the receiver
 * writes the next batch's descriptors. A window was last written (poisoned)
 * a whole ring of slots ago, so its lines are out of the L2 cache by
 * then, and a store that misses holds the store buffer until its line
 * comes. perf annotate of tests/bench/xsk's drain put most of the AF_XDP
 * receiver's samples on those stores (a timer-sampled VM: they may be
 * the RX descriptor loads just before them); with this and the xsk.c
 * prefetches one A/B had 17% fewer samples in the receive path, but at
 * load 8-10 the CPU time a packet moved within the noise. */
static inline void batch_prefetch_next(const struct batch_ring *r)
{
	uint32_t next = r->cur + r->batch->count;
	const char *a, *end;

	if (next + r->cap > r->nslots)
		next = 0;
	a = (const char *)&r->slot[next];
	end = (const char *)&r->slot[next + r->cap];
	for (; a < end; a += 64)
		__builtin_prefetch(a, 1);
}
#endif
