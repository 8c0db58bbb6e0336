/*
 * file.c - offline captures as batches.
 *
 * libpcap opens and validates every file. Classic pcap files that are
 * regular files are then read by us, in large read(2)s into a buffer that
 * descriptors point into, and whose records are walked in place: no
 * per-packet library call and no per-packet copy. (A mapping of the file
 * was slower: a minor page fault every 4 KiB, and record headers that miss
 * the cache; a reused buffer stays warm.) pcapng, pipes and the rarer pcap
 * variants go through pcap_next_ex() and are copied into an arena that
 * lives as long as the batch. Either way a filter runs in C
 * (pcap_offline_filter) before a packet reaches Lua. Descriptors, the
 * buffer and the arena come from the batch layer (batch.c), which never
 * hands them back while a packet could point at them.
 *
 * A pipe or a terminal (standard input, a FIFO: "a stream") streams: a
 * batch ends as soon as no further record is there to read, so a packet
 * written into the pipe reaches Lua at once, not when a batch fills up.
 * libpcap reads a stream through an unbuffered FILE over a buffer of
 * ours (struct stream), so that we always know whether bytes are waiting.
 *
 * A limit (pktsh_file_limit: the `duration` option) ends the input at
 * the first record whose time is that far past the first record read
 * after the limit was set; the record stays unread.
 */
#define _GNU_SOURCE     /* fopencookie */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "err.h"
#include "source/batch.h"

#define PCAP_HEADER_LEN 24
#define RECORD_HEADER_LEN 16
#define MAX_CAPLEN_LIMIT (1u << 24)
#define READ_CHUNK (256u * 1024u)
#define STREAM_BUF (64u * 1024u)

/* A pipe's bytes, read ahead by us and handed to libpcap on request. */
struct stream {
	int fd;
	int own_fd;               /* 0 for standard input: never closed */
	size_t pos, fill;
	int eof;
	uint8_t buf[STREAM_BUF];
};

struct pktsh_file {
	pcap_t *pcap;
	struct bpf_program prog;
	int filtered;
	struct pktsh_file_info info;
	struct pktsh_src_stats stats;
	struct batch_ring *br;
	uint32_t max_caplen;
	/* classic pcap read by us: bytes [pos, fill) of buf are unread;
	 * offset is the file offset of buf[0] */
	int fd;
	struct region buf;
	size_t pos, fill;
	uint64_t offset;
	int eof;
	/* copies from pcap_next_ex */
	struct region arena;
	/* a pipe or terminal read through libpcap, or NULL */
	struct stream *stream;
	/* pktsh_file_limit: records from t_end on are left unread */
	int64_t limit_ns;         /* -1: none */
	int64_t t_end;
	int t_end_set;
	int limited;              /* the limit ended the input (for now) */
	int held;                 /* libpcap's last record is past the limit */
	struct pcap_pkthdr *held_h;
	const u_char *held_data;
	/* end of input: 1 clean end (or the limit), -1 an error saved in `fault` */
	int end;
	struct pktsh_err fault;
	char *path;
};

static uint32_t swap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

/* Opens a classic pcap file for our reader, or leaves f->fd -1 for the
 * libpcap path. */
static void try_direct(struct pktsh_file *f, const char *path)
{
	struct stat st;
	uint32_t magic;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size < PCAP_HEADER_LEN ||
	    pread(fd, &magic, 4, 0) != 4)
		goto fail;
	switch (magic) {
	case 0xa1b2c3d4: f->info.nsec = 0; f->info.swapped = 0; break;
	case 0xa1b23c4d: f->info.nsec = 1; f->info.swapped = 0; break;
	case 0xd4c3b2a1: f->info.nsec = 0; f->info.swapped = 1; break;
	case 0x4d3cb2a1: f->info.nsec = 1; f->info.swapped = 1; break;
	default: goto fail;     /* pcapng or a variant libpcap knows better */
	}
	if (region_get(&f->buf, READ_CHUNK, NULL) ||
	    lseek(fd, PCAP_HEADER_LEN, SEEK_SET) < 0)
		goto fail;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	f->offset = PCAP_HEADER_LEN;
	f->fd = fd;
	f->info.direct = 1;
	return;
