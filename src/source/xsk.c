/*
 * xsk.c - AF_XDP sockets through libxdp's xsk API: the UMEM and its free
 * frames, a socket on one rx queue (zero-copy where the driver has it,
 * need_wakeup, the busy-poll options), its place in a rule set's XSKMAP,
 * and the RX path: a batch straight from the RX ring into the UMEM, its
 * frames back to the fill ring when it is released. The TX path and the
 * completion ring are xsktx.c; what both share (and the life of a frame)
 * is in xsk.h.
 *
 * The ring arithmetic is libxdp's (the xsk_ring_* inline helpers): this
 * file only wraps it in functions that work a batch at a time, as libmoon
 * wraps DPDK's, because the FFI cannot call inline functions and C must
 * not call Lua per packet.
 */
#include <errno.h>
#include <dirent.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_arp.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include "err.h"
#include "source/xsk.h"
#include "xdp/xdp_int.h"
#include "../../bpf/xdp_rules.h"

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9          /* Linux 6.17 */
#endif
#define DEFAULT_FRAME 2048
#define DEFAULT_RING 2048          /* TX and completion rings */
#define DEFAULT_FILL 16384         /* fill and RX rings of a lone socket: 4 ms at
					* 4 Mpps (pktsh.source.xskopts sizes them
					* by the sockets an interface has) */
#define DEFAULT_BATCH 256
#define MAX_BATCH 8192
#define MAX_WAIT_SOCKS 4096
#define DLT_EN10MB 1

/* --- the UMEM and its free frames ----------------------------------------- */

static uint32_t or_default(uint32_t v, uint32_t d)
{
	return v ? v : d;
}

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

uint32_t xsk_frames_take(struct pktsh_xsk_umem *u, uint64_t *out, uint32_t n,
			 uint32_t keep)
{
	uint32_t got = 0;

	pthread_mutex_lock(&u->lock);
	if (u->nfree > keep) {
		got = u->nfree - keep < n ? u->nfree - keep : n;
		u->nfree -= got;
		memcpy(out, u->free + u->nfree, got * sizeof(*out));
	}
	pthread_mutex_unlock(&u->lock);
	return got;
}

void xsk_frames_give(struct pktsh_xsk_umem *u, const uint64_t *addr, uint32_t n)
{
	pthread_mutex_lock(&u->lock);
	memcpy(u->free + u->nfree, addr, n * sizeof(*addr));
	u->nfree += n;
	pthread_mutex_unlock(&u->lock);
}

/* The ring sizes and frame size of opts, checked; 0 or -1 with err. */
static int check_sizes(const struct pktsh_xsk_opts *o, struct pktsh_err *err)
{
	const uint32_t sizes[4] = { o->rx_size, o->tx_size, o->fill_size, o->comp_size };
	static const char *names[4] = { "rx_size", "tx_size", "fill_size", "comp_size" };
	uint32_t fs = or_default(o->frame_size, DEFAULT_FRAME);
	int i;

	for (i = 0; i < 4; i++)
		if (sizes[i] && (!is_pow2(sizes[i]) || sizes[i] < 64 || sizes[i] > 65536)) {
			pktsh_err_set(err, EINVAL, "%s %u must be a power of two from 64 "
				      "to 65536", names[i], sizes[i]);
			return -1;
		}
	if (fs != 2048 && fs != 4096) {
		pktsh_err_set(err, EINVAL, "frame_size %u must be 2048 or 4096", fs);
		return -1;
	}
	if (o->stamp != PKTSH_XSK_STAMP_BATCH && o->stamp != PKTSH_XSK_STAMP_XDP) {
		pktsh_err_set(err, EINVAL, "stamp %d is not a pktsh_xsk_stamp", o->stamp);
		return -1;
	}
	if (o->batch > MAX_BATCH) {
		pktsh_err_set(err, EINVAL, "batch %u is more than %u", o->batch, MAX_BATCH);
		return -1;
	}
	return 0;
}

static void umem_destroy(struct pktsh_xsk_umem *u)
{
	if (u->umem)
		xsk_umem__delete(u->umem);     /* closes the UMEM's own socket */
	region_put(&u->mem);
	pthread_mutex_destroy(&u->lock);
	free(u->free);
	free(u->socks);
	free(u);
}

static void umem_unref(struct pktsh_xsk_umem *u)
{
	int left;

	pthread_mutex_lock(&u->lock);
	left = --u->refs;
	pthread_mutex_unlock(&u->lock);
	if (!left)
		umem_destroy(u);
}

