// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic tracepoint sensor: one instance of this object per policy hook. The core writes
 * the hook's arguments and compiled selectors into tg_hook_cfg_map before attaching; the program
 * reads the arguments, evaluates the selectors and runs the actions here, so an event that no
 * selector accepts never leaves the kernel.
 *
 *   generic_tracepoint: classic tracepoints; arguments are fields of the trace record
 *   generic_rawtp:      raw tracepoints; arguments are the tracepoint's u64 arguments
 */
#include "selectors.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 read_field(void *ctx, struct tg_arg_cfg *a)
{
	void *src = (char *)ctx + a->offset;
	__u64 v = 0;

	switch (a->size) {
	case 1: {
		__u8 x = 0;

		bpf_probe_read_kernel(&x, 1, src);
		v = a->is_signed ? (__u64)(__s64)(__s8)x : x;
		break;
	}
	case 2: {
		__u16 x = 0;

		bpf_probe_read_kernel(&x, 2, src);
		v = a->is_signed ? (__u64)(__s64)(__s16)x : x;
		break;
	}
	case 4: {
		__u32 x = 0;

		bpf_probe_read_kernel(&x, 4, src);
		v = a->is_signed ? (__u64)(__s64)(__s32)x : x;
		break;
	}
	default:
		bpf_probe_read_kernel(&v, 8, src);
	}
	return v;
}

static __always_inline int is_user(struct tg_arg_cfg *a, __u64 ptr)
{
	return a->user == 1 || (a->user == 2 && ptr < TG_USER_MAX);
}

struct tg_args_walk {
	void *ctx;
	struct tg_hook_cfg *cfg;
	struct tg_heap *h;
	__u32 off;
};

/* Read argument i and append its encoding to h->data:
 *   integers: 8 bytes; string: s32 length (< 0: read error) + bytes;
 *   char_buf: s32 original size (< 0: error) + u32 bytes read + bytes. */
static long read_arg_step(__u32 i, void *c)
{
	struct tg_args_walk *w = c;
	struct tg_heap *h = w->h;
	struct tg_arg_cfg *a;
	__u32 off = w->off, n;
	__u64 v;
	long r;

	if (i >= TG_MAX_ARGS || off >= TG_BUF - TG_STR_MAX - 16)
		return 1;
	i = tg_mask(i, 7); /* the bound must be on the register that indexes */
	a = &w->cfg->args[i];
	v = read_field(w->ctx, a);
	h->val[i] = v;
	h->len[i] = -1;
	switch (a->type) {
	case TG_T_STRING:
	case TG_T_FILENAME:
	case TG_T_DATA_LOC:
		if (a->type == TG_T_DATA_LOC) /* __data_loc: (length << 16) | offset in the record */
			r = bpf_probe_read_kernel_str(&h->data[(off + 4) & (TG_BUF - 1)], TG_STR_MAX,
						      (char *)w->ctx + (v & 0xffff));
		else if (is_user(a, v))
			r = bpf_probe_read_user_str(&h->data[(off + 4) & (TG_BUF - 1)], TG_STR_MAX, (void *)v);
		else
			r = bpf_probe_read_kernel_str(&h->data[(off + 4) & (TG_BUF - 1)], TG_STR_MAX, (void *)v);
		n = r > 0 ? r - 1 : 0;
		*(__s32 *)&h->data[off & (TG_BUF - 1)] = r > 0 ? (__s32)n : (__s32)r;
		if (r > 0) {
			h->off[i] = off + 4;
			h->len[i] = n;
		}
		w->off = off + 4 + (n & (TG_STR_MAX - 1));
		break;
	case TG_T_CHAR_BUF: {
		__s64 size = TG_STR_MAX;

		if (a->size_arg >= 1 && a->size_arg <= TG_MAX_ARGS) {
			__u32 k = tg_mask(a->size_arg - 1, 7);

			if (k >= TG_MAX_ARGS)
				k = 0;
			size = (__s64)read_field(w->ctx, &w->cfg->args[k]);
		}
		n = size < 0 ? 0 : (size > TG_STR_MAX ? TG_STR_MAX : size);
		r = 0;
		if (n) {
			if (is_user(a, v))
				r = bpf_probe_read_user(&h->data[(off + 8) & (TG_BUF - 1)], tg_mask(n, 0x1fff), (void *)v);
			else
				r = bpf_probe_read_kernel(&h->data[(off + 8) & (TG_BUF - 1)], tg_mask(n, 0x1fff), (void *)v);
		}
		if (r < 0)
			n = 0;
		*(__s32 *)&h->data[off & (TG_BUF - 1)] = r < 0 ? (__s32)r : (__s32)size;
		*(__u32 *)&h->data[(off + 4) & (TG_BUF - 1)] = n;
		h->off[i] = off + 8;
		h->len[i] = n;
		w->off = off + 8 + (n & 0x1fff);
		break;
	}
	default:
		*(__u64 *)&h->data[off & (TG_BUF - 1)] = v;
		w->off = off + 8;
	}
	return 0;
}