fail:
	region_put(&f->buf);
	close(fd);
}

/* Moves the unread tail to the front and reads more, growing the buffer
 * when one record needs more than it holds. -1 on a read error. */
static int refill(struct pktsh_file *f, size_t need)
{
	size_t left = f->fill - f->pos;

	if (need > f->buf.len) {
		struct region b;

		if (region_get(&b, need, NULL))
			return -1;
		memcpy(b.addr, f->buf.addr + f->pos, left);
		region_put(&f->buf);
		f->buf = b;
	} else {
		memmove(f->buf.addr, f->buf.addr + f->pos, left);
	}
	f->offset += f->pos;
	f->pos = 0;
	f->fill = left;
	while (f->fill < f->buf.len && !f->eof) {
		ssize_t n = read(f->fd, f->buf.addr + f->fill, f->buf.len - f->fill);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			f->eof = 1;
		f->fill += (size_t)n;
	}
	return 0;
}

static ssize_t stream_read(void *cookie, char *out, size_t n)
{
	struct stream *st = cookie;

	while (st->pos == st->fill && !st->eof) {
		ssize_t got = read(st->fd, st->buf, sizeof(st->buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		st->pos = 0;
		st->fill = (size_t)got;
		st->eof = got == 0;
	}
	if (n > st->fill - st->pos)
		n = st->fill - st->pos;
	memcpy(out, st->buf + st->pos, n);
	st->pos += n;
	return (ssize_t)n;
}

static int stream_close(void *cookie)
{
	struct stream *st = cookie;

	if (st->own_fd)
		close(st->fd);
	free(st);
	return 0;
}

/* Bytes are waiting (ours or the kernel's), or the writer is gone: a
 * read would not wait. */
static int stream_ready(struct stream *st, int timeout_ms)
{
	struct pollfd p = { st->fd, POLLIN, 0 };

	if (st->pos < st->fill || st->eof)
		return 1;
	return poll(&p, 1, timeout_ms) > 0;
}

/* libpcap over fd through our buffer (fd is the stream's from here on). */
static pcap_t *stream_open(struct pktsh_file *f, int fd, int own_fd, char *errbuf)
{
	static const cookie_io_functions_t io = { stream_read, NULL, NULL, stream_close };
	struct stream *st = calloc(1, sizeof(*st));
	FILE *fp;
	pcap_t *p;

	if (!st) {
		if (own_fd)
			close(fd);
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "out of memory");
		return NULL;
	}
	st->fd = fd;
	st->own_fd = own_fd;
	fp = fopencookie(st, "r", io);
	if (!fp) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
		stream_close(st);
		return NULL;
	}
	setvbuf(fp, NULL, _IONBF, 0);
	p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!p) {
		fclose(fp);
		return NULL;
	}
	f->stream = st;
	f->info.stream = 1;
	return p;
}

/* Opens path with libpcap: itself for a regular file (try_direct may then
 * read it), through a stream for "-", a pipe, a FIFO or a device. */
static pcap_t *open_pcap(struct pktsh_file *f, const char *path, char *errbuf)
{
	struct stat st;
	int fd;

	if (!strcmp(path, "-"))
		return stream_open(f, STDIN_FILENO, 0, errbuf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		return stream_open(f, fd, 1, errbuf);
	if (fd >= 0)
		close(fd);
	return pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO,
							 errbuf);
}

static int compile_filter(struct pktsh_file *f, const char *filter,
			  struct pktsh_err *err)
{
	if (!filter || !*filter)
		return 0;
	if (pcap_compile(f->pcap, &f->prog, filter, 1, PCAP_NETMASK_UNKNOWN)) {
		pktsh_err_set(err, EINVAL, "bad filter '%s': %s", filter,
			      pcap_geterr(f->pcap));
		return -1;
	}
	f->filtered = 1;
	return 0;
}

int pktsh_file_set_filter(struct pktsh_file *f, const char *expr,
			  const struct pktsh_bpf_insn *insns, uint32_t n,
			  struct pktsh_err *err)
{
	struct bpf_program old = f->prog;
	int had = f->filtered;
	struct bpf_insn *copy;

