/*
 * dnsq.c - the DNS fast path: header, first question and full RCODE of a
 * message, without building a table. dnsstats calls it once per message;
 * written in C because LuaJIT traces the label walks badly when they run
 * inside a large packet loop (side traces abort, the JIT gives up).
 *
 * Rules as in lua/pktsh/dns.lua's full parser: compression pointers must
 * point strictly backwards (each below the one before, as tcpdump and
 * BIND require: no loops) and a name follows at most PKTSH_DNS_MAX_HOPS
 * of them (the first question, at 12, can only point into the header,
 * 6 hops at most; the limit is walk_name's own, whatever name it is
 * given), label types 0x40/0x80 and names over 255 octets are errors,
 * nothing is read at or past len; the rest of the message is walked
 * once, pointers not followed. The name is kept
 * in wire form with its labels lower-cased (what the hash is over: equal
 * names in any case hash equal) and, unless only the wire form was asked
 * for, in presentation form (RFC 1035 5.1 escapes, lower-cased, no
 * trailing dot, "." for the root).
 */
#include <string.h>
#include "pktsh.h"
#include "accel/hash.h"

static uint16_t be16(const uint8_t *d)
{
	return (uint16_t)(d[0] << 8 | d[1]);
}

/* Each octet of a name in presentation form: plain[c] is c when it is
 * written as itself, 0 when it needs a backslash ('.', '\\', '"', ';',
 * '(', ')', '@', '$' as \c; the rest as \DDD). lower[] folds ASCII case.
 * Tables, because these run for every byte of every name. */
static uint8_t plain[256], lower[256];

__attribute__((constructor)) static void tables_init(void)
{
	for (int c = 0; c < 256; c++)
		lower[c] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	for (int c = 0x21; c < 0x7f; c++)
		plain[c] = (uint8_t)c;
	for (const char *e = ".\\\";()@$"; *e; e++)
		plain[(uint8_t)*e] = 0;
}

/* Appends the escaped form of c; returns the new length. */
static uint32_t put_escaped(char *out, uint32_t n, uint8_t c)
{
	out[n++] = '\\';
	if (c > 0x20 && c < 0x7f) {
		out[n++] = (char)c;
	} else {
		out[n++] = (char)('0' + c / 100);
		out[n++] = (char)('0' + c / 10 % 10);
		out[n++] = (char)('0' + c % 10);
	}
	return n;
}

int pktsh_dns_name_text(const uint8_t *wire, uint32_t len, char *out)
{
	uint32_t n = 0, pos = 0;

	while (pos < len && wire[pos] != 0) {
		uint32_t l = wire[pos];

		if (l >= 0x40 || pos + 1 + l >= len)
			return -1;
		if (n)
			out[n++] = '.';
		for (uint32_t i = pos + 1; i <= pos + l; i++) {
			uint8_t c = plain[wire[i]];

			if (c)
				out[n++] = (char)c;
			else
				n = put_escaped(out, n, wire[i]);
		}
		pos += 1 + l;
	}
	if (pos >= len)
		return -1;
	if (n == 0)
		out[n++] = '.';
	return (int)n;
}

/* ASCII letters of 8 bytes to lower case, all at once (SWAR): bit 7 of
 * each byte of ge_a says >= 'A', of gt_z says > 'Z'; bytes >= 0x80 are
 * left alone. */
static uint64_t lower8(uint64_t w)
{
	uint64_t low7 = w & 0x7f7f7f7f7f7f7f7full;
	uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3full;
	uint64_t gt_z = low7 + 0x2525252525252525ull;

	return w | ((ge_a & ~gt_z & ~w & 0x8080808080808080ull) >> 2);
}

/* 16 bytes at once where the compiler has vectors (SSE2 on every
 * x86-64, NEON): a name is copied for every message, and most take
 * two or three of these. */
typedef uint8_t bytes16 __attribute__((vector_size(16)));

static bytes16 lower16(bytes16 w)
{
	return w | ((bytes16)((w >= 'A') & (w <= 'Z')) & 0x20);
}

/* Copies n bytes of labels lower-cased; avail bytes may be read at src,
 * and dst has 16 bytes of room past n (q->wire's slack). Returns how far
 * past dst the bytes after the n are zero: when the last bytes went 16
 * at a time, the rest of that chunk is stored as zeros (the root label
 * and the hash's padding, mostly), else n. The hash then reads each word
 * from one store: a word made of several stores of different sizes
 * cannot be forwarded from them and waits until they are written (perf
 * put most of the DNS walk's time on that load). */
