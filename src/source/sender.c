/*
 * sender.c - sending whole Ethernet frames on one interface.
 *
 * An AF_PACKET SOCK_RAW socket bound to the interface. Bulk sends go
 * through a PACKET_TX_RING (TPACKET_V2): frames are copied into ring
 * slots (queued), one send(2) hands the whole run of queued slots to the
 * kernel (a flush), and the blocking send returns once every slot has
 * been transmitted (or dropped by the driver, see below). Frames too big
 * for a slot, or a kernel without TX rings, use send(2) per frame.
 *
 * A driver that drops a frame (a full veth backlog answers ENOBUFS)
 * leaves the slot pending; the sender yields and retries, so a frame
 * counted as sent was accepted by the driver. Only when the device
 * refuses for a long time (SEND_GIVEUP_NS) are the remaining frames
 * counted as errors.
 *
 * Frames are numbered in the order the driver accepted them (ids, from
 * 0); transmit stamps (txstamp.c) come back under those numbers.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "err.h"
#include "source/tstamp.h"
#include "source/txstamp.h"

#define TX_FRAME_SIZE 2048u
#define TX_FRAMES_DEFAULT 512u
#define TX_FRAMES_MAX 65536u
#define TX_BLOCK_SIZE (64u * 1024u)
#define SLOT_DATA (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define SEND_GIVEUP_NS (2LL * 1000000000LL)
#define PLAIN_DRAIN_EVERY 64

struct pktsh_sender {
	int fd;
	int ifindex;
	char ifname[IF_NAMESIZE];
	uint8_t *ring;            /* TX ring mapping, or NULL */
	size_t ring_len;
	uint32_t frame_nr;
	uint32_t head;            /* next slot to fill */
	uint32_t queued;          /* slots filled since the last flush */
	int ring_off;             /* ring unusable: send(2) per frame */
	int bypass;
	uint32_t max_len;         /* longest frame the MTU allows (untagged) */
	uint64_t id_next;         /* the id of the next frame accepted */
	struct txstamp *ts;       /* transmit stamps, or NULL */
	int tsmode, swhw;
	uint32_t plain_sends;     /* since the last drain of the error queue */
	struct pktsh_sender_stats st;
};

static void set_sock_err(struct pktsh_err *err, int e, const char *what,
			 const char *ifname)
{
	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "sending on %s needs CAP_NET_RAW: run pktsh as "
			      "root (-Z USER gives root up once the sender is open) "
			      "or from a service with AmbientCapabilities=CAP_NET_RAW",
			      ifname);
	else
		pktsh_err_set(err, e, "%s on %s: %s", what, ifname, strerror(e));
}

/* Sets up the TX ring of nr slots; 0 on success, -1 (ring left unset)
 * otherwise. */
static int setup_tx_ring(struct pktsh_sender *s, uint32_t nr)
{
	uint32_t per_block = TX_BLOCK_SIZE / TX_FRAME_SIZE;
	int v = TPACKET_V2;
	struct tpacket_req req;
	void *m;

	if (setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = TX_BLOCK_SIZE;
	req.tp_block_nr = (nr + per_block - 1) / per_block;
	req.tp_frame_size = TX_FRAME_SIZE;
	req.tp_frame_nr = req.tp_block_nr * per_block;
	if (setsockopt(s->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0)
		return -1;
	m = mmap(NULL, (size_t)req.tp_block_size * req.tp_block_nr,
		 PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	s->ring = m;
	s->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	s->frame_nr = req.tp_frame_nr;
	return 0;
}

/* The interface's MTU plus an Ethernet header: 0 if it cannot be read. */
static uint32_t mtu_frame(struct pktsh_sender *s)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", s->ifname);
	if (ioctl(s->fd, SIOCGIFMTU, &ifr) < 0)
		return 0;
	return (uint32_t)ifr.ifr_mtu + ETH_HLEN;
}

static int open_stamps(struct pktsh_sender *s, int mode, struct pktsh_err *err)
{
	if (mode == PKTSH_TXTS_NONE)
		return 0;
	if (mode < 0 || mode > PKTSH_TXTS_BOTH) {
		pktsh_err_set(err, EINVAL, "unknown transmit stamp mode %d", mode);
		return -1;
	}
	if ((mode == PKTSH_TXTS_HW || mode == PKTSH_TXTS_BOTH) &&
	    tstamp_hw_enable(s->ifname, 1, 0, err))
		return -1;
	s->ts = txstamp_open(s->fd, mode, s->ifname, &s->swhw, err);
	if (!s->ts)
		return -1;
	s->tsmode = mode;
	return 0;
}

static int lookup(const char *ifname, unsigned *idx, struct pktsh_err *err)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		pktsh_err_set(err, EINVAL, "'%s' is not a valid interface name",
			      ifname ? ifname : "(null)");
		return -1;
	}
	*idx = if_nametoindex(ifname);
	if (*idx == 0) {
		int e = errno;

		if (e == ENODEV || e == ENXIO || e == 0)
			pktsh_err_set(err, ENODEV, "no such network interface '%s'", ifname);
		else
			pktsh_err_set(err, e, "cannot look up interface '%s': %s",
				      ifname, strerror(e));
		return -1;
	}
	return 0;
}