	f->filtered = 0;
	if (expr && *expr) {
		if (compile_filter(f, expr, err)) {
			f->prog = old;
			f->filtered = had;
			return -1;
		}
	} else if (n) {
		/* struct bpf_insn and ours have one layout; pcap_freecode frees it. */
		if (n > PKTSH_BPF_MAXINSNS || !bpf_validate((const struct bpf_insn *)insns, (int)n)) {
			pktsh_err_set(err, EINVAL, "bad filter program: %s", n > PKTSH_BPF_MAXINSNS ?
				      "too many instructions" : "a jump out of range, a bad "
				      "opcode, or no return at the end (bpf_validate)");
			f->filtered = had;
			return -1;
		}
		if (!(copy = malloc(n * sizeof(*copy)))) {
			pktsh_err_set(err, ENOMEM, "out of memory");
			f->filtered = had;
			return -1;
		}
		memcpy(copy, insns, n * sizeof(*copy));
		f->prog.bf_len = n;
		f->prog.bf_insns = copy;
		f->filtered = 1;
	}
	if (had)
		pcap_freecode(&old);
	return 0;
}

int pktsh_file_open(struct pktsh_file **out, const char *path,
		    const char *filter, uint32_t batch_cap, int32_t guard,
		    struct pktsh_err *err)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct pktsh_file *f;

	*out = NULL;
	if (batch_cap == 0 || batch_cap > 65536) {
		pktsh_err_set(err, EINVAL, "batch size %u out of range 1..65536",
			      batch_cap);
		return -1;
	}
	f = calloc(1, sizeof(*f));
	if (f) {
		f->fd = -1;     /* calloc's 0 is standard input: never close that */
		f->limit_ns = -1;
	}
	if (!f || !(f->path = strdup(path))) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (!(f->br = batch_ring_get(batch_cap, guard, err)))
		goto fail;
	f->pcap = open_pcap(f, path, errbuf);
	if (!f->pcap) {
		pktsh_err_set(err, errno, "cannot read '%s': %s", path, errbuf);
		goto fail;
	}
	f->info.linktype = pcap_datalink(f->pcap);
	f->info.snaplen = (uint32_t)pcap_snapshot(f->pcap);
	f->info.format = PKTSH_FORMAT_PCAPNG;
	f->max_caplen = f->info.snaplen > PKTSH_SNAPLEN_DEFAULT ?
		f->info.snaplen : PKTSH_SNAPLEN_DEFAULT;
	if (f->max_caplen > MAX_CAPLEN_LIMIT)
		f->max_caplen = MAX_CAPLEN_LIMIT;
	if (!f->stream)
		try_direct(f, path);
	if (f->fd >= 0)
		f->info.format = PKTSH_FORMAT_PCAP;
	else
		f->info.nsec = pcap_get_tstamp_precision(f->pcap) ==
			PCAP_TSTAMP_PRECISION_NANO;
	if (compile_filter(f, filter, err))
		goto fail;
	*out = f;
	return 0;
fail:
	pktsh_file_close(f);
	return -1;
}

static void set_fault(struct pktsh_file *f, const char *fmt, unsigned long long a,
		      unsigned long long b, unsigned long long c)
{
	f->end = -1;
	pktsh_err_set(&f->fault, EIO, fmt, f->path, a, b, c);
}

static int wanted(struct pktsh_file *f, const struct pcap_pkthdr *h,
		  const uint8_t *data)
{
	f->stats.received++;
	return !f->filtered || pcap_offline_filter(&f->prog, h, data);
}

/* ns since the epoch; a pcapng file can claim seconds that do not fit in
 * int64 nanoseconds, and those saturate instead of overflowing. */
static int64_t ts_ns(int64_t sec, int64_t frac_ns)
{
	int64_t ns;

	if (__builtin_mul_overflow(sec, (int64_t)1000000000, &ns) ||
	    __builtin_add_overflow(ns, frac_ns, &ns))
		return sec < 0 ? INT64_MIN : INT64_MAX;
	return ns;
}

/* Whether a record of time ts is past the limit: the input then ends
 * before it (f->limited), leaving it unread. */
