/*
 * genshapes.c - deterministic DNS traffic shapes for tests/bench/dnsshapes:
 * one pcap of N packets per shape, and a JSON file of what was written in
 * it (the ground truth dnsstats' counts are checked against).
 *
 *   cc -O2 -o genshapes tests/bench/genshapes.c -lm
 *   genshapes SHAPE OUT.pcap N TRUTH.json
 *   genshapes -l                     the shapes, "name: description" a line
 *
 * C, not Lua like gendns.lua: 10M packets of a shape take 4-9 s of CPU
 * (gendns.lua about 30, with its truth 45). The same SHAPE and N give the
 * same bytes (own PRNG, fixed seeds; exp/log/pow from the C library).
 *
 * Every shape is Ethernet, IPv4 and IPv6, addresses only from
 * 198.18.0.0/15 and 2001:2::/48, correct IPv4, UDP and TCP checksums.
 * Query names: a Zipf-distributed popular set plus a long tail of names
 * made on the fly (each used once, some twice); queries arrive as a
 * Poisson process; a response follows its query after a latency drawn
 * per query (log-uniform), so answers come out of order.
 *
 * Ground truth: the file counts what a DNS reader must find: messages,
 * queries, responses, malformed messages, by transport and IP version;
 * query types (of well-formed queries), full response codes (the OPT
 * record's extended bits included); matched = responses whose query came
 * before them (all within TIMEOUT_NS, dnsstats' default --timeout);
 * unanswered = queries - matched (those never answered, malformed ones
 * too: their header is whole and waits for an answer as Wireshark's does,
 * and those whose answer the capture's end cut off); the exact counts of the
 * 20 most-queried names (every other name is queried at most twice, or
 * less often than the 20th) and of the 20 busiest client addresses (by
 * well-formed queries). A message is counted in the packet that
 * completes it (TCP), so a capture cut at N packets is still exact.
 *
 * Matching is exact by construction: a UDP query's (source port, id)
 * comes from a per-client permutation of all 64512 x 32768 pairs (even
 * ids), a TCP connection's port from a per-client permutation of the
 * ports and its ids are odd and distinct within the connection, so no
 * two queries from one client share port and id within billions of
 * queries; the key dnsstats matches on (addresses, ports, id, name)
 * cannot collide.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_NS 5000000000ULL
#define NS_MS 1000000.0
#define MSS 1400
#define TOPN 20

/* --- randomness ---------------------------------------------------------- */

static uint64_t rs;

static uint64_t rnd64(void)            /* splitmix64 */
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n)        /* 0 .. n-1 */
{
	return (uint32_t)(((rnd64() >> 32) * (uint64_t)n) >> 32);
}

static double unif(void)
{
	return (double)(rnd64() >> 11) * (1.0 / 9007199254740992.0);
}

static int chance(double p)
{
	return unif() < p;
}

static double loguni(double lo, double hi)
{
	return lo * exp(unif() * log(hi / lo));
}

/* A bijection on [0, 2^bits) keyed by k; cycle-walking it gives a
 * permutation of [0, m) for m a little under 2^bits. */
static uint32_t mixbits(uint32_t x, unsigned bits, uint32_t k)
{
	uint32_t mask = bits == 32 ? 0xffffffffU : (1U << bits) - 1;

	x = (x ^ k) & mask;
	x = (x * 0x7feb352dU) & mask;
	x ^= x >> (bits / 2);
	x = (x * 0x846ca68bU) & mask;
	x ^= x >> (bits / 2 + 1);
	return x;
}

static uint32_t perm(uint32_t c, uint32_t m, unsigned bits, uint32_t k)
{
	uint32_t x = c;

	do
		x = mixbits(x, bits, k);
	while (x >= m);
	return x;
}

/* --- shapes ---------------------------------------------------------------- */

struct shape {
	const char *name, *what;
	double qps;                   /* new transactions per second */
	double answered;              /* share of ordinary queries answered */
	double lat_lo, lat_hi;        /* ms */
	double popular, zipf;         /* names from the popular set; its exponent */
	int npop;
	double flood, flood_answered, flood_lat_lo, flood_lat_hi;
	double tcp;                   /* transactions that are TCP connections */
	int tcp_min, tcp_max;         /* exchanges per connection */
	double v6, vlan, qinq, edns;
	double nx, nodata, servfail, refused, badvers;
	double malformed;             /* queries cut inside the name */
	int upstream;                 /* a resolver's upstream side: DNSSEC, AA, TC -> TCP */
	int frag;                     /* EDNS buffers of 4096: answers past the link's MTU
				       * (1500) go out in IP fragments, not TC */
	int nclients, nservers, skew;
};

/* stub resolvers' clients asking a few resolvers, and how those answer */
#define STUBS .lat_lo = 0.1, .lat_hi = 3, .popular = 0.4, .zipf = 1.0, .npop = 100000, \
	.v6 = 0.3, .vlan = 0.15, .edns = 0.6, .nclients = 20000, .nservers = 8, .skew = 1
#define ANSWERS .answered = 0.995, .nx = 0.06, .nodata = 0.04, .servfail = 0.005

