/*
 * rxmsg.c - live capture with both receive stamps (tstamp = "both").
 *
 * A TPACKET_V3 ring frame has room for one stamp, and SO_TIMESTAMPING
 * does not reach ring frames (tpacket_rcv fills tp_sec/tp_nsec itself:
 * the hardware stamp if PACKET_TIMESTAMP asks for it and the packet has
 * one, else the software one). Both at once only come with recvmsg: the
 * SCM_TIMESTAMPING message of each packet carries the software stamp
 * (ts[0]) and the raw hardware stamp (ts[2]). So this receiver reads
 * with recvmmsg(2) into slots of a region, a batch of up to `n` packets
 * per call, at the price of a copy per packet (and of the kernel's
 * per-packet queueing, which a ring avoids). PACKET_AUXDATA gives what
 * the ring header would: the length on the wire and the VLAN tag the
 * kernel took out of the frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/errqueue.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include "err.h"
#include "source/ring_int.h"

#define SLOT_MAX (65535u + VLAN_TAG_LEN)
#define REGION_BYTES (4u << 20)
#define SLOTS_MIN 16u
#define SLOTS_MAX 256u
#define CTL_LEN 256

struct rxmsg {
	uint32_t n;               /* slots */
	uint32_t slot;            /* bytes per slot; data at VLAN_TAG_LEN */
	struct mmsghdr *hdr;
	struct iovec *iov;
	struct sockaddr_ll *addr;
	uint8_t *ctl;             /* n * CTL_LEN */
};

static int opt_fail(struct pktsh_ring *r, const char *what, struct pktsh_err *err)
{
	pktsh_err_set(err, errno, "capturing on '%s' with both stamps: %s: %s",
		      r->name, what, strerror(errno));
	return -1;
}

static int socket_setup(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
			struct pktsh_err *err)
{
	int ts = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
		 SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
	int one = 1;
	/* The queue holds what the ring would have (block_size * count). */
	long q = (long)(o->block_size ? o->block_size : 1u << 20) *
		 (o->block_count ? o->block_count : 32);
	int bytes = q > (1L << 30) ? 1 << 30 : (int)q;

	if (setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof(ts)))
		return opt_fail(r, "SO_TIMESTAMPING", err);
	if (setsockopt(r->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)))
		return opt_fail(r, "PACKET_AUXDATA", err);
	if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	return 0;
}

int rxmsg_setup(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
		struct pktsh_err *err)
{
	uint32_t want = r->info.snaplen + VLAN_TAG_LEN;
	struct rxmsg *m;

