/*
 * ring.c - live capture through an AF_PACKET TPACKET_V3 ring.
 *
 * The socket is created with protocol 0, so it receives nothing until it
 * is bound; the filter is attached before the bind, so no unfiltered
 * packet ever reaches the ring. Without an expression a filter is only
 * needed to cut packets to a snapshot length below the maximum (its return
 * value is the length kept); otherwise the kernel runs none, which spares
 * the sending core a BPF run per packet. A batch is one block of the ring: Lua walks its
 * packets in place and the block goes back to the kernel on release. The
 * ring is mapped in a region of the batch layer (batch.c): on close it
 * becomes zero pages, so a header view a script kept never faults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "err.h"
#include "source/batch.h"

#define VLAN_TAG_LEN 4
#define FRAME_SIZE 2048          /* V3 frames are variable; the kernel checks it */
#define MIN_RECORD 64            /* smallest record in a block, for the batch size */
#define DEFAULT_BLOCK_SIZE (1u << 20)
#define DEFAULT_BLOCK_COUNT 32
#define DEFAULT_BLOCK_TIMEOUT_MS 100

struct pktsh_ring {
	int fd;
	struct region map;
	uint32_t cur;             /* the next block to hand out */
	int held;                 /* the block before cur belongs to the batch */
	int direction;
	int loopback;
	struct batch_ring *br;
	struct pktsh_ring_info info;
	struct pktsh_src_stats stats;
	char name[IF_NAMESIZE];
};

static int fail_errno(struct pktsh_err *err, const char *ifname, const char *what)
{
	int e = errno;

	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "capturing on '%s' needs CAP_NET_RAW (and "
			      "CAP_NET_ADMIN for promiscuous mode and hardware "
			      "timestamps): run pktsh as root (-Z USER gives root up "
			      "once the capture is open) or from a service with "
			      "AmbientCapabilities=", ifname);
	else
		pktsh_err_set(err, e, "capturing on '%s': %s: %s", ifname, what,
			      strerror(e));
	return -1;
}

static int sockopt(int fd, int level, int name, const void *v, socklen_t len)
{
	return setsockopt(fd, level, name, v, len);
}

static int int_opt(int fd, int level, int name, int v)
{
	return sockopt(fd, level, name, &v, sizeof(v));
}

/* DLT of the interface from its ARPHRD type. */
static int link_type(int fd, const char *ifname, int *dlt, struct pktsh_err *err)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		return fail_errno(err, ifname, "SIOCGIFHWADDR");
	switch (ifr.ifr_hwaddr.sa_family) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		*dlt = DLT_EN10MB;
		return 0;
	case ARPHRD_NONE:
		*dlt = DLT_RAW;
		return 0;
	}
	pktsh_err_set(err, EPROTONOSUPPORT, "capturing on '%s': link type "
		      "(ARPHRD %d) not supported yet", ifname,
		      ifr.ifr_hwaddr.sa_family);
	return -1;
}

/*
 * A handle to compile filters for this interface. libpcap only generates
 * the Linux code for `vlan` (the kernel has moved the tag out of the frame
 * into metadata, read with ancillary loads) for a live, activated handle;
 * a dead handle looks for the tag inside the frame and matches nothing.
 * Activating costs a second, short-lived socket; when it fails, a dead
 * handle still compiles everything but `vlan`.
 */
static pcap_t *filter_handle(const struct pktsh_ring *r)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_create(r->name, errbuf);

	if (p && pcap_set_snaplen(p, (int)r->info.snaplen) == 0 &&
	    pcap_set_buffer_size(p, 1 << 16) == 0 && pcap_activate(p) == 0)
		return p;
	if (p)
		pcap_close(p);
	return pcap_open_dead(r->info.linktype, (int)r->info.snaplen);
}

