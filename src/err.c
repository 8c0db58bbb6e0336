/* err.c - filling the error out-parameter every entry point takes. */
#include <stdarg.h>
#include <stdio.h>
#include "err.h"

void pktsh_err_set(struct pktsh_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->errnum = errnum;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}
