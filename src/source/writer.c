/*
 * writer.c - pcap files with nanosecond timestamps.
 *
 * Records are appended to a private buffer whole, and the buffer is only
 * ever written out up to a record boundary, so the file ends on a record
 * after close, at exit, and after a signal handler's emergency flush
 * (write(2) only, async-signal-safe). Only SIGKILL in the middle of a
 * write(2) can leave the last record torn.
 *
 * Records reach the file at least once a second, or at once per record
 * (pktsh_writer_per_packet, dump.lua -U), so a reader at the other end
 * of a pipe sees them as they come and a SIGKILL loses at most the last
 * second: the thread that owns a writer flushes it from
 * pktsh_writers_tick, which the library calls between batches, while
 * waiting for packets, in pktsh.sleep and at the REPL prompt. Only the
 * owner flushes that way, so this adds no sharing between threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "outfile.h"

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
	/* Bytes [flushed, used) of buf are complete records not yet written.
	 * The owner publishes `used` with release order once a record's
	 * bytes are in place; whoever holds `io` writes them out. */
	size_t used;
	size_t flushed;
	int io;                    /* 0, or the id of the thread writing buf out */
	int owner;                 /* the thread that opened it (ticks flush it) */
	int per_packet;            /* flush after every record */
	uint8_t *buf;
	char *path;
	struct pktsh_writer *next, *prev;
};

/*
 * The open writers, for the emergency flush and for close_all at exit.
 *
 * Writers are opened and closed by any thread (each fanout worker has its
 * own), so linking and unlinking take `list_lock`. The signal handler
 * that flushes them (signals.c, main thread only: workers block the
 * signals) cannot take a lock, since the thread it interrupted may hold
 * it. It walks the list without one instead, which is safe because
 *  - every change is one pointer store that readers see whole: link
 *    fills the new writer in before publishing it as the head, unlink
 *    points its predecessor past it, and the removed writer's own `next`
 *    stays valid;
 *  - a walk announces itself in `walkers` before it reads the head, and
 *    unlink, after its store, waits until no walk is under way before
 *    the caller frees the writer. Both sides use sequentially consistent
 *    operations, so either the walk saw the writer gone or the unlinker
 *    sees the walk and waits: a walk never touches freed memory.
 * The wait cannot deadlock: a walk waits only for write(2)s in progress
 * (a second at most), and the thread it runs in is never inside unlink at
 * the same time, because the handler ends the process instead of
 * returning into the code it interrupted.
 *
 * Writing out is the other shared thing: the owner thread of a writer
 * and the handler (in the main thread) both write its buffer out, so
 * whoever does holds `io`. And the handler ends the process with _exit,
 * which would cut a worker's write(2) short at a page boundary, tearing
 * a record. So the handler first sets `exiting`, then takes `io` of every
 * listed writer (waiting for a write in progress) and keeps it; an owner
 * that gets `io` and then sees `exiting` never writes. A writer's file
 * appears at its path with the header already in it (outfile.c), and it
 * is listed from before its first write to after its last (close flushes
 * before it unlinks), so no write escapes both.
 */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pktsh_writer *open_writers;
static int walkers;
static int exiting;

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

static void link_writer(struct pktsh_writer *w)
{
	pthread_mutex_lock(&list_lock);
	w->prev = NULL;
	w->next = open_writers;
	if (open_writers)
		open_writers->prev = w;
	STORE(&open_writers, w);
	pthread_mutex_unlock(&list_lock);
}

static void unlink_writer(struct pktsh_writer *w)
{
	pthread_mutex_lock(&list_lock);
	if (w->prev)
		STORE(&w->prev->next, w->next);
	else
		STORE(&open_writers, w->next);
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&list_lock);
	while (LOAD(&walkers))
		sched_yield();
}

static int thread_id(void)
{
	return (int)syscall(SYS_gettid);
}

/* When this thread first buffered a record none of its ticks has flushed
 * yet (CLOCK_MONOTONIC ns), or 0. */
static __thread int64_t unflushed_since;

static int64_t mono_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The owner's turn to write buf out. Once the handler is ending the
 * process, the owner waits for the end instead. */
static void io_begin(struct pktsh_writer *w)
{
	int me = thread_id(), idle = 0;

	while (!__atomic_compare_exchange_n(&w->io, &idle, me, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED)) {
		idle = 0;
		sched_yield();
	}
	while (LOAD(&exiting))
		pause();
}

static void io_end(struct pktsh_writer *w)
{
	__atomic_store_n(&w->io, 0, __ATOMIC_RELEASE);
}

/* Writes out [flushed, used); safe to call from a signal handler. */
static int drain(struct pktsh_writer *w)
{
	size_t used = __atomic_load_n(&w->used, __ATOMIC_ACQUIRE);

	while (w->flushed < used) {
		ssize_t n = write(w->fd, w->buf + w->flushed, used - w->flushed);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		w->flushed += (size_t)n;
	}
	return 0;
}

