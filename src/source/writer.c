/*
 * writer.c - pcap files with nanosecond timestamps, and pcapng files.
 *
 * Records (pcapng: blocks) are appended to a private buffer whole, and the
 * buffer is only ever written out up to a record boundary, so the file
 * ends on a record after close, at exit, and after a signal handler's
 * emergency flush (write(2) only, async-signal-safe). Only SIGKILL in the
 * middle of a write(2) can leave the last record torn.
 *
 * Records reach the file at least once a second, or at once per record
 * (pktsh_writer_per_packet, dump.lua -U), so a reader at the other end
 * of a pipe sees them as they come and a SIGKILL loses at most the last
 * second: the thread that owns a writer flushes it from
 * pktsh_writers_tick, which the library calls between batches, while
 * waiting for packets, in pktsh.sleep and at the REPL prompt. Only the
 * owner flushes that way, so this adds no sharing between threads.
 *
 * pcapng (libpcap 1.10 reads it but cannot write it) follows
 * draft-ietf-opsawg-pcapng: a Section Header Block with optional comment,
 * shb_userappl and shb_os; an Interface Description Block per interface,
 * each with if_tsresol 9 (nanoseconds) and optional if_name and
 * if_description; an Enhanced Packet Block per packet, with an optional
 * comment. Blocks are in host byte order, as the byte-order magic says.
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
#define NG_SHB 0x0a0d0d0au
#define NG_IDB 1u
#define NG_EPB 6u
#define NG_BYTE_ORDER 0x1a2b3c4du
#define NG_MAX_IFACES 4096
#define NG_MAX_OPT 65535u      /* an option's length is 16 bits */

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
	int ng;                    /* pcapng rather than pcap */
	uint32_t snaplen;          /* pcap; pcapng: of each interface: */
	uint32_t *ifsnap;
	uint32_t nifaces;
	uint64_t packets;
	uint64_t bytes;            /* in the file, buffered ones included */
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

/* Frees a writer that was never listed. */
static void writer_free(struct pktsh_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->path);
	free(w->ifsnap);
	free(w);
}

/* A writer around a file whose first bytes are head, with room for
 * nifaces interfaces' snapshot lengths; NULL on failure. */
static struct pktsh_writer *writer_new(const char *path, const void *head,
				       size_t len, uint32_t nifaces,
				       struct pktsh_err *err)
{
	struct pktsh_writer *w = calloc(1, sizeof(*w));

	if (w)
		w->fd = -1;     /* calloc's 0 is standard input: never close that */
	if (!w || !(w->buf = malloc(WRITER_BUF)) || !(w->path = strdup(path)) ||
	    (nifaces && !(w->ifsnap = calloc(nifaces, sizeof(*w->ifsnap))))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		writer_free(w);
		return NULL;
	}
	w->fd = pktsh_outfile_open(path, head, len, err);
	if (w->fd < 0) {
		writer_free(w);
		return NULL;
	}
	w->bytes = len;
	w->owner = thread_id();
	return w;
}

static int bad_params(int32_t linktype, uint32_t snaplen, struct pktsh_err *err)
{
	if (snaplen == 0 || snaplen > MAX_SNAPLEN || linktype < 0 || linktype > 0xffff) {
		pktsh_err_set(err, EINVAL, "bad snaplen %u or linktype %d",
			      snaplen, linktype);
		return -1;
	}
	return 0;
}

int pktsh_writer_open(struct pktsh_writer **out, const char *path,
		      int32_t linktype, uint32_t snaplen, struct pktsh_err *err)
{
	struct pcap_file_header_ns h = {
		PCAP_MAGIC_NSEC, 2, 4, 0, 0, snaplen, (uint32_t)linktype
	};
	struct pktsh_writer *w;

	*out = NULL;
	if (bad_params(linktype, snaplen, err) || !(w = writer_new(path, &h, sizeof(h), 0, err)))
		return -1;
	w->snaplen = snaplen;
	link_writer(w);
	*out = w;
	return 0;
}

/*
 * Blocks go into buf whole: the parts of one are copied, then published
 * with one store (see `used`), so a flush from the signal handler sees
 * all of a block or none of it.
 */
struct part {
	const void *p;
	size_t n;
};

/* A block larger than the buffer goes straight out, after the buffer. */
static int write_big(struct pktsh_writer *w, const struct part *v, int n,
		     struct pktsh_err *err)
{
	int i, rc = 0;

	if (flush(w, err))
		return -1;
	io_begin(w);
	for (i = 0; i < n && rc == 0; i++)
		rc = pktsh_write_all(w->fd, v[i].p, v[i].n);
	io_end(w);
	if (rc)
		pktsh_err_set(err, errno, "writing '%s': %s", w->path, strerror(errno));
	return rc ? -1 : 0;
}

static int append(struct pktsh_writer *w, const struct part *v, int n,
		  struct pktsh_err *err)
{
	size_t need = 0, at;
	int i;