static int umem_fail(struct pktsh_err *err, int e, uint64_t bytes)
{
	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "AF_XDP sockets need CAP_NET_RAW (and "
			      "CAP_NET_ADMIN, CAP_BPF for the XDP program): run "
			      "pktsh as root");
	else if (e == ENOBUFS || e == ENOMEM)
		pktsh_err_set(err, e, "cannot register %llu MiB of AF_XDP UMEM: %s "
			      "(the pages are locked: without CAP_IPC_LOCK, raise "
			      "`ulimit -l`, or ask for fewer frames)",
			      (unsigned long long)(bytes >> 20), strerror(e));
	else
		pktsh_err_set(err, e, "creating the AF_XDP UMEM: %s", strerror(e));
	return -1;
}

/* Asks for huge pages for the UMEM (a frame a packet otherwise walks a
 * new 4 KiB page every other packet: a TLB miss each), then writes a
 * byte of every page now, at open, so that reading a frame never takes
 * this process's first fault on its page. The kernel's pinning of the
 * pages maps them, but on this project's VMs (shadow paging) the first
 * read from user space still cost 2-4 us a page: about 3 us a packet
 * while frames were new (tests/bench/xsk's drain), against 40 ns for a
 * loop that reads only descriptors. Without THP the advice is ignored. */
static void touch_pages(uint8_t *addr, uint64_t bytes)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), off;

	madvise(addr, bytes, MADV_HUGEPAGE);
	for (off = 0; off < bytes; off += page)
		((volatile uint8_t *)addr)[off] = 0;
}

/* A socket's share of its UMEM's frames. */
static uint32_t frames_per_socket(const struct pktsh_xsk_opts *o)
{
	return o->frames ? o->frames : or_default(o->fill_size, DEFAULT_FILL) +
				       or_default(o->tx_size, DEFAULT_RING);
}

int pktsh_xsk_umem_new(struct pktsh_xsk_umem **out, uint32_t sockets,
		       const struct pktsh_xsk_opts *o, struct pktsh_err *err)
{
	/* The headroom puts the program's stamp (struct xr_xsk_meta, right
	 * before the bytes) in the cache line of the packet's first bytes:
	 * reading it then costs no line the script would not read anyway. */
	struct xsk_umem_config cfg = {
		.fill_size = or_default(o->fill_size, DEFAULT_FILL),
		.comp_size = or_default(o->comp_size, DEFAULT_RING),
		.frame_size = or_default(o->frame_size, DEFAULT_FRAME),
		.frame_headroom = sizeof(struct xr_xsk_meta),
	};
	uint64_t frames = (uint64_t)sockets * frames_per_socket(o), bytes;
	struct pktsh_xsk_umem *u;
	uint32_t i;
	int rc;

	*out = NULL;
	if (check_sizes(o, err))
		return -1;
	if (!sockets || frames_per_socket(o) < 64 || frames > (1u << 22)) {
		pktsh_err_set(err, EINVAL, "frames %llu (for %u socket%s) must be from 64 per "
			      "socket to %u in all", (unsigned long long)frames, sockets,
			      sockets == 1 ? "" : "s", 1u << 22);
		return -1;
	}
	bytes = (uint64_t)frames * cfg.frame_size;
	u = calloc(1, sizeof(*u));
	if (u)
		u->free = malloc(frames * sizeof(*u->free));
	if (!u || !u->free) {
		free(u);
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	pthread_mutex_init(&u->lock, NULL);
	u->frame_size = cfg.frame_size;
	u->nframes = frames;
	u->refs = 1;
	if (region_get(&u->mem, bytes, err)) {
		umem_destroy(u);
		return -1;
	}
	touch_pages(u->mem.addr, bytes);
	rc = xsk_umem__create(&u->umem, u->mem.addr, bytes, &u->fill0, &u->comp0, &cfg);
	if (rc) {
		u->umem = NULL;
		umem_destroy(u);
		return umem_fail(err, -rc, bytes);
	}
	/* Popped from the top: low addresses first. */
	for (i = 0; i < frames; i++)
		u->free[i] = (uint64_t)(frames - 1 - i) * cfg.frame_size;
	u->nfree = frames;
	*out = u;
	return 0;
}

void pktsh_xsk_umem_release(struct pktsh_xsk_umem *u)
{
	if (u)
		umem_unref(u);
}

/* --- the sockets of this process, for workers ------------------------------ */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pktsh_xsk **reg;
static uint32_t nreg, capreg;

static int list_add(struct pktsh_xsk ***list, uint32_t *n, uint32_t *cap,
		    struct pktsh_xsk *s)
{
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 16;
		struct pktsh_xsk **l = realloc(*list, c * sizeof(*l));

		if (!l)
			return -1;
		*list = l;
		*cap = c;
	}
	(*list)[(*n)++] = s;
	return 0;
}