static uint32_t copy_lower(uint8_t *dst, const uint8_t *src, uint32_t n, uint32_t avail)
{
	static const bytes16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	uint32_t i = 0, whole = n < avail + 1 ? n : avail + 1;    /* i + 16 < both */
	bytes16 w;

	for (; i + 16 < whole; i += 16) {
		memcpy(&w, src + i, 16);
		w = lower16(w);
		memcpy(dst + i, &w, 16);
	}
	if (i < n && i + 16 <= avail) {        /* the last chunk */
		memcpy(&w, src + i, 16);
		w = lower16(w) & (bytes16)(iota < (uint8_t)(n - i));
		memcpy(dst + i, &w, 16);
		return i + 16;
	}
	for (; i < n && i + 8 <= avail; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		w = lower8(w);
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = lower[src[i]];
	return n;
}

/* The first question's name, read into q->wire (labels lower-cased,
 * pointers followed, backwards only) and q->name_hash. From pos; *after
 * gets the position after the name in the message, *whole its label
 * bytes when it has no pointer (it lies whole from pos), else 0. 0 or an
 * enum pktsh_dns_err. */
static int walk_name(const uint8_t *d, uint32_t len, uint32_t pos,
		     struct pktsh_dns_q *q, uint32_t *after, uint32_t *whole)
{
	uint32_t w = 0, limit = pos, end = 0, hops = 0, zeros = 0;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return PKTSH_DNS_NAME_TRUNCATED;
		l = d[pos];
		if (l == 0) {
			if (!end)
				end = pos + 1;
			break;
		}
		if (l < 0x40) {
			/* the labels up to the next pointer or the root, walked
			 * by their lengths and then copied at once: lengths are
			 * below 0x40, so lower-casing leaves them as they are */
			uint32_t from = pos;
			/* a label must end within the message (len) and leave
			 * the name, with its root, at most 255 bytes (w + pos
			 * - from + 1 + l + 1 <= 255): one bound for both, the
			 * error told apart when it is crossed; w <= 254 here */
			uint32_t lim = from + 254u - w < len ? from + 254u - w : len;

			do {
				if (pos + 1 + l > lim)
					return pos + 1 + l > len ? PKTSH_DNS_LABEL_TRUNCATED
								 : PKTSH_DNS_NAME_TOO_LONG;
				pos += 1u + l;
				if (pos >= len)
					break;
				l = d[pos];
			} while (l != 0 && l < 0x40);
			zeros = w + copy_lower(q->wire + w, d + from, pos - from, len - from);
			w += pos - from;
		} else if (l >= 0xc0) {
			uint32_t t;

			if (pos + 1 >= len)
				return PKTSH_DNS_POINTER_TRUNCATED;
			if (!end)
				end = pos + 2;
			t = (uint32_t)(l & 0x3f) << 8 | d[pos + 1];
			if (t >= limit)
				return PKTSH_DNS_POINTER_NOT_BACKWARDS;
			if (++hops > PKTSH_DNS_MAX_HOPS)
				return PKTSH_DNS_TOO_MANY_POINTERS;
			limit = pos = t;
		} else {
			return PKTSH_DNS_BAD_LABEL_TYPE;
		}
	}
	/* the root's 0 and zeros to the end of its word, which the hash
	 * reads: there already when the last copy stored them */
	if (zeros < ((w + 8) & ~7u))
		memset(q->wire + w, 0, 16);     /* one store: see copy_lower */
	*whole = hops ? 0 : w;
	q->wire_len = (uint16_t)++w;
	q->name_hash = name_hash_padded(q->wire, w);
	*after = end;
	return 0;
}

/* Steps a name past the question, as Wireshark decodes one: pointers
 * followed wherever they point in the message, every label within it,
 * and a name that comes round to a pointer it followed before (a loop,
 * PKTSH_DNS_MAX_HOPS pointers) simply ends, as Wireshark ends it. *after
 * gets the position after the name where it stands. *budget bounds the
 * bytes one message's names may make us read behind pointers (pointers
 * can send every record's name over the whole message, 127 hops each);
 * once it is spent names are only stepped over to their first pointer,
 * so the walk stays linear in the message.
 *
 * Most answers' owner names point at the question's. Walked again, its
 * labels (which walk_name read without error, up to a root inside the
 * message) would all be in bounds and end at that root, so a pointer to
 * 12 only takes their bytes (qbytes: 0 when the question's name has a
 * pointer, and so does not lie whole at 12) from the budget, when it
 * holds more than they cost (else the walk would stop on the way, and
 * does, label by label). 0 or an enum pktsh_dns_err. */