static int bind_to(struct pktsh_sender *s, struct pktsh_err *err)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = s->ifindex;
	if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) == 0)
		return 0;
	if (errno == ENODEV)
		pktsh_err_set(err, errno, "no such network interface '%s'", s->ifname);
	else
		set_sock_err(err, errno, "bind", s->ifname);
	return -1;
}

int pktsh_sender_open(struct pktsh_sender **out, const char *ifname,
		      const struct pktsh_sender_opts *opts,
		      struct pktsh_err *err)
{
	struct pktsh_sender *s;
	uint32_t nr = opts && opts->ring_frames ? opts->ring_frames : TX_FRAMES_DEFAULT;
	unsigned idx;

	*out = NULL;
	if (lookup(ifname, &idx, err))
		return -1;
	if (nr > TX_FRAMES_MAX) {
		pktsh_err_set(err, EINVAL, "ring_frames %u is over %u", nr, TX_FRAMES_MAX);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	s->fd = -1;                     /* not 0 (standard input) until a socket */
	s->ifindex = (int)idx;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	/* Protocol 0: the socket receives nothing, it only sends. */
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		set_sock_err(err, errno, "socket(AF_PACKET)", ifname);
		free(s);
		return -1;
	}
	/* Stamps first: OPT_ID numbers skbs from when it is set. */
	if (open_stamps(s, opts ? opts->tstamp : 0, err))
		goto fail;
	if (!opts || opts->tx_ring)
		setup_tx_ring(s, nr);   /* optional: send(2) per frame without it */
	if (opts && opts->qdisc_bypass) {
		int one = 1;
		/* Not fatal: without it frames go through the device's qdisc. */
		if (setsockopt(s->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) == 0)
			s->bypass = 1;
	}
	if (bind_to(s, err))
		goto fail;
	s->max_len = mtu_frame(s);
	*out = s;
	return 0;
fail:
	pktsh_sender_close(s);
	return -1;
}

static void send_error(struct pktsh_sender *s, int e, struct pktsh_err *err)
{
	if (e == ENETDOWN)
		pktsh_err_set(err, e, "cannot send on %s: the interface is down", s->ifname);
	else if (e == EMSGSIZE)
		pktsh_err_set(err, e, "cannot send on %s: frame longer than the "
			      "interface's MTU allows", s->ifname);
	else if (e == ENXIO || e == ENODEV)
		pktsh_err_set(err, e, "cannot send on %s: the interface is gone", s->ifname);
	else
		set_sock_err(err, e, "send", s->ifname);
}

/* Errors worth waiting out: the device or its peer is momentarily full. */
static int transient(int e)
{
	return e == ENOBUFS || e == EAGAIN || e == EINTR;
}

/* While the device keeps refusing: 1 to try again (after a yield or a
 * short wait), 0 to give up (SEND_GIVEUP_NS of refusals, or a stop). */
static int wait_out(struct pktsh_sender *s, int e, int64_t *stuck)
{
	int64_t now = pktsh_mono_ns();

	if (!transient(e))
		return 0;
	if (!*stuck)
		*stuck = now;
	if (now - *stuck >= SEND_GIVEUP_NS || pktsh_stopping())
		return 0;
	if (e == EAGAIN) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };
		poll(&p, 1, 1);
	} else {
		sched_yield();
	}
	return 1;
}

