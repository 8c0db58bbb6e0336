/* xdp_int.h - what the XDP host's files share inside the host: xdp.c
 * (loading, attaching, counters, lifetime), xdpclass.c (building and
 * installing rule sets), xdpowner.c (owner records and the clean-up of
 * programs whose owner died) and xdpcopy.c (the copy ring's reader).
 * Not part of the FFI. */
#ifndef PKTSH_XDP_INT_H
#define PKTSH_XDP_INT_H
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include "source/batch.h"
#include "pktsh.h"
#include "../../bpf/xdp_rules.h"

/* The copy ring, read in place: a batch's records stay in the ring until
 * it is released, and only then does the consumer position move. */
struct xdp_copies {
	int fd;                   /* the BPF_MAP_TYPE_RINGBUF */
	uint32_t size;            /* data bytes (a power of two) */
	size_t page;
	unsigned long *cons_pos;  /* first page: ours to write */
	unsigned long *prod_pos;  /* second page: the kernel's */
	uint8_t *data;            /* size bytes, mapped twice in a row */
	void *cons_map;
	struct region prod_map;   /* batch.h: never unmapped */
	unsigned long pos;        /* where the walk has got to */
	int held;                 /* the batch holds records up to pos */
	uint32_t ifindex;
	struct batch_ring *br;    /* batch.h */
	struct pktsh_src_stats stats;
};

int xdp_copies_open(struct xdp_copies *c, int ring_fd, uint32_t size,
		    uint32_t batch_cap, struct pktsh_err *err);
int xdp_copies_next(struct xdp_copies *c, struct pktsh_batch **out,
		    int32_t timeout_ms, struct pktsh_err *err);
void xdp_copies_release(struct xdp_copies *c);
void xdp_copies_close(struct xdp_copies *c);

/* The keys one slot holds in one prefix trie, to delete them later. */
struct keylist {
	void *keys;
	uint32_t n;
	uint32_t cap;
};

struct slot_state {
	uint32_t base;            /* classifier region in the pool */
	uint32_t used;
	struct keylist tries[4];  /* src4, dst4, src6, dst6 */
};

struct pktsh_xdp {
	struct xdp_rules_bpf *skel;
	struct xdp_program *xprog;   /* with the dispatcher */
	struct bpf_object *xobj;     /* xprog's object (libxdp does not own it) */
	int link_fd;
	int sync_outer;
	int sync_inner;
	int need_sync;
	int ncpu;
	struct xr_rule *rules;       /* mmapped tables */
	size_t rules_len;
	uint64_t *words;
	size_t words_len;
	uint64_t *vtab[4];           /* sport, dport, proto, vlan */
	size_t vtab_len[4];
	struct slot_state slot[2];
	uint8_t live[XR_MAX_RULES / 8];  /* ids in the active set */
	struct pktsh_xdp_info info;
	struct xdp_copies copies;
	int copies_open;
	void *pcpu;                  /* ncpu values, for the per-CPU maps */
	char owner_pin[PATH_MAX];    /* our owner record, if we made one */
};

/* bpflog.c: sets err from a failed bpf() call (e: errno, either sign) and
 * returns -1; permission errors say which capabilities XDP needs. */
int xdp_bpf_fail(struct pktsh_err *err, int e, const char *what);
/* bpflog.c: libxdp's and libbpf's messages between begin and end are kept
 * (keep: the first reason a dispatcher or a load failed, copied into
 * reason by end) or silenced; one thread at a time. */
void xdp_log_begin(int keep);
void xdp_log_end(char *reason, size_t sz);

/* xdpowner.c: records x as the owner of prog_fd on ifindex (a pin in
 * bpffs); x->owner_pin names it. */
int xdp_owner_record(struct pktsh_xdp *x, int prog_fd, uint32_t ifindex,
		     struct pktsh_err *err);
/* xdpowner.c: removes x's owner record, if it has one. */
void xdp_owner_forget(struct pktsh_xdp *x);
/* xdpowner.c: cleans up after dead owners; how many programs it detached. */
uint32_t xdp_owners_clean_quietly(void);
#endif
