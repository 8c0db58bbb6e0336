/*
 * batch.c - descriptor windows, their poisoning, the pools that keep
 * packet memory for the life of the process, and the guard-page mode
 * (see batch.h for why).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "source/batch.h"
#include "err.h"

/*
 * How long a kept packet is caught: a source takes its windows in turn
 * from a ring of 2 * cap + STALE_WINDOW slots, so a released slot is
 * filled again only after more than STALE_WINDOW further packets of the
 * same source (a window of up to cap packets is taken only where a whole
 * cap fits before the end, hence the second cap), and never by the next
 * batch. The mistake to catch is a packet kept past its batch and used a
 * little later: the previous packet remembered across a batch boundary,
 * the REPL's `p = src:next().pkt[0]` then a few more `src:next()`. No
 * finite ring catches a packet kept for the whole run, so the size is set
 * by the cost: descriptors are written once per packet, and the ring must
 * stay in a core's L2 cache (1 MiB) beside the file reader's 256 KiB
 * buffer to cost what one reused array did. 8192 packets beyond two
 * batches is 560 KiB for a file's default batch; tests/bench/parse.lua
 * ran as fast as before with it, and about 10% slower with 65536 (the
 * ring then 3.6 MiB).
 */
#ifndef STALE_WINDOW
#define STALE_WINDOW 8192u
#endif

/* What a released descriptor reads as: no bytes, the stale state that
 * the decoders and accessors turn into an error. data points at zeros
 * long enough for any 16-bit offset that unchecked code might add. */
static uint8_t stale_bytes[65536 + 64];
static const struct pktsh_pkt poison = {
	.data = stale_bytes,
	.l2state = PKTSH_PKT_STALE,
	.l3state = PKTSH_PKT_STALE,
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct batch_ring *ring_pool;

struct free_region {
	struct region r;
	struct free_region *next;
};
static struct free_region *region_pool;

/* Worker threads open sources too: the cached value is an atomic (any
 * thread may fill it; they all store the same number). */
static size_t page_size(void)
{
	static size_t page;
	size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

	if (!p) {
		p = (size_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&page, p, __ATOMIC_RELAXED);
	}
	return p;
}

/* --- regions ------------------------------------------------------------ */

/* The smallest pooled region of at least len bytes, taken out of the
 * pool; or a new mapping. */
static int region_take(struct region *r, size_t len, struct pktsh_err *err)
{
	struct free_region **best = NULL, **pp, *f;

	pthread_mutex_lock(&pool_lock);
	for (pp = &region_pool; *pp; pp = &(*pp)->next)
		if ((*pp)->r.len >= len && (!best || (*pp)->r.len < (*best)->r.len))
			best = pp;
	f = best ? *best : NULL;
	if (f)
		*best = f->next;
	pthread_mutex_unlock(&pool_lock);
	if (f) {
		*r = f->r;
		free(f);
		return 0;
	}
	r->addr = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->addr == MAP_FAILED) {
		r->addr = NULL;
		pktsh_err_set(err, errno, "cannot map %zu bytes: %s", len, strerror(errno));
		return -1;
	}
	r->len = len;
	return 0;
}

static size_t round_pages(size_t n)
{
	size_t page = page_size();

	return n ? (n + page - 1) / page * page : page;
}

int region_get(struct region *r, size_t need, struct pktsh_err *err)
{
	return region_take(r, round_pages(need), err);
}

int region_map(struct region *r, size_t need, int prot, int fd, off_t off,
	       struct pktsh_err *err)
{
	void *a;

	if (region_take(r, round_pages(need), err))
		return -1;
	a = mmap(r->addr, need, prot, MAP_SHARED | MAP_FIXED, fd, off);
	if (a == MAP_FAILED) {
		int e = errno;

		region_put(r);
		errno = e;
		pktsh_err_set(err, e, "mmap: %s", strerror(e));
		return -1;
	}
	return 0;
}

