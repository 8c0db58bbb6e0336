/*
 * metrics.c - /metrics over HTTP for Prometheus, from a thread of its
 * own (libmicrohttpd), never in the capture loop's way.
 *
 * The loop renders the exposition text in Lua (lua/pktsh/report/
 * metrics.lua) and publishes it: pktsh_metrics_publish copies it into a
 * new snapshot and swaps the server's pointer to it. A request takes a
 * reference to whatever snapshot is current and libmicrohttpd sends
 * those bytes as they are (no copy), dropping the reference when done.
 * Neither side ever waits for the other:
 *
 *  - a reader marks itself active, loads the pointer, adds a reference,
 *    and unmarks itself: a few atomic instructions, no lock;
 *  - the publisher swaps the pointer and retires the old snapshot; it
 *    drops the slot's reference to retired snapshots only at a moment
 *    when no reader is active (checked at each publish), since a reader
 *    may have loaded the old pointer just before the swap and not yet
 *    counted its reference. The last reference frees a snapshot.
 *
 * Each snapshot holds the text twice, in the Prometheus text format
 * 0.0.4 and in OpenMetrics 1.0.0; a scraper whose Accept header names
 * application/openmetrics-text gets the latter.
 *
 * A scrape gets a snapshot no older than the server's max age, when one
 * is set (pktsh_metrics_max_age): the loop then publishes on demand.
 * A request that finds the current snapshot older (or none) raises the
 * `want` flag and waits, at most WAIT_FRESH_MS, for the next publish;
 * the loop looks at the flag (pktsh_metrics_wanted, an atomic load)
 * between batches and publishes when it is up. A run nobody scrapes
 * renders nothing, and one scraped every 15 s renders every 15 s, not
 * every interval. Each connection has a thread of its own
 * (libmicrohttpd's thread per connection), so one waiting request holds
 * up no other.
 *
 * The listening socket is bound at pktsh_metrics_serve (so a port below
 * 1024 works and a busy port is an error at once); the serving thread
 * starts only once the process runs with the privileges it keeps: with
 * -Z pending, at the first publish or pktsh_metrics_wanted after the
 * drop (privs.c drops only while the process has one thread).
 *
 * libmicrohttpd is loaded (dlopen) only when the first connection
 * comes: Debian's links GnuTLS, whose start-up (a dozen libraries, its
 * configuration, a random seed: 10-20 ms of CPU) a run nobody scrapes
 * would pay otherwise. A starter thread waits in poll() for the
 * listening socket to become readable (the connection waits in the
 * backlog meanwhile), then loads the library and starts the daemon on
 * that socket, so that the loop does not wait those milliseconds
 * either; an error there comes back from the next publish or
 * pktsh_metrics_wanted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "err.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define OM_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define MAX_CONNECTIONS 64
#define CONNECTION_TIMEOUT_S 10
#define THREAD_STACK (256 * 1024)  /* a connection's thread: a handler and a reply */
/* How long a request waits for the fresh snapshot it asked for (a loop
 * blocked elsewhere, or busy with one long batch): then the current
 * one is served, or 503 when there is none. */
#define WAIT_FRESH_MS 500
#ifndef PKTSH_MHD_SONAME
#define PKTSH_MHD_SONAME "libmicrohttpd.so.12"
#endif

/* The libmicrohttpd functions used, by the types its header gives them. */
static struct {
	pthread_once_t once;
	char error[200];
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *from_buffer;
	__typeof__(MHD_create_response_from_buffer_with_free_callback_cls) *from_buffer_cb;
	__typeof__(MHD_add_response_header) *add_header;
	__typeof__(MHD_queue_response) *queue;
	__typeof__(MHD_destroy_response) *destroy;
	__typeof__(MHD_lookup_connection_value) *lookup;
} mhd = { .once = PTHREAD_ONCE_INIT };

