// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The reference for the in-kernel filter cost: a program on the same tracepoint that does nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_openat")
int bench_nop(void *ctx)
{
	return 0;
}
