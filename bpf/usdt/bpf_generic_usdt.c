// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic USDT sensor: one instance of this object per probe site of a policy's usdts[]
 * entry, attached as a uprobe at the probe's nop (with its semaphore as the uprobe's
 * ref_ctr_offset). User space parses the probe's argument specs from .note.stapsdt into
 * .rodata.usdt; this program computes each argument the policy reads from the probe's pt_regs
 * into a per-CPU array, which the selector engine (generic_run.h) reads as its context, so
 * matchArgs and every action work as on the other hooks. Its events carry MSG_OP_GENERIC_USDT.
 *
 *   generic_usdt:      read-only
 *   generic_usdt_set:  also the Set action, which writes a memory argument of the probe with
 *                      bpf_probe_write_user (refused by kernel lockdown, so loaded only for a
 *                      policy with Set, where the kernel allows that helper)
 */
#include "common.h"

struct tg_usdt_arg {
	__s64 val;	/* the constant, or the displacement */
	__u16 reg;	/* pt_regs offset of the (base) register */
	__u16 idx;	/* pt_regs offset of the index register (SIB) */
	__u8 kind;	/* TG_USDT_* */
	__u8 shift;	/* 64 - 8 * size: the value is the low size bytes */
	__u8 is_signed; /* sign-extended from size bytes */
	__u8 scale;	/* log2 of the SIB scale */
};

#define TG_USDT_NONE 0
#define TG_USDT_CONST 1
#define TG_USDT_REG 2
#define TG_USDT_DEREF 3
#define TG_USDT_SIB 4
#define TG_USDT_SLOTS 16 /* a probe has at most 12 arguments; 16 slots take an index by mask */

struct tg_usdt_spec {
	struct tg_usdt_arg note[TG_USDT_SLOTS]; /* the probe's arguments, as in its note */
	__u8 pick[8];				    /* policy argument j is note argument pick[j] */
};

const volatile struct tg_usdt_spec tg_usdt_spec SEC(".rodata.usdt") = {};

static __always_inline __u64 usdt_reg(struct pt_regs *regs, __u16 off)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (char *)regs + off);
	return v;
}

/* The user address of a memory argument (DEREF, SIB). */
static __always_inline __u64 usdt_addr(struct pt_regs *regs, const volatile struct tg_usdt_arg *a)
{
	__u64 addr = usdt_reg(regs, a->reg) + a->val;

	if (a->kind == TG_USDT_SIB)
		addr += usdt_reg(regs, a->idx) << (a->scale & 3);
	return addr;
}

static __always_inline __u64 usdt_value(struct pt_regs *regs, const volatile struct tg_usdt_arg *a)
{
	__u64 v = 0;
	__u8 shift = a->shift & 63;

	switch (a->kind) {
	case TG_USDT_CONST:
		v = a->val;
		break;
	case TG_USDT_REG:
		v = usdt_reg(regs, a->reg);
		break;
	case TG_USDT_DEREF:
	case TG_USDT_SIB:
		/* little-endian: the low bytes of v are the argument (read at its own size, so a value
		 * at the end of a page reads) */
		bpf_probe_read_user(&v, (64 - shift) / 8, (void *)usdt_addr(regs, a));
		break;
	default:
		return 0;
	}
	if (a->is_signed)
		return (__u64)(((__s64)(v << shift)) >> shift);
	return (v << shift) >> shift;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} tg_usdt_vals SEC(".maps");

#ifdef TG_USDT_SET
static __always_inline long usdt_set(struct pt_regs *regs, __u32 index, __u64 value)
{
	const volatile struct tg_usdt_arg *a;
	a = &tg_usdt_spec.note[tg_mask(index, 15)];
	if (a->kind != TG_USDT_DEREF && a->kind != TG_USDT_SIB)
		return -1; /* user space refuses Set on any other argument */
	switch (a->shift) {
	case 56: {
		__u8 x = value;

		return bpf_probe_write_user((void *)usdt_addr(regs, a), &x, 1);
	}
	case 48: {
		__u16 x = value;

		return bpf_probe_write_user((void *)usdt_addr(regs, a), &x, 2);
	}
	case 32: {
		__u32 x = value;

		return bpf_probe_write_user((void *)usdt_addr(regs, a), &x, 4);
	}
	default:
		return bpf_probe_write_user((void *)usdt_addr(regs, a), &value, 8);
	}
}
#define TG_SET_ARG(pctx, index, value) usdt_set((struct pt_regs *)(pctx), (index), (value))
#endif

#include "generic_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int usdt_run(struct pt_regs *ctx)
{
	__u32 zero = 0;
	__u64 *vals = bpf_map_lookup_elem(&tg_usdt_vals, &zero);
	struct tg_hook_cfg *cfg = hook_cfg();
	int j;

	if (!vals || !cfg)
		return 0;
#pragma unroll
	for (j = 0; j < TG_MAX_ARGS; j++) {
		if (j >= (cfg->nargs & 7))
			break;
		vals[j] = usdt_value(ctx, &tg_usdt_spec.note[tg_mask(tg_usdt_spec.pick[j], 15)]);
	}
	return generic_run_ctx(vals, ctx, MSG_OP_GENERIC_USDT, 0, 0);
}

#ifdef TG_USDT_SET
SEC("uprobe")
int generic_usdt_set(struct pt_regs *ctx)
{
	return usdt_run(ctx);
}
#else
SEC("uprobe")
int generic_usdt(struct pt_regs *ctx)
{
	return usdt_run(ctx);
}
#endif
