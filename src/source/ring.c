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
 *
 * A filter is changed at run time with one SO_ATTACH_FILTER over the old
 * one (never a detach first, which would let everything through for a
 * moment): the kernel publishes the new program with rcu_assign_pointer,
 * so each packet is judged by exactly one of the two. SO_LOCK_FILTER
 * (lock_filter) forbids any change after open.
 *
 * Stamps: the ring holds one per packet (hardware if asked for and the
 * packet has one, else software). tstamp = "both" reads with recvmmsg
 * instead (rxmsg.c), where SCM_TIMESTAMPING gives both at once.
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
#include "source/ring_int.h"

#define FRAME_SIZE 2048          /* V3 frames are variable; the kernel checks it */
#define MIN_RECORD 64            /* smallest record in a block, for the batch size */
#define DEFAULT_BLOCK_SIZE (1u << 20)
#define DEFAULT_BLOCK_COUNT 32
#define DEFAULT_BLOCK_TIMEOUT_MS 100

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

/* Compiles expr (NULL or empty: keep every packet, cut to the snaplen)
 * into out: the instruction count, or -1. */
static int compile(const struct pktsh_ring *r, const char *expr,
		   struct pktsh_bpf_insn *out, uint32_t cap, struct pktsh_err *err)
{
	pcap_t *p = filter_handle(r);
	struct bpf_program prog;
	int n = -1;

	if (!p) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (pcap_compile(p, &prog, expr ? expr : "", 1, PCAP_NETMASK_UNKNOWN)) {
		pktsh_err_set(err, EINVAL, "bad filter '%s': %s", expr ? expr : "",
			      pcap_geterr(p));
	} else if (prog.bf_len > cap) {
		pktsh_err_set(err, E2BIG, "filter '%s' compiles to %u instructions, "
			      "over %u", expr, prog.bf_len, cap);
		pcap_freecode(&prog);
	} else {
		/* struct bpf_insn, struct sock_filter and ours: one layout. */
		memcpy(out, prog.bf_insns, prog.bf_len * sizeof(*out));
		n = (int)prog.bf_len;
		pcap_freecode(&prog);
	}
	pcap_close(p);
	return n;
}

int pktsh_ring_filter_compile(const struct pktsh_ring *r, const char *expr,
			      struct pktsh_bpf_insn *out, uint32_t cap,
			      struct pktsh_err *err)
{
	return compile(r, expr, out, cap, err);
}

static int filter_error(struct pktsh_ring *r, struct pktsh_err *err)
{
	int e = errno;

	if (e == EPERM)
		pktsh_err_set(err, e, "the filter on '%s' is locked (lock_filter = true): "
			      "it cannot be changed", r->name);
	else if (e == EINVAL)
		pktsh_err_set(err, e, "the kernel refused the filter program for '%s' "
			      "(SO_ATTACH_FILTER: %s): a jump out of range, a bad "
			      "opcode, or no return at the end", r->name, strerror(e));
	else
		fail_errno(err, r->name, "SO_ATTACH_FILTER");
	return -1;
}

/* Attaches n instructions over whatever filter the socket had (n 0:
 * none, or a snaplen cut when the snaplen is below the maximum). */
static int attach(struct pktsh_ring *r, const struct pktsh_bpf_insn *insns,
		  uint32_t n, struct pktsh_err *err)
{
	struct sock_filter cut = BPF_STMT(BPF_RET | BPF_K, r->info.snaplen);
	struct sock_fprog fprog = { .len = (unsigned short)n,
				    .filter = (struct sock_filter *)insns };

	if (n > PKTSH_BPF_MAXINSNS) {
		pktsh_err_set(err, E2BIG, "a filter program of %u instructions: the "
			      "kernel takes %d at most", n, PKTSH_BPF_MAXINSNS);
		return -1;
	}
	if (n == 0 && r->info.snaplen >= PKTSH_SNAPLEN_DEFAULT) {
		/* Keep everything: no program (the kernel then runs none). */
		if (sockopt(r->fd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0) && errno != ENOENT)
			return filter_error(r, err);
		return 0;
	}
	if (n == 0) {
		fprog.len = 1;
		fprog.filter = &cut;
	}
	if (sockopt(r->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)))
		return filter_error(r, err);
	return 0;
}

int pktsh_ring_set_filter(struct pktsh_ring *r, const struct pktsh_bpf_insn *insns,
			  uint32_t n, struct pktsh_err *err)
{
	return attach(r, insns, n, err);
}

/* The filter at open: an expression, a program, or (snaplen) a cut. */
static int open_filter(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
		       struct pktsh_err *err)
{
	struct pktsh_bpf_insn *prog;
	int n, rc;

