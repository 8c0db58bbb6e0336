/*
 * fstrmio.c - the byte streams under a dnstap writer, as fstrm_rdwr
 * objects: a file, a Unix socket, a TCP connection.
 *
 * libfstrm has writers of its own for all three, but its file writer
 * opens the path with fopen (following a symbolic link planted there:
 * src/outfile.c says why pktsh never does) and its socket writers block
 * without bound on a collector that stops reading, with no way for
 * another thread to make them return. These open files through
 * pktsh_outfile_open, put send and receive timeouts on sockets (a
 * collector that stalls longer is dropped and reconnected later), send
 * with MSG_NOSIGNAL (a collector that goes away is an error, not a
 * SIGPIPE), and let close shut a socket down from the main thread.
 *
 * A socket stream has a read method, so fstrm handshakes on it (READY,
 * ACCEPT, START as the Frame Streams protocol wants for bidirectional
 * transports); a file has none and gets a START frame and data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include "report/fstrmio.h"

struct pktsh_fstrmio {
	enum pktsh_fstrmio_kind kind;
	int fd;                   /* -1 when closed */
	int opened_once;          /* a file is created once, never again */
	uint32_t timeout_ms;
	pthread_mutex_t lock;     /* fd against shutdown from another thread */
	char where[512];          /* the path, or the socket path, or the host */
	char port[16];
	char error[200];
};

static void set_error(struct pktsh_fstrmio *io, const char *what, int e)
{
	pthread_mutex_lock(&io->lock);
	snprintf(io->error, sizeof(io->error), "%s %.120s: %.60s", what, io->where, strerror(e));
	pthread_mutex_unlock(&io->lock);
}

void pktsh_fstrmio_last_error(struct pktsh_fstrmio *io, char *out, size_t cap)
{
	pthread_mutex_lock(&io->lock);
	snprintf(out, cap, "%s", io->error);
	pthread_mutex_unlock(&io->lock);
}

static int open_file(struct pktsh_fstrmio *io, struct pktsh_err *err)
{
	io->fd = pktsh_outfile_open(io->where, "", 0, err);
	io->opened_once = 1;
	return io->fd < 0 ? -1 : 0;
}

static void timeouts(int fd, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int connect_unix(struct pktsh_fstrmio *io)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	timeouts(fd, io->timeout_ms);
	memcpy(sa.sun_path, io->where, strlen(io->where) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int connect_tcp(struct pktsh_fstrmio *io)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int fd = -1, e = ECONNREFUSED;

	if (getaddrinfo(io->where, io->port, &hints, &res)) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		timeouts(fd, io->timeout_ms);   /* SO_SNDTIMEO bounds connect too */
		if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		errno = e;
	return fd;
}

static fstrm_res io_open(void *obj)
{
	struct pktsh_fstrmio *io = obj;
	int fd;

	if (io->kind == PKTSH_FSTRMIO_FILE) {
		struct pktsh_err err;

		if (io->fd >= 0)
			return fstrm_res_success;
		if (io->opened_once || open_file(io, &err)) {
			pthread_mutex_lock(&io->lock);
			snprintf(io->error, sizeof(io->error), "%.190s", io->opened_once ?
				 "the dnstap file failed earlier" : err.msg);
			pthread_mutex_unlock(&io->lock);
			return fstrm_res_failure;
		}
		return fstrm_res_success;
	}
	fd = io->kind == PKTSH_FSTRMIO_UNIX ? connect_unix(io) : connect_tcp(io);
	if (fd < 0) {
		set_error(io, "connecting to", errno);
		return fstrm_res_failure;
	}
	pthread_mutex_lock(&io->lock);
	io->fd = fd;
	pthread_mutex_unlock(&io->lock);
	return fstrm_res_success;
}

static fstrm_res io_close(void *obj)
{
	struct pktsh_fstrmio *io = obj;
	int fd;

	pthread_mutex_lock(&io->lock);
	fd = io->fd;
	io->fd = -1;
	pthread_mutex_unlock(&io->lock);
	if (fd >= 0 && close(fd)) {
		set_error(io, "closing", errno);
		return fstrm_res_failure;
	}
	return fstrm_res_success;
}

static fstrm_res io_read(void *obj, void *data, size_t count)
{
	struct pktsh_fstrmio *io = obj;

	while (count > 0) {
		ssize_t n = recv(io->fd, data, count, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return fstrm_res_stop;
		if (n < 0) {
			set_error(io, "reading from", errno);
			return fstrm_res_failure;
		}
		data = (char *)data + n;
		count -= (size_t)n;
	}
	return fstrm_res_success;
}

/* Writes every byte of iov; partial writes go on from where they ended. */
static fstrm_res io_write(void *obj, const struct iovec *iov, int iovcnt)
{
	struct pktsh_fstrmio *io = obj;
	struct iovec v[IOV_MAX];
	int i = 0, n = iovcnt < IOV_MAX ? iovcnt : IOV_MAX;

	if (iovcnt > IOV_MAX)
		return io_write(obj, iov, IOV_MAX) == fstrm_res_success ?
		       io_write(obj, iov + IOV_MAX, iovcnt - IOV_MAX) : fstrm_res_failure;
	memcpy(v, iov, sizeof(*v) * (size_t)n);
	while (i < n) {
		struct msghdr mh = { .msg_iov = v + i, .msg_iovlen = (size_t)(n - i) };
		ssize_t k = io->kind == PKTSH_FSTRMIO_FILE ? writev(io->fd, v + i, n - i) :
			    sendmsg(io->fd, &mh, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			set_error(io, "writing to", k < 0 ? errno : EIO);
			return fstrm_res_failure;
		}
		while (i < n && (size_t)k >= v[i].iov_len)
			k -= (ssize_t)v[i++].iov_len;
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + k;
			v[i].iov_len -= (size_t)k;
		}
	}
	return fstrm_res_success;
}

static fstrm_res io_destroy(void *obj)
{
	struct pktsh_fstrmio *io = obj;

	if (io->fd >= 0)
		close(io->fd);
	pthread_mutex_destroy(&io->lock);
	free(io);
	return fstrm_res_success;
}

/* "tcp:HOST:PORT" (HOST may be [V6]) into where and port. */
static int split_tcp(struct pktsh_fstrmio *io, const char *hp)
{
	const char *colon = strrchr(hp, ':');
	size_t hl;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(io->port))
		return -1;
	hl = (size_t)(colon - hp);
	if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
		hp++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(io->where))
		return -1;
	memcpy(io->where, hp, hl);
	io->where[hl] = '\0';
	strcpy(io->port, colon + 1);
	return 0;
}

