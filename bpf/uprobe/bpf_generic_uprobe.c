// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic uprobe sensor: one instance of this object per policy hook (a symbol, offset or
 * address of one binary), on the selector engine of the other hook sensors (generic_run.h). Its
 * events carry MSG_OP_GENERIC_UPROBE.
 *
 *   generic_uprobe:     a user function's entry; arguments are in its pt_regs, pointers are user
 *                       memory
 *   generic_uretprobe:  the return half (the value in ax), merged with its entry in user space
 */
#include "generic_run.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int generic_uprobe(struct pt_regs *ctx)
{
	return generic_run(ctx, MSG_OP_GENERIC_UPROBE, 0, 0);
}

SEC("uretprobe")
int generic_uretprobe(struct pt_regs *ctx)
{
	return generic_return(PT_REGS_RC(ctx), MSG_OP_GENERIC_UPROBE);
}
