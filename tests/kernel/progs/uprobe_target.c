/* A user binary for the uprobe tests: tg_uprobe_target(i, s, 1000) for i in 0..n-1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) int tg_uprobe_target(int a, const char *s, long b)
{
	asm volatile("" ::: "memory"); /* keep the call */
	return a + (int)strlen(s) + (int)b;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	const char *s = argc > 2 ? argv[2] : "hello";
	long r = 0;

	for (int i = 0; i < n; i++)
		r += tg_uprobe_target(i, s, 1000);
	printf("%ld\n", r);
	return 0;
}
