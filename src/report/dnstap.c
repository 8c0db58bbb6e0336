/*
 * dnstap.c - every DNS message seen, as a dnstap Message (dnstap.proto,
 * protobuf-c) in Frame Streams (libfstrm), written by a thread of its
 * own to a file, a Unix socket or a TCP collector.
 *
 * The capture thread only copies: pktsh_dnstap_add puts the message's
 * bytes, addresses, ports and time into a ring of bytes shared with the
 * writer thread (one producer, one consumer, no lock). When the ring is
 * full the message is counted as dropped and the capture goes on; with
 * opts.wait (a file read offline, where nothing is live to fall behind)
 * the producer waits for room instead. The writer thread takes the ring
 * a batch at a time, encodes each record as a Dnstap protobuf and hands
 * the batch to fstrm in one write. While the output is down (a
 * collector not listening yet, or gone) it reconnects once a second and
 * counts what it cannot write as lost, so the ring always drains.
 *
 * The message type is chosen as passive capture tools do (dnstap's
 * types describe one end of an exchange; a sensor on the wire is at
 * neither): go-dnscollector's AF_PACKET and pcap collectors call a
 * message with QR=0 CLIENT_QUERY and one with QR=1 CLIENT_RESPONSE, with
 * query_address/query_port the client's (the source of a query, the
 * destination of a response) and response_address/response_port the
 * server's. pktsh does the same, with the capture's time as query_time
 * or response_time and the wire message as query_message or
 * response_message.
 *
 * The thread starts once the process runs with the privileges it keeps
 * (privs.c drops -Z only while there is one thread): at open, or with
 * -Z pending, at the first message (there is a source by then).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "dnstap.pb-c.h"
#include "report/fstrmio.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define DEFAULT_QUEUE (4u << 20)
#define MIN_QUEUE (256u << 10)
#define BATCH 128                  /* frames per write */
#define SCRATCH (BATCH * 600u)     /* encoded frames of a batch, usually */
#define WRAP 0xffffffffu           /* the rest of the ring is unused */
#define RECONNECT_NS 1000000000LL
#define CLOSE_WAIT_S 10

enum { F_V6 = 1, F_TCP = 2, F_RESPONSE = 4 };

/* A message in the ring, its bytes after it; size is the record's,
 * rounded up to 8. */
struct rec {
	uint32_t size;
	uint32_t len;
	uint16_t qport, rport;
	uint8_t flags, pad[3];
	int64_t ts;
	uint8_t qaddr[16], raddr[16];
};

struct pktsh_dnstap {
	/* the producer's (the capture thread) */
	uint8_t *ring;
	uint64_t cap;
	_Atomic uint64_t head, tail;
	uint64_t tail_seen;
	uint64_t queued, dropped;
	int wait;
	int started;
	/* the writer thread's */
	pthread_t thread;
	atomic_int stop;
	atomic_int connected;
	_Atomic uint64_t written, lost, connects, errors;
	struct fstrm_writer *w;
	struct pktsh_fstrmio *io;  /* owned by w */
	enum pktsh_fstrmio_kind kind;
	int64_t next_try;
	uint8_t *scratch;
	size_t scratch_cap;
	uint8_t prefix[384];       /* the Dnstap fields before its Message */
	size_t prefix_len;
};

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void nap(long ns)
{
	struct timespec t = { 0, ns };

	nanosleep(&t, NULL);
}

/* --- the writer thread ------------------------------------------------- */

/* The Dnstap wrapper is the same for every message but its Message:
 * identity (1), version (2), then message (14) and type (15), in field
 * order as protobuf-c would write them. The fields before the Message
 * are packed once by protobuf-c (t->prefix); each frame is that prefix,
 * the Message's tag and length, the Message packed by protobuf-c, and
 * type = MESSAGE. Packing the whole Dnstap instead walks the Message
 * three times (its size for the frame, again for the wrapper, then the
 * bytes), which made the writer three times slower. */
enum { TAG_MESSAGE = 14 << 3 | 2, TAG_TYPE = 15 << 3 | 0, MSG_OVERHEAD = 128 };