static int past_limit(struct pktsh_file *f, int64_t ts)
{
	if (f->limit_ns < 0)
		return 0;
	if (!f->t_end_set) {
		f->t_end = ts > INT64_MAX - f->limit_ns ? INT64_MAX : ts + f->limit_ns;
		f->t_end_set = 1;
	}
	if (ts < f->t_end)
		return 0;
	f->limited = 1;
	return 1;
}

static void put(struct pktsh_file *f, const uint8_t *data, uint32_t caplen,
		uint32_t len, int64_t ts)
{
	/* a poisoned slot is zero but for these: no memset of the whole
	 * descriptor for every packet of a file */
	struct pktsh_pkt *p = batch_add_poisoned(f->br);

	p->data = data;
	p->caplen = caplen;
	p->len = len;
	p->ts = ts;
	p->linktype = (uint16_t)f->info.linktype;
	p->tsrc = PKTSH_TSRC_FILE;
	p->l2state = p->l3state = PKTSH_PKT_NEW;
	f->stats.bytes += len;
}

/* Whether the record at f->pos is whole in the buffer; reads more when
 * the batch so far allows (its packets point into the buffer). */
static int record_ready(struct pktsh_file *f, size_t need)
{
	if (f->fill - f->pos >= need || f->eof)
		return f->fill - f->pos >= need;
	if (f->br->batch->count > 0)
		return 0;
	if (refill(f, need)) {
		f->end = -1;
		pktsh_err_set(&f->fault, errno, "%s: %s", f->path, strerror(errno));
		return 0;
	}
	return f->fill - f->pos >= need;
}

static void fill_direct(struct pktsh_file *f)
{
	struct pktsh_batch *b = f->br->batch;

	while (b->count < b->cap) {
		uint32_t r[4];
		struct pcap_pkthdr h;
		const uint8_t *data;
		int64_t ts;

		if (!record_ready(f, RECORD_HEADER_LEN)) {
			if (f->end || b->count > 0)
				return;
			if (f->pos == f->fill) {
				f->end = 1;
				return;
			}
			set_fault(f, "%s: truncated capture: record header at offset %llu "
				  "has %llu of %llu bytes", f->offset + f->pos,
				  f->fill - f->pos, RECORD_HEADER_LEN);
			return;
		}
		memcpy(r, f->buf.addr + f->pos, sizeof(r));
		if (f->info.swapped)
			for (int i = 0; i < 4; i++)
				r[i] = swap32(r[i]);
		if (r[2] > f->max_caplen) {
			set_fault(f, "%s: corrupt capture: record at offset %llu claims "
				  "%llu captured bytes (limit %llu)", f->offset + f->pos,
				  r[2], f->max_caplen);
			return;
		}
		if (!record_ready(f, RECORD_HEADER_LEN + r[2])) {
			if (f->end || b->count > 0)
				return;
			set_fault(f, "%s: truncated capture: record at offset %llu needs "
				  "%llu bytes, the file has %llu more", f->offset + f->pos,
				  r[2], f->fill - f->pos - RECORD_HEADER_LEN);
			return;
		}
		data = f->buf.addr + f->pos + RECORD_HEADER_LEN;
		ts = ts_ns(r[0], (int64_t)r[1] * (f->info.nsec ? 1 : 1000));
		if (past_limit(f, ts))
			return;
		f->pos += RECORD_HEADER_LEN + r[2];
		h.ts.tv_sec = r[0];
		h.ts.tv_usec = r[1];
		h.caplen = r[2];
		h.len = r[3];
		if (wanted(f, &h, data))
			put(f, data, r[2], r[3], ts);
	}
}

/* Grows the arena; descriptors hold offsets until the batch is complete. */
static int reserve(struct pktsh_file *f, size_t used, size_t need)
{
	size_t cap = f->arena.len ? f->arena.len : 1u << 20;
	struct region a;

	/* an arena even for packets of 0 bytes: NULL + 0 is undefined */
	if (f->arena.addr && used + need <= f->arena.len)
		return 0;
	while (cap < used + need)
		cap *= 2;
	if (region_get(&a, cap, NULL))
		return -1;
	if (f->arena.addr)
		memcpy(a.addr, f->arena.addr, used);
	region_put(&f->arena);
	f->arena = a;
	return 0;
}

