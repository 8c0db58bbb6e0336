/*
 * xskloop.c - the C loop tests/bench/xsk measures pktsh's AF_XDP source
 * against: the same XDP program (pktsh's, from build/obj/xdp_rules.bpf.o,
 * with one rule that redirects every packet), the same libxdp rings and
 * ring sizes, the same wait (poll(), or a linger first), and a loop that
 * does the least a consumer can: count each packet and its length, give
 * the frame back to the fill ring.
 *
 *   xskloop OBJ IFACE MODE LINGER_US RING [read]   (MODE: native or skb)
 *
 * RING is the size of the RX and fill rings (pktsh's default for a lone socket is 16384);
 * the UMEM has twice as many frames, in huge pages and touched before
 * use, as pktsh's are. With "read" the loop also reads the first 8 bytes
 * of each packet (their line is where pktsh reads the XDP program's
 * stamp with stamp = "xdp", and what any look at a header costs;
 * prefetched a batch at a time, as pktsh does) and prints their xor.
 *
 * Prints "listening" once the socket is in the map, runs until SIGINT or
 * SIGTERM, then prints "count packets=N bytes=B" and the socket's
 * XDP_STATISTICS as "stats rx_dropped=.. rx_ring_full=.. fill_empty=..".
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include "xdp_rules.h"

#define FRAME 2048
#define BATCH 256

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what, int e)
{
	fprintf(stderr, "xskloop: %s: %s\n", what, strerror(e < 0 ? -e : e));
	exit(1);
}

/* pktsh's program with one rule: redirect everything; its fd. */
static int load(const char *path, int *xsks_fd)
{
	struct xr_cfg cfg = { 0 };
	struct xr_rule r = { 0 };
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_map *bss;
	__u32 zero = 0;

	if (!obj)
		die("opening the object", errno);
	cfg.slot[0].nrules = 1;
	cfg.slot[0].engine = XR_ENGINE_LINEAR;
	cfg.slot[0].verdict = XDP_PASS;
	cfg.slot[1].verdict = XDP_PASS;
	bss = bpf_object__find_map_by_name(obj, ".bss");
	if (!bss || bpf_map__set_initial_value(bss, &cfg, sizeof(cfg)))
		die("setting the rule set", EINVAL);
	if (bpf_object__load(obj))
		die("loading the program", errno);
	r.verdict = XDP_REDIRECT;
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "rules"), &zero, &r, 0))
		die("adding the rule", errno);
	*xsks_fd = bpf_object__find_map_fd_by_name(obj, "xsks");
	return bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_rules"));
}

int main(int argc, char **argv)
{
	/* libxdp leaves cached_prod alone: the rings start zeroed. */
	struct xsk_ring_prod fill = { 0 };
	struct xsk_ring_cons comp = { 0 }, rx = { 0 };
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_socket_config cfg = {
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xsk_umem_config ucfg = { .frame_size = FRAME, .comp_size = 2048 };
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	unsigned long long packets = 0, bytes = 0;
	__u64 sum = 0;
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);
	int prog, xsks, fd, ifindex, linger, ring, reading;
	size_t frames;
	__u64 addrs[BATCH];
	__u32 idx, i, n, q = 0;
	void *area;

	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "read"))) {
		fprintf(stderr, "usage: xskloop OBJ IFACE native|skb LINGER_US RING [read]\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[2]);
	linger = atoi(argv[4]);
	ring = atoi(argv[5]);
	reading = argc == 7;
	frames = 2 * (size_t)ring;
	cfg.rx_size = ucfg.fill_size = ring;
	if (!ifindex)
		die(argv[2], errno);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	prog = load(argv[1], &xsks);
	lo.flags = strcmp(argv[3], "skb") ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	if (bpf_link_create(prog, ifindex, BPF_XDP, &lo) < 0)
		die("attaching", errno);
	if (posix_memalign(&area, 2 << 20, frames * FRAME))
		die("memory", ENOMEM);
	madvise(area, frames * FRAME, MADV_HUGEPAGE);
	memset(area, 0, frames * FRAME);
	if ((errno = -xsk_umem__create(&umem, area, (__u64)frames * FRAME, &fill, &comp, &ucfg)))
		die("UMEM", errno);
	if ((errno = -xsk_socket__create(&xsk, argv[2], 0, umem, &rx, NULL, &cfg)))
		die("socket", errno);
	fd = xsk_socket__fd(xsk);
	if (xsk_ring_prod__reserve(&fill, ring, &idx) != (__u32)ring)
		die("fill ring", ENOSPC);
	for (i = 0; i < (__u32)ring; i++)
		*xsk_ring_prod__fill_addr(&fill, idx + i) = (__u64)i * FRAME;
	xsk_ring_prod__submit(&fill, ring);
	if (bpf_map_update_elem(xsks, &q, &fd, 0))
		die("XSKMAP", errno);
	printf("listening\n");
	fflush(stdout);
	while (!stop) {
		n = xsk_ring_cons__peek(&rx, BATCH, &idx);
		if (!n) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			struct timespec ts = { 0, linger * 1000L };

			if (linger) {
				nanosleep(&ts, NULL);
				if (xsk_cons_nb_avail(&rx, 1))
					continue;
			}
			poll(&pfd, 1, 100);
			continue;
		}
		/* Reading, all the lines are asked for first, as pktsh does. */
		for (i = 0; reading && i < n; i++)
			__builtin_prefetch((char *)area + xsk_ring_cons__rx_desc(&rx, idx + i)->addr);
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);

			bytes += d->len;
			if (reading)
				sum ^= *(volatile __u64 *)((char *)area + d->addr);
			addrs[i] = d->addr & ~(__u64)(FRAME - 1);
		}
		packets += n;
		xsk_ring_cons__release(&rx, n);
		while (xsk_ring_prod__reserve(&fill, n, &idx) != n)
			;
		for (i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&fill, idx + i) = addrs[i];
		xsk_ring_prod__submit(&fill, n);
	}
	getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len);
	printf("count packets=%llu bytes=%llu\n", packets, bytes);
	if (reading)
		printf("xor %llx\n", (unsigned long long)sum);
	printf("stats rx_dropped=%llu rx_ring_full=%llu fill_empty=%llu\n",
	       (unsigned long long)st.rx_dropped, (unsigned long long)st.rx_ring_full,
	       (unsigned long long)st.rx_fill_ring_empty_descs);
	return 0;
}