struct tg_sel_walk {
	struct tg_hook_cfg *cfg;
	struct tg_heap *h;
	struct execve_map_value *proc;
	__u32 tgid;
	__u32 nspid;
	int matched;
};

static __always_inline int match_bin(struct tg_selector *s, __u32 sel, struct tg_heap *h,
				     struct execve_map_value *proc)
{
	struct tg_rev r = {};
	__u32 len = 0, n;
	int found = 0;

	__builtin_memset(&h->bk, 0, sizeof(h->bk));
	if (proc) {
		len = proc->bin.path_length;
		if (len >= BINARY_PATH_MAX)
			len = BINARY_PATH_MAX - 1;
		bpf_probe_read_kernel(h->bk.path, BINARY_PATH_MAX, proc->bin.path);
	}
	h->bk.sel = sel;
	n = len > TG_LPM_MAX ? TG_LPM_MAX : len;
	h->lk.prefixlen = 32 + n * 8;
	h->lk.filter = sel;
	switch (s->bin_op) {
	case TG_OP_IN:
	case TG_OP_NOTIN:
		found = bpf_map_lookup_elem(&tg_bin_paths, &h->bk) != 0;
		return s->bin_op == TG_OP_IN ? found : !found;
	case TG_OP_PREFIX:
	case TG_OP_NOTPREFIX:
		bpf_probe_read_kernel(h->lk.s, TG_LPM_MAX, h->bk.path);
		found = bpf_map_lookup_elem(&tg_bin_prefix, &h->lk) != 0;
		return s->bin_op == TG_OP_PREFIX ? found : !found;
	case TG_OP_POSTFIX:
	case TG_OP_NOTPOSTFIX:
		r.h = h;
		r.last = len - 1;
		bpf_loop(n, tg_rev_bin_step, &r, 0);
		found = bpf_map_lookup_elem(&tg_bin_postfix, &h->lk) != 0;
		return s->bin_op == TG_OP_POSTFIX ? found : !found;
	}
	return 0;
}

static __always_inline int ns_changed(struct tg_selector *s, struct msg_ns *now, struct execve_map_value *proc)
{
	int i;

	if (!proc)
		return 0;
	for (i = 0; i < 10; i++)
		if ((s->nschg_mask & (1 << i)) && ns_at(now, i) != ns_at(&proc->ns, i))
			return 1;
	return 0;
}

