// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic kprobe sensor: one instance of this object per policy hook, sharing the selector
 * engine of the tracepoint sensor (generic_run.h). Its events carry MSG_OP_GENERIC_KPROBE.
 *
 *   generic_kprobe:      a kernel function; arguments are in its pt_regs
 *   generic_kprobe_sys:  a syscall's __x64_sys_* wrapper; the arguments are in the user pt_regs
 *                        its first parameter points to
 *   generic_kretprobe:   the return half (the value in ax)
 *   generic_fmodret_N:   Override on a security_* function without bpf_override_return: an
 *                        fmod_ret program (its section's function is a placeholder; the core names
 *                        the real one), whose nonzero return replaces the function's; arguments
 *                        are its BTF context slots, the first N bytes loaded directly
 *   generic_sys_N, generic_sys_exit: the same syscall hooks where the kernel has no kprobes, on
 *                        syscalls/sys_enter_<name> and sys_exit_<name> (the arguments are the
 *                        record's u64 fields from offset 16; N is the record's size)
 */
#define TG_PATH_ARGS /* file and path arguments */
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

	return generic_run_ctx(regs, ctx, MSG_OP_GENERIC_KPROBE, 0, 0);
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

#define TG_FMODRET(name, n)                                                                             \
	SEC("fmod_ret/security_file_permission")                                                        \
	int name(void *ctx)                                                                             \
	{                                                                                               \
		return generic_run(ctx, MSG_OP_GENERIC_KPROBE, 1, n);                                   \
	}

TG_FMODRET(generic_fmodret, 0)
TG_FMODRET(generic_fmodret_8, 8)
TG_FMODRET(generic_fmodret_16, 16)
TG_FMODRET(generic_fmodret_24, 24)
TG_FMODRET(generic_fmodret_32, 32)
TG_FMODRET(generic_fmodret_40, 40)
TG_FMODRET(generic_fmodret_48, 48)
