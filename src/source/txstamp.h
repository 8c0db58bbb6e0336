/*
 * txstamp.h - transmit stamps read back from a sending socket's error
 * queue and numbered as the sender numbers its frames (txstamp.c). Not
 * part of the FFI.
 */
#ifndef PKTSH_TXSTAMP_H
#define PKTSH_TXSTAMP_H
#include <stdint.h>
#include "pktsh.h"

struct txstamp;

/* Turns SO_TIMESTAMPING on for fd (mode: enum pktsh_txts, not NONE)
 * with OPT_ID, so that the kernel numbers the frames it makes from 0,
 * and sizes the error queue; *swhw 1 if OPT_TX_SWHW took. NULL with a
 * message on failure. */
struct txstamp *txstamp_open(int fd, int mode, const char *ifname, int *swhw,
			     struct pktsh_err *err);
void txstamp_close(struct txstamp *t);

/* What the sender tells it: n frames went out (each took the kernel's
 * next number), or one attempt the device dropped took a number no frame
 * keeps (the frame goes again and takes another). */
void txstamp_sent(struct txstamp *t, uint32_t n);
void txstamp_wasted(struct txstamp *t);

/* Reads the error queue until it is empty, waiting up to timeout_ms for
 * a first message when there is none: 0, or -1 (errno). */
int txstamp_drain(struct txstamp *t, int fd, int timeout_ms);
/* Copies up to cap ready records out, oldest first; flush: the ones
 * still waiting for a second stamp are ready now. */
uint32_t txstamp_take(struct txstamp *t, struct pktsh_tx_stamp *out, uint32_t cap,
		      int flush);
/* Records handed out, and dropped because nobody took them in time. */
void txstamp_counts(const struct txstamp *t, uint64_t *taken, uint64_t *lost);
#endif
