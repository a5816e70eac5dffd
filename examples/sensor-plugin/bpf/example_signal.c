// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Every signal the kernel generates (signal:signal_generate), as one record per signal: who sent
 * it (the current task's process image, for the agent's process cache), to whom, and what became
 * of it. Built against tetragon-core's SDK headers only. */
#include "vmlinux.h"
#include "tg_sdk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EXAMPLE_SIGNAL_OP 150 /* in TG_OP_PLUGIN_MIN..TG_OP_PLUGIN_MAX */

struct example_signal_msg {
	struct msg_common common;
	struct msg_execve_key sender; /* the sending process image (execve_map) */
	__u32 sender_tid;
	__s32 sig;
	__s32 target_pid;
	__s32 code;
	__s32 result; /* TRACE_SIGNAL_DELIVERED, _IGNORED, ... */
	__u32 group;  /* sent to the whole thread group */
	char target_comm[16];
};

SEC("tracepoint/signal/signal_generate")
int example_signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	struct example_signal_msg m = {};
	__u64 id = bpf_get_current_pid_tgid();

	tg_record_header(&m.common, EXAMPLE_SIGNAL_OP, sizeof(m));
	tg_process_key(id >> 32, &m.sender);
	m.sender_tid = (__u32)id;
	m.sig = BPF_CORE_READ(ctx, sig);
	m.target_pid = BPF_CORE_READ(ctx, pid);
	m.code = BPF_CORE_READ(ctx, code);
	m.result = BPF_CORE_READ(ctx, result);
	m.group = BPF_CORE_READ(ctx, group);
	bpf_probe_read_kernel_str(m.target_comm, sizeof(m.target_comm), ctx->comm);
	tg_output(&m, sizeof(m));
	return 0;
}