static void fill_from_pcap(struct pktsh_file *f)
{
	struct pktsh_batch *b = f->br->batch;
	struct pktsh_pkt *w = batch_window(f->br);
	size_t used = 0;
	uint32_t i;

	while (b->count < b->cap) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int64_t ts;
		int rc;

		if (f->held) {
			/* the record the limit left unread (still libpcap's) */
			rc = 1;
			h = f->held_h;
			data = f->held_data;
			f->held = 0;
		} else {
			/* a stream's batch ends where its bytes do */
			if (f->stream && b->count > 0 && !stream_ready(f->stream, 0))
				break;
			rc = pcap_next_ex(f->pcap, &h, &data);
		}
		if (rc == PCAP_ERROR_BREAK) {
			f->end = 1;
			break;
		}
		if (rc == PCAP_ERROR) {
			f->end = -1;
			pktsh_err_set(&f->fault, EIO, "%s: %s", f->path,
				      pcap_geterr(f->pcap));
			break;
		}
		if (rc != 1)
			continue;
		ts = ts_ns(h->ts.tv_sec, h->ts.tv_usec);
		if (past_limit(f, ts)) {
			f->held = 1;
			f->held_h = h;
			f->held_data = data;
			break;
		}
		if (!wanted(f, h, data))
			continue;
		if (reserve(f, used, h->caplen)) {
			f->end = -1;
			pktsh_err_set(&f->fault, ENOMEM, "%s: out of memory", f->path);
			break;
		}
		memcpy(f->arena.addr + used, data, h->caplen);
		put(f, (const uint8_t *)(uintptr_t)used, h->caplen, h->len, ts);
		used += h->caplen;
	}
	for (i = 0; i < b->count; i++)
		w[i].data = f->arena.addr + (uintptr_t)w[i].data;
}

int pktsh_file_next(struct pktsh_file *f, struct pktsh_batch **out,
		    struct pktsh_err *err)
{
	struct pktsh_batch *b;

	batch_begin(f->br);
	b = *out = f->br->batch;
	if (f->end == 0 && !f->limited) {
		if (f->fd >= 0)
			fill_direct(f);
		else
			fill_from_pcap(f);
		if (batch_end(f->br, err))
			return -1;
	}
	if (b->count) {
		f->stats.packets += b->count;
		f->stats.batches++;
		return (int)b->count;
	}
	if (f->end < 0) {
		*err = f->fault;
		return -1;
	}
	return 0;
}

int pktsh_file_wait(struct pktsh_file *f, int32_t timeout_ms)
{
	if (!f->stream || f->end || f->limited || f->held)
		return 1;
	return stream_ready(f->stream, timeout_ms);
}

int pktsh_file_limit(struct pktsh_file *f, int64_t ns)
{
	/* lifting or moving a limit resumes an input the limit ended */
	f->limited = 0;
	f->limit_ns = ns < 0 ? -1 : ns;
	f->t_end_set = 0;
	return 0;
}

int pktsh_file_info(const struct pktsh_file *f, struct pktsh_file_info *out)
{
	*out = f->info;
	return 0;
}

int pktsh_file_stats(const struct pktsh_file *f, struct pktsh_src_stats *out)
{
	*out = f->stats;
	return 0;
}

void pktsh_file_close(struct pktsh_file *f)
{
	if (!f)
		return;
	if (f->filtered)
		pcap_freecode(&f->prog);
	if (f->pcap)
		pcap_close(f->pcap);
	if (f->fd >= 0)
		close(f->fd);
	region_put(&f->buf);
	region_put(&f->arena);
	batch_ring_put(f->br);
	free(f->path);
	free(f);
}

int pktsh_filter_check(const char *expr, int32_t linktype, uint32_t snaplen,
		       struct pktsh_err *err)
{
	struct bpf_program prog;
	pcap_t *p = pcap_open_dead(linktype, (int)snaplen);
	int rc = 0;

	if (!p) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN)) {
		pktsh_err_set(err, EINVAL, "bad filter '%s': %s", expr,
			      pcap_geterr(p));
		rc = -1;
	} else {
		pcap_freecode(&prog);
	}
	pcap_close(p);
	return rc;
}
