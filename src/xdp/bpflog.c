/*
 * bpflog.c - what libbpf and libxdp say, and errors of bpf() calls, for
 * every file of the XDP host (xdp.c, xdpclass.c, xdpowner.c).
 *
 * libbpf's and libxdp's print functions are process-wide: while pktsh
 * replaces them (to keep the dispatcher's reasons, or to silence the
 * clean-up) it holds one lock, so two threads never swap them at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "err.h"
#include "xdp/xdp_int.h"

int xdp_bpf_fail(struct pktsh_err *err, int e, const char *what)
{
	if (e < 0)
		e = -e;
	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "%s: permission denied (XDP needs root, "
			      "or CAP_BPF and CAP_NET_ADMIN)", what);
	else
		pktsh_err_set(err, e, "%s: %s", what, strerror(e));
	return -1;
}

/* libbpf and libxdp print to stderr by default: before pktsh's own
 * message, four lines of theirs when privileges are missing. Every line
 * of theirs goes through route_* instead, which shows it only
 * when asked (pktsh_bpf_verbose: -v in the XDP scripts). */
static volatile int verbose;

int32_t pktsh_bpf_verbose(int32_t on)
{
	int32_t was = verbose;

	if (on >= 0)
		verbose = on;
	return was;
}

/* One line of either library (their lines name it, "libbpf: ..."):
 * shown from -v on, a debug line from -v -v on. Their levels are two
 * enums, so each library's print function says whether it is debug. */
static void route(int debug, const char *fmt, va_list ap)
{
	if (verbose > (debug ? 1 : 0))
		vfprintf(stderr, fmt, ap);
}

static int route_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	route(level == LIBBPF_DEBUG, fmt, ap);
	return 0;
}

static int route_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	route(level == LIBXDP_DEBUG, fmt, ap);
	return 0;
}

/* Before main: the first libbpf or libxdp call, in any thread, already
 * prints through pktsh. */
__attribute__((constructor)) static void route_logs(void)
{
	libbpf_set_print(route_libbpf);
	libxdp_set_print(route_libxdp);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static libxdp_print_fn_t saved_xdp;
static libbpf_print_fn_t saved_bpf;
static char log_libxdp[160];  /* libxdp's first word on the dispatcher */
static char log_libbpf[160];  /* libbpf's first failed load */

/* Keeps the first message that wanted() accepts in dst. */
static void log_keep(char *dst, size_t sz, int (*wanted)(const char *),
		     const char *fmt, va_list ap)
{
	char line[256];
	size_t l;

	if (dst[0])
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!wanted(line))
		return;
	l = strlen(line);
	while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
		line[--l] = 0;
	snprintf(dst, sz, "%s", line);
}

static int about_dispatcher(const char *line)
{
	return (strstr(line, "dispatcher") || strstr(line, "bpffs")) &&
	       !strstr(line, "Falling back");
}

static int load_failure(const char *line)
{
	return strstr(line, "load failed") != NULL;
}

/* One line of either library while a log is kept: the first line that
 * wanted() accepts (debug lines aside) is kept in dst, and every line is
 * routed as route() would. */
static void keep(int debug, char *dst, size_t sz, int (*wanted)(const char *),
		 const char *fmt, va_list ap)
{
	va_list again;

	va_copy(again, ap);
	if (!debug)
		log_keep(dst, sz, wanted, fmt, ap);
	route(debug, fmt, again);
	va_end(again);
}

static int keep_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	keep(level == LIBXDP_DEBUG, log_libxdp, sizeof(log_libxdp), about_dispatcher, fmt, ap);
	return 0;
}

static int keep_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	keep(level == LIBBPF_DEBUG, log_libbpf, sizeof(log_libbpf), load_failure, fmt, ap);
	return 0;
}

static int quiet_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

void xdp_log_begin(int keep)
{
	pthread_mutex_lock(&log_lock);
	log_libxdp[0] = log_libbpf[0] = 0;
	saved_xdp = libxdp_set_print(keep ? keep_libxdp : quiet_libxdp);
	saved_bpf = libbpf_set_print(keep ? keep_libbpf : quiet_libbpf);
}

void xdp_log_end(char *reason, size_t sz)
{
	libxdp_set_print(saved_xdp);
	libbpf_set_print(saved_bpf);
	if (reason && sz)
		snprintf(reason, sz, "%s", log_libxdp[0] ? log_libxdp : log_libbpf);
	pthread_mutex_unlock(&log_lock);
}