	for (i = 0; i < n; i++)
		need += v[i].n;
	if (need > WRITER_BUF) {
		if (write_big(w, v, n, err))
			return -1;
	} else {
		if (w->used + need > WRITER_BUF && flush(w, err))
			return -1;
		at = w->used;
		for (i = 0; i < n; i++) {
			memcpy(w->buf + at, v[i].p, v[i].n);
			at += v[i].n;
		}
		/* the block is whole from here on */
		__atomic_store_n(&w->used, at, __ATOMIC_RELEASE);
		if (!w->per_packet && !unflushed_since)
			unflushed_since = mono_coarse();
	}
	w->bytes += need;
	return 0;
}

static const uint8_t zeros[8];

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

/* The bytes an option with a value of len bytes takes (0 without one). */
static size_t opt_size(const char *v)
{
	size_t n;

	if (!v || !*v)
		return 0;
	n = strlen(v);
	if (n > NG_MAX_OPT)
		n = NG_MAX_OPT;
	return 4 + n + pad4(n);
}

/* Writes option code with the text v at p (when v is given); the end. */
static uint8_t *opt_put(uint8_t *p, uint16_t code, const char *v)
{
	uint16_t n16;
	size_t n;

	if (!v || !*v)
		return p;
	n = strlen(v);
	if (n > NG_MAX_OPT)
		n = NG_MAX_OPT;
	n16 = (uint16_t)n;
	memcpy(p, &code, 2);
	memcpy(p + 2, &n16, 2);
	memcpy(p + 4, v, n);
	memset(p + 4 + n, 0, pad4(n));
	return p + 4 + n + pad4(n);
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

/* An Interface Description Block into a fresh buffer of *len bytes. */
static uint8_t *idb_new(int32_t linktype, uint32_t snaplen, const char *name,
			const char *descr, size_t *len)
{
	static const uint8_t tsresol[8] = { 9, 0, 1, 0, 9, 0, 0, 0 };
	size_t n = 16 + opt_size(name) + opt_size(descr) + 8 + 4 + 4;
	uint8_t *b = malloc(n), *p;
	uint16_t lt = (uint16_t)linktype, zero = 0;

	if (!b)
		return NULL;
	p = put32(put32(b, NG_IDB), (uint32_t)n);
	memcpy(p, &lt, 2);
	memcpy(p + 2, &zero, 2);
	p = put32(p + 4, snaplen);
	p = opt_put(p, 2, name);
	p = opt_put(p, 3, descr);
	memcpy(p, tsresol, 8);                 /* if_tsresol: 10^-9 */
	p = put32(p + 8, 0);                   /* opt_endofopt */
	put32(p, (uint32_t)n);
	*len = n;
	return b;
}

/* The Section Header Block and the first IDB: the file's head. */
static uint8_t *ng_head(const struct pktsh_ng_opts *o, size_t *len)
{
	size_t idb_len, n = 24 + opt_size(o->comment) + opt_size(o->userappl) +
			     opt_size(o->os) + 4 + 4;
	uint8_t *idb = idb_new(o->linktype, o->snaplen, o->ifname, o->ifdescr, &idb_len);
	uint8_t *b = idb ? malloc(n + idb_len) : NULL, *p;
	uint16_t version[2] = { 1, 0 };
	int64_t section = -1;

	if (!b) {
		free(idb);
		return NULL;
	}
	p = put32(put32(put32(b, NG_SHB), (uint32_t)n), NG_BYTE_ORDER);
	memcpy(p, version, 4);
	memcpy(p + 4, &section, 8);
	p = opt_put(p + 12, 1, o->comment);
	p = opt_put(p, 3, o->os);               /* shb_os */
	p = opt_put(p, 4, o->userappl);         /* shb_userappl */
	p = put32(p, 0);
	put32(p, (uint32_t)n);
	memcpy(b + n, idb, idb_len);
	free(idb);
	*len = n + idb_len;
	return b;
}

static int add_snaplen(struct pktsh_writer *w, uint32_t snaplen, struct pktsh_err *err)
{
	uint32_t *s;

	if (w->nifaces >= NG_MAX_IFACES) {
		pktsh_err_set(err, ENOSPC, "'%s': more than %d interfaces", w->path,
			      NG_MAX_IFACES);
		return -1;
	}
	s = realloc(w->ifsnap, (w->nifaces + 1) * sizeof(*s));
	if (!s) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	w->ifsnap = s;
	s[w->nifaces++] = snaplen;
	return 0;
}

int pktsh_writer_open_ng(struct pktsh_writer **out, const char *path,
			 const struct pktsh_ng_opts *o, struct pktsh_err *err)
{
	struct pktsh_writer *w;
	uint8_t *head;
	size_t len;

	*out = NULL;
	if (bad_params(o->linktype, o->snaplen, err))
		return -1;
	if (!(head = ng_head(o, &len))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	w = writer_new(path, head, len, 1, err);
	free(head);
	if (!w)
		return -1;
	w->ng = 1;
	w->ifsnap[0] = o->snaplen;
	w->nifaces = 1;
	link_writer(w);
	*out = w;
	return 0;
}

int pktsh_writer_add_iface(struct pktsh_writer *w, int32_t linktype,
			   uint32_t snaplen, const char *name, const char *descr,
			   uint32_t *id, struct pktsh_err *err)
{
	struct part v[1];
	uint8_t *idb;
	size_t len;
	int rc;

	if (!w->ng) {
		pktsh_err_set(err, EINVAL, "'%s' is a pcap file: one link type only", w->path);
		return -1;
	}
	if (bad_params(linktype, snaplen, err))
		return -1;
	if (!(idb = idb_new(linktype, snaplen, name, descr, &len))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	v[0].p = idb;
	v[0].n = len;
	rc = add_snaplen(w, snaplen, err) || append(w, v, 1, err) ||
	     (w->per_packet && flush(w, err));
	free(idb);
	if (rc)
		return -1;
	*id = w->nifaces - 1;
	return 0;
}

static int write_pcap(struct pktsh_writer *w, const uint8_t *data,
		      uint32_t caplen, uint32_t len, int64_t ts,
		      struct pktsh_err *err)
{
	struct pcap_record_header r;
	struct part v[2];

	if (caplen > w->snaplen)
		caplen = w->snaplen;
	if (len < caplen)
		len = caplen;
	r.sec = (uint32_t)(ts / 1000000000);
	r.nsec = (uint32_t)(ts % 1000000000);
	r.caplen = caplen;
	r.len = len;
	v[0].p = &r;
	v[0].n = sizeof(r);
	v[1].p = data;
	v[1].n = caplen;
	return append(w, v, 2, err);
}

/* The comment option of an Enhanced Packet Block: its parts (none when
 * there is no comment), how many, and in *bytes their length. */
static int comment_parts(struct part *v, uint16_t *hdr, const char *comment,
			 size_t *bytes)
{
	static const uint32_t end_of_opts;
	size_t n;

	*bytes = 0;
	if (!comment || !*comment)
		return 0;
	n = strlen(comment);
	if (n > NG_MAX_OPT)
		n = NG_MAX_OPT;
	hdr[0] = 1;                       /* opt_comment */
	hdr[1] = (uint16_t)n;
	v[0] = (struct part){ hdr, 4 };
	v[1] = (struct part){ comment, n };
	v[2] = (struct part){ zeros, pad4(n) };
	v[3] = (struct part){ &end_of_opts, 4 };
	*bytes = 4 + n + pad4(n) + 4;
	return 4;
}

int pktsh_writer_write_ng(struct pktsh_writer *w, uint32_t iface,
			  const uint8_t *data, uint32_t caplen, uint32_t len,
			  int64_t ts, const char *comment, struct pktsh_err *err)
{
	uint32_t h[7], total;
	uint16_t opt[2];
	struct part v[8];
	size_t optlen;
	int n;

	if (!w->ng) {
		if (iface != 0 || comment) {
			pktsh_err_set(err, EINVAL, "'%s' is a pcap file: no interfaces "
				      "or comments (pcapng has them)", w->path);
			return -1;
		}
		if (write_pcap(w, data, caplen, len, ts, err))
			return -1;
		w->packets++;
		return w->per_packet ? flush(w, err) : 0;
	}
	if (iface >= w->nifaces) {
		pktsh_err_set(err, EINVAL, "'%s' has no interface %u", w->path, iface);
		return -1;
	}
	if (caplen > w->ifsnap[iface])
		caplen = w->ifsnap[iface];
	if (len < caplen)
		len = caplen;
	n = 3 + comment_parts(v + 3, opt, comment, &optlen);
	total = (uint32_t)(sizeof(h) + caplen + pad4(caplen) + optlen + 4);
	h[0] = NG_EPB;
	h[1] = total;
	h[2] = iface;
	h[3] = (uint32_t)((uint64_t)ts >> 32);
	h[4] = (uint32_t)(uint64_t)ts;
	h[5] = caplen;
	h[6] = len;
	v[0] = (struct part){ h, sizeof(h) };
	v[1] = (struct part){ data, caplen };
	v[2] = (struct part){ zeros, pad4(caplen) };
	v[n++] = (struct part){ &total, 4 };
	if (append(w, v, n, err))
		return -1;
	w->packets++;
	return w->per_packet ? flush(w, err) : 0;
}

int pktsh_writer_per_packet(struct pktsh_writer *w, int32_t on)
{
	w->per_packet = on != 0;
	return 0;
}

int pktsh_writer_write(struct pktsh_writer *w, const uint8_t *data,
		       uint32_t caplen, uint32_t len, int64_t ts,
		       struct pktsh_err *err)
{
	return pktsh_writer_write_ng(w, 0, data, caplen, len, ts, NULL, err);
}

int pktsh_writer_size(const struct pktsh_writer *w, uint64_t *bytes)
{
	*bytes = w->bytes;
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
	w->fd = -1;
	writer_free(w);
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
