/*
 * sender.c - sending whole Ethernet frames on one interface.
 *
 * An AF_PACKET SOCK_RAW socket bound to the interface. Bulk sends go
 * through a PACKET_TX_RING (TPACKET_V2) with PACKET_QDISC_BYPASS: the
 * frame is copied into ring slots, one send(2) hands a whole run of
 * slots to the kernel, and the blocking send returns once every slot
 * has been transmitted (or dropped by the driver, see below). Frames too
 * big for a slot, or a kernel without TX rings, use send(2) per frame.
 *
 * A driver that drops a frame (a full veth backlog answers ENOBUFS)
 * leaves the slot pending; the sender yields and retries, so a frame
 * counted as sent was accepted by the driver. Only when the device
 * refuses for a long time (SEND_GIVEUP_NS) are the remaining frames
 * counted as errors.
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "err.h"

#define TX_FRAME_SIZE 2048u
#define TX_BLOCK_SIZE (64u * 1024u)
#define TX_BLOCK_NR 16u
#define SEND_GIVEUP_NS (2LL * 1000000000LL)

struct pktsh_sender {
	int fd;
	int ifindex;
	char ifname[IF_NAMESIZE];
	uint8_t *ring;            /* TX ring mapping, or NULL */
	size_t ring_len;
	uint32_t frame_nr;
	uint32_t head;            /* next slot to fill */
	int ring_off;             /* ring unusable: send(2) per frame */
	int bypass;
	struct pktsh_sender_stats st;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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

/* Sets up the TX ring; 0 on success, -1 (ring left unset) otherwise. */
static int setup_tx_ring(struct pktsh_sender *s)
{
	int v = TPACKET_V2;
	struct tpacket_req req;
	void *m;

	if (setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = TX_BLOCK_SIZE;
	req.tp_block_nr = TX_BLOCK_NR;
	req.tp_frame_size = TX_FRAME_SIZE;
	req.tp_frame_nr = TX_BLOCK_SIZE / TX_FRAME_SIZE * TX_BLOCK_NR;
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

int pktsh_sender_open(struct pktsh_sender **out, const char *ifname,
		      const struct pktsh_sender_opts *opts,
		      struct pktsh_err *err)
{
	struct pktsh_sender *s;
	struct sockaddr_ll sll;
	unsigned idx;
	int e;

	*out = NULL;
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		pktsh_err_set(err, EINVAL, "'%s' is not a valid interface name",
			      ifname ? ifname : "(null)");
		return -1;
	}
	idx = if_nametoindex(ifname);
	if (idx == 0) {
		e = errno;
		if (e == ENODEV || e == ENXIO || e == 0)
			pktsh_err_set(err, ENODEV, "no such network interface '%s'", ifname);
		else
			pktsh_err_set(err, e, "cannot look up interface '%s': %s",
				      ifname, strerror(e));
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
	if (!opts || opts->tx_ring)
		setup_tx_ring(s);   /* optional: send(2) per frame without it */
	if (opts && opts->qdisc_bypass) {
		int one = 1;
		/* Not fatal: without it frames go through the device's qdisc. */
		if (setsockopt(s->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) == 0)
			s->bypass = 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = s->ifindex;
	if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		e = errno;
		if (e == ENODEV)
			pktsh_err_set(err, e, "no such network interface '%s'", ifname);
		else
			set_sock_err(err, e, "bind", ifname);
		pktsh_sender_close(s);
		return -1;
	}
	*out = s;
	return 0;
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
			s->st.packets++;
			s->st.bytes += len;
			stuck = 0;
			continue;
		}
		e = errno;
		if (e == 0)          /* the kernel took none of it */
			e = EMSGSIZE;
		if (transient(e)) {
			int64_t now = mono_ns();
			if (!stuck)
				stuck = now;
			if (now - stuck < SEND_GIVEUP_NS) {
				sched_yield();
				continue;
			}
		}
		s->st.errors += count - sent;
		send_error(s, e, err);
		break;
	}
	if (sent == 0 && e)
		return -1;
	return (int)sent;
}

static inline struct tpacket2_hdr *slot(struct pktsh_sender *s, uint32_t i)
{
	return (struct tpacket2_hdr *)(s->ring + (size_t)i * TX_FRAME_SIZE);
}

/*
 * Hands the batch of slots queued from `start` to the kernel and waits
 * until none is pending. Returns 0, or -1 with errno when the device kept
 * refusing: the slots the kernel had not taken are then released (their
 * number in *lost) and our head moves back to the first of them, where
 * the kernel's own head stopped. A slot still in flight after that makes
 * the sender stop using the ring.
 */
