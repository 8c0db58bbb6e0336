/*
 * txstamp.c - transmit stamps from a sending socket's error queue.
 *
 * With SOF_TIMESTAMPING_OPT_ID the kernel numbers every skb it makes for
 * the socket (sk_tskey, from 0 when the option is set; 32 bits) and puts
 * that number (the key) in each stamp's sock_extended_err.ee_data; with
 * OPT_TSONLY the stamp comes without the frame's bytes. The sender
 * numbers the frames the driver accepted (ids). The two agree until the
 * device drops an attempt: that attempt took a key, the frame is sent
 * again and takes the next one. The sender reports each such attempt
 * (txstamp_wasted) and the keys they took are kept, as runs (a retry
 * loop wastes keys one after the other, thousands while a stamp is still
 * on its way), so a key maps back to its id: id = key - (keys wasted
 * below it), and a stamp for a wasted key (veth stamps before it
 * forwards) is dropped.
 *
 * The error queue is charged to the socket's receive buffer: at the
 * default size it holds about 250 stamps and the kernel drops the rest
 * silently. So the queue is made larger (SO_RCVBUFFORCE), and the sender
 * drains it after every batch into a ring of records of its own
 * (PKTSH_TXTS_KEEP), which the user takes at leisure; only that ring
 * overflowing loses records, and those are counted.
 *
 * With both stamps asked for, the kernel queues two messages per frame
 * (software, then hardware); a record waits in `pend` (by id) for the
 * second, PEND_AGE_NS at most.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/errqueue.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include "err.h"
#include "source/tstamp.h"
#include "source/txstamp.h"

#define WASTE_KEEP 4096u
#define PEND 4096u
#define PEND_AGE_NS 100000000LL
#define RECV_BATCH 64
#define CTL_LEN 256
#define ERRQ_BYTES (8 << 20)

/* Keys first .. first + len - 1 were wasted; `before` were wasted ahead
 * of them (since the socket opened). */
struct waste_run {
	uint64_t first, len, before;
};

struct pend {
	struct pktsh_tx_stamp r;
	int64_t first;            /* mono ns of its first stamp; 0: slot free */
};

struct txstamp {
	int mode;                 /* enum pktsh_txts */
	uint64_t key_next;        /* the key the kernel gives next */
	struct waste_run waste[WASTE_KEEP];  /* ascending, a ring of the latest */
	uint32_t waste_first, nwaste;
	uint64_t wasted;          /* keys wasted in all */
	struct pktsh_tx_stamp *ready; /* PKTSH_TXTS_KEEP of them, a ring */
	uint64_t head, tail;      /* records [head, tail) are ready */
	struct pend *pend;        /* BOTH only */
	uint32_t npend;
	uint64_t taken, lost;
	struct mmsghdr msg[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	uint8_t scratch[RECV_BATCH][64];
	uint8_t ctl[RECV_BATCH][CTL_LEN];
};

static int set_flags(int fd, int mode, int *swhw)
{
	int f = SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY |
		SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE;

	if (mode == PKTSH_TXTS_SW || mode == PKTSH_TXTS_BOTH)
		f |= SOF_TIMESTAMPING_TX_SOFTWARE;
	if (mode == PKTSH_TXTS_HW || mode == PKTSH_TXTS_BOTH)
		f |= SOF_TIMESTAMPING_TX_HARDWARE;
	*swhw = 0;
	if (mode == PKTSH_TXTS_BOTH) {
		int g = f | SOF_TIMESTAMPING_OPT_TX_SWHW;

		/* Without it (Linux < 4.12) a driver stamping in hardware
		 * leaves the software stamp out. */
		if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &g, sizeof(g)) == 0) {
			*swhw = 1;
			return 0;
		}
	}
	return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &f, sizeof(f));
}

struct txstamp *txstamp_open(int fd, int mode, const char *ifname, int *swhw,
			     struct pktsh_err *err)
{
	struct txstamp *t = calloc(1, sizeof(*t));
	int bytes = ERRQ_BYTES;

	if (t)
		t->ready = malloc(sizeof(*t->ready) * PKTSH_TXTS_KEEP);
	if (t && t->ready && mode == PKTSH_TXTS_BOTH)
		t->pend = calloc(PEND, sizeof(*t->pend));
	if (!t || !t->ready || (mode == PKTSH_TXTS_BOTH && !t->pend)) {
		txstamp_close(t);
		pktsh_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	t->mode = mode;
	if (set_flags(fd, mode, swhw)) {
		pktsh_err_set(err, errno, "transmit stamps on '%s': SO_TIMESTAMPING: %s",
			      ifname, strerror(errno));
		txstamp_close(t);
		return NULL;
	}
	/* Room for thousands of stamps between drains (FORCE needs
	 * CAP_NET_ADMIN; without it the system's rmem_max caps the size). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	for (int i = 0; i < RECV_BATCH; i++) {
		t->iov[i].iov_base = t->scratch[i];
		t->iov[i].iov_len = sizeof(t->scratch[i]);
	}
	return t;
}

void txstamp_close(struct txstamp *t)
{
	if (!t)
		return;
	free(t->ready);
	free(t->pend);
	free(t);
}

void txstamp_sent(struct txstamp *t, uint32_t n)
{
	t->key_next += n;
}

static struct waste_run *run_at(const struct txstamp *t, uint32_t i)
{
	return (struct waste_run *)&t->waste[(t->waste_first + i) % WASTE_KEEP];
}

void txstamp_wasted(struct txstamp *t)
{
	struct waste_run *last = t->nwaste ? run_at(t, t->nwaste - 1) : NULL;

	if (last && last->first + last->len == t->key_next) {
		last->len++;
	} else {
		if (t->nwaste == WASTE_KEEP) {      /* the oldest run goes */
			t->waste_first = (t->waste_first + 1) % WASTE_KEEP;
			t->nwaste--;
		}
		*run_at(t, t->nwaste++) = (struct waste_run){ t->key_next, 1, t->wasted };
	}
	t->key_next++;
	t->wasted++;
}