static void list_del(struct pktsh_xsk **list, uint32_t *n, struct pktsh_xsk *s)
{
	for (uint32_t i = 0; i < *n; i++)
		if (list[i] == s) {
			list[i] = list[--*n];
			return;
		}
}

struct pktsh_xsk *pktsh_xsk_lookup(uint32_t ifindex, uint32_t queue)
{
	struct pktsh_xsk *s = NULL;

	pthread_mutex_lock(&reg_lock);
	for (uint32_t i = 0; i < nreg && !s; i++)
		if (reg[i]->info.ifindex == ifindex && reg[i]->info.queue == queue)
			s = reg[i];
	pthread_mutex_unlock(&reg_lock);
	return s;
}

/* --- interfaces -------------------------------------------------------------- */

static uint32_t queues_sysfs(const char *ifname)
{
	char path[96];
	struct dirent *e;
	uint32_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "rx-", 3))
			n++;
	closedir(d);
	return n;
}

/* An ethtool request on ifname through a throw-away socket. */
static int ethtool(const char *ifname, void *cmd)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	return rc;
}

int pktsh_xsk_queues(const char *ifname, uint32_t *out, struct pktsh_err *err)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	uint32_t n = 0;

	*out = 0;
	if (!if_nametoindex(ifname)) {
		pktsh_err_set(err, ENODEV, "no such interface '%s'", ifname);
		return -1;
	}
	if (!ethtool(ifname, &ch))
		n = ch.rx_count + ch.combined_count;
	if (!n)
		n = queues_sysfs(ifname);
	*out = n ? n : 1;
	return 0;
}

/* The driver's name, for the note on zero-copy. */
static void driver_name(const char *ifname, char *out, size_t len)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };

	snprintf(out, len, "%s", ethtool(ifname, &di) ? "?" : di.driver);
}

static int is_ethernet(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok = 0;

	if (fd < 0)
		return 1;                 /* cannot tell: let the bind decide */
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr))
		ok = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER ||
		     ifr.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK;
	close(fd);
	return ok;
}

/* --- opening a socket -------------------------------------------------------- */

static int open_fail(struct pktsh_err *err, int e, const char *ifname,
		     uint32_t queue, int32_t zc)
{
	char drv[32];

	if (e == EPERM || e == EACCES)
		return umem_fail(err, e, 0);
	if (e == EBUSY)
		pktsh_err_set(err, e, "queue %u of '%s' already has an AF_XDP "
			      "socket (another source or program uses it)", queue, ifname);
	else if (zc == PKTSH_XSK_ZC_ON && (e == EOPNOTSUPP || e == EINVAL)) {
		driver_name(ifname, drv, sizeof(drv));
		pktsh_err_set(err, e, "zerocopy = true: the driver of '%s' (%s) has "
			      "no AF_XDP zero-copy (%s); use zerocopy = \"auto\"",
			      ifname, drv, strerror(e));
	} else
		pktsh_err_set(err, e, "AF_XDP socket on '%s' queue %u: %s",
			      ifname, queue, strerror(e));
	return -1;
}

/* Appends to the socket's note (what it did not get, and why). */
static void note(struct pktsh_xsk *s, const char *fmt, ...)
{
	size_t l = strlen(s->info.note);
	va_list ap;

	if (l && l + 2 < sizeof(s->info.note)) {
		memcpy(s->info.note + l, "; ", 3);
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(s->info.note + l, sizeof(s->info.note) - l, fmt, ap);
	va_end(ap);
}

/* Busy polling, where the kernel has it: each option that does not take
 * goes into the note. */
static void busy_poll(struct pktsh_xsk *s, const struct pktsh_xsk_opts *o)
{
	int ok = 1, v;

	if (o->prefer_busy_poll) {
		v = 1;
		if (setsockopt(s->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &v, sizeof(v)))
			ok = 0, note(s, "SO_PREFER_BUSY_POLL: %s", strerror(errno));
	}
	if (o->busy_poll_us > 0) {
		v = o->busy_poll_us;
		if (setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)))
			ok = 0, note(s, "SO_BUSY_POLL: %s", strerror(errno));
	}
	if (o->busy_poll_budget > 0) {
		v = o->busy_poll_budget;
		if (setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &v, sizeof(v)))
			ok = 0, note(s, "SO_BUSY_POLL_BUDGET: %s", strerror(errno));
	}
	s->info.busy_poll = ok && (o->busy_poll_us > 0 || o->prefer_busy_poll);
	s->busy_poll_us = ok ? o->busy_poll_us : 0;
}