	if (socket_setup(r, o, err))
		return -1;
	if (!(m = calloc(1, sizeof(*m)))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	r->msg = m;
	m->slot = ((want < SLOT_MAX ? want : SLOT_MAX) + 63) & ~63u;
	m->n = REGION_BYTES / m->slot;
	m->n = m->n < SLOTS_MIN ? SLOTS_MIN : m->n > SLOTS_MAX ? SLOTS_MAX : m->n;
	m->hdr = calloc(m->n, sizeof(*m->hdr));
	m->iov = calloc(m->n, sizeof(*m->iov));
	m->addr = calloc(m->n, sizeof(*m->addr));
	m->ctl = calloc(m->n, CTL_LEN);
	if (!m->hdr || !m->iov || !m->addr || !m->ctl) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (region_get(&r->map, (size_t)m->n * m->slot, err))
		return -1;
	r->info.block_size = 0;
	r->info.block_count = 0;
	r->br = batch_ring_get(m->n, o->guard, err);
	return r->br ? 0 : -1;
}

void rxmsg_free(struct pktsh_ring *r)
{
	struct rxmsg *m = r->msg;

	if (!m)
		return;
	free(m->hdr);
	free(m->iov);
	free(m->addr);
	free(m->ctl);
	free(m);
	r->msg = NULL;
}

static void arm(struct pktsh_ring *r)
{
	struct rxmsg *m = r->msg;

	for (uint32_t i = 0; i < m->n; i++) {
		struct msghdr *h = &m->hdr[i].msg_hdr;

		m->iov[i].iov_base = r->map.addr + (size_t)i * m->slot + VLAN_TAG_LEN;
		m->iov[i].iov_len = m->slot - VLAN_TAG_LEN;
		memset(h, 0, sizeof(*h));
		h->msg_name = &m->addr[i];
		h->msg_namelen = sizeof(m->addr[i]);
		h->msg_iov = &m->iov[i];
		h->msg_iovlen = 1;
		h->msg_control = m->ctl + (size_t)i * CTL_LEN;
		h->msg_controllen = CTL_LEN;
	}
}

/* One received message into the batch: its wire bytes, or 0 if not kept. */
static uint32_t take(struct pktsh_ring *r, uint32_t i)
{
	struct rxmsg *m = r->msg;
	struct msghdr *h = &m->hdr[i].msg_hdr;
	struct tpacket_auxdata aux = { .tp_len = m->hdr[i].msg_len };
	uint32_t caplen = m->hdr[i].msg_len;
	uint8_t *data = m->iov[i].iov_base;
	int64_t sw = 0, hw = 0;
	struct pktsh_pkt *pkt;

	if (!ring_keep(r, m->addr[i].sll_pkttype))
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct scm_timestamping)))
			tstamp_scm(CMSG_DATA(c), &sw, &hw);
		else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
			 c->cmsg_len >= CMSG_LEN(sizeof(aux)))
			memcpy(&aux, CMSG_DATA(c), sizeof(aux));
	}
	if (caplen > m->iov[i].iov_len)
		caplen = (uint32_t)m->iov[i].iov_len;
	if (aux.tp_len < caplen)
		aux.tp_len = caplen;
	if ((aux.tp_status & TP_STATUS_VLAN_VALID) || aux.tp_vlan_tci) {
		uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ?
			aux.tp_vlan_tpid : ETH_P_8021Q;

		data = (uint8_t *)ring_reinsert_vlan(tpid, aux.tp_vlan_tci, data, &caplen);
		aux.tp_len += VLAN_TAG_LEN;
	}
	if (!sw && !hw)
		sw = pktsh_now_ns();      /* as tpacket_rcv does without a stamp */
	pkt = batch_add(r->br);
	pkt->data = data;
	pkt->caplen = caplen;
	pkt->len = aux.tp_len;
	ring_stamp(r, pkt, sw, hw);
	pkt->ifindex = (uint32_t)m->addr[i].sll_ifindex;
	pkt->linktype = (uint16_t)r->info.linktype;
	return aux.tp_len;
}

static int receive(struct pktsh_ring *r, struct pktsh_err *err)
{
	int n;

	arm(r);
	n = recvmmsg(r->fd, r->msg->hdr, r->msg->n, MSG_DONTWAIT, NULL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	pktsh_err_set(err, errno, "capturing on '%s': recvmmsg: %s", r->name,
		      strerror(errno));
	return -1;
}

int rxmsg_next(struct pktsh_ring *r, int32_t timeout_ms, struct pktsh_err *err)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	uint64_t bytes = 0;
	int n = receive(r, err);

	if (n == 0 && timeout_ms != 0) {
		int p = poll(&pfd, 1, timeout_ms);

		if (p > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
			pktsh_err_set(err, EIO, "capturing on '%s': the interface went away",
				      r->name);
			return -1;
		}
		if (p > 0)
			n = receive(r, err);
	}
	if (n <= 0)
		return n;
	r->held = 1;
	for (int i = 0; i < n; i++)
		bytes += take(r, (uint32_t)i);
	if (batch_end(r->br, err)) {
		pktsh_ring_release(r);
		return -1;
	}
	if (!r->br->batch->count)
		return 0;
	ring_count(r, r->br->batch->count, bytes);
	return (int)r->br->batch->count;
}