/* The owner writes out what is buffered; the buffer is empty after. */
static int flush(struct pktsh_writer *w, struct pktsh_err *err)
{
	int rc;

	io_begin(w);
	rc = drain(w);
	if (rc == 0) {
		__atomic_store_n(&w->used, 0, __ATOMIC_RELEASE);
		w->flushed = 0;
	}
	io_end(w);
	if (rc)
		pktsh_err_set(err, errno, "writing '%s': %s", w->path,
			      strerror(errno));
	return rc;
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
	if (w)
		w->fd = -1;     /* calloc's 0 is standard input: never close that */
	if (!w || !(w->buf = malloc(WRITER_BUF)) || !(w->path = strdup(path))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	w->fd = pktsh_outfile_open(path, &h, sizeof(h), err);
	if (w->fd < 0)
		goto fail;
	w->snaplen = snaplen;
	w->owner = thread_id();
	link_writer(w);
	*out = w;
	return 0;
fail:
	if (w) {
		if (w->fd >= 0)
			close(w->fd);
		free(w->buf);
		free(w->path);
	}
	free(w);
	return -1;
}

/* A record larger than the buffer goes straight out, after the buffer. */
static int write_big(struct pktsh_writer *w, const struct pcap_record_header *r,
		     const uint8_t *data, struct pktsh_err *err)
{
	int rc;

	if (flush(w, err))
		return -1;
	io_begin(w);
	rc = pktsh_write_all(w->fd, r, sizeof(*r)) ||
	     pktsh_write_all(w->fd, data, r->caplen);
	io_end(w);
	if (rc)
		pktsh_err_set(err, errno, "writing '%s': %s", w->path, strerror(errno));
	return rc ? -1 : 0;
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
	r.sec = (uint32_t)(ts / 1000000000);
	r.nsec = (uint32_t)(ts % 1000000000);
	r.caplen = caplen;
	r.len = len;
	if (need > WRITER_BUF) {
		if (write_big(w, &r, data, err))
			return -1;
	} else {
		if (w->used + need > WRITER_BUF && flush(w, err))
			return -1;
		memcpy(w->buf + w->used, &r, sizeof(r));
		memcpy(w->buf + w->used + sizeof(r), data, caplen);
		/* the record is whole from here on */
		__atomic_store_n(&w->used, w->used + need, __ATOMIC_RELEASE);
		if (!w->per_packet && !unflushed_since)
			unflushed_since = mono_coarse();
	}
	w->packets++;
	return w->per_packet ? flush(w, err) : 0;
}

int pktsh_writer_per_packet(struct pktsh_writer *w, int32_t on)
{
	w->per_packet = on != 0;
	return 0;
}

#define TICK_MAX 64

/* Flushes up to TICK_MAX writers of this thread that hold records; 1 if
 * there may be more. The list lock is not held while they write (a pipe
 * may block): only this thread closes them. */
static int flush_own(void)
{
	struct pktsh_writer *mine[TICK_MAX], *w;
	int me = thread_id(), n = 0, more = 0, i;

	pthread_mutex_lock(&list_lock);
	for (w = open_writers; w; w = w->next) {
		if (w->owner != me || !__atomic_load_n(&w->used, __ATOMIC_ACQUIRE))
			continue;
		if (n == TICK_MAX) {
			more = 1;
			break;
		}
		mine[n++] = w;
	}
	pthread_mutex_unlock(&list_lock);
	for (i = 0; i < n; i++)
		flush(mine[i], NULL);     /* an error shows at the next write or close */
	return more;
}

void pktsh_writers_tick(int32_t force)
{
	if (!unflushed_since ||
	    (!force && mono_coarse() - unflushed_since < 1000000000))
		return;
	unflushed_since = 0;
	while (flush_own())
		;
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
	rc = flush(w, err);     /* while listed: see the list's comment */
	unlink_writer(w);
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

/* At exit, in the main thread: the workers have been joined. */
void pktsh_writers_close_all(void)
{
	struct pktsh_writer *w;

	while ((w = LOAD(&open_writers)))
		pktsh_writer_close(w, NULL);
}

/* From the signal handler, which then ends the process: takes `io` of
 * each writer for good and writes out what is buffered. A writer whose
 * owner (another thread) is writing it out is waited for, up to a
 * second. One this thread was writing out when the signal came is left
 * as that write(2) left it: the handler most likely runs right after the
 * write returned and before `flushed` counted it, so writing on from
 * `flushed` would put those bytes in the file twice. */
static void emergency_drain(struct pktsh_writer *w)
{
	struct timespec ms = { 0, 1000000 };
	int me = thread_id(), owner = 0, waits = 0;

	while (!__atomic_compare_exchange_n(&w->io, &owner, me, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED)) {
		if (owner == me || ++waits > 1000)
			return;
		nanosleep(&ms, NULL);
		owner = 0;
	}
	drain(w);
}

void pktsh_writers_emergency_flush(void)
{
	struct pktsh_writer *w;

	STORE(&exiting, 1);
	__atomic_add_fetch(&walkers, 1, __ATOMIC_SEQ_CST);
	for (w = LOAD(&open_writers); w; w = LOAD(&w->next))
		emergency_drain(w);
	__atomic_sub_fetch(&walkers, 1, __ATOMIC_SEQ_CST);
}
