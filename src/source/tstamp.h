/*
 * tstamp.h - time for the receivers and the sender (tstamp.c): hardware
 * stamping set-up, the PTP clock offset, SCM_TIMESTAMPING decoding.
 * Not part of the FFI.
 */
#ifndef PKTSH_TSTAMP_H
#define PKTSH_TSTAMP_H
#include <stdint.h>
#include <time.h>
#include "pktsh.h"

/* Turns hardware stamping on for transmit (tx), receive (rx) or both,
 * keeping what is on for the other direction (SIOCGHWTSTAMP first).
 * 0, or -1 with a message telling the user to use software stamps.
 * PKTSH_FAKE_HWTSTAMP in the environment stands in for the driver, for
 * tests on interfaces without hardware stamps (veth): "ok" succeeds
 * without an ioctl, a number fails with that errno. */
int tstamp_hw_enable(const char *ifname, int tx, int rx, struct pktsh_err *err);

/* The interface's PTP hardware clock (ETHTOOL_GET_TS_INFO): 0 and its
 * index, or -1 with a message (none, or the query failed). */
int tstamp_phc_index(const char *ifname, int *index, struct pktsh_err *err);

/* A PTP clock read to convert hardware stamps to the system's clock. */
struct phc_clock {
	int fd;                   /* /dev/ptpN, or -1 */
	int64_t offset;           /* system minus PTP clock, ns */
	int64_t next_mono;        /* when to measure again */
};

int tstamp_phc_open(struct phc_clock *p, int index, const char *ifname,
		    struct pktsh_err *err);
/* Measures again when a second has passed (one ioctl); keeps the old
 * offset if the clock cannot be read. */
void tstamp_phc_refresh(struct phc_clock *p);
void tstamp_phc_close(struct phc_clock *p);

static inline int64_t tstamp_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* From a struct scm_timestamping (ts[0] software, ts[2] raw hardware). */
void tstamp_scm(const void *cmsg_data, int64_t *sw, int64_t *hw);
#endif