static int step_name(const uint8_t *d, uint32_t len, uint32_t pos, uint32_t *after,
		     uint32_t *budget, uint32_t qbytes)
{
	uint32_t end = 0, hops = 0;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return PKTSH_DNS_NAME_TRUNCATED;
		l = d[pos];
		if (l == 0)
			break;
		if (l < 0x40) {
			if (pos + 1u + l >= len)
				return PKTSH_DNS_LABEL_TRUNCATED;
			pos += 1u + l;
			if (end) {      /* read where a pointer sent us */
				if (*budget <= 1u + l) {
					*budget = 0;
					break;
				}
				*budget -= 1u + l;
			}
			continue;
		}
		if (l < 0xc0)
			return PKTSH_DNS_BAD_LABEL_TYPE;
		if (pos + 1 >= len)
			return PKTSH_DNS_POINTER_TRUNCATED;
		if (!end)
			end = pos + 2;
		/* a hop costs what reading its two bytes does */
		if (++hops > PKTSH_DNS_MAX_HOPS || *budget <= 2) {
			*budget = 0;
			break;
		}
		*budget -= 2;
		pos = (uint32_t)(l & 0x3f) << 8 | d[pos + 1];
		if (pos == 12 && qbytes && *budget > qbytes) {
			*budget -= qbytes;
			break;
		}
	}
	*after = end ? end : pos + 1;
	return 0;
}

/* Walks what follows the first question as Wireshark reads it: qskip
 * more questions, then the records, each of which must fit in the
 * message (its owner name as step_name reads it, its fixed fields, its
 * data by RDLENGTH); a record that does not makes Wireshark throw
 * "Malformed Packet", and a response it throws on gets no dns.time. What
 * each type's data says inside RDLENGTH is not looked at. *ext gets the
 * OPT record's extended RCODE (the first OPT among the additional
 * records), 0 without one. 0 or an enum pktsh_dns_err. */
static int walk_rest(const uint8_t *d, uint32_t len, uint32_t pos, uint32_t qskip,
		     uint32_t records, uint32_t ar, uint8_t *ext, uint32_t qbytes)
{
	uint32_t total = qskip + records, first_ar = total - ar;
	uint32_t budget = 4 * len + 1024;
	int rc, opt = 0;

	for (uint32_t i = 0; i < total; i++) {
		uint32_t start = pos;

		rc = step_name(d, len, pos, &pos, &budget, qbytes);
		if (rc)
			return rc;
		if (i < qskip) {
			if (pos + 4 > len)
				return PKTSH_DNS_QUESTION_TRUNCATED;
			pos += 4;
			continue;
		}
		if (pos + 10 > len)
			return PKTSH_DNS_RECORD_TRUNCATED;
		if (!opt && i >= first_ar && pos == start + 1 && be16(d + pos) == 41) {
			*ext = d[pos + 4];
			opt = 1;
		}
		pos += 10u + be16(d + pos + 8);
		if (pos > len)
			return PKTSH_DNS_RECORD_TRUNCATED;
	}
	return 0;
}

int pktsh_dns_question_wire(const uint8_t *d, uint32_t len, struct pktsh_dns_q *q)
{
	uint32_t pos = 12;
	uint8_t ext = 0;
	uint32_t qbytes = 0;            /* the question's name, see step_name */
	int rc;

	q->name_len = q->wire_len = 0;
	q->name_hash = 0;
	q->records_error = 0;
	if (len < 12)
		return -PKTSH_DNS_SHORT_HEADER;
	q->id = be16(d);
	q->flags = be16(d + 2);
	q->qdcount = be16(d + 4);
	q->ancount = be16(d + 6);
	q->nscount = be16(d + 8);
	q->arcount = be16(d + 10);
	q->qtype = q->qclass = 0;
	if (q->qdcount) {
		rc = walk_name(d, len, 12, q, &pos, &qbytes);
		if (rc)
			return -rc;
		if (pos + 4 > len)
			return -PKTSH_DNS_QUESTION_TRUNCATED;
		q->qtype = be16(d + pos);
		q->qclass = be16(d + pos + 2);
		pos += 4;
	}
	q->records_error = (uint16_t)walk_rest(d, len, pos, q->qdcount ? q->qdcount - 1u : 0,
					       (uint32_t)q->ancount + q->nscount + q->arcount,
					       q->arcount, &ext, qbytes);
	if (!(q->flags & 0x8000))
		ext = 0;
	q->rcode = (uint16_t)((q->flags & 15) | ext << 4);
	return 0;
}

int pktsh_dns_question(const uint8_t *d, uint32_t len, struct pktsh_dns_q *q)
{
	int rc = pktsh_dns_question_wire(d, len, q);

	if (rc == 0 && q->wire_len)
		q->name_len = (uint16_t)pktsh_dns_name_text(q->wire, q->wire_len, q->name);
	return rc;
}
