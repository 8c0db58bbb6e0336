/* err.h - the error out-parameter every entry point fills (err.c). */
#ifndef PKTSH_ERR_H
#define PKTSH_ERR_H
#include "pktsh.h"

void pktsh_err_set(struct pktsh_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#endif