static int flush_ring(struct pktsh_sender *s, uint32_t start, uint32_t batch,
		      uint32_t *lost)
{
	int64_t stuck = 0;
	uint32_t i;
	int e, moved = 0;

	*lost = 0;
	for (;;) {
		if (send(s->fd, NULL, 0, 0) >= 0) {
			/* A blocking send returns when no slot is pending. */
			for (i = 0; i < batch; i++)
				if (slot(s, (start + i) % s->frame_nr)->tp_status != TP_STATUS_AVAILABLE)
					break;
			if (i == batch)
				return 0;
			e = EAGAIN;
		} else {
			e = errno;
		}
		if (transient(e)) {
			int64_t now = mono_ns();
			if (!stuck)
				stuck = now;
			if (now - stuck < SEND_GIVEUP_NS && !pktsh_stopping()) {
				if (e == EAGAIN) {
					struct pollfd p = { .fd = s->fd, .events = POLLOUT };
					poll(&p, 1, 1);
				} else {
					sched_yield();
				}
				continue;
			}
		}
		/* Give up: release what the kernel has not taken. */
		for (i = 0; i < batch; i++) {
			uint32_t k = (start + i) % s->frame_nr;
			struct tpacket2_hdr *h = slot(s, k);
			uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

			if (st == TP_STATUS_AVAILABLE)
				continue;
			if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_WRONG_FORMAT)) {
				if (!moved) {
					s->head = k;
					moved = 1;
				}
				(*lost)++;
				__atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
			} else {
				s->ring_off = 1;   /* in flight: never reuse it */
			}
		}
		errno = e;
		return -1;
	}
}

static int send_ring(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		     uint32_t count, struct pktsh_err *err)
{
	uint32_t queued = 0, done = 0, lost, sent = 0;
	const size_t off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	int failed = 0;

	while (done < count) {
		uint32_t batch = count - done;

		if (batch > s->frame_nr)
			batch = s->frame_nr;
		uint32_t start = s->head;

		for (queued = 0; queued < batch; queued++) {
			struct tpacket2_hdr *h = slot(s, s->head);

			memcpy((uint8_t *)h + off, data, len);
			h->tp_len = len;
			h->tp_snaplen = len;
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			s->head = (s->head + 1) % s->frame_nr;
		}
		done += batch;
		if (flush_ring(s, start, batch, &lost) < 0) {
			int e = errno;
			sent += batch - lost;
			s->st.packets += batch - lost;
			s->st.bytes += (uint64_t)(batch - lost) * len;
			s->st.errors += lost + (count - done);
			send_error(s, e, err);
			failed = 1;
			break;
		}
		sent += batch;
		s->st.packets += batch;
		s->st.bytes += (uint64_t)batch * len;
		if (pktsh_stopping())
			break;
	}
	if (failed && sent == 0)
		return -1;
	return (int)sent;
}

/* The kernel takes MTU + the Ethernet header (+ 4 for an 802.1Q tag). */
static int too_long(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		    struct pktsh_err *err)
{
	struct ifreq ifr;
	uint32_t max;
	uint16_t type = (uint16_t)(data[12] << 8 | data[13]);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", s->ifname);
	if (ioctl(s->fd, SIOCGIFMTU, &ifr) < 0)
		return 0;                /* let the kernel judge */
	max = (uint32_t)ifr.ifr_mtu + ETH_HLEN;
	if (type == ETH_P_8021Q || type == ETH_P_8021AD)
		max += 4;
	if (len <= max)
		return 0;
	pktsh_err_set(err, EMSGSIZE, "cannot send on %s: a %u-byte frame is longer "
		      "than the MTU (%d) allows (%u bytes)", s->ifname, len,
		      ifr.ifr_mtu, max);
	return 1;
}

int pktsh_sender_send(struct pktsh_sender *s, const uint8_t *data, uint32_t len,
		      uint32_t count, struct pktsh_err *err)
{
	if (!s || s->fd < 0) {
		pktsh_err_set(err, EBADF, "sender is closed");
		return -1;
	}
	if (len < ETH_HLEN) {
		pktsh_err_set(err, EINVAL, "a frame needs at least %d bytes (an "
			      "Ethernet header), not %u", ETH_HLEN, len);
		return -1;
	}
	if (count > INT_MAX)
		count = INT_MAX;
	if (count == 0)
		return 0;
	if (too_long(s, data, len, err))
		return -1;
	if (s->ring && !s->ring_off && len + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) <= TX_FRAME_SIZE)
		return send_ring(s, data, len, count, err);
	return send_plain(s, data, len, count, err);
}

int pktsh_sender_stats(const struct pktsh_sender *s, struct pktsh_sender_stats *out)
{
	*out = s->st;
	return 0;
}

int pktsh_sender_info(const struct pktsh_sender *s, struct pktsh_sender_info *out)
{
	memset(out, 0, sizeof(*out));
	out->ifindex = (uint32_t)s->ifindex;
	out->fd = s->fd;
	out->tx_ring = s->ring != NULL && !s->ring_off;
	out->qdisc_bypass = s->bypass;
	out->max_ring_frame = s->ring ? TX_FRAME_SIZE - (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)) : 0;
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
	free(s);
}