static void accepted(struct pktsh_sender *s, uint32_t n, uint64_t bytes)
{
	s->id_next += n;
	s->st.packets += n;
	s->st.bytes += bytes;
	if (s->ts)
		txstamp_sent(s->ts, n);
}

/* A send the device dropped (ENOBUFS): the kernel numbered an skb that
 * no frame keeps; the frame goes again. */
static void dropped_attempt(struct pktsh_sender *s)
{
	s->st.retries++;
	if (s->ts)
		txstamp_wasted(s->ts);
}

static void drain_stamps(struct pktsh_sender *s)
{
	if (s->ts)
		txstamp_drain(s->ts, s->fd, 0);
}

/* One frame at a time through send(2). */
static int send_plain(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		      uint32_t count, struct pktsh_err *err)
{
	uint32_t sent = 0;
	int64_t stuck = 0;
	int e = 0;

	while (sent < count) {
		if (pktsh_stopping())
			break;
		errno = 0;
		if (send(s->fd, data, len, 0) == (ssize_t)len) {
			sent++;
			accepted(s, 1, len);
			stuck = 0;
			if (s->ts && ++s->plain_sends % PLAIN_DRAIN_EVERY == 0)
				drain_stamps(s);
			continue;
		}
		e = errno;
		if (e == 0)          /* the kernel took none of it */
			e = EMSGSIZE;
		if (e == ENOBUFS)
			dropped_attempt(s);
		if (wait_out(s, e, &stuck))
			continue;
		s->st.errors += count - sent;
		send_error(s, e, err);
		break;
	}
	if (s->ts)
		drain_stamps(s);
	if (sent == 0 && e)
		return -1;
	return (int)sent;
}

static inline struct tpacket2_hdr *slot(struct pktsh_sender *s, uint32_t i)
{
	return (struct tpacket2_hdr *)(s->ring + (size_t)i * TX_FRAME_SIZE);
}

static inline uint32_t slot_status(struct pktsh_sender *s, uint32_t i)
{
	return __atomic_load_n(&slot(s, i)->tp_status, __ATOMIC_ACQUIRE);
}

static void fill_slot(struct pktsh_sender *s, const uint8_t *data, uint32_t len)
{
	struct tpacket2_hdr *h = slot(s, s->head);

	memcpy((uint8_t *)h + SLOT_DATA, data, len);
	h->tp_len = len;
	h->tp_snaplen = len;
	__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	s->head = (s->head + 1) % s->frame_nr;
	s->queued++;
}

/* How many of the n slots from start the kernel has taken: it takes
 * them in order, puts a dropped one back to SEND_REQUEST and stops at
 * one it refuses (WRONG_FORMAT). */
static uint32_t taken(struct pktsh_sender *s, uint32_t start, uint32_t n, uint32_t from)
{
	while (from < n && !(slot_status(s, (start + from) % s->frame_nr) &
			     (TP_STATUS_SEND_REQUEST | TP_STATUS_WRONG_FORMAT)))
		from++;
	return from;
}

static int all_done(struct pktsh_sender *s, uint32_t start, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (slot_status(s, (start + i) % s->frame_nr) &
		    (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT))
			return 0;
	return 1;
}

/* Gives up on the queued slots the kernel has not taken: they go back
 * to AVAILABLE and our head to the first of them, where the kernel's own
 * head stopped. A slot still in flight makes the sender stop using the
 * ring. Returns how many were given up. */
static uint32_t give_up(struct pktsh_sender *s, uint32_t start, uint32_t n)
{
	uint32_t lost = 0;
	int moved = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (start + i) % s->frame_nr;
		struct tpacket2_hdr *h = slot(s, k);
		uint32_t st = slot_status(s, k);

		if (!(st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT)))
			continue;
		if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_WRONG_FORMAT)) {
			if (!moved) {
				s->head = k;
				moved = 1;
			}
			lost++;
			__atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
		} else {
			s->ring_off = 1;   /* in flight: never reuse it */
		}
	}
	return lost;
}

