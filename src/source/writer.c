/*
 * writer.c - pcap files with nanosecond timestamps.
 *
 * Records are appended to a private buffer whole, and the buffer is only
 * ever written out up to a record boundary, so the file ends on a record
 * after close, at exit, and after a signal handler's emergency flush
 * (write(2) only, async-signal-safe). Only SIGKILL in the middle of a
 * write(2) can leave the last record torn.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "host/host.h"

#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define WRITER_BUF (256u * 1024u)
#define MAX_SNAPLEN (1u << 24)

struct pcap_file_header_ns {
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct pcap_record_header {
	uint32_t sec;
	uint32_t nsec;
	uint32_t caplen;
	uint32_t len;
};

struct pktsh_writer {
	int fd;
	uint32_t snaplen;
	uint64_t packets;
	/* Bytes [flushed, used) of buf are complete records not yet written. */
	volatile size_t used;
	volatile size_t flushed;
	uint8_t *buf;
	char *path;
	struct pktsh_writer *next, *prev;
};

static struct pktsh_writer *open_writers;

static void link_writer(struct pktsh_writer *w)
{
	sigset_t all, old;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	w->next = open_writers;
	if (open_writers)
		open_writers->prev = w;
	open_writers = w;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void unlink_writer(struct pktsh_writer *w)
{
	sigset_t all, old;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (w->prev)
		w->prev->next = w->next;
	else
		open_writers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Writes out [flushed, used); safe to call from a signal handler. */
static int drain(struct pktsh_writer *w)
{
	while (w->flushed < w->used) {
		ssize_t n = write(w->fd, w->buf + w->flushed, w->used - w->flushed);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		w->flushed += (size_t)n;
	}
	return 0;
}

static int flush(struct pktsh_writer *w, struct pktsh_err *err)
{
	if (drain(w)) {
		pktsh_err_set(err, errno, "writing '%s': %s", w->path,
			      strerror(errno));
		return -1;
	}
	w->used = 0;
	w->flushed = 0;
	return 0;
}

static void append(struct pktsh_writer *w, const void *p, size_t n)
{
	memcpy(w->buf + w->used, p, n);
}

int pktsh_writer_open(struct pktsh_writer **out, const char *path,
		      int32_t linktype, uint32_t snaplen, struct pktsh_err *err)
{
	struct pcap_file_header_ns h = {
		PCAP_MAGIC_NSEC, 2, 4, 0, 0, snaplen, (uint32_t)linktype
	};
	struct pktsh_writer *w;

	*out = NULL;
	if (snaplen == 0 || snaplen > MAX_SNAPLEN || linktype < 0) {
		pktsh_err_set(err, EINVAL, "bad snaplen %u or linktype %d",
			      snaplen, linktype);
		return -1;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->buf = malloc(WRITER_BUF)) || !(w->path = strdup(path))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		pktsh_err_set(err, errno, "cannot create '%s': %s", path,
			      strerror(errno));
		goto fail;
	}
	w->snaplen = snaplen;
	append(w, &h, sizeof(h));
	w->used = sizeof(h);
	if (flush(w, err)) {
		close(w->fd);
		goto fail;
	}
	link_writer(w);
	*out = w;
	return 0;
fail:
	if (w) {
		free(w->buf);
		free(w->path);
	}
	free(w);
	return -1;
}

int pktsh_writer_write(struct pktsh_writer *w, const uint8_t *data,
		       uint32_t caplen, uint32_t len, int64_t ts,
		       struct pktsh_err *err)
{
	struct pcap_record_header r;
	size_t need;

	if (caplen > w->snaplen)
		caplen = w->snaplen;
	if (len < caplen)
		len = caplen;
	need = sizeof(r) + caplen;
	if (w->used + need > WRITER_BUF && flush(w, err))
		return -1;
	r.sec = (uint32_t)(ts / 1000000000);
	r.nsec = (uint32_t)(ts % 1000000000);
	r.caplen = caplen;
	r.len = len;
	if (need > WRITER_BUF) {        /* larger than the buffer: straight out */
		struct pktsh_writer tmp = *w;

		tmp.buf = (uint8_t *)&r;
		tmp.used = sizeof(r);
		tmp.flushed = 0;
		if (drain(&tmp))
			goto fail;
		tmp.buf = (uint8_t *)data;
		tmp.used = caplen;
		tmp.flushed = 0;
		if (drain(&tmp))
			goto fail;
	} else {
		append(w, &r, sizeof(r));
		memcpy(w->buf + w->used + sizeof(r), data, caplen);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		w->used += need;        /* the record is whole from here on */
	}
	w->packets++;
	return 0;
fail:
	pktsh_err_set(err, errno, "writing '%s': %s", w->path, strerror(errno));
	return -1;
}

int pktsh_writer_flush(struct pktsh_writer *w, struct pktsh_err *err)
{
	return flush(w, err);
}

int pktsh_writer_count(const struct pktsh_writer *w, uint64_t *packets)
{
	*packets = w->packets;
	return 0;
}

int pktsh_writer_close(struct pktsh_writer *w, struct pktsh_err *err)
{
	int rc;

	if (!w)
		return 0;
	unlink_writer(w);
	rc = flush(w, err);
	if (close(w->fd) && rc == 0) {
		pktsh_err_set(err, errno, "closing '%s': %s", w->path,
			      strerror(errno));
		rc = -1;
	}
	free(w->buf);
	free(w->path);
	free(w);
	return rc;
}

void pktsh_writers_close_all(void)
{
	while (open_writers)
		pktsh_writer_close(open_writers, NULL);
}

void pktsh_writers_emergency_flush(void)
{
	struct pktsh_writer *w;

	for (w = open_writers; w; w = w->next)
		drain(w);
}