static __always_inline int match_selector(struct tg_sel_walk *w, __u32 i)
{
	struct tg_heap *h = w->h;
	struct tg_selector *s = &w->cfg->sel[i];
	struct msg_capabilities *caps = &h->hdr.caps;
	int j, changed;

	for (j = 0; j < TG_MAX_PID_FILTERS; j++)
		if (j < s->npid && !match_pid(&s->pid[j], w->proc, w->tgid, w->nspid))
			return 0;
	for (j = 0; j < TG_MAX_NS_FILTERS; j++)
		if (j < s->nns && !match_ns(&s->ns[j], &h->hdr.ns))
			return 0;
	for (j = 0; j < TG_MAX_CAP_FILTERS; j++)
		if (j < s->ncap && !match_cap(&s->cap[j], caps, 0, 0, h->hdr.ns.user_inum))
			return 0;
	for (j = 0; j < TG_MAX_CAP_FILTERS; j++) {
		if (j < s->ncapchg) {
			struct tg_cap_filter *f = &s->capchg[j];
			__u64 old = w->proc ? cap_of(&w->proc->caps, f->type) : cap_of(caps, f->type);

			if (!match_cap(f, caps, old, 1, h->hdr.ns.user_inum))
				return 0;
		}
	}
	if (s->nschg_op) {
		changed = ns_changed(s, &h->hdr.ns, w->proc);
		if (s->nschg_op == TG_OP_IN ? !changed : changed)
			return 0;
	}
	if (s->bin_op && !match_bin(s, i, h, w->proc))
		return 0;
	for (j = 0; j < TG_MAX_ARGS; j++) {
		if (j < s->nargs) {
			struct tg_arg_filter *f = &s->arg[j];
			__u32 a = f->arg < TG_MAX_ARGS ? f->arg : 0;
			__u32 fid = i * TG_MAX_ARGS + j;
			int ok;

			if (f->is_str)
				ok = match_str(f, fid, h, h->off[a], h->len[a]);
			else
				ok = match_int(f, fid, h->val[a], w->cfg->args[a].is_signed);
			if (!ok)
				return 0;
		}
	}
	return 1;
}

static long sel_step(__u32 i, void *c)
{
	struct tg_sel_walk *w = c;

	if (i >= TG_MAX_SELECTORS)
		return 1;
	i = tg_mask(i, 7);
	if (match_selector(w, i)) {
		w->matched = i;
		return 1;
	}
	return 0;
}

/* FNV-1a over the first argument bytes: events with the same arguments share a rate limit. */
static long hash_step(__u32 i, void *c)
{
	struct tg_rev *r = c;
	__u64 *hv = (__u64 *)&r->h->sk;

	*hv = (*hv ^ (__u8)r->h->data[i & 0x7f]) * 1099511628211ULL;
	return 0;
}

static __always_inline int rate_limited(struct tg_heap *h, __u32 sel, struct tg_action *act, __u64 pid_tgid)
{
	struct tg_rl_key k = {};
	struct tg_rev r = { .h = h };
	__u64 now = h->hdr.common.ktime, *last;

	*(__u64 *)&h->sk = 14695981039346656037ULL;
	bpf_loop(h->dlen < 128 ? h->dlen : 128, hash_step, &r, 0);
	k.sel = sel;
	k.scope = act->arg == TG_RL_SCOPE_THREAD ? (__u32)pid_tgid
		  : act->arg == TG_RL_SCOPE_PROCESS ? (__u32)(pid_tgid >> 32) : 0;
	k.hash = *(__u64 *)&h->sk;
	last = bpf_map_lookup_elem(&tg_ratelimit, &k);
	if (last && now - *last < act->arg2)
		return 1;
	bpf_map_update_elem(&tg_ratelimit, &k, &now, BPF_ANY);
	return 0;
}