/* Compiles the expression (possibly empty) and attaches it to the socket. */
static int attach_filter(struct pktsh_ring *r, const char *expr,
			 struct pktsh_err *err)
{
	pcap_t *p = filter_handle(r);
	struct bpf_program prog;
	struct sock_fprog fprog;
	int rc = 0;

	if (!p) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (pcap_compile(p, &prog, expr ? expr : "", 1, PCAP_NETMASK_UNKNOWN)) {
		pktsh_err_set(err, EINVAL, "bad filter '%s': %s", expr ? expr : "",
			      pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	/* struct bpf_insn and struct sock_filter have the same layout. */
	fprog.len = (unsigned short)prog.bf_len;
	fprog.filter = (struct sock_filter *)prog.bf_insns;
	if (sockopt(r->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)))
		rc = fail_errno(err, r->name, "SO_ATTACH_FILTER");
	pcap_freecode(&prog);
	pcap_close(p);
	return rc;
}

static int hw_timestamps(struct pktsh_ring *r, struct pktsh_err *err)
{
	struct hwtstamp_config cfg = { .tx_type = HWTSTAMP_TX_OFF,
				       .rx_filter = HWTSTAMP_FILTER_ALL };
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", r->name);
	ifr.ifr_data = (void *)&cfg;
	if (ioctl(r->fd, SIOCSHWTSTAMP, &ifr)) {
		pktsh_err_set(err, errno, "interface '%s' has no hardware "
			      "timestamps (SIOCSHWTSTAMP: %s); use tstamp = \"sw\"",
			      r->name, strerror(errno));
		return -1;
	}
	if (int_opt(r->fd, SOL_PACKET, PACKET_TIMESTAMP,
		    SOF_TIMESTAMPING_RAW_HARDWARE))
		return fail_errno(err, r->name, "PACKET_TIMESTAMP");
	r->info.tstamp = PKTSH_TSTAMP_HW;
	return 0;
}

static int setup_ring(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
		      struct pktsh_err *err)
{
	uint32_t bs = o->block_size ? o->block_size : DEFAULT_BLOCK_SIZE;
	uint32_t bc = o->block_count ? o->block_count : DEFAULT_BLOCK_COUNT;
	uint32_t tov = o->immediate ? 1 : o->block_timeout_ms ?
		o->block_timeout_ms : DEFAULT_BLOCK_TIMEOUT_MS;
	long page = sysconf(_SC_PAGESIZE);
	struct tpacket_req3 req;