	if (o->insns || o->ninsns) {
		if (!o->insns || o->ninsns == 0) {
			pktsh_err_set(err, EINVAL, "an empty filter program");
			return -1;
		}
		rc = attach(r, o->insns, o->ninsns, err);
	} else if ((o->filter && *o->filter) || r->info.snaplen < PKTSH_SNAPLEN_DEFAULT) {
		prog = malloc(sizeof(*prog) * PKTSH_BPF_MAXINSNS);
		if (!prog) {
			pktsh_err_set(err, ENOMEM, "out of memory");
			return -1;
		}
		n = compile(r, o->filter, prog, PKTSH_BPF_MAXINSNS, err);
		rc = n < 0 ? -1 : attach(r, prog, (uint32_t)n, err);
		free(prog);
	} else {
		rc = 0;
	}
	if (rc == 0 && o->lock_filter && int_opt(r->fd, SOL_SOCKET, SO_LOCK_FILTER, 1))
		return fail_errno(err, r->name, "SO_LOCK_FILTER");
	return rc;
}

/* Hardware stamps in the ring (PACKET_TIMESTAMP), or for recvmmsg
 * (rxmsg.c sets SO_TIMESTAMPING); the clock conversion if asked for. */
static int hw_timestamps(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
			 struct pktsh_err *err)
{
	int idx;

	if (tstamp_hw_enable(r->name, 0, 1, err))
		return -1;
	if (o->tstamp == PKTSH_TSTAMP_HW &&
	    int_opt(r->fd, SOL_PACKET, PACKET_TIMESTAMP, SOF_TIMESTAMPING_RAW_HARDWARE))
		return fail_errno(err, r->name, "PACKET_TIMESTAMP");
	if (o->hwclock == PKTSH_HWCLOCK_SYS) {
		if (tstamp_phc_index(r->name, &idx, err) ||
		    tstamp_phc_open(&r->phc, idx, r->name, err))
			return -1;
		r->info.phc_index = idx;
		r->info.hwclock = PKTSH_HWCLOCK_SYS;
		r->hwsys = 1;
	}
	r->info.tstamp = o->tstamp;
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
	if (o->tstamp == PKTSH_TSTAMP_BOTH)
		return rxmsg_setup(r, o, err);
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

static struct pktsh_ring *ring_new(const char *ifname, unsigned idx,
				   const struct pktsh_ring_opts *o, struct pktsh_err *err)
{
	struct pktsh_ring *r = calloc(1, sizeof(*r));

	if (!r) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	r->fd = r->info.fd = -1;        /* not 0 (standard input) until a socket */
	r->phc.fd = -1;
	r->info.phc_index = -1;
	pthread_mutex_init(&r->stats_mu, NULL);
	snprintf(r->name, sizeof(r->name), "%s", ifname);
	r->info.ifindex = idx;
	r->info.snaplen = o->snaplen ? o->snaplen : PKTSH_SNAPLEN_DEFAULT;
	r->direction = o->direction;
	r->loopback = !strcmp(ifname, "lo");
	return r;
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
	if (!(r = ring_new(ifname, idx, o, err)))
		return -1;
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
	if (o->hwclock == PKTSH_HWCLOCK_SYS && o->tstamp == PKTSH_TSTAMP_SW) {
		pktsh_err_set(err, EINVAL, "hwclock = \"sys\" converts hardware stamps: "
			      "ask for them with tstamp = \"hw\" or \"both\"");
		goto fail;
	}
	if ((o->tstamp != PKTSH_TSTAMP_SW && hw_timestamps(r, o, err)) ||
	    open_filter(r, o, err) ||
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
	batch_release(r->br);
	r->held = 0;
	if (r->msg)
		return;
	prev = (r->cur + r->info.block_count - 1) % r->info.block_count;
	__atomic_store_n(&block(r, prev)->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
}

/* On loopback every packet is seen twice, going out and coming in: keep
 * one, as libpcap does. */
int ring_keep(const struct pktsh_ring *r, int pkttype)
{
	int out = pkttype == PACKET_OUTGOING;

	if (r->direction == PKTSH_DIR_OUT)
		return out;
	return !(out && r->loopback);
}

const uint8_t *ring_reinsert_vlan(uint16_t tpid, uint16_t tci, uint8_t *mac,
				  uint32_t *caplen)
{
	uint16_t tag[2] = { htons(tpid), htons(tci) };

	if (*caplen < 2 * ETH_ALEN)
		return mac;
	memmove(mac - VLAN_TAG_LEN, mac, 2 * ETH_ALEN);
	memcpy(mac - VLAN_TAG_LEN + 2 * ETH_ALEN, tag, sizeof(tag));
	*caplen += VLAN_TAG_LEN;
	return mac - VLAN_TAG_LEN;
}

void ring_stamp(const struct pktsh_ring *r, struct pktsh_pkt *pkt, int64_t sw, int64_t hw)
{
	if (hw && r->hwsys)
		hw += r->phc.offset;
	pkt->ts_sw = sw;
	pkt->ts_hw = hw;
	pkt->ts = hw ? hw : sw;
	pkt->tsrc = hw ? PKTSH_TSRC_HW : PKTSH_TSRC_SW;
}

void ring_count(struct pktsh_ring *r, uint32_t packets, uint64_t bytes)
{
	struct pktsh_src_stats *st = &r->stats;

	/* One writer: plain adds published atomically for other readers. */
	__atomic_store_n(&st->packets, st->packets + packets, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bytes, st->bytes + bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&st->batches, st->batches + 1, __ATOMIC_RELAXED);
}

/* The packets of one block into the batch; their wire bytes. */
static uint64_t fill(struct pktsh_ring *r, struct tpacket_block_desc *bd)
{
	uint32_t n = bd->hdr.bh1.num_pkts, i;
	uint8_t *p = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
	struct pktsh_batch *b = r->br->batch;
	uint64_t bytes = 0;

	for (i = 0; i < n && b->count < b->cap; i++) {
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)p;
		const struct sockaddr_ll *sll = (const struct sockaddr_ll *)
			(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
		uint32_t caplen = h->tp_snaplen, len = h->tp_len;
		const uint8_t *data = p + h->tp_mac;
		int64_t ts = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec;
		struct pktsh_pkt *pkt;

		p += h->tp_next_offset;
		if (!ring_keep(r, sll->sll_pkttype))
			continue;
		if ((h->tp_status & TP_STATUS_VLAN_VALID) || h->hv1.tp_vlan_tci) {
			uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ?
				h->hv1.tp_vlan_tpid : ETH_P_8021Q;

			data = ring_reinsert_vlan(tpid, h->hv1.tp_vlan_tci, (uint8_t *)data,
						  &caplen);
			len += VLAN_TAG_LEN;
		}
		pkt = batch_add(r->br);
		pkt->data = data;
		pkt->caplen = caplen;
		pkt->len = len;
		if (h->tp_status & TP_STATUS_TS_RAW_HARDWARE)
			ring_stamp(r, pkt, 0, ts);
		else
			ring_stamp(r, pkt, ts, 0);
		pkt->ifindex = (uint32_t)sll->sll_ifindex;
		pkt->linktype = (uint16_t)r->info.linktype;
		bytes += len;
	}
	return bytes;
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

/* Waits for the block at cur: 1 ready, 0 not yet, -1 error. */
static int wait_block(struct pktsh_ring *r, struct tpacket_block_desc *bd,
		      int32_t timeout_ms, struct pktsh_err *err)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN | POLLERR };
	int n;

	if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)
		return 1;
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0) {
		pktsh_err_set(err, errno, "poll: %s", strerror(errno));
		return -1;
	}
	if (pfd.revents & (POLLERR | POLLNVAL))
		return socket_error(r, err);
	return !!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		  TP_STATUS_USER);
}