static int parse(struct pktsh_fstrmio *io, const char *spec, struct pktsh_err *err)
{
	if (!strncmp(spec, "unix:", 5)) {
		io->kind = PKTSH_FSTRMIO_UNIX;
		if (!spec[5] || strlen(spec + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			pktsh_err_set(err, EINVAL, "dnstap '%s': give unix:PATH (a path "
				      "under 108 bytes)", spec);
			return -1;
		}
		strcpy(io->where, spec + 5);
	} else if (!strncmp(spec, "tcp:", 4)) {
		io->kind = PKTSH_FSTRMIO_TCP;
		if (split_tcp(io, spec + 4)) {
			pktsh_err_set(err, EINVAL, "dnstap '%s': give tcp:HOST:PORT "
				      "(tcp:[V6]:PORT for an IPv6 address)", spec);
			return -1;
		}
	} else {
		io->kind = PKTSH_FSTRMIO_FILE;
		if (!spec[0] || strlen(spec) >= sizeof(io->where)) {
			pktsh_err_set(err, EINVAL, "dnstap: a file path, unix:PATH or "
				      "tcp:HOST:PORT expected");
			return -1;
		}
		strcpy(io->where, spec);
	}
	return 0;
}

int pktsh_fstrmio_new(struct pktsh_fstrmio **out, const char *spec, int defer,
		      uint32_t timeout_ms, struct pktsh_err *err)
{
	struct pktsh_fstrmio *io = calloc(1, sizeof(*io));

	*out = NULL;
	if (!io) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	io->fd = -1;
	io->timeout_ms = timeout_ms ? timeout_ms : 5000;
	pthread_mutex_init(&io->lock, NULL);
	if (parse(io, spec, err) ||
	    (io->kind == PKTSH_FSTRMIO_FILE && !defer && open_file(io, err))) {
		io_destroy(io);
		return -1;
	}
	*out = io;
	return 0;
}

enum pktsh_fstrmio_kind pktsh_fstrmio_kind(const struct pktsh_fstrmio *io)
{
	return io->kind;
}

struct fstrm_writer *pktsh_fstrmio_writer(struct pktsh_fstrmio *io, const char *content_type)
{
	struct fstrm_rdwr *rdwr = fstrm_rdwr_init(io);
	struct fstrm_writer_options *wopt;
	struct fstrm_writer *w;

	if (!rdwr) {
		io_destroy(io);
		return NULL;
	}
	fstrm_rdwr_set_destroy(rdwr, io_destroy);
	fstrm_rdwr_set_open(rdwr, io_open);
	fstrm_rdwr_set_close(rdwr, io_close);
	fstrm_rdwr_set_write(rdwr, io_write);
	if (io->kind != PKTSH_FSTRMIO_FILE)
		fstrm_rdwr_set_read(rdwr, io_read);
	wopt = fstrm_writer_options_init();
	fstrm_writer_options_add_content_type(wopt, content_type, strlen(content_type));
	w = fstrm_writer_init(wopt, &rdwr);
	fstrm_writer_options_destroy(&wopt);
	if (!w && rdwr)
		fstrm_rdwr_destroy(&rdwr);
	return w;
}

void pktsh_fstrmio_shutdown(struct pktsh_fstrmio *io)
{
	pthread_mutex_lock(&io->lock);
	if (io->fd >= 0 && io->kind != PKTSH_FSTRMIO_FILE)
		shutdown(io->fd, SHUT_RDWR);
	pthread_mutex_unlock(&io->lock);
}