void region_put(struct region *r)
{
	struct free_region *f;

	if (!r->addr)
		return;
	/* Zero pages in place of whatever was mapped (a kernel ring, old
	 * packets): a header view kept by a script reads zeros, never an
	 * unmapped page. If even that fails, the old mapping stays: memory
	 * is lost, safety is not. */
	if (mmap(r->addr, r->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		goto out;
	f = malloc(sizeof(*f));
	if (!f)
		goto out;
	f->r = *r;
	pthread_mutex_lock(&pool_lock);
	f->next = region_pool;
	region_pool = f;
	pthread_mutex_unlock(&pool_lock);
out:
	r->addr = NULL;
	r->len = 0;
}

int64_t mono_to_wall(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000 +
	       ((int64_t)r.tv_nsec - m.tv_nsec);
}

/* --- descriptor rings -------------------------------------------------- */

static int guard_from_env(void)
{
	const char *g = getenv("PKTSH_GUARD");

	return g && !strcmp(g, "1");
}

static void poison_range(struct pktsh_pkt *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = poison;
}

/* Slots up to end poisoned, those not yet: a ring's slots are poisoned
 * as windows first reach them, not all at its start (a source that
 * reads a few packets writes a few windows, not the whole ring). */
static void poison_upto(struct batch_ring *r, uint32_t end)
{
	if (end > r->poisoned) {
		poison_range(r->slot + r->poisoned, end - r->poisoned);
		r->poisoned = end;
	}
}

static struct batch_ring *ring_new(uint32_t nslots, struct pktsh_err *err)
{
	struct batch_ring *r = calloc(1, sizeof(*r));

	if (r)
		r->slot = malloc((size_t)nslots * sizeof(struct pktsh_pkt));
	if (!r || !r->slot) {
		free(r);
		pktsh_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	r->nslots = nslots;
	for (int i = 0; i < BATCH_HDRS; i++)
		r->hdr[i].pkt = r->slot;
	return r;
}

struct batch_ring *batch_ring_get(uint32_t cap, int guard, struct pktsh_err *err)
{
	uint32_t want = 2 * cap + STALE_WINDOW;
	struct batch_ring **best = NULL, **pp, *r;

	pthread_mutex_lock(&pool_lock);
	for (pp = &ring_pool; *pp; pp = &(*pp)->next)
		if ((*pp)->nslots >= want && (!best || (*pp)->nslots < (*best)->nslots))
			best = pp;
	r = best ? *best : NULL;
	if (r)
		*best = r->next;
	pthread_mutex_unlock(&pool_lock);
	if (!r && !(r = ring_new(want, err)))
		return NULL;
	r->next = NULL;
	r->cap = cap;
	r->guard = guard || guard_from_env();
	for (int i = 0; i < BATCH_HDRS; i++)
		r->hdr[i].cap = cap;
	r->batch = &r->hdr[r->nhdr % BATCH_HDRS];
	r->delivered = 1;     /* a new owner starts on a hdr of its own */
	poison_upto(r, r->cur + cap < r->nslots ? r->cur + cap : r->nslots);
	return r;
}

void batch_ring_put(struct batch_ring *r)
{
	if (!r)
		return;
	batch_release(r);
	region_put(&r->arena.mem);
	memset(&r->arena, 0, sizeof(r->arena));
	pthread_mutex_lock(&pool_lock);
	r->next = ring_pool;
	ring_pool = r;
	pthread_mutex_unlock(&pool_lock);
}

void batch_release(struct batch_ring *r)
{
	struct pktsh_batch *b = r->batch;

	poison_range(r->slot + r->cur, b->count);
	r->cur += b->count;
	b->count = 0;
}

void batch_begin(struct batch_ring *r)
{
	batch_release(r);
	if (r->cur + r->cap > r->nslots)
		r->cur = 0;
	if (r->delivered)     /* (a source polling an idle ring keeps its hdr) */
		r->batch = &r->hdr[++r->nhdr % BATCH_HDRS];
	r->delivered = 0;
	poison_upto(r, r->cur + r->cap);
	r->batch->pkt = r->slot + r->cur;
	r->batch->count = 0;
}

/* --- guard mode -------------------------------------------------------- */

/* Lays the arena out again for nslots slots of slot_pages pages. */
static int guard_layout(struct guard_arena *a, size_t slot_pages, uint32_t nslots,
			struct pktsh_err *err)
{
	size_t page = page_size(), stride = (slot_pages + 1) * page;

	region_put(&a->mem);
	a->slot_pages = a->nslots = 0;
	if (region_get(&a->mem, stride * nslots, err))
		return -1;
	for (uint32_t i = 0; i < nslots; i++)
		if (mprotect(a->mem.addr + i * stride + slot_pages * page, page, PROT_NONE)) {
			pktsh_err_set(err, errno, "guard mode: mprotect: %s", strerror(errno));
			region_put(&a->mem);
			return -1;
		}
	a->slot_pages = slot_pages;
	a->nslots = nslots;
	return 0;
}

static int guard_copy(struct batch_ring *r, struct pktsh_err *err)
{
	struct guard_arena *a = &r->arena;
	struct pktsh_pkt *w = batch_window(r);
	uint32_t n = r->batch->count, maxcap = 0;
	size_t page = page_size(), pages, stride;

	for (uint32_t i = 0; i < n; i++)
		if (w[i].caplen > maxcap)
			maxcap = w[i].caplen;
	pages = (maxcap + page - 1) / page;
	if (pages > a->slot_pages || n > a->nslots) {
		uint32_t slots = n > a->nslots ? n : a->nslots;

		if (guard_layout(a, pages > a->slot_pages ? pages : a->slot_pages,
				 slots, err))
			return -1;
	}
	stride = (a->slot_pages + 1) * page;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *end = a->mem.addr + i * stride + a->slot_pages * page;

		memcpy(end - w[i].caplen, w[i].data, w[i].caplen);
		w[i].data = end - w[i].caplen;
	}
	return 0;
}

int batch_end(struct batch_ring *r, struct pktsh_err *err)
{
	if (!r->batch->count)
		return 0;
	if (r->guard && guard_copy(r, err)) {
		batch_release(r);
		return -1;
	}
	r->delivered = 1;
	return 0;
}
