/* The latency benchmark's workload: N fork+exec of PROG at RATE per second, paced to absolute
 * deadlines (CLOCK_MONOTONIC), each child reaped before the next deadline; prints, one line, the
 * run's wall time in ns and the p99 of how late each fork was for its deadline (the pacing floor). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, rate = argc > 2 ? atol(argv[2]) : 1000;
	const char *prog = argc > 3 ? argv[3] : "/bin/true";
	long long *late = calloc(n, sizeof(*late)), step = 1000000000LL / rate;
	struct timespec start, now, when;

	if (!late || n < 1 || rate < 1)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		long long deadline = ns(start) + i * step;
		pid_t p;

		when.tv_sec = deadline / 1000000000LL;
		when.tv_nsec = deadline % 1000000000LL;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		late[i] = ns(now) - deadline;
		p = fork();
		if (p == 0) {
			execl(prog, prog, (char *)0);
			_exit(127);
		}
		if (p < 0 || waitpid(p, 0, 0) < 0)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	qsort(late, n, sizeof(*late), cmp);
	printf("%lld %lld\n", ns(now) - ns(start), late[(n * 99) / 100]);
	return 0;
}
