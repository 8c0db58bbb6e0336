/*
 * xsktx.c - sending on an AF_XDP socket: descriptors into the TX ring,
 * the kick that starts it, and the completion ring that gives the frames
 * back (xsk.h says where a frame can be).
 *
 * A packet a socket of the same UMEM received, still in that socket's
 * current batch, is sent as it is: its frame leaves the batch for the TX
 * ring (zero-copy forward), and comes back through this socket's
 * completion ring. Any other packet (another UMEM's, a copy, a file's)
 * and bytes from Lua are copied into a free frame. Kicks are batched: the
 * TX ring is started every KICK_EVERY frames, at the end of a forwarded
 * batch, before the next batch is taken and on flush.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "err.h"
#include "source/xsk.h"

#define KICK_EVERY 64
#define KICK_TRIES 64             /* sendto() rounds without progress */
#define CACHE_BATCH 32

static void cache_put(struct pktsh_xsk *s, const uint64_t *addr, uint32_t n)
{
	uint32_t room = 64 - s->ncache, k = n < room ? n : room;

	memcpy(s->cache + s->ncache, addr, k * sizeof(*addr));
	s->ncache += k;
	if (k < n)
		xsk_frames_give(s->u, addr + k, n - k);
}

uint32_t xsk_complete(struct pktsh_xsk *s)
{
	uint64_t fmask = s->u->frame_size - 1, buf[64];
	uint32_t idx, n, i, total = 0;

	while ((n = xsk_ring_cons__peek(s->comp, 64, &idx)) > 0) {
		for (i = 0; i < n; i++)
			buf[i] = *xsk_ring_cons__comp_addr(s->comp, idx + i) & ~fmask;
		xsk_ring_cons__release(s->comp, n);
		cache_put(s, buf, n);
		total += n;
	}
	s->in_flight -= total < s->in_flight ? total : s->in_flight;
	s->stats.tx_completed += total;
	return total;
}

/* Whether the kernel has taken every descriptor of the TX ring. */
static int tx_empty(struct pktsh_xsk *s)
{
	return xsk_prod_nb_free(&s->tx, s->info.tx_size) == s->info.tx_size;
}

static int kick_fail(struct pktsh_xsk *s, int e, struct pktsh_err *err)
{
	char name[IF_NAMESIZE] = "?";

	if_indextoname(s->info.ifindex, name);
	pktsh_err_set(err, e, "sending on AF_XDP socket '%s' queue %u: %s", name,
		      s->info.queue, e == ENETDOWN ? "the interface is down" : strerror(e));
	return -1;
}

int xsk_kick(struct pktsh_xsk *s, struct pktsh_err *err)
{
	int idle = 0;

	s->queued = 0;
	/* A zero-copy driver that is running needs no system call. */
	while (xsk_ring_prod__needs_wakeup(&s->tx) && !tx_empty(s)) {
		s->stats.kicks++;
		if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
			idle = 0;
			if (s->info.zerocopy)
				break;            /* the driver goes on by itself */
			continue;
		}
		switch (errno) {
		case EBUSY:                       /* the driver dropped a frame */
			s->stats.tx_dropped++;
			break;
		case EAGAIN:                      /* more to send, or no room for completions */
		case EINTR:
		case ENOBUFS:
			if (!xsk_complete(s) && ++idle >= KICK_TRIES)
				return 0;         /* the next kick goes on */
			if (idle > 4)
				sched_yield();
			break;
		default:
			return kick_fail(s, errno, err);
		}
	}
	return 0;
}

/* Waits, kicking and taking completions, until ready(s) or timeout_ms
 * passes: 1, 0 (timeout or interrupt), -1 with err. */
static int wait_for(struct pktsh_xsk *s, int (*ready)(struct pktsh_xsk *),
		    int32_t timeout_ms, struct pktsh_err *err)
{
	int64_t until = 0;

	for (;;) {
		if (ready(s))
			return 1;
		xsk_complete(s);
		if (xsk_kick(s, err))
			return -1;
		if (ready(s))
			return 1;
		if (!until)
			until = pktsh_mono_ns() + (int64_t)timeout_ms * 1000000;
		else if (pktsh_mono_ns() >= until || pktsh_stopping())
			return 0;
		poll(&(struct pollfd){ .fd = s->fd, .events = POLLOUT }, 1, 1);
	}
}

static int has_slot(struct pktsh_xsk *s)
{
	return xsk_prod_nb_free(&s->tx, 1) >= 1;
}

static int has_frame(struct pktsh_xsk *s)
{
	if (!s->ncache)
		s->ncache = xsk_frames_take(s->u, s->cache, CACHE_BATCH, 0);
	return s->ncache > 0;
}