static int prefix_init(struct pktsh_dnstap *t, const char *identity)
{
	Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
	char version[64];

	snprintf(version, sizeof(version), "pktsh %s", pktsh_version());
	d.has_identity = identity[0] != 0;
	d.identity = (ProtobufCBinaryData){ strlen(identity), (uint8_t *)identity };
	d.has_version = 1;
	d.version = (ProtobufCBinaryData){ strlen(version), (uint8_t *)version };
	/* type and message are left out here: written per frame */
	d.type = 0;
	if (protobuf_c_message_get_packed_size(&d.base) > sizeof(t->prefix))
		return -1;
	t->prefix_len = dnstap__dnstap__pack(&d, t->prefix);
	/* protobuf-c wrote the required type (tag 15, value 0) last: drop it */
	if (t->prefix_len < 2 || t->prefix[t->prefix_len - 2] != TAG_TYPE ||
	    t->prefix[t->prefix_len - 1] != 0)
		return -1;
	t->prefix_len -= 2;
	return 0;
}

/* The most bytes a record's frame takes. */
static size_t frame_bound(const struct pktsh_dnstap *t, const struct rec *r)
{
	return t->prefix_len + 4 + r->len + MSG_OVERHEAD + 2;
}

static void fill_message(Dnstap__Message *m, const struct rec *r)
{
	size_t alen = r->flags & F_V6 ? 16 : 4;
	ProtobufCBinaryData wire = { r->len, (uint8_t *)(r + 1) };
	uint64_t sec = (uint64_t)(r->ts / 1000000000LL);
	uint32_t nsec = (uint32_t)(r->ts % 1000000000LL);

	m->has_socket_family = m->has_socket_protocol = 1;
	m->socket_family = r->flags & F_V6 ? DNSTAP__SOCKET_FAMILY__INET6 :
			   DNSTAP__SOCKET_FAMILY__INET;
	m->socket_protocol = r->flags & F_TCP ? DNSTAP__SOCKET_PROTOCOL__TCP :
			     DNSTAP__SOCKET_PROTOCOL__UDP;
	m->has_query_address = m->has_response_address = 1;
	m->query_address = (ProtobufCBinaryData){ alen, (uint8_t *)r->qaddr };
	m->response_address = (ProtobufCBinaryData){ alen, (uint8_t *)r->raddr };
	m->has_query_port = m->has_response_port = 1;
	m->query_port = r->qport;
	m->response_port = r->rport;
	if (r->flags & F_RESPONSE) {
		m->type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
		m->has_response_time_sec = m->has_response_time_nsec = 1;
		m->has_response_message = 1;
		m->response_time_sec = sec;
		m->response_time_nsec = nsec;
		m->response_message = wire;
	} else {
		m->type = DNSTAP__MESSAGE__TYPE__CLIENT_QUERY;
		m->has_query_time_sec = m->has_query_time_nsec = m->has_query_message = 1;
		m->query_time_sec = sec;
		m->query_time_nsec = nsec;
		m->query_message = wire;
	}
}

/* Encodes r into out (frame_bound bytes of room) as one frame; *start
 * gets where the frame begins (a few bytes into out). Its length. */
static size_t encode(const struct pktsh_dnstap *t, const struct rec *r, uint8_t *out,
		     uint8_t **start)
{
	Dnstap__Message m = DNSTAP__MESSAGE__INIT;
	uint8_t *body = out + t->prefix_len + 4, *p;
	size_t mlen, k;

	fill_message(&m, r);
	mlen = dnstap__message__pack(&m, body);
	k = mlen < 1u << 7 ? 1 : mlen < 1u << 14 ? 2 : 3;
	p = body - k - 1;
	*start = p - t->prefix_len;
	memcpy(*start, t->prefix, t->prefix_len);
	*p++ = TAG_MESSAGE;
	for (size_t v = mlen; p < body; v >>= 7, p++)   /* k bytes, ending at body */
		*p = (uint8_t)(p + 1 < body ? (v & 0x7f) | 0x80 : v);
	body[mlen] = TAG_TYPE;
	body[mlen + 1] = DNSTAP__DNSTAP__TYPE__MESSAGE;
	return (size_t)(body + mlen + 2 - *start);
}

/* Whether the output is open, (re)opening it when it is time to try. */
static int output_ready(struct pktsh_dnstap *t)
{
	int64_t now;

	if (atomic_load(&t->connected))
		return 1;
	now = mono_ns();
	if (now < t->next_try || (atomic_load(&t->stop) && t->next_try))
		return 0;                /* closing: no new connection after a failed one */
	t->next_try = now + RECONNECT_NS;
	if (fstrm_writer_open(t->w) != fstrm_res_success) {
		atomic_fetch_add(&t->errors, 1);
		fstrm_writer_close(t->w);
		return 0;
	}
	atomic_fetch_add(&t->connects, 1);
	atomic_store(&t->connected, 1);
	return 1;
}

