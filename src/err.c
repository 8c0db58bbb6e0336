/* err.c - filling the error out-parameter every entry point takes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "err.h"

void pktsh_err_set(struct pktsh_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return;
	err->errnum = errnum;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* too long even so: say that it was cut */
	if (n >= (int)sizeof(err->msg))
		memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
}