/* The id of key k, or -1 for a wasted key: k minus the keys wasted below
 * it (binary search for the last run starting at or below k). */
static int64_t key_id(const struct txstamp *t, uint64_t k)
{
	uint32_t lo = 0, hi = t->nwaste;
	const struct waste_run *r;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (run_at(t, mid)->first <= k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)      /* below every run kept: those before the first */
		return (int64_t)(k - (t->nwaste ? run_at(t, 0)->before : t->wasted));
	r = run_at(t, lo - 1);
	if (k < r->first + r->len)
		return -1;
	return (int64_t)(k - r->before - r->len);
}

/* The 64-bit key of a 32-bit one: the latest key given out that ends in
 * those bits. */
static uint64_t widen(const struct txstamp *t, uint32_t k32)
{
	uint32_t back = (uint32_t)t->key_next - k32;

	return t->key_next - back;
}

static void push(struct txstamp *t, const struct pktsh_tx_stamp *r)
{
	if (t->tail - t->head == PKTSH_TXTS_KEEP) {
		t->head++;                /* the oldest goes */
		t->lost++;
	}
	t->ready[t->tail++ % PKTSH_TXTS_KEEP] = *r;
}

static void pend_out(struct txstamp *t, struct pend *p)
{
	push(t, &p->r);
	p->first = 0;
	t->npend--;
}

/* BOTH: merges a stamp into its frame's record; ready once it has both. */
static void merge(struct txstamp *t, const struct pktsh_tx_stamp *r)
{
	struct pend *p = &t->pend[r->id % PEND];

	if (p->first && p->r.id != r->id)
		pend_out(t, p);               /* an older frame never got its second */
	if (!p->first) {
		p->r = *r;
		p->first = pktsh_mono_ns();
		t->npend++;
	} else {
		if (r->sw)
			p->r.sw = r->sw;
		if (r->hw)
			p->r.hw = r->hw;
	}
	if (p->r.sw && p->r.hw)
		pend_out(t, p);
}

static void one_message(struct txstamp *t, struct msghdr *m)
{
	struct pktsh_tx_stamp r = { 0 };
	int have_ts = 0, have_key = 0;
	uint32_t key = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct scm_timestamping))) {
			tstamp_scm(CMSG_DATA(c), &r.sw, &r.hw);
			have_ts = 1;
		} else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_TX_TIMESTAMP &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
			struct sock_extended_err e;

			memcpy(&e, CMSG_DATA(c), sizeof(e));
			if (e.ee_errno == ENOMSG && e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING &&
			    e.ee_info == SCM_TSTAMP_SND) {
				key = e.ee_data;
				have_key = 1;
			}
		}
	}
	if (!have_ts || !have_key || (!r.sw && !r.hw))
		return;
	int64_t id = key_id(t, widen(t, key));
	if (id < 0)
		return;                       /* a dropped attempt */
	r.id = (uint64_t)id;
	if (t->mode == PKTSH_TXTS_BOTH)
		merge(t, &r);
	else
		push(t, &r);
}

int txstamp_drain(struct txstamp *t, int fd, int timeout_ms)
{
	int first = 1;

	for (;;) {
		for (int i = 0; i < RECV_BATCH; i++) {
			struct msghdr *h = &t->msg[i].msg_hdr;

			memset(h, 0, sizeof(*h));
			h->msg_iov = &t->iov[i];
			h->msg_iovlen = 1;
			h->msg_control = t->ctl[i];
			h->msg_controllen = CTL_LEN;
		}
		int n = recvmmsg(fd, t->msg, RECV_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);

		if (n < 0 && errno == EINTR)
			return 0;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n <= 0) {
			if (!first || timeout_ms <= 0)
				return 0;
			struct pollfd p = { .fd = fd, .events = 0 };  /* POLLERR: queue not empty */
			first = 0;
			if (poll(&p, 1, timeout_ms) <= 0)
				return 0;
			continue;
		}
		first = 0;
		for (int i = 0; i < n; i++)
			one_message(t, &t->msg[i].msg_hdr);
		if (n < RECV_BATCH)
			return 0;
	}
}

static void age_pending(struct txstamp *t, int flush)
{
	int64_t old = pktsh_mono_ns() - PEND_AGE_NS;

	for (uint32_t i = 0; i < PEND && t->npend; i++)
		if (t->pend[i].first && (flush || t->pend[i].first < old))
			pend_out(t, &t->pend[i]);
}

uint32_t txstamp_take(struct txstamp *t, struct pktsh_tx_stamp *out, uint32_t cap,
		      int flush)
{
	uint32_t n = 0;

	if (t->npend)
		age_pending(t, flush);
	while (n < cap && t->head < t->tail)
		out[n++] = t->ready[t->head++ % PKTSH_TXTS_KEEP];
	t->taken += n;
	return n;
}

void txstamp_counts(const struct txstamp *t, uint64_t *taken, uint64_t *lost)
{
	*taken = t->taken;
	*lost = t->lost;
}