static void output_failed(struct pktsh_dnstap *t)
{
	atomic_fetch_add(&t->errors, 1);
	atomic_store(&t->connected, 0);
	fstrm_writer_close(t->w);
	t->next_try = mono_ns() + RECONNECT_NS;
}

/* Records from *tail up to head, at most BATCH and what fits the
 * scratch buffer, encoded into iov; advances *tail past them. */
static int take_batch(struct pktsh_dnstap *t, uint64_t *tail, uint64_t head,
		      struct iovec *iov)
{
	size_t used = 0;
	uint8_t *start;
	int n = 0;

	while (*tail < head && n < BATCH) {
		uint64_t pos = *tail % t->cap;
		const struct rec *r = (const struct rec *)(t->ring + pos);
		size_t need;

		if (r->size == WRAP) {
			*tail += t->cap - pos;
			continue;
		}
		need = frame_bound(t, r);
		if (used + need > t->scratch_cap) {
			if (n > 0)
				break;
			*tail += r->size;    /* cannot be: a record is under 64 KiB + 1 KiB */
			atomic_fetch_add(&t->lost, 1);
			continue;
		}
		iov[n].iov_len = encode(t, r, t->scratch + used, &start);
		iov[n].iov_base = start;
		used = (size_t)(start - t->scratch) + iov[n].iov_len;
		*tail += r->size;
		n++;
	}
	return n;
}

static void write_batch(struct pktsh_dnstap *t, const struct iovec *iov, int n)
{
	if (!output_ready(t)) {
		atomic_fetch_add(&t->lost, (uint64_t)n);
		return;
	}
	if (fstrm_writer_writev(t->w, iov, n) != fstrm_res_success) {
		atomic_fetch_add(&t->lost, (uint64_t)n);
		output_failed(t);
		return;
	}
	atomic_fetch_add(&t->written, (uint64_t)n);
}

static void *writer_main(void *arg)
{
	struct pktsh_dnstap *t = arg;
	struct iovec iov[BATCH];
	uint64_t tail = atomic_load(&t->tail);
	int idle = 0;

	output_ready(t);
	for (;;) {
		uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
		int n;

		if (tail == head) {
			if (atomic_load(&t->stop))
				break;
			/* 1 ms while messages come, up to 16 ms when quiet */
			nap(idle < 100 ? 1000000 : 16000000);
			idle++;
			continue;
		}
		idle = 0;
		n = take_batch(t, &tail, head, iov);
		if (n > 0)
			write_batch(t, iov, n);
		atomic_store_explicit(&t->tail, tail, memory_order_release);
	}
	if (atomic_load(&t->connected) && fstrm_writer_close(t->w) != fstrm_res_success)
		atomic_fetch_add(&t->errors, 1);
	atomic_store(&t->connected, 0);
	return NULL;
}

static int start(struct pktsh_dnstap *t)
{
	if (pthread_create(&t->thread, NULL, writer_main, t))
		return -1;
	t->started = 1;
	return 0;
}

/* --- the producer ------------------------------------------------------ */

/* Room for need bytes (plus what wrapping skips): 1, or 0 when full. */
static int room(struct pktsh_dnstap *t, uint64_t need)
{
	for (;;) {
		if (t->cap - (atomic_load_explicit(&t->head, memory_order_relaxed) -
			      t->tail_seen) >= need)
			return 1;
		t->tail_seen = atomic_load_explicit(&t->tail, memory_order_acquire);
		if (t->cap - (atomic_load_explicit(&t->head, memory_order_relaxed) -
			      t->tail_seen) >= need)
			return 1;
		if (!t->wait || t->started != 1 || need > t->cap)
			return 0;
		nap(20000);
	}
}

void pktsh_dnstap_add(struct pktsh_dnstap *t, const uint8_t *msg, uint32_t len,
		      const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport,
		      int64_t ts, int tcp)
{
	uint32_t size = (uint32_t)((sizeof(struct rec) + len + 7) & ~(size_t)7);
	uint64_t head = atomic_load_explicit(&t->head, memory_order_relaxed);
	uint64_t pos = head % t->cap, skip = t->cap - pos < size ? t->cap - pos : 0;
	uint32_t alen = v6 ? 16 : 4;
	const uint8_t *src = l3hdr + (v6 ? 8 : 12), *dst = src + alen;
	struct rec *r;
	int resp = len > 2 && (msg[2] & 0x80);

	if (!t->started && !pktsh_privs_pending() && start(t))
		t->started = -1;             /* no thread: everything drops */
	if (len > 65535 || !room(t, size + skip)) {
		t->dropped++;
		return;
	}
	if (skip) {
		*(uint32_t *)(t->ring + pos) = WRAP;
		head += skip;
		pos = 0;
	}
	r = (struct rec *)(t->ring + pos);
	r->size = size;
	r->len = len;
	r->flags = (uint8_t)((v6 ? F_V6 : 0) | (tcp ? F_TCP : 0) | (resp ? F_RESPONSE : 0));
	r->ts = ts;
	memset(r->qaddr, 0, sizeof(r->qaddr) * 2);
	memcpy(r->qaddr, resp ? dst : src, alen);
	memcpy(r->raddr, resp ? src : dst, alen);
	r->qport = resp ? dport : sport;
	r->rport = resp ? sport : dport;
	memcpy(r + 1, msg, len);
	atomic_store_explicit(&t->head, head + size, memory_order_release);
	t->queued++;
}

