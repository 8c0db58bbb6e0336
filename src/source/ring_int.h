/*
 * ring_int.h - what ring.c (the TPACKET_V3 ring) and rxmsg.c (recvmmsg
 * for tstamp = "both") share about a live capture socket. Not part of
 * the FFI.
 */
#ifndef PKTSH_RING_INT_H
#define PKTSH_RING_INT_H
#include <net/if.h>
#include <pthread.h>
#include <stdint.h>
#include <linux/if_packet.h>
#include "pktsh.h"
#include "source/batch.h"
#include "source/tstamp.h"

#define VLAN_TAG_LEN 4

struct rxmsg;

struct pktsh_ring {
	int fd;
	struct region map;        /* the ring (or rxmsg's slots) */
	uint32_t cur;             /* the next block to hand out */
	int held;                 /* the block before cur belongs to the batch */
	int direction;
	int loopback;
	int hwsys;                /* hardware stamps converted with phc */
	struct phc_clock phc;
	struct rxmsg *msg;        /* tstamp BOTH: recvmmsg instead of the ring */
	struct batch_ring *br;
	struct pktsh_ring_info info;
	/* packets, bytes, batches: written by the reading thread only, with
	 * relaxed atomics, so another thread may read them; the kernel's
	 * counters under stats_mu */
	struct pktsh_src_stats stats;
	pthread_mutex_t stats_mu;
	char name[IF_NAMESIZE];
};

/* Whether a packet of this direction belongs in the batch (ring.c). */
int ring_keep(const struct pktsh_ring *r, int pkttype);
/* Puts back a VLAN tag the kernel moved into metadata: PACKET_RESERVE
 * (or rxmsg's slot) left VLAN_TAG_LEN bytes in front of mac. */
const uint8_t *ring_reinsert_vlan(uint16_t tpid, uint16_t tci, uint8_t *mac,
				  uint32_t *caplen);
/* Sets the stamps of a descriptor from a software and a hardware stamp
 * (0: none), converting the hardware one when asked. */
void ring_stamp(const struct pktsh_ring *r, struct pktsh_pkt *pkt, int64_t sw, int64_t hw);
/* Counts a delivered batch (reading thread). */
void ring_count(struct pktsh_ring *r, uint32_t packets, uint64_t bytes);

/* rxmsg.c: sets the socket up for recvmmsg with both stamps (before the
 * bind), and reads a batch as pktsh_ring_next does. */
int rxmsg_setup(struct pktsh_ring *r, const struct pktsh_ring_opts *o,
		struct pktsh_err *err);
int rxmsg_next(struct pktsh_ring *r, int32_t timeout_ms, struct pktsh_err *err);
void rxmsg_free(struct pktsh_ring *r);
#endif