/* What the socket really got: zero-copy or not, the NAPI id, the TX
 * budget of one sendto() in copy mode (raised to the TX ring's size
 * where the kernel lets us: fewer kicks). */
static void settle(struct pktsh_xsk *s, const char *ifname, const struct pktsh_xsk_opts *o)
{
	struct xdp_options xo = { 0 };
	socklen_t len = sizeof(xo);
	uint32_t budget = s->info.tx_size, napi = 0;
	char drv[32];

	if (!getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &xo, &len))
		s->info.zerocopy = !!(xo.flags & XDP_OPTIONS_ZEROCOPY);
	if (!s->info.zerocopy && o->zerocopy == PKTSH_XSK_ZC_AUTO) {
		driver_name(ifname, drv, sizeof(drv));
		note(s, "copy mode: the driver of '%s' (%s) has no AF_XDP zero-copy, "
		     "so the kernel copies each packet into the UMEM", ifname, drv);
	}
	s->info.tx_budget = 32;
	if (!s->info.zerocopy &&
	    !setsockopt(s->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget)))
		s->info.tx_budget = budget;
	len = sizeof(napi);
	if (!getsockopt(s->fd, SOL_SOCKET, SO_INCOMING_NAPI_ID, &napi, &len))
		s->info.napi_id = napi;
}

/* Puts n frames (chunk addresses) in the fill ring: how many fit. */
static uint32_t fill_push(struct pktsh_xsk *s, const uint64_t *addr, uint32_t n)
{
	uint32_t idx, i;

	if (xsk_prod_nb_free(s->fill, n) < n)
		n = xsk_prod_nb_free(s->fill, n);
	if (!n || xsk_ring_prod__reserve(s->fill, n, &idx) != n)
		return 0;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(s->fill, idx + i) = addr[i];
	xsk_ring_prod__submit(s->fill, n);
	return n;
}

/* Asks for the fill ring's lines of the next n entries, to be written
 * at the release: the kernel read them last, on the core that receives,
 * and perf annotate put most of fill_push's samples on its stores. */
static void fill_prefetch(struct pktsh_xsk *s, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i += 8)
		__builtin_prefetch(xsk_ring_prod__fill_addr(s->fill, s->fill->cached_prod + i), 1);
	if (n)
		__builtin_prefetch(xsk_ring_prod__fill_addr(s->fill, s->fill->cached_prod + n - 1), 1);
}

/* Fills the fill ring from the UMEM's free frames, keeping keep of them
 * for copies. */
static void fill_top_up(struct pktsh_xsk *s, uint32_t keep)
{
	uint64_t buf[256];
	uint32_t room = xsk_prod_nb_free(s->fill, s->info.fill_size), n, put;

	while (room) {
		n = xsk_frames_take(s->u, buf, room < 256 ? room : 256, keep);
		if (!n)
			break;
		put = fill_push(s, buf, n);
		if (put < n)
			xsk_frames_give(s->u, buf + put, n - put);
		if (put < n || n < 256)
			break;
		room -= put;
	}
}

/* The kernel wants a wakeup before it takes frames from the fill ring
 * (need_wakeup, zero-copy drivers): a non-blocking recvfrom() gives it. */
