/* outfile.h - output files that never follow a planted link (outfile.c). */
#ifndef PKTSH_OUTFILE_H
#define PKTSH_OUTFILE_H
#include <stddef.h>
#include "pktsh.h"

/* outfile.c: an output file opened without following a planted link,
 * holding head already; the descriptor, or -1. */
int pktsh_outfile_open(const char *path, const void *head, size_t len,
		       struct pktsh_err *err);
int pktsh_write_all(int fd, const void *p, size_t n);  /* 0, or -1 and errno */
#endif
