/* A user binary for the USDT tests (sys/sdt.h, Debian's systemtap-sdt-dev):
 *   tgtest:call      (int i, const char *s, long big, int neg) for i in 0..n-1, always
 *   tgtest:guarded   (int i, const char *s) with a semaphore: fired only while it is raised
 *   tgtest:arr       (vals[i & 7], 42, pair->b): an element of an array (SIB operand), a constant
 *                    and a struct field (register-deref operand)
 */
#include <stdio.h>
#include <stdlib.h>
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* with _SDT_HAS_SEMAPHORES every probe of this file has one; only guarded's is checked */
#define TG_SEMAPHORE(name) unsigned short tgtest_##name##_semaphore __attribute__((section(".probes")))
TG_SEMAPHORE(call);
TG_SEMAPHORE(guarded);
TG_SEMAPHORE(arr);

static long vals[8] = {11, 22, 33, 44, 55, 66, 77, 88};

struct pair {
	long a, b;
};

__attribute__((noinline)) long work(int n, const char *s, const struct pair *pair)
{
	long r = 0;
	int guarded = 0;

	/* a probe's memory operands are read without faulting pages in (bpf_probe_read_user), as
	 * upstream reads them: a real program's probe arguments are data it uses; so is this */
	r -= *(volatile long *)&vals[0] - 11;

	for (int i = 0; i < n; i++) {
		long big = 5000000000L + i;
		int neg = -i;
		DTRACE_PROBE4(tgtest, call, i, s, big, neg);
		if (tgtest_guarded_semaphore) {
			guarded++;
			DTRACE_PROBE2(tgtest, guarded, i, s);
		}
		/* operands the compiler writes as (base,index,scale), $42 and disp(base) */
		DTRACE_PROBE3(tgtest, arr, vals[i & 7], 42, pair->b);
		r += i;
	}
	printf("%ld %d\n", r, guarded);
	return r;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	const char *s = argc > 2 ? argv[2] : "hello";
	static struct pair pair = {7, -12345};
	long r = work(n, s, &pair);

	/* what a Set action wrote there shows here */
	printf("%ld\n", *(volatile long *)&pair.b);
	return r < 0;
}