static void fill_wakeup(struct pktsh_xsk *s)
{
	if (s->u->need_wakeup && xsk_ring_prod__needs_wakeup(s->fill))
		recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

/* Registers the socket in the rule set's XSKMAP, at its queue. */
static int map_add(struct pktsh_xsk *s, struct pktsh_xdp *x, const char *ifname,
		   struct pktsh_err *err)
{
	struct pktsh_xdp_info xi;
	int fd, sfd = s->fd;

	pktsh_xdp_info(x, &xi);
	if (xi.ifindex != s->info.ifindex) {
		pktsh_err_set(err, EINVAL, "the rule set is on another interface "
			      "than '%s' (ifindex %u, not %u)", ifname, xi.ifindex,
			      s->info.ifindex);
		return -1;
	}
	if (s->info.queue >= XR_MAX_QUEUES) {
		pktsh_err_set(err, EINVAL, "queue %u: the XDP program reaches queues "
			      "0 to %u only", s->info.queue, XR_MAX_QUEUES - 1);
		return -1;
	}
	fd = dup(xdp_xsk_map_fd(x));
	if (fd < 0 || bpf_map_update_elem(fd, &s->info.queue, &sfd, 0)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return xdp_bpf_fail(err, e, "adding the AF_XDP socket to the XSKMAP");
	}
	s->map_fd = fd;
	return 0;
}

static int socket_create(struct pktsh_xsk *s, const char *ifname, const struct pktsh_xsk_opts *o,
			 struct pktsh_err *err)
{
	struct pktsh_xsk_umem *u = s->u;
	struct xsk_socket_config cfg = {
		.rx_size = s->info.rx_size,
		.tx_size = s->info.tx_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	};
	int first = !u->first_done, rc;

	if (o->need_wakeup)
		cfg.bind_flags |= XDP_USE_NEED_WAKEUP;
	if (o->zerocopy == PKTSH_XSK_ZC_ON)
		cfg.bind_flags |= XDP_ZEROCOPY;
	else if (o->zerocopy == PKTSH_XSK_ZC_OFF)
		cfg.bind_flags |= XDP_COPY;
	s->fill = first ? &u->fill0 : &s->fill_own;
	s->comp = first ? &u->comp0 : &s->comp_own;
	/* The UMEM's first socket is the UMEM's own: libxdp made its fill and
	 * completion rings with it; later ones get rings of their own. */
	rc = xsk_socket__create_shared(&s->xsk, ifname, s->info.queue, u->umem,
				       &s->rx, &s->tx, s->fill, s->comp, &cfg);
	if (rc) {
		s->xsk = NULL;
		return open_fail(err, -rc, ifname, s->info.queue, o->zerocopy);
	}
	s->fd = s->info.fd = xsk_socket__fd(s->xsk);
	if (first) {
		u->first_done = 1;
		u->need_wakeup = !!o->need_wakeup;
	}
	s->info.need_wakeup = u->need_wakeup;
	return 0;
}

static int sock_setup(struct pktsh_xsk *s, const char *ifname,
		      const struct pktsh_xsk_opts *o, struct pktsh_err *err)
{
	struct pktsh_xsk_umem *u = s->u;
	uint32_t batch = or_default(o->batch, DEFAULT_BATCH), want, per;
	uint64_t buf[256];

	s->info.rx_size = or_default(o->rx_size, DEFAULT_FILL);
	s->info.tx_size = or_default(o->tx_size, DEFAULT_RING);
	per = frames_per_socket(o);
	s->reserve = s->info.tx_size < per / 2 ? s->info.tx_size : per / 2;
	s->linger_us = o->linger_us > 0 ? o->linger_us : 0;
	s->stamp = o->stamp;
	s->held = calloc(batch, sizeof(*s->held));
	s->given = calloc(batch, 1);
	if (!s->held || !s->given) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (!(s->br = batch_ring_get(batch, o->guard, err)) || socket_create(s, ifname, o, err))
		return -1;
	busy_poll(s, o);
	settle(s, ifname, o);
	/* The fill ring's first frames: the socket's share, less what is
	 * kept for copies. */
	want = per - s->reserve < s->info.fill_size ? per - s->reserve : s->info.fill_size;
	while (want) {
		uint32_t n = xsk_frames_take(u, buf, want < 256 ? want : 256, 0);
		uint32_t put = fill_push(s, buf, n);

		if (put < n)
			xsk_frames_give(u, buf + put, n - put);
		if (!n || put < n)
			break;
		want -= n;
	}
	fill_wakeup(s);
	return 0;
}

int pktsh_xsk_open(struct pktsh_xsk **out, const char *ifname, uint32_t queue,
		   struct pktsh_xsk_umem *u, struct pktsh_xdp *rules,
		   const struct pktsh_xsk_opts *o, struct pktsh_err *err)
{
	struct pktsh_xsk *s;
	uint32_t nq;
	int rc;

	*out = NULL;
	if (check_sizes(o, err) || pktsh_xsk_queues(ifname, &nq, err))
		return -1;
	if (queue >= nq) {
		pktsh_err_set(err, EINVAL, "'%s' has %u rx queue%s (0 to %u), not "
			      "queue %u", ifname, nq, nq == 1 ? "" : "s", nq - 1, queue);
		return -1;
	}
	if (!is_ethernet(ifname)) {
		pktsh_err_set(err, EPROTONOSUPPORT, "AF_XDP source: '%s' is not an "
			      "Ethernet interface", ifname);
		return -1;
	}
	if (or_default(o->frame_size, DEFAULT_FRAME) != u->frame_size) {
		pktsh_err_set(err, EINVAL, "frame_size differs from the shared UMEM's (%u)",
			      u->frame_size);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	s->fd = s->info.fd = s->map_fd = -1;
	s->info.ifindex = if_nametoindex(ifname);
	s->info.queue = queue;
	s->info.fill_size = or_default(o->fill_size, DEFAULT_FILL);
	s->info.comp_size = or_default(o->comp_size, DEFAULT_RING);
	s->info.frame_size = u->frame_size;
	s->info.frames = u->nframes;
	pthread_mutex_lock(&u->lock);
	u->refs++;                       /* the socket's, dropped by close */
	s->u = u;
	pthread_mutex_unlock(&u->lock);
	rc = sock_setup(s, ifname, o, err);
	pthread_mutex_lock(&u->lock);
	if (!rc && list_add(&u->socks, &u->nsocks, &u->capsocks, s))
		rc = -1;
	pthread_mutex_unlock(&u->lock);
	if (rc || (rules && map_add(s, rules, ifname, err))) {
		if (!err->msg[0])
			pktsh_err_set(err, ENOMEM, "out of memory");
		pktsh_xsk_close(s);
		return -1;
	}
	pthread_mutex_lock(&reg_lock);
	rc = list_add(&reg, &nreg, &capreg, s);
	pthread_mutex_unlock(&reg_lock);
	if (rc) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		pktsh_xsk_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

/* --- receiving ---------------------------------------------------------------- */

/* The program's timestamp of the packet at data (offset off in its
 * frame), cleared once read: -1 if it has none. */
static int64_t stamp(struct pktsh_xsk *s, uint8_t *data, uint64_t off)
{
	struct xr_xsk_meta *m = (struct xr_xsk_meta *)(data - sizeof(*m));

	if (off < sizeof(*m) || m->magic != XR_XSK_MAGIC)
		return -1;
	m->magic = 0;
	return (int64_t)m->ktime_ns + s->clock_off;
}

/* The batch's next descriptor for the packet at addr (as the RX ring
 * gave it: the frame's offset plus the data's), its frame held for the
 * release; the caller stamps it. Only the fields a descriptor has here
 * are written (batch_add_poisoned): the memset of the whole descriptor
 * was about a tenth of the RX loop's time (perf annotate). */
static inline struct pktsh_pkt *rx_desc(struct pktsh_xsk *s, uint64_t addr,
					uint32_t len, uint64_t size)
{
	struct pktsh_pkt *p = batch_add_poisoned(s->br);

	if (addr >= size || len > size - addr || len > s->u->frame_size)
		len = 0;                      /* never: the kernel checks */
	s->held[s->nheld++] = addr;
	p->data = s->u->mem.addr + addr;
	p->caplen = p->len = len;
	p->ifindex = s->info.ifindex;
	p->linktype = DLT_EN10MB;
	p->l2state = p->l3state = PKTSH_PKT_NEW;
	s->stats.bytes += len;
	return p;
}

/* stamp = "batch": one clock reading for the n packets at idx, and not a
 * byte of a frame read (a script that reads none pays no miss for it). */
static void rx_take_batch(struct pktsh_xsk *s, uint32_t idx, uint32_t n, uint64_t size)
{
	int64_t now = pktsh_now_ns();

	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx + i);
		struct pktsh_pkt *p = rx_desc(s, d->addr, d->len, size);

		p->ts = now;
		p->tsrc = PKTSH_TSRC_SW;
	}
}

/* stamp = "xdp": each packet's stamp from the program, the host's clock
 * for a packet without one. */
static void rx_take_xdp(struct pktsh_xsk *s, uint32_t idx, uint32_t n, uint64_t size)
{
	uint64_t fmask = s->u->frame_size - 1;
	int64_t now = 0;
	uint32_t i;

	s->clock_off = mono_to_wall();
	/* The stamps' lines were written by the core that received the
	 * packets: ask for all of them before reading the first. */
	for (i = 0; i < n; i++)
		__builtin_prefetch(s->u->mem.addr + xsk_ring_cons__rx_desc(&s->rx, idx + i)->addr -
				   sizeof(struct xr_xsk_meta));
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx + i);
		struct pktsh_pkt *p = rx_desc(s, d->addr, d->len, size);
		int64_t ts = p->caplen ? stamp(s, (uint8_t *)p->data, d->addr & fmask) : -1;

		p->tsrc = PKTSH_TSRC_XDP;
		if (ts < 0) {
			if (!now)
				now = pktsh_now_ns();
			ts = now;
			p->tsrc = PKTSH_TSRC_SW;
			s->stats.unstamped++;
		}
		p->ts = ts;
	}
}

