// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark producer: writes exec/exit record pairs, copied from real recorded records, into the
 * shared ring through the same tg_output() path the sensors use. Run with BPF_PROG_TEST_RUN;
 * ctx->args[0] is how many pairs to emit, ctx->args[1] the first synthetic pid. */
#include "common.h"

#define TEMPLATE_MAX 2048

struct template {
	__u32 size;
	__u32 pad;
	char data[TEMPLATE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* 0: exec record, 1: exit record */
	__type(key, __u32);
	__type(value, struct template);
} bench_templates SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct emit_ctx {
	__u64 first_pid;
	__u64 failed;
};

static long emit_pair(__u32 i, void *data)
{
	struct emit_ctx *c = data;
	__u32 zero = 0, one = 1;
	struct template *exec = bpf_map_lookup_elem(&bench_templates, &zero);
	struct template *exit = bpf_map_lookup_elem(&bench_templates, &one);
	__u32 pid = c->first_pid + i;
	__u64 ktime = tg_get_ktime();

	if (!exec || !exit)
		return 1;
	/* exec: common.ktime @8, msg_process.pid @324, .tid @328, .ktime @368 */
	/* patched in place: test runs execute on one CPU at a time */
	*(__u64 *)&exec->data[8] = ktime;
	*(__u32 *)&exec->data[324] = pid;
	*(__u32 *)&exec->data[328] = pid;
	*(__u64 *)&exec->data[368] = ktime;
	if (tg_output(exec->data, tg_mask(exec->size, 0x7ff)))
		c->failed++;
	/* exit: common.ktime @8, current.pid @16, current.ktime @24, tid @36 */
	*(__u64 *)&exit->data[8] = ktime + 1;
	*(__u32 *)&exit->data[16] = pid;
	*(__u64 *)&exit->data[24] = ktime;
	*(__u32 *)&exit->data[36] = pid;
	if (tg_output(exit->data, tg_mask(exit->size, 0x3f)))
		c->failed++;
	return 0;
}

SEC("raw_tp")
int bench_emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct emit_ctx c = { .first_pid = ctx->args[1] };

	bpf_loop(ctx->args[0] & 0xfffff, emit_pair, &c, 0);
	return c.failed;
}