static int ring_next(struct pktsh_ring *r, int32_t timeout_ms, struct pktsh_err *err)
{
	struct pktsh_batch *b = r->br->batch;

	for (;;) {
		struct tpacket_block_desc *bd = block(r, r->cur);
		int ready = wait_block(r, bd, timeout_ms, err);
		uint64_t bytes;

		if (ready <= 0)
			return ready;
		r->cur = (r->cur + 1) % r->info.block_count;
		r->held = 1;
		bytes = fill(r, bd);
		if (batch_end(r->br, err)) {
			pktsh_ring_release(r);
			return -1;
		}
		if (b->count) {
			ring_count(r, b->count, bytes);
			return (int)b->count;
		}
		pktsh_ring_release(r);    /* nothing kept: try the next block */
		timeout_ms = 0;
	}
}

int pktsh_ring_next(struct pktsh_ring *r, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err)
{
	pktsh_ring_release(r);
	batch_begin(r->br);
	*out = r->br->batch;
	if (r->hwsys)
		tstamp_phc_refresh(&r->phc);
	if (r->msg)
		return rxmsg_next(r, timeout_ms, err);
	return ring_next(r, timeout_ms, err);
}

int pktsh_ring_stats(struct pktsh_ring *r, struct pktsh_src_stats *out,
		     struct pktsh_err *err)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);
	int rc = 0;

	pthread_mutex_lock(&r->stats_mu);
	memset(&st, 0, sizeof(st));
	if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		rc = fail_errno(err, r->name, "PACKET_STATISTICS");
	/* The kernel resets these on every read; tp_packets counts drops too. */
	r->stats.received += st.tp_packets;
	r->stats.drops += st.tp_drops;
	r->stats.freeze_q += st.tp_freeze_q_cnt;
	out->received = r->stats.received;
	out->drops = r->stats.drops;
	out->freeze_q = r->stats.freeze_q;
	pthread_mutex_unlock(&r->stats_mu);
	out->packets = __atomic_load_n(&r->stats.packets, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&r->stats.bytes, __ATOMIC_RELAXED);
	out->batches = __atomic_load_n(&r->stats.batches, __ATOMIC_RELAXED);
	return rc;
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
	rxmsg_free(r);
	tstamp_phc_close(&r->phc);
	if (r->fd >= 0)
		close(r->fd);
	batch_ring_put(r->br);
	pthread_mutex_destroy(&r->stats_mu);
	free(r);
}
