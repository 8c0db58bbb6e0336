/*
 * hash.c - keyed hashes for everything keyed by packet bytes, with keys
 * drawn from getrandom() once per process, when the binary loads.
 *
 * An unkeyed hash is public: a sender who can compute it can choose keys
 * that all land in one probe run (100k DNS queries with crafted ids and
 * ports cost 25-30 times ordinary ones). Keyed functions replace it:
 *
 * - pktsh_hash, SipHash-1-3 (Aumasson and Bernstein; the table hash of
 *   Python, Rust and the Linux kernel), a pseudorandom function of the
 *   bytes under a 128-bit key: Lua's pktsh.hash.bytes and hash.num.
 *
 * - multilinear hashing mod 2^61 - 1 (pktsh_ml61, pktsh_name_hash), a
 *   universal family, for the hashes dnsstats makes of every message:
 *   DNS question names, IPv6 clients, the pending table's match keys.
 *   Two different inputs collide with probability 2^-61 over the random
 *   multipliers, which no sender sees; unlike SipHash it is not a
 *   pseudorandom function, so its values stay in the process. At a
 *   fraction of SipHash's cost (a name: about 40 instructions, not 160).
 *
 * Both draw their keys once for the process: every thread and Lua state
 * of it hashes alike, so tables that workers hand back merge by hash,
 * and every run has new keys.
 *
 * - the slot hash of the tables (pending.c, topk.c), where speed counts
 *   and only the spread over slots matters: NH (the universal hash of
 *   UMAC, RFC 4418: two distinct keys of one length collide with
 *   probability 2^-32 over the random key) folds the bytes to 64 bits,
 *   and simple tabulation (a random word per byte value and position,
 *   XORed; Patrascu and Thorup, "The Power of Simple Tabulation Hashing",
 *   2012) spreads them: with it, linear probing costs O(1) expected per
 *   operation on any set of keys chosen without sight of the tables. A
 *   sender never sees them; the tables also bound their probes and draw
 *   tables of their own should that ever fail (see pending.c).
 *
 * SipHash-1-3 costs 15-20 ns for a 48-byte key, NH and tabulation 4-5.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "accel/hash.h"

static struct pktsh_hkey process_key;
static struct pktsh_tabhash process_tab;
static uint64_t ml_keys[PKTSH_ML61_MAX / 4 + 1];

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

/* The last n (0-7) bytes at p as a little-endian word, in at most two
 * loads instead of a loop: a name's hash ends here every time. back: the
 * 8 bytes before p + n may be read (the message is that long). */
static uint64_t tail(const uint8_t *p, uint32_t n, int back)
{
	if (n == 0)
		return 0;
	if (back)
		return le64(p + n - 8) >> (64 - 8 * n);
	if (n >= 4)
		return le32(p) | (uint64_t)le32(p + n - 4) << (8 * (n - 4));
	return p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
}

uint64_t pktsh_siphash13(uint64_t k0, uint64_t k1, const void *p, uint32_t len)
{
	const uint8_t *m = p;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	uint64_t b = (uint64_t)len << 56, w;
	uint32_t i = 0, rest = len & 7;

	for (; i + 8 <= len; i += 8) {
		w = le64(m + i);
		v3 ^= w;
		SIPROUND;
		v0 ^= w;
	}
	b |= tail(m + i, rest, len >= 8);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t pktsh_hash(const void *p, uint32_t len)
{
	return pktsh_siphash13(process_key.k0, process_key.k1, p, len);
}

double pktsh_hash_num(double x)
{
	uint64_t w;

	if (x == 0)
		x = 0;          /* -0 is 0, as a Lua table key */
	else if (x != x)
		x = __builtin_nan("");
	memcpy(&w, &x, 8);
	w = pktsh_siphash13(process_key.k0, process_key.k1, &w, 8);
	return (double)(w & ((1ull << 53) - 1));
}

/* n bytes from the kernel's generator: getrandom(), else /dev/urandom;
 * 0, or -1 when neither answers. */
static int kernel_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;
	int fd;

	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return 0;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (got = 0; got < n;) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == n ? 0 : -1;
}

/* n bytes of fresh random bits at p: 0, or -1 when the kernel gave none
 * (a kernel before 3.17 without /dev) and they come from the clock, the
 * process id and where things were loaded, through SipHash: weak, but
 * not public. */