/* Moves what the RX ring holds (up to the batch's room) into the batch. */
static void rx_take(struct pktsh_xsk *s)
{
	struct pktsh_batch *b = s->br->batch;
	uint64_t size = (uint64_t)s->u->nframes * s->u->frame_size;
	uint32_t idx, n = xsk_ring_cons__peek(&s->rx, b->cap - b->count, &idx);

	if (!n)
		return;
	memset(s->given + s->nheld, 0, n);
	/* The descriptors' lines (4 a line) all asked for at once: written
	 * by the core that received the packets, each one a miss here. */
	for (uint32_t i = 0; i < n; i += 4)
		__builtin_prefetch(xsk_ring_cons__rx_desc(&s->rx, idx + i));
	if (s->stamp == PKTSH_XSK_STAMP_XDP)
		rx_take_xdp(s, idx, n, size);
	else
		rx_take_batch(s, idx, n, size);
	xsk_ring_cons__release(&s->rx, n);
	/* What the release will write, asked for while Lua reads the batch. */
	batch_prefetch_next(s->br);
	fill_prefetch(s, s->nheld);
}

void pktsh_xsk_release(struct pktsh_xsk *s)
{
	uint64_t fmask = s->u->frame_size - 1;
	uint32_t i, k = 0, put;

	if (!s->nheld)
		return;
	batch_release(s->br);
	/* The frames not forwarded, back to the fill ring (compacted in held). */
	for (i = 0; i < s->nheld; i++)
		if (!s->given[i])
			s->held[k++] = s->held[i] & ~fmask;
	put = fill_push(s, s->held, k);
	if (put < k)
		xsk_frames_give(s->u, s->held + put, k - put);
	s->nheld = 0;
	/* Frames that left for a TX ring come back through the free frames. */
	if (xsk_prod_nb_free(s->fill, s->info.fill_size) >= s->info.fill_size / 4)
		fill_top_up(s, s->reserve);
	fill_wakeup(s);
}

