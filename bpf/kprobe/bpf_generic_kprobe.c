// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic kprobe sensor: one instance of this object per policy hook, sharing the selector
 * engine of the tracepoint sensor (generic_run.h). Its events carry MSG_OP_GENERIC_KPROBE.
 *
 *   generic_kprobe:      a kernel function; arguments are in its pt_regs
 *   generic_kprobe_sys:  a syscall's __x64_sys_* wrapper; the arguments are in the user pt_regs
 *                        its first parameter points to
 *   generic_kretprobe:   the return half (the value in ax)
 *   generic_sys_N, generic_sys_exit: the same syscall hooks where the kernel has no kprobes, on
 *                        syscalls/sys_enter_<name> and sys_exit_<name> (the arguments are the
 *                        record's u64 fields from offset 16; N is the record's size)
 */
#include "generic_run.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe")
int generic_kprobe(struct pt_regs *ctx)
{
	return generic_run(ctx, MSG_OP_GENERIC_KPROBE, 0, 0);
}

SEC("kprobe")
int generic_kprobe_sys(struct pt_regs *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)PT_REGS_PARM1(ctx);

	return generic_run(regs, MSG_OP_GENERIC_KPROBE, 0, 0);
}

SEC("kretprobe")
int generic_kretprobe(struct pt_regs *ctx)
{
	return generic_return(PT_REGS_RC(ctx), MSG_OP_GENERIC_KPROBE);
}

#define TG_SYS(name, n)                                                                                 \
	SEC("tracepoint")                                                                               \
	int name(void *ctx)                                                                             \
	{                                                                                               \
		return generic_run(ctx, MSG_OP_GENERIC_KPROBE, 0, n);                                    \
	}

TG_SYS(generic_sys_16, 16)
TG_SYS(generic_sys_24, 24)
TG_SYS(generic_sys_32, 32)
TG_SYS(generic_sys_40, 40)
TG_SYS(generic_sys_48, 48)
TG_SYS(generic_sys_56, 56)
TG_SYS(generic_sys_64, 64)

/* sys_exit_<name>: common fields (8 bytes), long __syscall_nr (8), long ret at 16 */
SEC("tracepoint")
int generic_sys_exit(void *ctx)
{
	__u64 ret;

	asm volatile("%0 = *(u64 *)(%1 + 16)" : "=r"(ret) : "r"(ctx));
	return generic_return(ret, MSG_OP_GENERIC_KPROBE);
}