static __always_inline int generic_run(void *ctx, __u8 op)
{
	__u32 zero = 0;
	struct tg_hook_cfg *cfg = bpf_map_lookup_elem(&tg_hook_cfg_map, &zero);
	struct tg_hook_mode *mode = bpf_map_lookup_elem(&tg_hook_mode_map, &zero);
	struct tg_hook_stats *st = bpf_map_lookup_elem(&tg_hook_stats_map, &zero);
	__u32 cpu = bpf_get_smp_processor_id();
	struct tg_heap *h = bpf_map_lookup_elem(&tg_heap_map, &cpu);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct tg_args_walk aw = {};
	struct tg_sel_walk sw = {};
	struct tg_selector *s;
	__u64 pid_tgid = bpf_get_current_pid_tgid(), size;
	__u32 tgid = pid_tgid >> 32;
	int post = 1, j, sig;
	long err;

	if (!cfg || !mode || !st || !h)
		return 0;
	st->calls++;
	__builtin_memset(&h->hdr, 0, sizeof(h->hdr));
	h->hdr.common.op = op;
	h->hdr.common.ktime = tg_get_ktime();
	h->hdr.func_id = cfg->hook_id;
	h->hdr.tid = (__u32)pid_tgid;
	h->hdr.kernel_stack_id = -1;
	h->hdr.user_stack_id = -1;
	sw.proc = bpf_map_lookup_elem(&execve_map, &tgid);
	if (sw.proc) {
		h->hdr.current = sw.proc->key;
	} else {
		h->hdr.current.pid = tgid;
		h->hdr.common.flags |= TG_MSG_PROCESS_NOT_FOUND;
		st->no_process++;
	}
	read_namespaces(task, &h->hdr.ns);
	{
		const struct cred *cred = BPF_CORE_READ(task, cred);

		h->hdr.caps.permitted = read_cap(__builtin_preserve_access_index(&cred->cap_permitted));
		h->hdr.caps.effective = read_cap(__builtin_preserve_access_index(&cred->cap_effective));
		h->hdr.caps.inheritable = read_cap(__builtin_preserve_access_index(&cred->cap_inheritable));
	}

	for (j = 0; j < TG_MAX_ARGS; j++) {
		h->val[j] = 0;
		h->len[j] = -1;
	}
	aw.ctx = ctx;
	aw.cfg = cfg;
	aw.h = h;
	bpf_loop(cfg->nargs < TG_MAX_ARGS ? cfg->nargs : TG_MAX_ARGS, read_arg_step, &aw, 0);
	h->dlen = aw.off;

	sw.matched = -1;
	if (cfg->nsel) {
		sw.cfg = cfg;
		sw.h = h;
		sw.tgid = tgid;
		sw.nspid = read_nspid(task);
		bpf_loop(cfg->nsel < TG_MAX_SELECTORS ? cfg->nsel : TG_MAX_SELECTORS, sel_step, &sw, 0);
		if (sw.matched < 0 || sw.matched >= TG_MAX_SELECTORS) {
			st->filtered++;
			return 0;
		}
		s = &cfg->sel[sw.matched];
		if (s->nschg_op && sw.proc) /* report a change once, as Tetragon */
			sw.proc->ns = h->hdr.ns;
		if (s->ncapchg && sw.proc)
			sw.proc->caps = h->hdr.caps;
		for (j = 0; j < TG_MAX_ACTIONS; j++) {
			struct tg_action *act = &s->act[j];

			if (j >= s->nact)
				break;
			switch (act->id) {
			case TG_ACT_POST:
				if (act->arg2 && rate_limited(h, sw.matched, act, pid_tgid)) {
					post = 0;
					st->rate_limited++;
				}
				break;
			case TG_ACT_NOPOST:
				post = 0;
				st->no_post++;
				break;
			case TG_ACT_SIGKILL:
			case TG_ACT_SIGNAL:
				sig = act->id == TG_ACT_SIGKILL ? 9 : act->arg;
				h->hdr.action = act->id;
				if (mode->monitor) {
					st->monitor_skips++;
				} else if (bpf_send_signal(sig) < 0) {
					h->hdr.common.flags |= TG_MSG_ACTION_FAILED;
					st->action_failed++;
				} else {
					st->signals++;
				}
				break;
			}
		}
	}
	if (!post)
		return 0;
	size = sizeof(h->hdr) + (h->dlen & (TG_BUF - 1));
	h->hdr.common.size = size;
	err = tg_output(&h->hdr, tg_mask(size, 0xffff));
	if (err)
		st->output_failed++;
	else
		st->posted++;
	return 0;
}

SEC("tracepoint")
int generic_tracepoint(void *ctx)
{
	return generic_run(ctx, MSG_OP_GENERIC_TRACEPOINT);
}

SEC("raw_tp")
int generic_rawtp(struct bpf_raw_tracepoint_args *ctx)
{
	return generic_run(ctx, MSG_OP_GENERIC_TRACEPOINT);
}
