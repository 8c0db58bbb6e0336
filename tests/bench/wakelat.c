/*
 * wakelat.c - how late a thread that sleeps wakes up, on the CPU it runs
 * on: what an AF_XDP consumer's rings must cover (tests/bench/xsk). A
 * consumer that sleeps (in poll(), or lingering) is away for its sleep
 * plus this lateness, and the kernel keeps filling its RX ring meanwhile:
 * at R packets a second a ring of E entries lasts E / R, so any lateness
 * longer than that loses packets, however fast the consumer's loop is.
 *
 *   wakelat SECONDS SLEEP_US
 *
 * Sleeps SLEEP_US at a time for SECONDS; prints
 * "wakeups N late>1ms A >2ms B >5ms C >10ms D max M ms".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	static const long long bound[4] = { 1000000, 2000000, 5000000, 10000000 };
	long long over[4] = { 0 }, end, t0, late, max = 0, n = 0;
	struct timespec ts = { 0, 0 };

	if (argc != 3) {
		fprintf(stderr, "usage: wakelat SECONDS SLEEP_US\n");
		return 2;
	}
	ts.tv_nsec = atol(argv[2]) * 1000;
	end = now_ns() + (long long)(atof(argv[1]) * 1e9);
	while ((t0 = now_ns()) < end) {
		nanosleep(&ts, NULL);
		late = now_ns() - t0 - ts.tv_nsec;
		n++;
		max = late > max ? late : max;
		for (int i = 0; i < 4; i++)
			over[i] += late > bound[i];
	}
	printf("wakeups %lld late>1ms %lld >2ms %lld >5ms %lld >10ms %lld max %.1f ms\n",
	       n, over[0], over[1], over[2], over[3], max / 1e6);
	return 0;
}