/*
 * Hands the queued slots to the kernel and waits until none is pending,
 * sending again while the device drops frames. Returns how many the
 * kernel took (in order), with *e 0, or with *e the error it gave up on
 * (the slots it had not taken are released).
 */
static uint32_t flush_ring(struct pktsh_sender *s, int *e)
{
	uint32_t n = s->queued, start = (s->head + s->frame_nr - n) % s->frame_nr;
	uint32_t done = 0, now;
	int64_t stuck = 0;

	s->queued = 0;
	for (;;) {
		ssize_t rc = send(s->fd, NULL, 0, 0);

		*e = rc < 0 ? errno : 0;
		now = taken(s, start, n, done);
		if (s->ts)
			txstamp_sent(s->ts, now - done);
		done = now;
		if (*e == ENOBUFS && done < n)
			dropped_attempt(s);
		/* A blocking send returns when no slot is pending. */
		if (!*e && done == n && all_done(s, start, n))
			return n;
		if (!*e)
			*e = EAGAIN;
		if (wait_out(s, *e, &stuck))
			continue;
		uint32_t lost = give_up(s, start, n);
		s->st.errors += lost;
		return n - lost;
	}
}

/* Sends what is queued: the number the kernel took, -1 if none was
 * when some were queued. */
static int flush_queued(struct pktsh_sender *s, struct pktsh_err *err)
{
	uint32_t n = s->queued, start = (s->head + s->frame_nr - n) % s->frame_nr;
	uint64_t bytes = 0;
	int e;

	if (!n)
		return 0;
	uint32_t sent = flush_ring(s, &e);
	for (uint32_t i = 0; i < sent; i++)
		bytes += slot(s, (start + i) % s->frame_nr)->tp_len;
	s->st.packets += sent;
	s->st.bytes += bytes;
	s->id_next += sent;
	drain_stamps(s);
	if (e)
		send_error(s, e, err);
	if (e && sent == 0)
		return -1;
	return (int)sent;
}

static int ring_fits(const struct pktsh_sender *s, uint32_t len)
{
	return s->ring && !s->ring_off && len + SLOT_DATA <= TX_FRAME_SIZE;
}

static int send_ring(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		     uint32_t count, struct pktsh_err *err)
{
	uint32_t done = 0, sent = 0;

	while (done < count) {
		uint32_t batch = count - done;

		if (batch > s->frame_nr)
			batch = s->frame_nr;
		for (uint32_t i = 0; i < batch; i++)
			fill_slot(s, data, len);
		done += batch;
		int n = flush_queued(s, err);
		if (n > 0)
			sent += (uint32_t)n;
		if (n < (int)batch) {
			s->st.errors += count - done;
			break;
		}
		if (pktsh_stopping())
			break;
	}
	if (sent == 0 && err->msg[0])
		return -1;
	return (int)sent;
}

/* 1 and a message if the frame cannot go out: shorter than an Ethernet
 * header, or longer than the MTU allows (plus 4 for an 802.1Q tag). The
 * MTU is read again before a frame is refused, in case it grew. */
static int bad_frame(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		     struct pktsh_err *err)
{
	uint32_t max;
	uint16_t type;

	if (len < ETH_HLEN) {
		pktsh_err_set(err, EINVAL, "a frame needs at least %d bytes (an "
			      "Ethernet header), not %u", ETH_HLEN, len);
		return 1;
	}
	type = (uint16_t)(data[12] << 8 | data[13]);
	for (int again = 0; again < 2; again++) {
		max = s->max_len ? s->max_len : UINT32_MAX - 4;
		if (type == ETH_P_8021Q || type == ETH_P_8021AD)
			max += 4;
		if (len <= max)
			return 0;
		if (!again)
			s->max_len = mtu_frame(s);
	}
	pktsh_err_set(err, EMSGSIZE, "cannot send on %s: a %u-byte frame is longer "
		      "than the MTU (%u) allows (%u bytes)", s->ifname, len,
		      s->max_len - ETH_HLEN, max);
	return 1;
}

static int closed(const struct pktsh_sender *s, struct pktsh_err *err)
{
	if (s && s->fd >= 0)
		return 0;
	pktsh_err_set(err, EBADF, "sender is closed");
	return 1;
}

