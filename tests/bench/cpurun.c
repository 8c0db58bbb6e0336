/*
 * cpurun.c - runs a command and writes what it cost: user + system CPU
 * time in ns and peak RSS in KiB (wait4's rusage, the command and every
 * child it waited for), as "CPU_NS RSS_KB" in OUT.
 *
 *   cpurun OUT CMD [ARG...]      exit status: the command's
 *
 * tests/bench/dnsshapes measures with it: on a VM shared with other work
 * wall time says more about the neighbours than about the program, and
 * /usr/bin/time prints CPU time only to 10 ms.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: cpurun OUT CMD [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("cpurun: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("cpurun: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("cpurun: wait4");
		return 2;
	}
	out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%lld %ld\n",
		(long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			(long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL,
		ru.ru_maxrss);
	fclose(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