/* A batch from s without waiting: its count (0: none), -1 on error. */
static int rx_batch(struct pktsh_xsk *s, struct pktsh_batch **out, struct pktsh_err *err)
{
	pktsh_xsk_release(s);
	batch_begin(s->br);
	*out = s->br->batch;
	rx_take(s);
	if (batch_end(s->br, err)) {
		pktsh_xsk_release(s);
		return -1;
	}
	if (!(*out)->count)
		return 0;
	s->stats.packets += (*out)->count;
	s->stats.batches++;
	return (int)(*out)->count;
}

static int any_ready(struct pktsh_xsk *const *socks, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (xsk_cons_nb_avail(&socks[i]->rx, 1))
			return 1;
	return 0;
}

/* Waits up to ms for any of socks to have packets: busy-polls (the NAPI
 * of the queue, from this thread) when asked to, lingers when asked to,
 * then sleeps in poll(). 0, or -1 with err. */
static int wait_any(struct pktsh_xsk *const *socks, uint32_t n, int32_t ms,
		    struct pktsh_err *err)
{
	struct pollfd pfd[MAX_WAIT_SOCKS];
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++)
		fill_wakeup(socks[i]);
	if (socks[0]->busy_poll_us > 0) {
		for (i = 0; i < n; i++)
			recvfrom(socks[i]->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	if (socks[0]->linger_us > 0) {
		struct timespec ts = { 0, socks[0]->linger_us * 1000L };

		nanosleep(&ts, NULL);
		if (any_ready(socks, n))
			return 0;
	}
	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = socks[i]->fd, .events = POLLIN };
	rc = poll(pfd, n, ms);
	if (rc < 0 && errno != EINTR) {
		pktsh_err_set(err, errno, "poll on AF_XDP sockets: %s", strerror(errno));
		return -1;
	}
	for (i = 0; rc > 0 && i < n; i++)
		if (pfd[i].revents & (POLLERR | POLLNVAL)) {
			int e = 0;
			socklen_t len = sizeof(e);
			char name[IF_NAMESIZE] = "?";

			getsockopt(socks[i]->fd, SOL_SOCKET, SO_ERROR, &e, &len);
			if_indextoname(socks[i]->info.ifindex, name);
			pktsh_err_set(err, e, "AF_XDP socket on '%s' queue %u: %s", name,
				      socks[i]->info.queue, e ? strerror(e) : "the interface went away");
			return -1;
		}
	return 0;
}

