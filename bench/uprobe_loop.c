/* The uprobe benchmark's workload: bench_target(i) called N times; prints the elapsed ns. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) int bench_target(int i)
{
	asm volatile("" ::: "memory");
	return i + 1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000, r = 0;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		r += bench_target((int)i);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return r == 0;
}