	if (bs < (uint32_t)page || bs % (uint32_t)page || bs < FRAME_SIZE) {
		pktsh_err_set(err, EINVAL, "block_size %u must be a multiple of "
			      "the page size (%ld)", bs, page);
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.tp_block_size = bs;
	req.tp_block_nr = bc;
	req.tp_frame_size = FRAME_SIZE;
	req.tp_frame_nr = bs / FRAME_SIZE * bc;
	req.tp_retire_blk_tov = tov;
	if (sockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		return fail_errno(err, r->name, "PACKET_RX_RING (block_size, "
				  "block_count)");
	if (region_map(&r->map, (size_t)bs * bc, PROT_READ | PROT_WRITE, r->fd, 0, NULL))
		return fail_errno(err, r->name, "mmap of the ring");
	r->info.block_size = bs;
	r->info.block_count = bc;
	r->br = batch_ring_get(bs / MIN_RECORD, o->guard, err);
	return r->br ? 0 : -1;
}

static int bind_and_join(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
			 struct pktsh_err *err)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)r->info.ifindex;
	if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)))
		return fail_errno(err, r->name, "bind");
	if (o->promisc) {
		struct packet_mreq mr = { .mr_ifindex = (int)r->info.ifindex,
					  .mr_type = PACKET_MR_PROMISC };

		if (sockopt(r->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
			return fail_errno(err, r->name, "promiscuous mode");
	}
	if (o->fanout_mode != PKTSH_FANOUT_NONE) {
		int flags = o->fanout_defrag ? PACKET_FANOUT_FLAG_DEFRAG : 0;
		int v = (int)(o->fanout_group & 0xffff) |
			((o->fanout_mode | flags) << 16);

		if (int_opt(r->fd, SOL_PACKET, PACKET_FANOUT, v))
			return fail_errno(err, r->name, "PACKET_FANOUT");
	}
	return 0;
}

int pktsh_ring_open(struct pktsh_ring **out, const char *ifname,
		    const struct pktsh_ring_opts *o, struct pktsh_err *err)
{
	struct pktsh_ring *r;
	unsigned idx = if_nametoindex(ifname);

	*out = NULL;
	if (!idx) {
		pktsh_err_set(err, ENODEV, "no such interface '%s'", ifname);
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	r->fd = r->info.fd = -1;        /* not 0 (standard input) until a socket */
	snprintf(r->name, sizeof(r->name), "%s", ifname);
	r->info.ifindex = idx;
	r->info.snaplen = o->snaplen ? o->snaplen : PKTSH_SNAPLEN_DEFAULT;
	r->direction = o->direction;
	r->loopback = !strcmp(ifname, "lo");
	r->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	r->info.fd = r->fd;
	if (r->fd < 0) {
		fail_errno(err, ifname, "socket");
		goto fail;
	}
	if (link_type(r->fd, ifname, &r->info.linktype, err) ||
	    int_opt(r->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3) ||
	    int_opt(r->fd, SOL_PACKET, PACKET_RESERVE, VLAN_TAG_LEN)) {
		if (!err->msg[0])
			fail_errno(err, ifname, "TPACKET_V3");
		goto fail;
	}
	if (o->direction == PKTSH_DIR_IN &&
	    int_opt(r->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) {
		fail_errno(err, ifname, "PACKET_IGNORE_OUTGOING");
		goto fail;
	}
	if ((o->tstamp == PKTSH_TSTAMP_HW && hw_timestamps(r, err)) ||
	    (((o->filter && *o->filter) || r->info.snaplen < PKTSH_SNAPLEN_DEFAULT) &&
	     attach_filter(r, o->filter, err)) ||
	    setup_ring(r, o, err) ||
	    bind_and_join(r, o, err))
		goto fail;
	*out = r;
	return 0;
fail:
	pktsh_ring_close(r);
	return -1;
}

static struct tpacket_block_desc *block(struct pktsh_ring *r, uint32_t i)
{
	return (struct tpacket_block_desc *)(r->map.addr + (size_t)i * r->info.block_size);
}

void pktsh_ring_release(struct pktsh_ring *r)
{
	uint32_t prev;

	if (!r->held)
		return;
	prev = (r->cur + r->info.block_count - 1) % r->info.block_count;
	batch_release(r->br);
	__atomic_store_n(&block(r, prev)->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
	r->held = 0;
}

/* Whether a packet of this direction belongs in the batch. On loopback
 * every packet is seen twice, going out and coming in: keep one, as
 * libpcap does. */
static int keep(const struct pktsh_ring *r, const struct sockaddr_ll *sll)
{
	int out = sll->sll_pkttype == PACKET_OUTGOING;

	if (r->direction == PKTSH_DIR_OUT)
		return out;
	return !(out && r->loopback);
}

/* The kernel took the VLAN tag out of the frame into metadata; put it
 * back where it was (PACKET_RESERVE left room in front). */
static const uint8_t *reinsert_vlan(const struct tpacket3_hdr *h, uint8_t *mac,
				    uint32_t *caplen)
{
	uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ?
		h->hv1.tp_vlan_tpid : ETH_P_8021Q;
	uint16_t tag[2] = { htons(tpid), htons(h->hv1.tp_vlan_tci) };

	if (*caplen < 2 * ETH_ALEN)
		return mac;
	memmove(mac - VLAN_TAG_LEN, mac, 2 * ETH_ALEN);
	memcpy(mac - VLAN_TAG_LEN + 2 * ETH_ALEN, tag, sizeof(tag));
	*caplen += VLAN_TAG_LEN;
	return mac - VLAN_TAG_LEN;
}

static void fill(struct pktsh_ring *r, struct tpacket_block_desc *bd)
{
	uint32_t n = bd->hdr.bh1.num_pkts, i;
	uint8_t *p = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
	struct pktsh_batch *b = r->br->batch;

	for (i = 0; i < n && b->count < b->cap; i++) {
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)p;
		const struct sockaddr_ll *sll = (const struct sockaddr_ll *)
			(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
		uint32_t caplen = h->tp_snaplen, len = h->tp_len;
		const uint8_t *data = p + h->tp_mac;
		struct pktsh_pkt *pkt;

		p += h->tp_next_offset;
		if (!keep(r, sll))
			continue;
		if ((h->tp_status & TP_STATUS_VLAN_VALID) || h->hv1.tp_vlan_tci) {
			data = reinsert_vlan(h, (uint8_t *)data, &caplen);
			len += VLAN_TAG_LEN;
		}
		pkt = batch_add(r->br);
		pkt->data = data;
		pkt->caplen = caplen;
		pkt->len = len;
		pkt->ts = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec;
		pkt->tsrc = (h->tp_status & TP_STATUS_TS_RAW_HARDWARE) ?
			PKTSH_TSRC_HW : PKTSH_TSRC_SW;
		pkt->ifindex = (uint32_t)sll->sll_ifindex;
		pkt->linktype = (uint16_t)r->info.linktype;
		r->stats.bytes += len;
	}
}

static int socket_error(struct pktsh_ring *r, struct pktsh_err *err)
{
	int e = 0;
	socklen_t len = sizeof(e);

	getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &len);
	pktsh_err_set(err, e, "capturing on '%s': %s", r->name,
		      e ? strerror(e) : "the interface went away");
	return -1;
}

int pktsh_ring_next(struct pktsh_ring *r, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err)
{
	pktsh_ring_release(r);
	batch_begin(r->br);
	*out = r->br->batch;
	for (;;) {
		struct tpacket_block_desc *bd = block(r, r->cur);
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN | POLLERR };

		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER)) {
			int n = poll(&pfd, 1, timeout_ms);

			if (n < 0 && errno == EINTR)
				return 0;
			if (n < 0) {
				pktsh_err_set(err, errno, "poll: %s", strerror(errno));
				return -1;
			}
			if (pfd.revents & (POLLERR | POLLNVAL))
				return socket_error(r, err);
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status,
					      __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				return 0;
		}
		r->cur = (r->cur + 1) % r->info.block_count;
		r->held = 1;
		fill(r, bd);
		if (batch_end(r->br, err)) {
			pktsh_ring_release(r);
			return -1;
		}
		if ((*out)->count) {
			r->stats.packets += (*out)->count;
			r->stats.batches++;
			return (int)(*out)->count;
		}
		pktsh_ring_release(r);    /* nothing kept: try the next block */
		timeout_ms = 0;
	}
}

int pktsh_ring_stats(struct pktsh_ring *r, struct pktsh_src_stats *out,
		     struct pktsh_err *err)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		return fail_errno(err, r->name, "PACKET_STATISTICS");
	/* The kernel resets these on every read; tp_packets counts drops too. */
	r->stats.received += st.tp_packets;
	r->stats.drops += st.tp_drops;
	r->stats.freeze_q += st.tp_freeze_q_cnt;
	*out = r->stats;
	return 0;
}

int pktsh_ring_info(const struct pktsh_ring *r, struct pktsh_ring_info *out)
{
	*out = r->info;
	return 0;
}

void pktsh_ring_close(struct pktsh_ring *r)
{
	if (!r)
		return;
	pktsh_ring_release(r);
	region_put(&r->map);
	if (r->fd >= 0)
		close(r->fd);
	batch_ring_put(r->br);
	free(r);
}