int pktsh_xsk_next(struct pktsh_xsk *const *socks, uint32_t n, uint32_t *cursor,
		   struct pktsh_batch **out, int32_t timeout_ms, struct pktsh_err *err)
{
	int64_t until = 0, now;     /* the clock is read only once nothing is ready */
	uint32_t k, i;
	int got;

	if (!n || n > MAX_WAIT_SOCKS) {
		pktsh_err_set(err, EINVAL, "between 1 and %u sockets, not %u", MAX_WAIT_SOCKS, n);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (socks[i]->queued && xsk_kick(socks[i], err))
			return -1;
	for (;;) {
		for (k = 1; k <= n; k++) {
			i = (*cursor + k) % n;
			if (socks[i]->in_flight)
				xsk_complete(socks[i]);
			got = rx_batch(socks[i], out, err);
			if (got) {
				*cursor = i;
				return got;
			}
		}
		if (pktsh_stopping() || timeout_ms <= 0)
			return 0;
		now = pktsh_mono_ns();
		if (!until)
			until = now + (int64_t)timeout_ms * 1000000;
		else if (now >= until)
			return 0;
		if (wait_any(socks, n, (int32_t)((until - now) / 1000000) + 1, err))
			return -1;
	}
}

/* --- counters and closing ---------------------------------------------------- */

int pktsh_xsk_stats(struct pktsh_xsk *s, struct pktsh_xsk_stats *out, struct pktsh_err *err)
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);

	*out = s->stats;
	memset(&st, 0, sizeof(st));
	if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &st, &len)) {
		pktsh_err_set(err, errno, "XDP_STATISTICS: %s", strerror(errno));
		return -1;
	}
	out->rx_dropped = st.rx_dropped;
	out->rx_invalid_descs = st.rx_invalid_descs;
	out->tx_invalid_descs = st.tx_invalid_descs;
	out->rx_ring_full = st.rx_ring_full;
	out->rx_fill_ring_empty_descs = st.rx_fill_ring_empty_descs;
	out->tx_ring_empty_descs = st.tx_ring_empty_descs;
	return 0;
}

int pktsh_xsk_info(const struct pktsh_xsk *s, struct pktsh_xsk_info *out)
{
	*out = s->info;
	pthread_mutex_lock(&s->u->lock);
	out->umem_sockets = s->u->nsocks;
	out->free_frames = s->u->nfree;
	pthread_mutex_unlock(&s->u->lock);
	out->fill_frames = s->info.fill_size -
		xsk_prod_nb_free((struct xsk_ring_prod *)s->fill, s->info.fill_size);
	out->in_flight = s->in_flight;
	out->held = s->nheld;
	out->cached = s->ncache;
	return 0;
}

void pktsh_xsk_close(struct pktsh_xsk *s)
{
	struct pktsh_err e;

	if (!s)
		return;
	pthread_mutex_lock(&reg_lock);
	list_del(reg, &nreg, s);
	pthread_mutex_unlock(&reg_lock);
	if (s->map_fd >= 0) {
		/* Gone from the map first, so no packet is sent to it. */
		bpf_map_delete_elem(s->map_fd, &s->info.queue);
		close(s->map_fd);
	}
	if (s->xsk) {
		pktsh_xsk_flush(s, 100, &e);     /* what was queued goes out */
		pktsh_xsk_release(s);
		xsk_socket__delete(s->xsk);
	}
	if (s->ncache)
		xsk_frames_give(s->u, s->cache, s->ncache);
	batch_ring_put(s->br);
	free(s->held);
	free(s->given);
	if (s->u) {
		pthread_mutex_lock(&s->u->lock);
		list_del(s->u->socks, &s->u->nsocks, s);
		pthread_mutex_unlock(&s->u->lock);
		umem_unref(s->u);
	}
	free(s);
}
