// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The reference for the uprobe filter cost: a uprobe program that does nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int bench_nop_uprobe(void *ctx)
{
	return 0;
}