static void mhd_load(void)
{
	void *h = dlopen(PKTSH_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	struct { void **fn; const char *name; } syms[] = {
		{ (void **)&mhd.start_daemon, "MHD_start_daemon" },
		{ (void **)&mhd.stop_daemon, "MHD_stop_daemon" },
		{ (void **)&mhd.from_buffer, "MHD_create_response_from_buffer" },
		{ (void **)&mhd.from_buffer_cb, "MHD_create_response_from_buffer_with_free_callback_cls" },
		{ (void **)&mhd.add_header, "MHD_add_response_header" },
		{ (void **)&mhd.queue, "MHD_queue_response" },
		{ (void **)&mhd.destroy, "MHD_destroy_response" },
		{ (void **)&mhd.lookup, "MHD_lookup_connection_value" },
	};

	if (!h) {
		snprintf(mhd.error, sizeof(mhd.error), "cannot load %s (Debian: libmicrohttpd12): %s",
			 PKTSH_MHD_SONAME, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].fn = dlsym(h, syms[i].name);
		if (!*syms[i].fn) {
			snprintf(mhd.error, sizeof(mhd.error), "%s has no %s", PKTSH_MHD_SONAME,
				 syms[i].name);
			mhd.start_daemon = NULL;
			return;
		}
	}
}

struct snap {
	atomic_int refs;
	struct snap *next;       /* on the retired list */
	size_t prom_len, om_len;
	char *prom, *om;
	char data[];
};

struct pktsh_metrics_srv {
	int fd;
	int wake[2];             /* a pipe: ends the starter's wait at close */
	pthread_t starter;
	int starter_running;     /* the loop's: a starter was created (join it) */
	_Atomic(struct MHD_Daemon *) daemon;
	atomic_int start_failed;
	struct pktsh_err start_err;
	_Atomic(struct snap *) cur;
	atomic_int active;       /* readers between loading cur and counting */
	struct snap *retired;    /* the publisher's own */
	atomic_ullong requests, scrapes, openmetrics, not_found;
	uint64_t published;
	/* snapshots on demand (see the top) */
	atomic_llong max_age_ns; /* 0: whatever is current is served */
	atomic_llong published_at; /* pktsh_mono_ns of the current snapshot */
	atomic_int want;         /* a request waits for a snapshot */
	atomic_int waiters;
	atomic_int closing;
	pthread_mutex_t lock;    /* for fresh, with waiters */
	pthread_cond_t fresh;    /* a snapshot was published (CLOCK_MONOTONIC) */
	char addr[INET6_ADDRSTRLEN + 8];
};

static void snap_unref(struct snap *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

static void free_cb(void *cls)
{
	snap_unref(cls);
}

static struct snap *snap_get(struct pktsh_metrics_srv *m)
{
	struct snap *s;

	atomic_fetch_add(&m->active, 1);
	s = atomic_load(&m->cur);
	if (s)
		atomic_fetch_add(&s->refs, 1);
	atomic_fetch_sub(&m->active, 1);
	return s;
}

/* The current snapshot, or with a max age one published since now when
 * the current is older (asked for, and waited for WAIT_FRESH_MS at
 * most: then whatever is current). */
static struct snap *snap_fresh(struct pktsh_metrics_srv *m)
{
	int64_t max_age = atomic_load(&m->max_age_ns), now, deadline;
	struct timespec ts;

	if (max_age <= 0)
		return snap_get(m);
	now = pktsh_mono_ns();
	if (atomic_load(&m->cur) && now - atomic_load(&m->published_at) <= max_age)
		return snap_get(m);
	deadline = now + (int64_t)WAIT_FRESH_MS * 1000000;
	ts.tv_sec = deadline / 1000000000;
	ts.tv_nsec = deadline % 1000000000;
	pthread_mutex_lock(&m->lock);
	atomic_fetch_add(&m->waiters, 1);
	atomic_store(&m->want, 1);
	while (atomic_load(&m->published_at) < now && !atomic_load(&m->closing))
		if (pthread_cond_timedwait(&m->fresh, &m->lock, &ts) == ETIMEDOUT)
			break;
	atomic_fetch_sub(&m->waiters, 1);
	pthread_mutex_unlock(&m->lock);
	return snap_get(m);
}

/* Wakes the requests waiting for a snapshot (one came, or the end). */
static void wake_waiters(struct pktsh_metrics_srv *m)
{
	if (!atomic_load(&m->waiters))
		return;
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->fresh);
	pthread_mutex_unlock(&m->lock);
}

/* The retired snapshots' slot references go once no reader is between
 * its load and its count (so none can still be about to count one). */
static void reclaim(struct pktsh_metrics_srv *m, int force)
{
	struct snap *s, *next;

	if (!force && atomic_load(&m->active) != 0)
		return;
	for (s = m->retired; s; s = next) {
		next = s->next;
		snap_unref(s);
	}
	m->retired = NULL;
}

static int wants_openmetrics(struct MHD_Connection *c)
{
	const char *accept = mhd.lookup(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);

	return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status,
				  const char *text)
{
	struct MHD_Response *r = mhd.from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	ret = mhd.queue(c, status, r);
	mhd.destroy(r);
	return ret;
}

static enum MHD_Result reply_metrics(struct pktsh_metrics_srv *m, struct MHD_Connection *c)
{
	struct snap *s = snap_fresh(m);
	struct MHD_Response *r;
	enum MHD_Result ret;
	int om;

	if (!s)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no metrics published yet\n");
	om = wants_openmetrics(c);
	r = mhd.from_buffer_cb(
		om ? s->om_len : s->prom_len, om ? s->om : s->prom, free_cb, s);
	if (!r) {
		snap_unref(s);
		return MHD_NO;
	}
	mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, om ? OM_TYPE : PROM_TYPE);
	atomic_fetch_add(&m->scrapes, 1);
	if (om)
		atomic_fetch_add(&m->openmetrics, 1);
	ret = mhd.queue(c, MHD_HTTP_OK, r);
	mhd.destroy(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	struct pktsh_metrics_srv *m = cls;

	atomic_fetch_add(&m->requests, 1);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (!strcmp(url, "/metrics"))
		return reply_metrics(m, c);
	if (!strcmp(url, "/"))
		return reply_text(c, MHD_HTTP_OK, "pktsh: metrics at /metrics\n");
	atomic_fetch_add(&m->not_found, 1);
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n");
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (every address, IPv6 and IPv4). */
static int split_addr(const char *spec, char *host, size_t hostcap, char *port,
		      size_t portcap)
{
	const char *colon, *h = spec;
	size_t hl;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -1;
		h = spec + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -1;          /* an IPv6 address needs brackets */
		hl = (size_t)(colon - spec);
	}
	if (hl >= hostcap || strlen(colon + 1) >= portcap || !colon[1])
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int bind_one(const struct addrinfo *ai, struct pktsh_err *err)
{
	int one = 1, zero = 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		int e = errno;

		pktsh_err_set(err, e, "%s", strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void name_of(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	out[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "[%s]:%d", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(out, cap, "%s:%d", host, port);
	}
}

static int listen_on(const char *spec, struct pktsh_err *err)
{
	char host[256], port[16];
	struct addrinfo hints, *res, *ai;
	int rc, fd = -1;

	if (split_addr(spec, host, sizeof(host), port, sizeof(port))) {
		pktsh_err_set(err, EINVAL, "metrics address '%s': give HOST:PORT, [IPV6]:PORT "
			      "or :PORT", spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc && !host[0]) {                   /* no IPv6: every IPv4 address */
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, port, &hints, &res);
	}
	if (rc) {
		pktsh_err_set(err, EINVAL, "metrics address '%s': %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = bind_one(ai, err);
	if (fd < 0 && !host[0]) {
		hints.ai_family = AF_INET;
		freeaddrinfo(res);
		if (getaddrinfo(NULL, port, &hints, &res) == 0)
			for (ai = res; ai && fd < 0; ai = ai->ai_next)
				fd = bind_one(ai, err);
		else
			res = NULL;
	}
	if (res)
		freeaddrinfo(res);
	if (fd < 0) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		pktsh_err_set(err, err->errnum, "cannot serve metrics on %.64s: %.150s", spec, why);
	}
	return fd;
}

/* Waits for a first connection (the listening socket readable): 0, or
 * -1 when the server closes first. */
static int first_connection(struct pktsh_metrics_srv *m)
{
	struct pollfd p[2] = { { .fd = m->fd, .events = POLLIN },
			       { .fd = m->wake[0], .events = POLLIN } };

	while (poll(p, 2, -1) < 0)
		if (errno != EINTR)
			return 0;       /* the daemon will see what it is */
	return p[1].revents ? -1 : 0;
}

/* The starter thread: at the first connection, libmicrohttpd, then the
 * daemon on the bound socket. */
static void *starter_main(void *arg)
{
	struct pktsh_metrics_srv *m = arg;
	struct MHD_Daemon *d;

	if (first_connection(m))
		return NULL;
	pthread_once(&mhd.once, mhd_load);
	if (!mhd.start_daemon) {
		pktsh_err_set(&m->start_err, ENOENT, "metrics: %s", mhd.error);
		atomic_store(&m->start_failed, 1);
		return NULL;
	}
	d = mhd.start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
		MHD_USE_AUTO | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handle, m,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_END);
	if (!d) {
		pktsh_err_set(&m->start_err, EIO, "metrics on %s: libmicrohttpd did not start",
			      m->addr);
		atomic_store(&m->start_failed, 1);
		return NULL;
	}
	atomic_store(&m->daemon, d);
	return NULL;
}

/* Starts the starter once the privileges are the ones kept. */
static int start(struct pktsh_metrics_srv *m, struct pktsh_err *err)
{
	if (m->starter_running || pktsh_privs_pending())
		return 0;
	if (pthread_create(&m->starter, NULL, starter_main, m)) {
		pktsh_err_set(err, errno, "metrics: cannot start a thread");
		return -1;
	}
	m->starter_running = 1;
	return 0;
}

/* The server's parts other than its socket; -1 with errno. */
static int srv_init(struct pktsh_metrics_srv *m)
{
	pthread_condattr_t ca;

	if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK))
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->fresh, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

static void srv_free(struct pktsh_metrics_srv *m)
{
	close(m->wake[0]);
	close(m->wake[1]);
	pthread_cond_destroy(&m->fresh);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int pktsh_metrics_serve(struct pktsh_metrics_srv **out, const char *addr,
			struct pktsh_err *err)
{
	struct pktsh_metrics_srv *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (srv_init(m)) {
		pktsh_err_set(err, errno, "metrics: %s", strerror(errno));
		free(m);
		return -1;
	}
	m->fd = listen_on(addr, err);
	if (m->fd < 0) {
		srv_free(m);
		return -1;
	}
	name_of(m->fd, m->addr, sizeof(m->addr));
	if (start(m, err)) {
		close(m->fd);
		srv_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

int pktsh_metrics_max_age(struct pktsh_metrics_srv *m, double seconds)
{
	atomic_store(&m->max_age_ns, seconds > 0 ? (long long)(seconds * 1e9) : 0);
	return 0;
}

/* The thread's start or its failure, as the loop sees them. */
static int started(struct pktsh_metrics_srv *m, struct pktsh_err *err)
{
	if (atomic_load(&m->start_failed)) {
		*err = m->start_err;
		return -1;
	}
	return start(m, err);
}

int pktsh_metrics_wanted(struct pktsh_metrics_srv *m, struct pktsh_err *err)
{
	if (started(m, err))
		return -1;
	return atomic_load(&m->want);
}

int pktsh_metrics_publish(struct pktsh_metrics_srv *m, const char *prom, size_t prom_len,
			  const char *om, size_t om_len, struct pktsh_err *err)
{
	struct snap *s = malloc(sizeof(*s) + prom_len + om_len);
	struct snap *old;

	if (!s) {
		pktsh_err_set(err, ENOMEM, "out of memory for a metrics snapshot");
		return -1;
	}
	atomic_init(&s->refs, 1);
	s->next = NULL;
	s->prom = s->data;
	s->om = s->data + prom_len;
	s->prom_len = prom_len;
	s->om_len = om_len;
	memcpy(s->prom, prom, prom_len);
	memcpy(s->om, om, om_len);
	/* the flag down first: a request raising it after this wants a
	 * snapshot newer than this one (see snap_fresh) */
	atomic_store(&m->want, 0);
	old = atomic_exchange(&m->cur, s);
	atomic_store(&m->published_at, pktsh_mono_ns());
	wake_waiters(m);
	if (old) {
		old->next = m->retired;
		m->retired = old;
	}
	reclaim(m, 0);
	m->published++;
	return started(m, err);
}

int pktsh_metrics_info(struct pktsh_metrics_srv *m, struct pktsh_metrics_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->addr, sizeof(out->addr), "%s", m->addr);
	out->serving = m->starter_running && !atomic_load(&m->start_failed);
	out->published = m->published;
	out->requests = atomic_load(&m->requests);
	out->scrapes = atomic_load(&m->scrapes);
	out->openmetrics = atomic_load(&m->openmetrics);
	out->not_found = atomic_load(&m->not_found);
	return 0;
}

void pktsh_metrics_close(struct pktsh_metrics_srv *m)
{
	if (!m)
		return;
	atomic_store(&m->closing, 1);
	wake_waiters(m);
	if (m->starter_running) {
		(void)!write(m->wake[1], "", 1);
		pthread_join(m->starter, NULL);
	}
	if (atomic_load(&m->daemon))
		mhd.stop_daemon(atomic_load(&m->daemon));  /* joins its threads, frees
							    * responses, closes the socket */
	else if (m->fd >= 0)
		close(m->fd);
	reclaim(m, 1);
	snap_unref(atomic_load(&m->cur));
	srv_free(m);
}