int pktsh_sender_send(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		      uint32_t count, struct pktsh_err *err)
{
	if (closed(s, err) || bad_frame(s, data, len, err))
		return -1;
	if (count > INT_MAX)
		count = INT_MAX;
	if (count == 0)
		return 0;
	/* Frames queued before go first. */
	if (s->queued && flush_queued(s, err) < 0)
		return -1;
	err->msg[0] = '\0';
	if (ring_fits(s, len))
		return send_ring(s, data, len, count, err);
	return send_plain(s, data, len, count, err);
}

uint64_t pktsh_sender_next_id(const struct pktsh_sender *s)
{
	return s->id_next;
}

int pktsh_sender_queue(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		       struct pktsh_err *err)
{
	if (closed(s, err) || bad_frame(s, data, len, err))
		return -1;
	if (!ring_fits(s, len)) {
		if (s->queued && flush_queued(s, err) < 0)
			return -1;
		return send_plain(s, data, len, 1, err) == 1 ? 0 : -1;
	}
	if (s->queued == s->frame_nr && flush_queued(s, err) < 0)
		return -1;
	fill_slot(s, data, len);
	return 0;
}

int pktsh_sender_flush(struct pktsh_sender *s, struct pktsh_err *err)
{
	if (closed(s, err))
		return -1;
	return s->queued ? flush_queued(s, err) : 0;
}

int pktsh_sender_send_pkts(struct pktsh_sender *s, const struct pktsh_pkt *pkts,
			   uint32_t n, uint32_t *skipped, struct pktsh_err *err)
{
	uint64_t first = s ? s->id_next : 0;
	struct pktsh_err why;

	*skipped = 0;
	if (closed(s, err))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (bad_frame(s, pkts[i].data, pkts[i].caplen, &why)) {
			(*skipped)++;
			continue;
		}
		if (pktsh_sender_queue(s, pkts[i].data, pkts[i].caplen, err) < 0)
			return s->id_next > first ? (int)(s->id_next - first) : -1;
	}
	if (pktsh_sender_flush(s, err) < 0)
		return s->id_next > first ? (int)(s->id_next - first) : -1;
	return (int)(s->id_next - first);
}

int pktsh_sender_tx_stamps(struct pktsh_sender *s, struct pktsh_tx_stamp *out,
			   uint32_t cap, int32_t timeout_ms, int32_t flush,
			   struct pktsh_err *err)
{
	if (closed(s, err))
		return -1;
	if (!s->ts) {
		pktsh_err_set(err, EINVAL, "the sender on %s was opened without "
			      "tstamp: no transmit stamps", s->ifname);
		return -1;
	}
	if (txstamp_drain(s->ts, s->fd, timeout_ms)) {
		pktsh_err_set(err, errno, "reading transmit stamps on %s: %s",
			      s->ifname, strerror(errno));
		return -1;
	}
	return (int)txstamp_take(s->ts, out, cap, flush);
}

int pktsh_sender_stats(const struct pktsh_sender *s, struct pktsh_sender_stats *out)
{
	*out = s->st;
	if (s->ts)
		txstamp_counts(s->ts, &out->stamps, &out->stamps_lost);
	return 0;
}

int pktsh_sender_info(const struct pktsh_sender *s, struct pktsh_sender_info *out)
{
	memset(out, 0, sizeof(*out));
	out->ifindex = (uint32_t)s->ifindex;
	out->fd = s->fd;
	out->tx_ring = s->ring != NULL && !s->ring_off;
	out->qdisc_bypass = s->bypass;
	out->max_ring_frame = s->ring ? TX_FRAME_SIZE - SLOT_DATA : 0;
	out->ring_frames = s->ring ? s->frame_nr : 0;
	out->tstamp = s->tsmode;
	out->swhw = s->swhw;
	return 0;
}

void pktsh_sender_close(struct pktsh_sender *s)
{
	if (!s)
		return;
	if (s->ring)
		munmap(s->ring, s->ring_len);
	if (s->fd >= 0)
		close(s->fd);
	txstamp_close(s->ts);
	free(s);
}