static int random_bytes(void *p, size_t n)
{
	struct timespec ts;
	uint64_t k0, k1, w;

	if (kernel_random(p, n) == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	k0 = pktsh_siphash13((uint64_t)ts.tv_nsec, (uint64_t)getpid(), &ts, sizeof(ts));
	k1 = pktsh_siphash13((uint64_t)(uintptr_t)&ts, (uint64_t)(uintptr_t)p, &k0, 8);
	for (size_t i = 0; i < n; i += 8) {
		w = pktsh_siphash13(k0, k1, &i, sizeof(i));
		memcpy((uint8_t *)p + i, &w, n - i < 8 ? n - i : 8);
	}
	return -1;
}

int pktsh_hash_rekey(struct pktsh_hkey *k)
{
	return random_bytes(k, sizeof(*k));
}

void pktsh_hash_key(struct pktsh_hkey *out)
{
	*out = process_key;
}

/* The bytes of a key: 8-byte words into NH (the last one zero-padded),
 * the sum into the tabulation. NH sums (a + k0)(b + k1), products of
 * 32-bit halves plus key words (mod 2^32), over 64 bits. */
uint32_t pktsh_tabhash_bytes(const struct pktsh_tabhash *h, const void *p, uint32_t len)
{
	const uint8_t *m = p;
	const uint32_t *k = h->nh;
	uint64_t sum = len;
	uint32_t i = 0;

	for (; i + 8 <= len; i += 8, k += 2)
		sum += (uint64_t)(uint32_t)(le32(m + i) + k[0]) * (uint32_t)(le32(m + i + 4) + k[1]);
	if (i < len) {
		uint8_t pad[8] = {0};

		memcpy(pad, m + i, len - i);
		sum += (uint64_t)(uint32_t)(le32(pad) + k[0]) * (uint32_t)(le32(pad + 4) + k[1]);
	}
	return pktsh_tabhash_u64(h, sum);
}

#define P61 ((1ull << 61) - 1)

/* acc mod 2^61 - 1, for acc below 2^122 (the sums below stay under
 * 2^100): folded twice. */
static uint64_t fold61(unsigned __int128 acc)
{
	uint64_t r = (uint64_t)(acc & P61) + (uint64_t)(acc >> 61);

	r = (r & P61) + (r >> 61);
	return r >= P61 ? r - P61 : r;
}

/* Multilinear hashing mod the prime 2^61 - 1 (Carter and Wegman's
 * family; Lemire and Kaser, "Strongly universal string hashing is fast",
 * 2014): k0 + sum of k[i] * w[i] over the 32-bit words w of the input,
 * with random k below the prime. Inputs of one length that differ give
 * one value with probability 2^-61 (their difference is a non-zero
 * linear form in the keys). Not a pseudorandom function like pktsh_hash:
 * for values that never leave the process, where it costs a third. */
uint64_t pktsh_ml61(const void *p, uint32_t len)
{
	const uint8_t *m = p;
	unsigned __int128 acc = ml_keys[0];
	uint32_t i = 0, n = len / 4;

	for (; i + 2 <= n; i += 2)
		acc += (unsigned __int128)ml_keys[i + 1] * le32(m + 4 * i) +
		       (unsigned __int128)ml_keys[i + 2] * le32(m + 4 * i + 4);
	if (i < n)
		acc += (unsigned __int128)ml_keys[i + 1] * le32(m + 4 * i);
	return fold61(acc);
}

/* Names: multilinear hashing as pktsh_ml61, over the 32-bit words of
 * the name zero-padded to 8 bytes, plus a multiple of its length (names
 * of two lengths then differ in that term, whatever their padding), so
 * that two different names of at most PKTSH_NAME_MAX bytes give one
 * value with probability 2^-61. A name is hashed for every DNS message,
 * SipHash-1-3 cost it 160 instructions a name, this about 40. */
static uint64_t name_keys[2 + PKTSH_NAME_MAX / 4];

/* The words of p[0, len) zero-padded: the bytes from len to the next
 * multiple of 8 must be zero and readable. */
uint64_t name_hash_padded(const uint8_t *p, uint32_t len)
{
	unsigned __int128 acc = name_keys[0] + (unsigned __int128)name_keys[1] * len;
	const uint64_t *k = name_keys + 2;

	for (uint32_t i = 0; i < len; i += 8, k += 2) {
		uint64_t w = le64(p + i);

		acc += (unsigned __int128)k[0] * (uint32_t)w + (unsigned __int128)k[1] * (w >> 32);
	}
	return fold61(acc);
}

uint64_t pktsh_name_hash(const void *p, uint32_t len)
{
	uint8_t pad[PKTSH_NAME_MAX + 8] = {0};

	if (len > PKTSH_NAME_MAX)
		len = PKTSH_NAME_MAX;
	memcpy(pad, p, len);
	return name_hash_padded(pad, len);
}

int pktsh_tabhash_fill(struct pktsh_tabhash *h)
{
	return random_bytes(h, sizeof(*h));
}

int pktsh_probes_stats(const struct pktsh_probes *p, struct pktsh_table_stats *out)
{
	out->lookups = p->lookups;
	out->probes = p->probes;
	out->rekeys = p->rekeys;
	out->max_probe = p->max_probe;
	out->probe_limit = PKTSH_PROBE_LIMIT;
	return 0;
}

const struct pktsh_tabhash *pktsh_tabhash_process(void)
{
	return &process_tab;
}

/* n random multipliers below the prime; the two multilinear families
 * draw their own, so that a name's hash, which a match key contains, is
 * independent of the match key's multipliers. */
static void draw_multipliers(uint64_t *k, size_t n)
{
	random_bytes(k, n * sizeof(*k));
	for (size_t i = 0; i < n; i++)
		k[i] %= P61;
}

/* Before main and before any thread: every later reader sees the keys. */
__attribute__((constructor)) static void process_keys_init(void)
{
	pktsh_hash_rekey(&process_key);
	pktsh_tabhash_fill(&process_tab);
	draw_multipliers(ml_keys, sizeof(ml_keys) / sizeof(ml_keys[0]));
	draw_multipliers(name_keys, sizeof(name_keys) / sizeof(name_keys[0]));
}