/* Puts one descriptor in the TX ring (a slot is free). */
static void tx_put(struct pktsh_xsk *s, uint64_t addr, uint32_t len)
{
	struct xdp_desc *d;
	uint32_t idx = 0;

	xsk_ring_prod__reserve(&s->tx, 1, &idx);
	d = xsk_ring_prod__tx_desc(&s->tx, idx);
	d->addr = addr;
	d->len = len;
	d->options = 0;
	xsk_ring_prod__submit(&s->tx, 1);
	s->in_flight++;
	s->stats.tx_packets++;
	s->stats.tx_bytes += len;
	s->queued++;
}

/* Copies len bytes into a free frame and queues it: 1, 0 after the
 * timeout, -1 with err. */
static int tx_copy(struct pktsh_xsk *s, const uint8_t *data, uint32_t len,
		   int32_t timeout_ms, struct pktsh_err *err)
{
	int rc;

	if (len > s->u->frame_size) {
		s->stats.tx_dropped++;
		pktsh_err_set(err, EMSGSIZE, "a frame of %u bytes does not fit in one "
			      "UMEM frame (frame_size %u)", len, s->u->frame_size);
		return -1;
	}
	rc = wait_for(s, has_frame, timeout_ms, err);
	if (rc > 0)
		rc = wait_for(s, has_slot, timeout_ms, err);
	if (rc <= 0) {
		if (!rc)
			s->stats.tx_dropped++;
		return rc;
	}
	s->ncache--;
	memcpy(s->u->mem.addr + s->cache[s->ncache], data, len);
	tx_put(s, s->cache[s->ncache], len);
	return 1;
}

/* The socket of s's UMEM whose current batch holds descriptor p, with
 * p's index in that batch in *idx; NULL if none does. Only the thread
 * that received p can hold it, so the batch read is that thread's own. */
static struct pktsh_xsk *holder(struct pktsh_xsk *s, const struct pktsh_pkt *p,
				uint32_t *idx)
{
	struct pktsh_xsk_umem *u = s->u;
	struct pktsh_xsk *h = NULL;
	uintptr_t a = (uintptr_t)p;

	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < u->nsocks && !h; i++) {
		struct pktsh_xsk *c = u->socks[i];
		uintptr_t w = (uintptr_t)batch_window(c->br);
		uintptr_t n = c->nheld;

		if (a >= w && a < w + n * sizeof(*p) && (a - w) % sizeof(*p) == 0) {
			h = c;
			*idx = (uint32_t)((a - w) / sizeof(*p));
		}
	}
	pthread_mutex_unlock(&u->lock);
	return h;
}

int pktsh_xsk_forward(struct pktsh_xsk *s, const struct pktsh_pkt *pkts, uint32_t n,
		      int32_t timeout_ms, struct pktsh_err *err)
{
	struct pktsh_xsk *h = NULL;
	uint32_t i, j = 0;
	int rc;

	if (n && pkts[0].l2state != PKTSH_PKT_STALE)
		h = holder(s, &pkts[0], &j);
	for (i = 0; i < n; i++, j++) {
		const struct pktsh_pkt *p = &pkts[i];

		if (p->l2state == PKTSH_PKT_STALE) {
			pktsh_err_set(err, EINVAL, "packet %u was released with its "
				      "batch (keep it with pkt:copy())", i + 1);
			return i ? (int)i : -1;
		}
		if (h && j < h->nheld && !h->given[j]) {
			rc = wait_for(s, has_slot, timeout_ms, err);
			if (rc <= 0) {
				s->stats.tx_dropped += rc ? 0 : n - i;
				return rc < 0 && !i ? -1 : (int)i;
			}
			h->given[j] = 1;
			tx_put(s, h->held[j], p->caplen);
			s->stats.tx_zerocopy++;
		} else {
			rc = tx_copy(s, p->data, p->caplen, timeout_ms, err);
			if (rc <= 0)
				return rc < 0 && !i ? -1 : (int)i;
		}
		if (s->queued >= KICK_EVERY && xsk_kick(s, err))
			return (int)i + 1;
	}
	if (n > 1 && xsk_kick(s, err))
		return -1;
	return (int)n;
}

int pktsh_xsk_send(struct pktsh_xsk *s, const uint8_t *data, uint32_t len,
		   int32_t timeout_ms, struct pktsh_err *err)
{
	int rc = tx_copy(s, data, len, timeout_ms, err);

	if (rc > 0 && s->queued >= KICK_EVERY && xsk_kick(s, err))
		return -1;
	return rc;
}

static int all_done(struct pktsh_xsk *s)
{
	return !s->in_flight;
}

int pktsh_xsk_flush(struct pktsh_xsk *s, int32_t timeout_ms, struct pktsh_err *err)
{
	if (xsk_kick(s, err))
		return -1;
	xsk_complete(s);
	if (timeout_ms > 0 && s->in_flight && wait_for(s, all_done, timeout_ms, err) < 0)
		return -1;
	return (int)s->in_flight;
}
