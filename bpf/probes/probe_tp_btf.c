// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Feature probe: loads (never attaches) a tp_btf program, as the base sensor needs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_process_exec")
int probe_tp_btf(void *ctx)
{
	return 0;
}
