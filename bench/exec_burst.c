/* The loader benchmark's workload: N fork+exec of a dynamically linked program, M at a time;
 * prints the elapsed ns. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0) {
			execl(prog, prog, (char *)0);
			_exit(127);
		}
		if (p < 0 || waitpid(p, 0, 0) < 0)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