/* --- open, stats, close ------------------------------------------------ */

int pktsh_dnstap_open(struct pktsh_dnstap **out, const char *spec,
		      const struct pktsh_dnstap_opts *opts, struct pktsh_err *err)
{
	struct pktsh_dnstap *t = calloc(1, sizeof(*t));
	uint32_t q = opts && opts->queue_bytes ? opts->queue_bytes : DEFAULT_QUEUE;
	char host[256] = "";

	*out = NULL;
	if (!t) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	t->cap = (q < MIN_QUEUE ? MIN_QUEUE : q) & ~7u;
	t->wait = opts && opts->wait;
	t->scratch_cap = SCRATCH > 70000 ? SCRATCH : 70000;
	t->ring = malloc(t->cap);
	t->scratch = malloc(t->scratch_cap);
	if (opts && opts->identity)
		snprintf(host, sizeof(host), "%s", opts->identity);
	else if (gethostname(host, sizeof(host) - 1))
		host[0] = '\0';
	if (!t->ring || !t->scratch) {
		pktsh_err_set(err, ENOMEM, "out of memory for a %u-byte dnstap queue", q);
		goto fail;
	}
	if (prefix_init(t, host)) {
		pktsh_err_set(err, EINVAL, "dnstap: an identity of at most 255 bytes");
		goto fail;
	}
	if (pktsh_fstrmio_new(&t->io, spec, pktsh_privs_pending(),
			      opts ? opts->timeout_ms : 0, err))
		goto fail;
	t->kind = pktsh_fstrmio_kind(t->io);
	t->w = pktsh_fstrmio_writer(t->io, CONTENT_TYPE);
	if (!t->w) {
		pktsh_err_set(err, ENOMEM, "out of memory for an fstrm writer");
		goto fail;
	}
	if (!pktsh_privs_pending() && start(t)) {
		pktsh_err_set(err, errno, "cannot start the dnstap writer thread");
		fstrm_writer_destroy(&t->w);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	free(t->ring);
	free(t->scratch);
	free(t);
	return -1;
}

int pktsh_dnstap_stats(struct pktsh_dnstap *t, struct pktsh_dnstap_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->queued = t->queued;
	out->dropped = t->dropped;
	out->written = atomic_load(&t->written);
	out->lost = atomic_load(&t->lost);
	out->connects = atomic_load(&t->connects);
	out->errors = atomic_load(&t->errors);
	out->connected = atomic_load(&t->connected);
	out->pending = atomic_load(&t->head) - atomic_load(&t->tail);
	if (t->w)
		pktsh_fstrmio_last_error(t->io, out->last_error, sizeof(out->last_error));
	return 0;
}

/* Waits for the thread, at most CLOSE_WAIT_S (a collector that stopped
 * reading is shut down then): 0 if it ended by itself. */
static int join(struct pktsh_dnstap *t)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += CLOSE_WAIT_S;
	if (pthread_timedjoin_np(t->thread, NULL, &dl) == 0)
		return 0;
	pktsh_fstrmio_shutdown(t->io);
	pthread_join(t->thread, NULL);
	return -1;
}

int pktsh_dnstap_close(struct pktsh_dnstap *t, struct pktsh_dnstap_stats *final,
		       struct pktsh_err *err)
{
	int rc = 0;

	if (!t)
		return 0;
	atomic_store(&t->stop, 1);
	if (t->started == 1 && join(t)) {
		pktsh_err_set(err, ETIMEDOUT, "dnstap: the collector stopped reading; "
			      "gave up after %d s", CLOSE_WAIT_S);
		rc = -1;
	}
	if (final)
		pktsh_dnstap_stats(t, final);
	fstrm_writer_destroy(&t->w);
	free(t->ring);
	free(t->scratch);
	free(t);
	return rc;
}
