/* dnsstats.h - the dnsstats engine's insides, shared by the scan
 * (dnsscan.c: packets to messages) and the counting (dnsstats.c). */
#ifndef PKTSH_ACCEL_DNSSTATS_H
#define PKTSH_ACCEL_DNSSTATS_H
#include <stdint.h>
#include "pktsh.h"

/* What a response is matched to its query by: the question name (its
 * 64-bit keyed hash), id, both ports, both addresses (the client is the
 * source of a query, the destination of a response). The pending table
 * keeps a 61-bit universal hash of it (dnsstats.c). */
struct dns_key {
	uint64_t name;
	uint16_t id, cport, sport, ipver;
	uint8_t client[16], server[16];   /* IPv4 in the first 4, zeros after */
};

/* One message as the engine counts it: made from the DNS bytes of a UDP
 * payload or a TCP message (dnsstats_message), counted at once or, while
 * a batch has packets for the general path, queued in packet order (pi,
 * the packet's index in its batch) with its name in an arena. */
struct dns_msg {
	struct dns_key key;
	uint64_t mk;             /* the pending table's key (match_key) */
	uint64_t ck;             /* the client's top-k key (client_key) */
	uint32_t ch, nh;         /* a query's client and name hashes in the
				  * top-k tables (topk64_hash) */
	double ts;
	uint32_t pi;
	uint32_t name_off;
	uint16_t name_len;
	uint16_t flags, qdcount, qtype, rcode;
	uint8_t kind, tcp, v6;   /* enum pktsh_dns_kind, 0/1, 0/1 */
	uint8_t cut;             /* 1: the capture cut the message short */
	uint8_t bad_records;     /* 1: a whole message whose records do not
				  * fit it (Wireshark: Malformed Packet) */
};

/* A growing array of messages and their names. */
struct dns_queue {
	struct dns_msg *msgs;
	uint8_t *arena;
	uint32_t n, cap, head;
	uint32_t used, arena_cap;
};

struct dnsstats_lat;

/* Messages in flight (dnsstats.c): made, their table slots asked of the
 * cache, counted PIPE_DEPTH messages later, in order. */
enum { PIPE_DEPTH = 8 };
struct pipe_msg {
	struct dns_msg m;
	struct pktsh_dns_q q;   /* read in place: its name is counted from here */
};

struct pktsh_dnsstats {
	uint8_t ports[PKTSH_DNS_PORTMAP_BYTES];
	int32_t general;
	int32_t outer_only;
	double timeout;
	struct pktsh_dnstcp *tcp;
	struct pktsh_ipfrag *frag;          /* UDP fragments (dnsflow shares it) */
	struct pktsh_pending *pend;
	struct pktsh_topk64 *names, *clients;
	struct dnsstats_lat *lat;
	struct pktsh_dnsstats_counts c;
	double *qtype_n, *rcode_n;          /* 65536 and 4096 */
	uint16_t *qtypes_seen, *rcodes_seen;
	uint32_t nqtypes, nrcodes;
	double last_ts;                     /* the latest packet time scanned */
	/* this batch: packets for the general path, and the queues kept
	 * while there are any */
	uint32_t *deferred;
	uint32_t ndeferred, deferred_cap;
	int queueing;
	struct dns_queue scanq, sideq;
	struct pipe_msg pipe[PIPE_DEPTH];
	uint32_t pipe_head, pipe_n;
	struct pktsh_dnstap *tap;           /* NULL, or every message made goes there */
	struct pktsh_err err;
};

/* The message in the DNS bytes msg[0, len), carried by a packet whose IP
 * header is at l3hdr (v6: IPv6), with these ports, at ts (ns since the
 * epoch, whole: dnstap gets it exact, where a double of ns is only good
 * to 256 ns); tcp: 1 over TCP; pi: its packet's index in the batch;
 * cut: 1 when the capture holds only the first len bytes of it.
 * Handed to the tap if there is one, then counted now, or queued while
 * the batch has deferred packets (side: from the general path). */
void dnsstats_message(struct pktsh_dnsstats *e, const uint8_t *msg, uint32_t len,
		      const uint8_t *l3hdr, int v6, uint16_t sport, uint16_t dport, int64_t ts,
		      int tcp, uint32_t pi, int side, int cut);
/* Counts the messages in flight (before anything queues behind them). */
void dnsstats_pipe_drain(struct pktsh_dnsstats *e);
/* The end of a batch (or of its part before an until): queued messages
 * counted in packet order, timed-out queries expired. */
void dnsstats_batch_end(struct pktsh_dnsstats *e);
#endif