static const struct shape shapes[] = {
	{.name = "answered", .what = "answered queries, long-tail names, answers 0.1-3 ms later",
	 STUBS, ANSWERS, .qps = 100000},
	{.name = "oneway", .what = "one direction only: queries, never answered",
	 STUBS, .qps = 250000},
	{.name = "flood", .what = "random-subdomain flood, 1 in 4 answered NXDOMAIN, 10% normal",
	 STUBS, ANSWERS, .qps = 150000, .flood = 0.9, .flood_answered = 0.25,
	 .flood_lat_lo = 0.5, .flood_lat_hi = 800},
	{.name = "tcp", .what = "40% of messages in TCP connections of 3-8 exchanges",
	 STUBS, ANSWERS, .qps = 100000, .tcp = 0.108, .tcp_min = 3, .tcp_max = 8},
	{.name = "upstream", .what = "held out: resolver upstream, DNSSEC answers, QinQ, TC -> TCP",
	 .qps = 60000, .answered = 0.97, .lat_lo = 2, .lat_hi = 300, .popular = 0.5, .zipf = 0.85,
	 .npop = 50000, .tcp_min = 1, .tcp_max = 1, .v6 = 0.5, .qinq = 0.3, .edns = 1.0,
	 .nx = 0.12, .nodata = 0.06, .servfail = 0.02, .refused = 0.01, .badvers = 0.001,
	 .malformed = 0.001, .upstream = 1, .nclients = 64, .nservers = 5000},
	/* held out: the upstream side again, but with the large EDNS buffers
	 * many resolvers still advertise, so DNSSEC answers come in IP
	 * fragments (IPv4 and IPv6) rather than truncated, and no TCP */
	{.name = "frag", .what = "held out: upstream with EDNS 4096: large answers in IP fragments",
	 .qps = 60000, .answered = 0.97, .lat_lo = 2, .lat_hi = 300, .popular = 0.5, .zipf = 0.85,
	 .npop = 50000, .tcp_min = 1, .tcp_max = 1, .v6 = 0.5, .vlan = 0.2, .edns = 1.0,
	 .nx = 0.12, .nodata = 0.06, .servfail = 0.02, .refused = 0.01,
	 .upstream = 1, .frag = 1, .nclients = 64, .nservers = 5000},
	/* held out too, parameters away from the stubs' on every axis: no
	 * busy clients (uniform over 60,000), mostly IPv6, a steeper Zipf
	 * over more popular names, slower answers, one in ten unanswered */
	{.name = "campus", .what = "held out: 60,000 even clients, 70% IPv6, Zipf 1.3, 10% unanswered",
	 .qps = 200000, .answered = 0.9, .lat_lo = 0.3, .lat_hi = 40, .popular = 0.7, .zipf = 1.3,
	 .npop = 120000, .v6 = 0.7, .vlan = 0.4, .edns = 0.9, .nx = 0.1, .nodata = 0.05,
	 .servfail = 0.01, .refused = 0.005, .nclients = 60000, .nservers = 16, .skew = 0},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static const struct shape *S;

/* --- hosts ------------------------------------------------------------------- */

struct host {
	uint8_t v4[4], v6[16], mac[6];
	uint16_t vlan, qinq;          /* 0: none */
	uint32_t udp_ctr, tcp_ctr, key;
	uint64_t queries[2];          /* well-formed queries from its IPv4, IPv6 address */
};

static struct host *clients, *servers;
static const uint8_t router_mac[6] = {2, 0, 0, 0, 0, 1};

static void make_hosts(void)
{
	clients = calloc((size_t)S->nclients, sizeof(*clients));
	servers = calloc((size_t)S->nservers, sizeof(*servers));
	if (!clients || !servers)
		exit(1);
	for (int i = 0; i < S->nclients; i++) {
		struct host *h = &clients[i];
		uint32_t iid = (uint32_t)rnd64();

		memcpy(h->v4, (uint8_t[]){198, 18, (uint8_t)(1 + i / 250), (uint8_t)(2 + i % 250)}, 4);
		memcpy(h->v6, (uint8_t[]){0x20, 0x01, 0, 2, 0, 0, 0, 1, (uint8_t)(iid >> 24),
			(uint8_t)(iid >> 16), (uint8_t)(iid >> 8), (uint8_t)iid, 0, 0,
			(uint8_t)(i >> 8), (uint8_t)i}, 16);
		memcpy(h->mac, (uint8_t[]){2, 0x42, (uint8_t)rnd(256), (uint8_t)rnd(256),
			(uint8_t)(i >> 8), (uint8_t)i}, 6);
		if (chance(S->vlan) || chance(S->qinq))
			h->vlan = (uint16_t)(100 + rnd(8));
		if (h->vlan && S->qinq > 0 && chance(0.5))
			h->qinq = (uint16_t)(2000 + rnd(4));
		h->udp_ctr = (uint32_t)rnd64();
		h->tcp_ctr = (uint32_t)rnd64();
		h->key = (uint32_t)rnd64();
	}
	for (int i = 0; i < S->nservers; i++) {
		struct host *h = &servers[i];
		uint32_t a = (uint32_t)i + 53;

		memcpy(h->v4, (uint8_t[]){198, 19, (uint8_t)(a >> 8), (uint8_t)a}, 4);
		memcpy(h->v6, (uint8_t[]){0x20, 0x01, 0, 2, 0, 0, 0, 0x53, 0, 0, 0, 0, 0, 0,
			(uint8_t)(a >> 8), (uint8_t)a}, 16);
	}
}

static struct host *pick_client(void)
{
	double u = unif();

	/* skewed: a few busy clients (forwarders, NATs), a long tail of stubs */
	if (S->skew)
		u *= u;
	return &clients[(int)(u * S->nclients)];
}

/* A UDP query's (port, even id), unique for 64512 * 32768 queries. */
static void udp_port_id(struct host *c, uint16_t *port, uint16_t *id)
{
	uint32_t x = perm(c->udp_ctr++ % (64512U * 32768U), 64512U * 32768U, 31, c->key);

	*port = (uint16_t)(1024 + x / 32768);
	*id = (uint16_t)(x % 32768 * 2);
}

static uint16_t tcp_port(struct host *c)
{
	return (uint16_t)(1024 + perm(c->tcp_ctr++ % 64512U, 64512U, 16, c->key));
}

/* --- names --------------------------------------------------------------- */

enum { K_HOST, K_PTR, K_SRV };

static uint8_t *arena;                 /* popular names, wire form */
static uint32_t *pop_off;
static uint8_t *pop_len, *pop_kind;
static double *pop_cdf;
static uint64_t *pop_cnt;
static char (*domains)[64];
#define NDOMAINS 20000

static const char *tlds[] = {"com", "com", "com", "com", "net", "net", "org", "io", "de",
	"co.uk", "example", "test", "info", "app", "dev", "nl", "fr", "jp"};
static const char *hosts_[] = {"www", "www", "api", "cdn", "mail", "img", "static", "m",
	"login", "auth", "edge", "assets", "app", "docs", "shop", "video", "push", "ns1"};
static const char *srvs[] = {"_sip._tcp", "_xmpp-client._tcp", "_ldap._tcp", "_imaps._tcp",
	"_autodiscover._tcp", "_matrix._tcp"};

static int rlabel(char *o, int lo, int hi)
{
	static const char an[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	int n = lo + (int)rnd((uint32_t)(hi - lo + 1));

	for (int i = 0; i < n; i++)
		o[i] = an[rnd(i == 0 ? 26 : 36)];
	o[n] = 0;
	return n;
}

/* Text to wire form; returns the wire length (with the root byte). */
static int to_wire(const char *t, uint8_t *w)
{
	int o = 0;

	while (*t) {
		const char *dot = strchr(t, '.');
		int l = dot ? (int)(dot - t) : (int)strlen(t);

		w[o++] = (uint8_t)l;
		memcpy(w + o, t, (size_t)l);
		o += l;
		t += l + (dot ? 1 : 0);
	}
	w[o++] = 0;
	return o;
}

static void wire_text(const uint8_t *w, char *t)
{
	int n = 0;

	while (*w) {
		if (n)
			t[n++] = '.';
		memcpy(t + n, w + 1, *w);
		n += *w;
		w += 1 + *w;
	}
	t[n] = 0;
}

/* A popular name's text in t; returns its kind. */
static int popular_text(char *t, size_t size)
{
	const char *d = domains[rnd(NDOMAINS)];
	uint32_t r = rnd(100);
	char l[32], l2[32];

	if (r < 5) {
		if (chance(0.3)) {                /* ip6.arpa: 32 nibble labels */
			int n = 0;

			for (int k = 0; k < 20; k++)
				n += sprintf(t + n, "%x.", rnd(16));
			strcpy(t + n, "0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa");
		} else {
			sprintf(t, "%u.%u.%u.198.in-addr.arpa", rnd(256), rnd(256), 18 + rnd(2));
		}
		return K_PTR;
	}
	if (r < 8) {
		snprintf(t, size, "%s.%s", srvs[rnd(6)], d);
		return K_SRV;
	}
	if (r < 30) {
		snprintf(t, size, "%s", d);
	} else if (r < 70) {
		snprintf(t, size, "%s.%s", hosts_[rnd(18)], d);
	} else if (r < 88) {
		rlabel(l, 2, 10);
		snprintf(t, size, "%s.%s.%s", l, hosts_[rnd(18)], d);
	} else {
		rlabel(l, 6, 20);
		rlabel(l2, 2, 6);
		snprintf(t, size, "%s-%s.edge.%s", l, l2, d);
	}
	return K_HOST;
}

/* The popular set: npop distinct names (a repeat is drawn again, so each
 * name's count is exact), ranked in the order drawn. */
static void make_names(void)
{
	uint32_t used = 0, nslots = 1u << 18, *slots = calloc(nslots, sizeof(*slots));
	double sum = 0;
	char t[300], l[32];

	domains = malloc(NDOMAINS * sizeof(*domains));
	arena = malloc((size_t)S->npop * 256);
	pop_off = malloc((size_t)S->npop * sizeof(*pop_off));
	pop_len = malloc((size_t)S->npop);
	pop_kind = malloc((size_t)S->npop);
	pop_cdf = malloc((size_t)S->npop * sizeof(*pop_cdf));
	pop_cnt = calloc((size_t)S->npop, sizeof(*pop_cnt));
	if (!slots || !domains || !arena || !pop_off || !pop_len || !pop_kind || !pop_cdf || !pop_cnt
	    || (uint32_t)S->npop > nslots / 2)
		exit(1);
	for (int i = 0; i < NDOMAINS; i++) {
		rlabel(l, 3, 14);
		snprintf(domains[i], sizeof(domains[i]), "%s.%s", l,
			 tlds[rnd(sizeof(tlds) / sizeof(tlds[0]))]);
	}
	for (int i = 0; i < S->npop;) {
		int kind = popular_text(t, sizeof(t));
		uint8_t *w = arena + used;
		int n = to_wire(t, w);
		uint32_t h = 2166136261u, j;

		for (int k = 0; k < n; k++)
			h = (h ^ w[k]) * 16777619u;
		for (j = h & (nslots - 1); slots[j]; j = (j + 1) & (nslots - 1))
			if (pop_len[slots[j] - 1] == n && !memcmp(arena + pop_off[slots[j] - 1], w, (size_t)n))
				break;
		if (slots[j])
			continue;                 /* drawn before */
		slots[j] = (uint32_t)i + 1;
		pop_off[i] = used;
		pop_len[i] = (uint8_t)n;
		pop_kind[i] = (uint8_t)kind;
		used += (uint32_t)n;
		sum += pow(i + 1, -S->zipf);
		pop_cdf[i++] = sum;
	}
	for (int i = 0; i < S->npop; i++)
		pop_cdf[i] /= sum;
	free(slots);
}

static int pick_popular(void)
{
	double u = unif();
	int lo = 0, hi = S->npop - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (pop_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Long-tail names: made once; about one in three is asked again a little
 * later (kept in a small ring until then), none a third time. Never a
 * popular name: their shapes differ (label counts, a first label of 7+
 * characters where popular names have the host words, no '-'). */
#define TAILRING 4096
static char tail_ring[TAILRING][256];
static uint8_t tail_full[TAILRING];

static int tail_name(uint8_t *w)
{
	char t[300], l[32];
	uint32_t slot = rnd(TAILRING);
	int n;

	if (tail_full[slot] && chance(0.5)) {
		n = to_wire(tail_ring[slot], w);
		tail_full[slot] = 0;
		return n;
	}
	if (chance(0.5)) {
		rlabel(l, 7, 20);
		snprintf(t, sizeof(t), "%s.%s", l, domains[rnd(NDOMAINS)]);
	} else {
		char l2[32];

		rlabel(l, 8, 16);
		rlabel(l2, 2, 8);
		snprintf(t, sizeof(t), "%s.%s.%s.%s", l, l2, hosts_[rnd(18)], domains[rnd(NDOMAINS)]);
	}
	if (chance(0.35)) {
		tail_full[slot] = 1;
		snprintf(tail_ring[slot], sizeof(tail_ring[slot]), "%.200s", t);
	}
	return to_wire(t, w);
}

static int flood_name(uint8_t *w)
{
	char t[300], l[32];

	rlabel(l, 8, 16);
	snprintf(t, sizeof(t), "%s.victim-shop.example", l);
	return to_wire(t, w);
}

/* Query types by weight: stub resolvers, and a resolver asking upstream. */
struct qw { uint16_t type, w; };
static const struct qw stub_types[] = {{1, 500}, {28, 280}, {65, 90}, {16, 30}, {15, 20},
	{2, 10}, {6, 10}, {257, 5}, {0, 0}};
static const struct qw up_types[] = {{1, 330}, {28, 250}, {2, 100}, {43, 80}, {48, 50},
	{65, 60}, {6, 30}, {16, 40}, {15, 30}, {65399, 1}, {0, 0}};
/* frag: a validating resolver's keys and mail policies (DNSKEY, TXT) */
static const struct qw frag_types[] = {{1, 250}, {28, 200}, {48, 250}, {16, 200}, {43, 50},
	{2, 30}, {15, 20}, {0, 0}};

static uint16_t pick_qtype(int kind)
{
	const struct qw *t = S->frag ? frag_types : S->upstream ? up_types : stub_types;
	uint32_t total = 0, r;

	if (kind == K_PTR)
		return 12;
	if (kind == K_SRV)
		return 33;
	for (int i = 0; t[i].w; i++)
		total += t[i].w;
	r = rnd(total);
	for (int i = 0;; i++) {
		if (r < t[i].w)
			return t[i].type;
		r -= t[i].w;
	}
}

/* --- truth ---------------------------------------------------------------- */

static struct {
	uint64_t packets, dns, queries, responses, malformed, udp, tcp, ip4, ip6;
	uint64_t matched, sessions, flood, tc, outstanding_max, inflight;
	uint64_t first_ts, last_ts;
	uint64_t qtypes[65536], rcodes[4096];
} T;

/* queries never to be answered, by time, while younger than TIMEOUT_NS:
 * with those in flight, the outstanding count */
static uint64_t *lost;
static size_t lost_cap, lost_head, lost_tail;

static void lost_push(uint64_t t)
{
	if (lost_tail - lost_head == lost_cap) {
		size_t nc = lost_cap ? lost_cap * 2 : 4096;
		uint64_t *n = malloc(nc * sizeof(*n));

		for (size_t i = lost_head; i < lost_tail; i++)
			n[i - lost_head] = lost[i % lost_cap];
		free(lost);
		lost = n;
		lost_tail -= lost_head;
		lost_head = 0;
		lost_cap = nc;
	}
	lost[lost_tail++ % lost_cap] = t;
}

static void outstanding(uint64_t now)
{
	uint64_t n;

	while (lost_head < lost_tail && lost[lost_head % lost_cap] + TIMEOUT_NS < now)
		lost_head++;
	n = (uint64_t)(lost_tail - lost_head) + T.inflight;
	if (n > T.outstanding_max)
		T.outstanding_max = n;
}

static void count_msg(int resp, int v6, int tcp, uint16_t qtype, uint16_t rcode, int bad)
{
	T.dns++;
	*(resp ? &T.responses : &T.queries) += 1;
	*(tcp ? &T.tcp : &T.udp) += 1;
	*(v6 ? &T.ip6 : &T.ip4) += 1;
	if (bad) {
		T.malformed++;
	} else if (resp) {
		T.rcodes[rcode]++;
	} else {
		T.qtypes[qtype]++;
	}
}

/* --- frames ----------------------------------------------------------------- */

static FILE *out;
static uint8_t frame[4096];

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint32_t sum16(const uint8_t *p, uint32_t n, uint32_t s)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Where the L4 header starts for a frame between c and a server. */
static uint32_t l4_offset(const struct host *c, int v6)
{
	return 14 + (c->vlan ? 4 : 0) + (c->qinq ? 4 : 0) + (v6 ? 40 : 20);
}

#define MTU 1500u

/* the packets the capture is to hold: a datagram whose fragments would
 * go past it is written whole instead (the last one only), so that the
 * capture and its truth end together */
static uint64_t packet_cap;

/* One frame into the capture, at time t. */
static void record(uint64_t t, const uint8_t *f, uint32_t len)
{
	uint32_t rec[4];

	rec[0] = (uint32_t)(t / 1000000000ULL);
	rec[1] = (uint32_t)(t % 1000000000ULL);
	rec[2] = rec[3] = len;
	fwrite(rec, sizeof(rec), 1, out);
	fwrite(f, 1, len, out);
	if (!T.packets)
		T.first_ts = t;
	T.last_ts = t;
	T.packets++;
}

/* The payload bytes an IP fragment of at most MTU bytes carries: a
 * multiple of 8, after the IPv4 header or the IPv6 header and its
 * fragment header. */
static uint32_t frag_chunk(int v6)
{
	return (MTU - (v6 ? 48u : 20u)) & ~7u;
}

/* The datagram in frame (L3 header at l3, L4 at l4, checksums done) as
 * IP fragments of at most MTU bytes: IPv4 with MF and an offset, IPv6
 * with a fragment header (RFC 8200 4.5), in order, a microsecond apart. */
static void emit_fragments(uint64_t t, uint32_t l3, int v6, uint32_t l4, uint32_t l4len,
			   int proto)
{
	static uint8_t f[4096];
	uint32_t hl = v6 ? 48 : 20, chunk = frag_chunk(v6), id = (uint32_t)rnd64();

	for (uint32_t off = 0; off < l4len; off += chunk, t += 1000) {
		uint32_t n = l4len - off < chunk ? l4len - off : chunk, more = off + n < l4len;

		memcpy(f, frame, l3);
		memcpy(f + l3, frame + l3, v6 ? 40 : 20);
		if (v6) {
			put16(f + l3 + 4, 8 + n);
			f[l3 + 6] = 44;
			f[l3 + 40] = (uint8_t)proto;
			f[l3 + 41] = 0;
			put16(f + l3 + 42, off | more);
			put32(f + l3 + 44, id);
		} else {
			put16(f + l3 + 2, 20 + n);
			put16(f + l3 + 4, id & 0xffff);
			put16(f + l3 + 6, (more ? 0x2000 : 0) | off / 8);
			put16(f + l3 + 10, 0);
			put16(f + l3 + 10, fold(sum16(f + l3, 20, 0)));
		}
		memcpy(f + l3 + hl, frame + l4 + off, n);
		record(t, f, l3 + hl + n);
	}
}

/* Writes L2 and L3 in front of the L4 header and payload already at
 * frame + l4_offset(), the L4 checksum (and UDP length), and the record. */
static void emit(uint64_t t, const struct host *c, const struct host *s, int v6, int to_server,
		 int proto, uint32_t l4len)
{
	uint32_t o = 12, l3, l4 = l4_offset(c, v6), sum;
	const uint8_t *sa = v6 ? (to_server ? c->v6 : s->v6) : (to_server ? c->v4 : s->v4);
	const uint8_t *da = v6 ? (to_server ? s->v6 : c->v6) : (to_server ? s->v4 : c->v4);
	uint32_t alen = v6 ? 16 : 4;

	memcpy(frame, to_server ? router_mac : c->mac, 6);
	memcpy(frame + 6, to_server ? c->mac : router_mac, 6);
	if (c->qinq) {
		put16(frame + o, 0x88a8);
		put16(frame + o + 2, c->qinq);
		o += 4;
	}
	if (c->vlan) {
		put16(frame + o, 0x8100);
		put16(frame + o + 2, c->vlan);
		o += 4;
	}
	put16(frame + o, v6 ? 0x86dd : 0x0800);
	l3 = o + 2;
	if (v6) {
		put32(frame + l3, 0x60000000U | rnd(0x100000));
		put16(frame + l3 + 4, l4len);
		frame[l3 + 6] = (uint8_t)proto;
		frame[l3 + 7] = to_server ? 64 : 57;
		memcpy(frame + l3 + 8, sa, 16);
		memcpy(frame + l3 + 24, da, 16);
	} else {
		put16(frame + l3, 0x4500);
		put16(frame + l3 + 2, 20 + l4len);
		put16(frame + l3 + 4, rnd(65536));
		put16(frame + l3 + 6, 0x4000);
		frame[l3 + 8] = to_server ? 64 : 57;
		frame[l3 + 9] = (uint8_t)proto;
		put16(frame + l3 + 10, 0);
		memcpy(frame + l3 + 12, sa, 4);
		memcpy(frame + l3 + 16, da, 4);
		put16(frame + l3 + 10, fold(sum16(frame + l3, 20, 0)));
	}
	sum = sum16(sa, alen, 0);
	sum = sum16(da, alen, sum) + (uint32_t)proto + l4len;
	if (proto == 17) {
		uint16_t c16;

		put16(frame + l4 + 4, l4len);
		put16(frame + l4 + 6, 0);
		c16 = fold(sum16(frame + l4, l4len, sum));
		put16(frame + l4 + 6, c16 ? c16 : 0xffff);
	} else {
		put16(frame + l4 + 16, 0);
		put16(frame + l4 + 16, fold(sum16(frame + l4, l4len, sum)));
	}
	if (S->frag && (v6 ? 40 : 20) + l4len > MTU &&
	    T.packets + (l4len + frag_chunk(v6) - 1) / frag_chunk(v6) <= packet_cap) {
		emit_fragments(t, l3, v6, l4, l4len, proto);
		return;
	}
	record(t, frame, l4 + l4len);
}

/* --- DNS messages --------------------------------------------------------- */

static uint32_t name_at(uint8_t *d, uint32_t o, const uint8_t *w, int n)
{
	memcpy(d + o, w, (size_t)n);
	return o + (uint32_t)n;
}

static uint32_t opt_rr(uint8_t *d, uint32_t o, int resp, uint8_t ext)
{
	int cookie = S->upstream;

	d[o] = 0;
	put16(d + o + 1, 41);
	put16(d + o + 3, 1232);
	put32(d + o + 5, (uint32_t)ext << 24 | (S->upstream ? 0x8000 : 0));   /* DO */
	put16(d + o + 9, cookie ? (resp ? 28 : 12) : 0);
	o += 11;
	if (cookie) {
		put16(d + o, 10);
		put16(d + o + 2, resp ? 24 : 8);
		for (int i = 0; i < (resp ? 24 : 8); i++)
			d[o + 4 + i] = (uint8_t)rnd(256);
		o += resp ? 28 : 12;
	}
	return o;
}

static uint32_t query_msg(uint8_t *d, uint16_t id, const uint8_t *w, int n, uint16_t qtype, int edns)
{
	uint32_t o;

	put16(d, id);
	put16(d + 2, S->upstream ? 0x0010 : 0x0100);       /* CD upstream, RD from stubs */
	put16(d + 4, 1);
	put16(d + 6, 0);
	put16(d + 8, 0);
	put16(d + 10, edns ? 1 : 0);
	o = name_at(d, 12, w, n);
	put16(d + o, qtype);
	put16(d + o + 2, 1);
	o += 4;
	return edns ? opt_rr(d, o, 0, 0) : o;
}

/* A resource record header; returns where the rdata goes (its length is
 * filled by rr_end). */
static uint32_t rr(uint8_t *d, uint32_t o, uint16_t owner, uint16_t type, uint32_t ttl)
{
	put16(d + o, 0xc000 | owner);
	put16(d + o + 2, type);
	put16(d + o + 4, 1);
	put32(d + o + 6, ttl);
	return o + 12;
}

static uint32_t rr_end(uint8_t *d, uint32_t rdata, uint32_t end)
{
	put16(d + rdata - 2, end - rdata);
	return end;
}

static uint32_t random_bytes(uint8_t *d, uint32_t o, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 8) {
		uint64_t r = rnd64();

		memcpy(d + o + i, &r, n - i < 8 ? n - i : 8);
	}
	return o + n;
}

static uint32_t rrsig(uint8_t *d, uint32_t o, uint16_t owner, uint16_t covered, uint16_t signer)
{
	int rsa = S->frag || chance(0.3);       /* frag: RSA-2048 zones throughout */
	uint32_t r = rr(d, o, owner, 46, 3600);

	put16(d + r, covered);
	d[r + 2] = rsa ? 8 : 13;
	d[r + 3] = 2;
	put32(d + r + 4, 3600);
	put32(d + r + 8, 1800000000U);
	put32(d + r + 12, 1700000000U);
	put16(d + r + 16, rnd(65536));
	put16(d + r + 18, 0xc000 | signer);
	return rr_end(d, r, random_bytes(d, r + 20, rsa ? 256 : 64));
}

static uint32_t soa(uint8_t *d, uint32_t o, uint16_t zone)
{
	uint32_t r = rr(d, o, zone, 6, 900);

	d[r] = 3;
	memcpy(d + r + 1, "ns1", 3);
	put16(d + r + 4, 0xc000 | zone);
	d[r + 6] = 10;
	memcpy(d + r + 7, "hostmaster", 10);
	put16(d + r + 17, 0xc000 | zone);
	for (int i = 0; i < 5; i++)
		put32(d + r + 19 + 4 * i, 1000 + rnd(100000));
	return rr_end(d, r, r + 39);
}

/* The name PREFIX<k>.<the name at parent>; returns where it ends. */
static uint32_t host_k(uint8_t *d, uint32_t o, const char *prefix, int k, uint16_t parent)
{
	uint8_t l = (uint8_t)strlen(prefix);

	d[o] = l + 1;
	memcpy(d + o + 1, prefix, l);
	d[o + 1 + l] = (uint8_t)('0' + k);
	put16(d + o + 2 + l, 0xc000 | parent);
	return o + 4 + l;
}

/* One answer record of type t for the name at owner; parent is where the
 * name's parent domain is in the message. */
static uint32_t answer(uint8_t *d, uint32_t o, uint16_t t, uint16_t owner, uint16_t parent, int k)
{
	uint32_t r = rr(d, o, owner, t, 60 + rnd(86400)), e = r;
	static const uint8_t h3[] = {0, 1, 0, 6, 2, 'h', '2', 2, 'h', '3'};

	switch (t) {
	case 1:
		memcpy(d + r, (uint8_t[]){198, (uint8_t)(18 + rnd(2)), (uint8_t)rnd(256),
			(uint8_t)rnd(256)}, 4);
		e = r + 4;
		break;
	case 28:
		memcpy(d + r, (uint8_t[]){0x20, 1, 0, 2, 0, 0x80}, 6);
		e = random_bytes(d, r + 6, 10);
		break;
	case 12: {
		uint32_t i = rnd((uint32_t)S->npop);

		e = name_at(d, r, arena + pop_off[i], pop_len[i]);
		break;
	}
	case 6:
		return soa(d, o, owner);
	case 257:
		memcpy(d + r, "\0\5issueletsencrypt.org", 22);
		e = r + 22;
		break;
	case 15:
		put16(d + r, 10 * (uint32_t)k);
		e = host_k(d, r + 2, "mx", k, parent);
		break;
	case 16: {      /* frag: SPF and DKIM records, 2-6 strings of up to 255 */
		uint32_t strings = S->frag ? 2 + rnd(5) : 1;

		e = r;
		for (uint32_t j = 0; j < strings; j++) {
			uint32_t n = S->frag ? 100 + rnd(156) : 10 + rnd(120);

			d[e] = (uint8_t)n;
			for (uint32_t i = 0; i < n; i++)
				d[e + 1 + i] = (uint8_t)('a' + rnd(26));
			e += 1 + n;
		}
		break;
	}
	case 2:
		e = host_k(d, r, "ns", k, parent);
		break;
	case 33:
		put16(d + r, 10);
		put16(d + r + 2, 5 * (uint32_t)k);
		put16(d + r + 4, 5060);
		e = host_k(d, r + 6, "srv", k, parent);
		break;
	case 43:
		put16(d + r, rnd(65536));
		d[r + 2] = 13;
		d[r + 3] = 2;
		e = random_bytes(d, r + 4, 32);
		break;
	case 48: {
		int rsa = S->frag || chance(0.3);

		put16(d + r, k == 1 ? 257 : 256);
		d[r + 2] = 3;
		d[r + 3] = rsa ? 8 : 13;
		e = random_bytes(d, r + 4, rsa ? 260 : 64);
		break;
	}
	case 65:
		put16(d + r, 1);
		d[r + 2] = 0;
		memcpy(d + r + 3, h3, sizeof(h3));
		put16(d + r + 13, 4);
		put16(d + r + 15, 4);
		memcpy(d + r + 17, (uint8_t[]){198, 18, (uint8_t)rnd(256), (uint8_t)rnd(256)}, 4);
		e = r + 21;
		break;
	default:                          /* SOA, CAA, private types: a few bytes */
		e = random_bytes(d, r, 8 + rnd(24));
		break;
	}
	return rr_end(d, r, e);
}

static uint32_t nsec3(uint8_t *d, uint32_t o, uint16_t zone)
{
	static const char b32[] = "0123456789abcdefghijklmnopqrstuv";
	uint32_t r;

	d[o] = 32;
	for (int i = 0; i < 32; i++)
		d[o + 1 + i] = (uint8_t)b32[rnd(32)];
	put16(d + o + 33, 0xc000 | zone);
	put16(d + o + 35, 50);
	put16(d + o + 37, 1);
	put32(d + o + 39, 900);
	r = o + 45;
	memcpy(d + r, (uint8_t[]){1, 0, 0, 0, 0, 20}, 6);
	r = random_bytes(d, r + 6, 20);
	memcpy(d + r, (uint8_t[]){0, 6, 0x40, 0, 0, 0, 0, 2}, 8);
	return rr_end(d, o + 45, r + 8);
}

struct q {                             /* a query waiting for its response */
	uint64_t t;
	struct host *c, *s;
	uint16_t cport, id, qtype;
	int32_t pop;                  /* popular name index, or -1 */
	uint8_t v6, edns, nlen, nx;   /* nx: answered NXDOMAIN (the flood) */
	uint8_t name[256];
};

static int pick_rcode(void)
{
	double u = unif();

	if ((u -= S->nx) < 0)
		return 3;
	if ((u -= S->servfail) < 0)
		return 2;
	if ((u -= S->refused) < 0)
		return 5;
	if ((u -= S->badvers) < 0)
		return 16;
	return 0;
}

/* A response to q with the given full rcode; over UDP, one that would not
 * fit in limit bytes is cut after the question with TC set. Returns its
 * length; *tc says whether it was truncated. */
static uint32_t response_msg(uint8_t *d, const struct q *q, int rcode, uint32_t limit, int *tc)
{
	uint16_t qn = 12, parent = 12, an = 0, ns = 0;
	uint32_t o, mark, optlen = q->edns ? (S->upstream ? 39 : 11) : 0;
	int nodata = rcode == 0 && chance(S->nodata);

	*tc = 0;
	if (q->name[0] && q->name[1 + q->name[0]])
		parent = (uint16_t)(12 + 1 + q->name[0]);
	put16(d, q->id);
	put16(d + 2, 0x8000 | (S->upstream ? 0x0400 : 0x0180) | (rcode & 15));
	put16(d + 4, 1);
	o = name_at(d, 12, q->name, q->nlen);
	put16(d + o, q->qtype);
	put16(d + o + 2, 1);
	o += 4;
	mark = o;
	if (rcode == 0 && !nodata) {
		uint16_t t = q->qtype, owner = qn;
		int n = t == 1 || t == 2 ? 1 + (int)rnd(4) : t == 28 || t == 15 ? 1 + (int)rnd(2) :
			t == 48 ? 2 + (int)rnd(S->frag ? 3 : 2) : 1;    /* frag: rollovers too */

		if ((t == 1 || t == 28) && chance(0.25)) {        /* a CNAME to a CDN first */
			uint32_t r = rr(d, o, qn, 5, 300);
			int l = to_wire("e1234.cdn-edge.example", d + r);

			owner = (uint16_t)r;
			o = rr_end(d, r, r + (uint32_t)l);
			an++;
		}
		for (int k = 1; k <= n; k++, an++)
			o = answer(d, o, t, owner, parent, k);
		for (int k = 0; S->upstream && k < (t == 48 ? 2 : 1); k++) {   /* KSK and ZSK */
			o = rrsig(d, o, owner, t, parent);
			an++;
		}
	} else if (rcode == 0 || rcode == 3) {
		o = soa(d, o, parent);
		ns++;
		if (S->upstream) {
			o = rrsig(d, o, parent, 6, parent);
			o = nsec3(d, o, parent);
			o = rrsig(d, o, parent, 50, parent);
			ns += 3;
			if (rcode == 3) {
				o = nsec3(d, o, parent);
				o = rrsig(d, o, parent, 50, parent);
				ns += 2;
			}
		}
	}
	if (o + optlen > limit) {
		*tc = 1;
		o = mark;
		an = ns = 0;
		put16(d + 2, (uint32_t)(d[2] << 8 | d[3]) | 0x0200);
	}
	put16(d + 6, an);
	put16(d + 8, ns);
	put16(d + 10, q->edns ? 1 : 0);
	return q->edns ? opt_rr(d, o, 1, (uint8_t)(rcode >> 4)) : o;
}

/* --- events ------------------------------------------------------------------ */

enum { EV_RESP, EV_SEG };
struct ev { uint64_t t, seq; uint32_t kind; void *p; };
static struct ev *heap;
static size_t nheap, capheap;
static uint64_t evseq;

static int ev_less(const struct ev *a, const struct ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void ev_push(uint64_t t, uint32_t kind, void *p)
{
	size_t i = nheap++;

	if (nheap > capheap) {
		capheap = capheap ? capheap * 2 : 1024;
		heap = realloc(heap, capheap * sizeof(*heap));
	}
	heap[i] = (struct ev){t, evseq++, kind, p};
	while (i > 0 && ev_less(&heap[i], &heap[(i - 1) / 2])) {
		struct ev x = heap[i];

		heap[i] = heap[(i - 1) / 2];
		heap[(i - 1) / 2] = x;
		i = (i - 1) / 2;
	}
}

static struct ev ev_pop(void)
{
	struct ev top = heap[0];
	size_t i = 0;

	heap[0] = heap[--nheap];
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < nheap && ev_less(&heap[l], &heap[m]))
			m = l;
		if (l + 1 < nheap && ev_less(&heap[l + 1], &heap[m]))
			m = l + 1;
		if (m == i)
			break;
		struct ev x = heap[i];

		heap[i] = heap[m];
		heap[m] = x;
		i = m;
	}
	return top;
}

/* --- TCP connections ----------------------------------------------------- */

/* A connection is written out whole when it starts: its two byte streams
 * (the client's queries, the server's responses, each message behind its
 * length) and the segments that carry them, with times; the heap then
 * hands out one segment at a time among the other traffic. */
struct smsg { uint32_t end; uint16_t qtype, rcode; int32_t pop; uint8_t dir; };
struct seg { uint64_t t; uint32_t off, len, order; uint8_t dir, flags; };
struct conn {
	struct host *c, *s;
	uint8_t v6;
	uint16_t cport;
	uint32_t isn[2], sent[2];     /* stream bytes sent per direction */
	uint8_t fin[2];
	uint8_t *data[2];
	uint32_t dlen[2], dcap[2];
	struct smsg *msgs;
	int nmsgs, capmsgs, next_msg[2];
	struct seg *segs;
	int nsegs, capsegs, cur;
	uint16_t ids[16];             /* the query ids used (8 exchanges at most) */
	int nids;
};

static void conn_append(struct conn *k, int dir, const uint8_t *m, uint32_t n)
{
	if (k->dlen[dir] + n + 2 > k->dcap[dir]) {
		k->dcap[dir] = (k->dlen[dir] + n + 2) * 2;
		k->data[dir] = realloc(k->data[dir], k->dcap[dir]);
	}
	put16(k->data[dir] + k->dlen[dir], n);
	memcpy(k->data[dir] + k->dlen[dir] + 2, m, n);
	k->dlen[dir] += n + 2;
}

static void conn_msg(struct conn *k, int dir, uint16_t qtype, uint16_t rcode, int32_t pop)
{
	if (k->nmsgs == k->capmsgs) {
		k->capmsgs = k->capmsgs ? 2 * k->capmsgs : 16;
		k->msgs = realloc(k->msgs, (size_t)k->capmsgs * sizeof(*k->msgs));
	}
	k->msgs[k->nmsgs++] = (struct smsg){k->dlen[dir], qtype, rcode, pop, (uint8_t)dir};
}

static void conn_seg(struct conn *k, uint64_t t, int dir, uint8_t flags, uint32_t off, uint32_t len)
{
	if (k->nsegs == k->capsegs) {
		k->capsegs = k->capsegs ? 2 * k->capsegs : 32;
		k->segs = realloc(k->segs, (size_t)k->capsegs * sizeof(*k->segs));
	}
	k->segs[k->nsegs] = (struct seg){t, off, len, (uint32_t)k->nsegs, (uint8_t)dir, flags};
	k->nsegs++;
}

/* Stream bytes [off, off+len) of dir as segments from time t: at most
 * MSS each, and now and then cut in two at a random byte (inside the
 * length prefix too). Returns the time of the last. */
static uint64_t conn_data(struct conn *k, uint64_t t, int dir, uint32_t off, uint32_t len)
{
	while (len > 0) {
		uint32_t n = len < MSS ? len : MSS;

		if (n > 1 && chance(0.12))
			n = 1 + rnd(n - 1);
		conn_seg(k, t, dir, 0x18, off, n);
		off += n;
		len -= n;
		if (len)
			t += (uint64_t)(20000 + rnd(150000));
	}
	return t;
}

static uint64_t lat_ns(double lo, double hi)
{
	return (uint64_t)(loguni(lo, hi) * NS_MS);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int pick_name(uint8_t *w, int32_t *pop, int *kind);

/* A query of the connection (FIRST's question when given), written into
 * the client's stream: an odd id, distinct in the connection. */
static void conn_query(struct conn *k, struct q *q, const struct q *first, uint8_t *m)
{
	int32_t pop = -1;
	int kind = K_HOST, dup;

	do {
		q->id = (uint16_t)(rnd(32768) * 2 + 1);
		dup = 0;
		for (int x = 0; x < k->nids; x++)
			dup |= k->ids[x] == q->id;
	} while (dup);
	k->ids[k->nids++] = q->id;
	if (first) {
		memcpy(q->name, first->name, first->nlen);
		q->nlen = first->nlen;
		q->qtype = first->qtype;
		pop = first->pop;
	} else {
		q->nlen = (uint8_t)pick_name(q->name, &pop, &kind);
		q->qtype = pick_qtype(kind);
	}
	q->edns = (uint8_t)chance(S->edns);
	conn_append(k, 0, m, query_msg(m, q->id, q->name, q->nlen, q->qtype, q->edns));
	conn_msg(k, 0, q->qtype, 0, pop);
}

/* The answers to the PIPE queries qs, in the order they are ready, each
 * written then (now and then two in one write); returns the time of the
 * last segment. */
static uint64_t conn_answers(struct conn *k, const struct q *qs, const uint64_t *ready, int pipe,
			     uint64_t last, uint8_t *m)
{
	uint32_t roff[3];
	int order[2] = {0, 1};

	if (pipe == 2 && ready[1] < ready[0])
		order[0] = 1, order[1] = 0;
	for (int j = 0; j < pipe; j++) {
		int tc, rc = pick_rcode();

		roff[j] = k->dlen[1];
		conn_append(k, 1, m, response_msg(m, &qs[order[j]], rc, 65535, &tc));
		conn_msg(k, 1, 0, (uint16_t)rc, -1);
	}
	roff[pipe] = k->dlen[1];
	if (pipe == 2 && chance(0.3))
		return conn_data(k, ready[order[1]], 1, roff[0], roff[2] - roff[0]);
	for (int j = 0; j < pipe; j++) {
		uint64_t at = ready[order[j]] > last ? ready[order[j]] : last + 10000;

		last = conn_data(k, at, 1, roff[j], roff[j + 1] - roff[j]);
	}
	return last;
}

/* An exchange: PIPE queries written at tq, their answers, the client's
 * ACK; returns when the client writes next. */
static uint64_t conn_exchange(struct conn *k, uint64_t tq, int pipe, const struct q *first, uint8_t *m)
{
	uint32_t qoff = k->dlen[0];
	struct q qs[2];
	uint64_t ready[2], last = tq;

	for (int j = 0; j < pipe; j++) {
		conn_query(k, &qs[j], j == 0 ? first : NULL, m);
		ready[j] = tq + lat_ns(S->lat_lo, S->lat_hi);
	}
	/* a client that writes the length and the message apart */
	if (pipe == 1 && chance(0.1)) {
		conn_seg(k, tq, 0, 0x18, qoff, 2);
		tq += 3000;
		conn_seg(k, tq, 0, 0x18, qoff + 2, k->dlen[0] - qoff - 2);
	} else {
		conn_seg(k, tq, 0, 0x18, qoff, k->dlen[0] - qoff);
	}
	last = conn_answers(k, qs, ready, pipe, last, m);
	conn_seg(k, last + 5000, 0, 0x10, 0, 0);
	return last + lat_ns(0.02, 2);
}

/* A connection of E exchanges from t: handshake, exchanges (two queries
 * in one write now and then), FINs. first (may be NULL) is the query to
 * ask first (the retry of a truncated UDP answer). */
static void conn_start(uint64_t t, const struct q *first, int e)
{
	struct conn *k = calloc(1, sizeof(*k));
	uint64_t rtt = lat_ns(0.05, 1), tq;
	static uint8_t m[65536];

	k->c = first ? first->c : pick_client();
	k->s = first ? first->s : &servers[rnd((uint32_t)S->nservers)];
	k->v6 = first ? first->v6 : (uint8_t)chance(S->v6);
	k->cport = tcp_port(k->c);
	k->isn[0] = (uint32_t)rnd64();
	k->isn[1] = (uint32_t)rnd64();
	conn_seg(k, t, 0, 0x02, 0, 0);
	conn_seg(k, t + rtt, 1, 0x12, 0, 0);
	tq = t + rtt + 5000;
	conn_seg(k, tq, 0, 0x10, 0, 0);
	tq += 5000;
	for (int i = 0; i < e;) {
		int pipe = i + 1 < e && chance(0.25) ? 2 : 1;

		tq = conn_exchange(k, tq, pipe, i == 0 ? first : NULL, m);
		i += pipe;
	}
	conn_seg(k, tq, 0, 0x11, 0, 0);
	conn_seg(k, tq + rtt / 2, 1, 0x11, 0, 0);
	conn_seg(k, tq + rtt / 2 + 5000, 0, 0x10, 0, 0);
	qsort(k->segs, (size_t)k->nsegs, sizeof(*k->segs), seg_cmp);
	T.sessions++;
	ev_push(k->segs[0].t, EV_SEG, k);
}

static void conn_free(struct conn *k)
{
	free(k->data[0]);
	free(k->data[1]);
	free(k->msgs);
	free(k->segs);
	free(k);
}

/* Emits the connection's next segment and counts the messages it
 * completes; schedules the one after. */
static void conn_step(struct conn *k, uint64_t t)
{
	const struct seg *g = &k->segs[k->cur++];
	int d = g->dir;
	uint32_t l4 = l4_offset(k->c, k->v6), hl = g->flags & 0x02 ? 24 : 20;
	uint8_t *h = frame + l4;

	put16(h, d ? 53 : k->cport);
	put16(h + 2, d ? k->cport : 53);
	put32(h + 4, k->isn[d] + (g->flags & 0x02 ? 0 : 1) + k->sent[d] + k->fin[d]);
	put32(h + 8, g->flags & 0x10 ? k->isn[!d] + 1 + k->sent[!d] + k->fin[!d] : 0);
	put16(h + 12, (hl / 4) << 12 | g->flags);
	put16(h + 14, 64240);
	put16(h + 18, 0);
	if (hl == 24)
		memcpy(h + 20, (uint8_t[]){2, 4, 0x05, 0xb4}, 4);      /* MSS 1460 */
	memcpy(h + hl, k->data[d] + g->off, g->len);
	k->sent[d] += g->len;
	k->fin[d] |= g->flags & 0x01;
	emit(t, k->c, k->s, k->v6, d == 0, 6, hl + g->len);
	for (int i = k->next_msg[d]; i < k->nmsgs; i++) {
		const struct smsg *s = &k->msgs[i];

		if (s->dir != d)
			continue;
		if (s->end > k->sent[d])
			break;
		k->next_msg[d] = i + 1;
		count_msg(d, k->v6, 1, s->qtype, s->rcode, 0);
		if (d == 0) {
			if (s->pop >= 0)
				pop_cnt[s->pop]++;
			k->c->queries[k->v6]++;
			T.inflight++;
			outstanding(t);
		} else {
			T.matched++;
			T.inflight--;
		}
	}
	if (k->cur < k->nsegs)
		ev_push(k->segs[k->cur].t, EV_SEG, k);
	else
		conn_free(k);
}

/* --- UDP transactions ---------------------------------------------------- */

static int pick_name(uint8_t *w, int32_t *pop, int *kind)
{
	*pop = -1;
	*kind = K_HOST;
	if (chance(S->popular)) {
		int i = pick_popular();

		*pop = i;
		*kind = pop_kind[i];
		memcpy(w, arena + pop_off[i], pop_len[i]);
		return pop_len[i];
	}
	return tail_name(w);
}

static void udp_query(uint64_t t)
{
	struct q qq, *q = &qq;
	int flood = chance(S->flood), kind = K_HOST, answered;
	int32_t pop = -1;
	uint32_t l4, n;
	uint8_t *d;

	q->c = pick_client();
	q->s = &servers[rnd((uint32_t)S->nservers)];
	q->v6 = (uint8_t)chance(S->v6);
	q->edns = (uint8_t)chance(S->edns);
	q->nx = 0;
	q->t = t;
	udp_port_id(q->c, &q->cport, &q->id);
	if (flood) {
		q->nlen = (uint8_t)flood_name(q->name);
		q->qtype = 1;
		q->pop = -1;
		q->nx = 1;
		answered = chance(S->flood_answered);
		T.flood++;
	} else {
		q->nlen = (uint8_t)pick_name(q->name, &pop, &kind);
		q->qtype = pick_qtype(kind);
		answered = chance(S->answered);
		q->pop = pop;
	}
	l4 = l4_offset(q->c, q->v6);
	d = frame + l4 + 8;
	n = query_msg(d, q->id, q->name, q->nlen, q->qtype, q->edns);
	if (!flood && chance(S->malformed)) {
		/* cut inside the name: a header, no readable question */
		n = 12 + 1 + rnd(q->nlen - 1U);
		answered = -1;
	}
	put16(frame + l4, q->cport);
	put16(frame + l4 + 2, 53);
	emit(t, q->c, q->s, q->v6, 1, 17, 8 + n);
	count_msg(0, q->v6, 0, q->qtype, 0, answered < 0);
	if (answered < 0)
		return;
	if (pop >= 0)
		pop_cnt[pop]++;
	q->c->queries[q->v6]++;
	if (answered) {
		struct q *p = malloc(sizeof(*p));
		uint64_t lat = flood ? lat_ns(S->flood_lat_lo, S->flood_lat_hi)
				     : lat_ns(S->lat_lo, S->lat_hi);

		*p = *q;
		T.inflight++;
		ev_push(t + lat, EV_RESP, p);
	} else {
		lost_push(t);
	}
	outstanding(t);
}

static void udp_response(struct q *q, uint64_t t)
{
	uint32_t l4 = l4_offset(q->c, q->v6), n;
	int tc, rc = q->nx ? 3 : pick_rcode();

	n = response_msg(frame + l4 + 8, q, rc, q->edns ? (S->frag ? 4000 - l4 : 1232) : 512, &tc);
	put16(frame + l4, 53);
	put16(frame + l4 + 2, q->cport);
	emit(t, q->c, q->s, q->v6, 0, 17, 8 + n);
	count_msg(1, q->v6, 0, 0, (uint16_t)rc, 0);
	T.matched++;
	T.inflight--;
	if (tc) {                         /* the client asks again over TCP */
		T.tc++;
		conn_start(t + 30000 + rnd(100000), q, 1);
	}
	free(q);
}

/* --- output ----------------------------------------------------------------- */

static int cnt_cmp(const void *a, const void *b)
{
	uint64_t x = pop_cnt[*(const int *)a], y = pop_cnt[*(const int *)b];

	if (x != y)
		return x > y ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

/* The 20 busiest client addresses, as "[text, count]" list items. */
static int client_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	uint64_t cx = clients[*x / 2].queries[*x % 2], cy = clients[*y / 2].queries[*y % 2];

	if (cx != cy)
		return cx > cy ? -1 : 1;
	return *x < *y ? -1 : *x > *y;
}

static void write_clients(FILE *f)
{
	uint32_t n = 2 * (uint32_t)S->nclients, *idx = malloc(n * sizeof(*idx));
	char text[INET6_ADDRSTRLEN];

	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	qsort(idx, n, sizeof(*idx), client_cmp);
	for (uint32_t i = 0; i < TOPN && i < n; i++) {
		const struct host *h = &clients[idx[i] / 2];
		int v6 = idx[i] % 2;

		inet_ntop(v6 ? AF_INET6 : AF_INET, v6 ? (const void *)h->v6 : (const void *)h->v4,
			  text, sizeof(text));
		fprintf(f, "%s[\"%s\",%llu]", i ? "," : "", text, (unsigned long long)h->queries[v6]);
	}
	free(idx);
}

static void write_map(FILE *f, const char *name, const uint64_t *v, int n)
{
	int first = 1;

	fprintf(f, "\"%s\":{", name);
	for (int i = 0; i < n; i++)
		if (v[i]) {
			fprintf(f, "%s\"%d\":%llu", first ? "" : ",", i, (unsigned long long)v[i]);
			first = 0;
		}
	fprintf(f, "}");
}

static int write_truth(const char *path, uint64_t n)
{
	FILE *f = fopen(path, "w");
	int *idx = malloc((size_t)S->npop * sizeof(*idx));
	char text[300];

	if (!f || !idx)
		return -1;
	for (int i = 0; i < S->npop; i++)
		idx[i] = i;
	qsort(idx, (size_t)S->npop, sizeof(*idx), cnt_cmp);
#define U(x) (unsigned long long)(x)
	fprintf(f, "{\"shape\":\"%s\",\"n\":%llu,\"timeout_s\":%llu,\"packets\":%llu,\"dns\":%llu,"
		"\"queries\":%llu,\"responses\":%llu,\"malformed\":%llu,"
		"\"transport\":{\"udp\":%llu,\"tcp\":%llu},\"ip\":{\"4\":%llu,\"6\":%llu},",
		S->name, U(n), U(TIMEOUT_NS / 1000000000ULL), U(T.packets), U(T.dns), U(T.queries),
		U(T.responses), U(T.malformed), U(T.udp), U(T.tcp), U(T.ip4), U(T.ip6));
	write_map(f, "qtypes", T.qtypes, 65536);
	fprintf(f, ",");
	write_map(f, "rcodes", T.rcodes, 4096);
	fprintf(f, ",\"matched\":%llu,\"unanswered\":%llu,\"top_qnames\":[",
		U(T.matched), U(T.queries - T.matched));
	for (int i = 0; i < TOPN && i < S->npop; i++) {
		wire_text(arena + pop_off[idx[i]], text);
		fprintf(f, "%s[\"%s\",%llu]", i ? "," : "", text, U(pop_cnt[idx[i]]));
	}
	fprintf(f, "],\"top_clients\":[");
	write_clients(f);
	fprintf(f, "],\"info\":{\"seconds\":%.3f,\"outstanding_max\":%llu,\"tcp_connections\":%llu,"
		"\"flood_queries\":%llu,\"truncated\":%llu}}\n",
		(double)(T.last_ts - T.first_ts) / 1e9, U(T.outstanding_max), U(T.sessions),
		U(T.flood), U(T.tc));
#undef U
	free(idx);
	return fclose(f);
}

/* --- main ------------------------------------------------------------------- */

static void run(uint64_t n)
{
	uint64_t t = 1700000000ULL * 1000000000ULL, next = t;

	packet_cap = n;
	while (T.packets < n) {
		if (nheap && heap[0].t <= next) {
			struct ev e = ev_pop();

			if (e.kind == EV_RESP)
				udp_response(e.p, e.t);
			else
				conn_step(e.p, e.t);
			continue;
		}
		t = next;
		if (chance(S->tcp))
			conn_start(t, NULL, S->tcp_min + (int)rnd((uint32_t)(S->tcp_max - S->tcp_min + 1)));
		else
			udp_query(t);
		next = t + (uint64_t)(-log(1.0 - unif()) / S->qps * 1e9) + 1;
	}
}

int main(int argc, char **argv)
{
	uint32_t hdr[6] = {0xa1b23c4d, 2 | 4 << 16, 0, 0, 65535, 1};
	uint64_t n;

	if (argc == 2 && !strcmp(argv[1], "-l")) {
		for (size_t i = 0; i < NSHAPES; i++)
			printf("%s: %s\n", shapes[i].name, shapes[i].what);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: genshapes SHAPE OUT.pcap N TRUTH.json | genshapes -l\n");
		return 2;
	}
	for (size_t i = 0; i < NSHAPES; i++)
		if (!strcmp(argv[1], shapes[i].name))
			S = &shapes[i];
	n = strtoull(argv[3], NULL, 10);
	if (!S || n == 0) {
		fprintf(stderr, "genshapes: unknown shape '%s' or bad N\n", argv[1]);
		return 2;
	}
	rs = 0x5eed0000ULL;
	for (const char *c = S->name; *c; c++)
		rs = rs * 131 + (uint8_t)*c;
	out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	fwrite(hdr, sizeof(hdr), 1, out);
	make_hosts();
	make_names();
	run(n);
	if (fclose(out) != 0 || write_truth(argv[4], n) != 0) {
		perror("genshapes");
		return 1;
	}
	return 0;
}
