/*
 * xdpcopy.c - reading the XDP program's copy records in place from its
 * BPF ring buffer.
 *
 * The ring's memory is mapped as the kernel lays it out: a page with the
 * consumer position (ours to write), a page with the producer position,
 * then the data mapped twice in a row so that a record that wraps is
 * still contiguous. Every record is an 8-byte ring header (length with a
 * busy and a discard bit) and our struct xr_copy_hdr, then the bytes. A
 * batch points straight at them; the consumer position moves only when
 * the batch is released, so the kernel cannot overwrite what Lua reads.
 * The records' mapping is a region of the batch layer (batch.c): zero
 * pages after close, so a header view a script kept never faults.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <pcap/dlt.h>
#include "err.h"
#include "xdp/xdp_int.h"
#include "../../bpf/xdp_rules.h"
#include "source/batch.h"

#define RB_HDR 8                   /* BPF_RINGBUF_HDR_SZ */
#define RB_BUSY (1u << 31)         /* BPF_RINGBUF_BUSY_BIT */
#define RB_DISCARD (1u << 30)      /* BPF_RINGBUF_DISCARD_BIT */
#define POLL_SLICE_MS 10           /* wakeups are batched: look anyway */

int xdp_copies_open(struct xdp_copies *c, int ring_fd, uint32_t size,
		    uint32_t batch_cap, struct pktsh_err *err)
{
	memset(c, 0, sizeof(*c));
	c->fd = ring_fd;
	c->size = size;
	c->page = (size_t)sysconf(_SC_PAGESIZE);
	c->cons_map = mmap(NULL, c->page, PROT_READ | PROT_WRITE, MAP_SHARED,
			   ring_fd, 0);
	if (c->cons_map == MAP_FAILED) {
		c->cons_map = NULL;
		pktsh_err_set(err, errno, "mapping the copy ring: %s", strerror(errno));
		return -1;
	}
	if (region_map(&c->prod_map, c->page + 2 * (size_t)size, PROT_READ,
		       ring_fd, (off_t)c->page, NULL)) {
		pktsh_err_set(err, errno, "mapping the copy ring: %s", strerror(errno));
		xdp_copies_close(c);
		return -1;
	}
	c->cons_pos = c->cons_map;
	c->prod_pos = (unsigned long *)c->prod_map.addr;
	c->data = c->prod_map.addr + c->page;
	c->pos = __atomic_load_n(c->cons_pos, __ATOMIC_ACQUIRE);
	if (!(c->br = batch_ring_get(batch_cap, 0, err))) {
		xdp_copies_close(c);
		return -1;
	}
	return 0;
}

void xdp_copies_release(struct xdp_copies *c)
{
	if (!c->held)
		return;
	batch_release(c->br);
	__atomic_store_n(c->cons_pos, c->pos, __ATOMIC_RELEASE);
	c->held = 0;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC: bpf_ktime_get_ns() to wall clock. */
static int64_t mono_to_wall(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000 +
	       ((int64_t)r.tv_nsec - m.tv_nsec);
}

/* Walks the records the kernel has committed, up to the batch's room. */
static void walk(struct xdp_copies *c)
{
	unsigned long prod = __atomic_load_n(c->prod_pos, __ATOMIC_ACQUIRE);
	unsigned long mask = c->size - 1;
	struct pktsh_batch *b = c->br->batch;
	int64_t off = mono_to_wall();

	while (c->pos < prod && b->count < b->cap) {
		uint8_t *rec = c->data + (c->pos & mask);
		uint32_t len = __atomic_load_n((uint32_t *)rec, __ATOMIC_ACQUIRE);
		const struct xr_copy_hdr *h;
		struct pktsh_pkt *p;

		if (len & RB_BUSY)
			break;                   /* reserved, not committed yet */
		c->pos += (RB_HDR + (len & ~(RB_BUSY | RB_DISCARD)) + 7) & ~7ul;
		c->held = 1;
		if ((len & RB_DISCARD) || len < sizeof(*h))
			continue;
		h = (const struct xr_copy_hdr *)(rec + RB_HDR);
		p = batch_add(c->br);
		p->data = (const uint8_t *)(h + 1);
		p->caplen = h->caplen;
		if (p->caplen > len - sizeof(*h))
			p->caplen = len - sizeof(*h);
		p->len = h->len;
		p->ts = (int64_t)h->ktime_ns + off;
		p->tsrc = PKTSH_TSRC_XDP;
		p->ifindex = h->ifindex;
		p->linktype = DLT_EN10MB;
		c->stats.bytes += h->len;
	}
}

int xdp_copies_next(struct xdp_copies *c, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err)
{
	int waited = 0;

	xdp_copies_release(c);
	batch_begin(c->br);
	*out = c->br->batch;
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int slice, n;

		walk(c);
		if (batch_end(c->br, err)) {
			xdp_copies_release(c);
			return -1;
		}
		if ((*out)->count) {
			c->stats.received += (*out)->count;
			c->stats.packets += (*out)->count;
			c->stats.batches++;
			return (int)(*out)->count;
		}
		xdp_copies_release(c);           /* skipped discarded records */
		if (waited >= timeout_ms)
			return 0;
		slice = timeout_ms - waited < POLL_SLICE_MS ?
			timeout_ms - waited : POLL_SLICE_MS;
		n = poll(&pfd, 1, slice);
		if (n < 0 && errno == EINTR)
			return 0;
		if (n < 0) {
			pktsh_err_set(err, errno, "poll on the copy ring: %s",
				      strerror(errno));
			return -1;
		}
		waited += slice;
		if (pktsh_stopping())
			return 0;
	}
}

void xdp_copies_close(struct xdp_copies *c)
{
	if (c->br && c->cons_map)
		xdp_copies_release(c);
	if (c->cons_map)
		munmap(c->cons_map, c->page);
	region_put(&c->prod_map);
	batch_ring_put(c->br);
	c->cons_map = NULL;
	c->br = NULL;
}
