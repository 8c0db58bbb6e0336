/*
 * clock.c - time for scripts: the wall clock, the monotonic clock, and
 * the one wait everything uses (pktsh.sleep, the REPL's and the tools'
 * refresh loops).
 *
 * The wait ends early when Ctrl-C or SIGTERM asks the process to stop
 * (signals.c) or the parent asks a worker group to (workers.c). In the
 * main thread the signal cuts nanosleep() short (EINTR); worker threads
 * block those signals, so they sleep in slices and look at the flags
 * between them. A wait through a shell (`os.execute("sleep 1")`) cannot
 * do this: system() ignores SIGINT while its child runs.
 */
#include <errno.h>
#include <time.h>
#include "host.h"

/* The longest a worker sleeps before it looks at the stop flags again. */
#define SLICE_NS 50000000

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pktsh_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t pktsh_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int pktsh_sleep_ns(int64_t ns)
{
	int64_t end = pktsh_mono_ns() + (ns > 0 ? ns : 0);

	for (;;) {
		int64_t left;
		struct timespec ts;

		pktsh_writers_tick(0);    /* a sleeping script's files still fill */
		if (pktsh_stopping() || pktsh_worker_stopping())
			return 1;
		left = end - pktsh_mono_ns();
		if (left <= 0)
			return 0;
		if (left > SLICE_NS)
			left = SLICE_NS;
		ts.tv_sec = (time_t)(left / 1000000000);
		ts.tv_nsec = (long)(left % 1000000000);
		nanosleep(&ts, NULL);     /* EINTR: the loop looks at the flags */
	}
}
