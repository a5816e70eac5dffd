/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The body of every generic hook program (tracepoint, raw tracepoint, kprobe, syscall-tracepoint
 * fallback): read the arguments the selectors need, evaluate the selectors (selectors.h), run the
 * actions, and send the event. Each sensor's object includes this and defines its programs as thin
 * wrappers that say where the arguments are (ctx_size, raw) and which op their events carry. */
#ifndef TG_GENERIC_RUN_H
#define TG_GENERIC_RUN_H

#include "args.h"

/* Threads whose entry event was sent and whose return event is due (TG_HOOK_RETURN): pid_tgid →
 * the entry's ktime, which both halves carry as retprobe_id so that user space pairs them. A
 * return whose entry the selectors rejected finds nothing here and sends nothing. */
struct tg_ret_entry {
	__u64 ktime;
	__u64 copy_ptr; /* returnCopy: the buffer the argument pointed to at entry */
	__u32 sel;	/* the selector that matched (its matchReturnArgs apply), >= TG_MAX_SELECTORS: none */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tg_ret_entry);
} tg_ret_pending SEC(".maps");

/* TrackSock: a socket's owner (struct sock * -> the process that created it), so that events on
 * it in another context (softirq, a kernel thread) are reported for that process. The core
 * creates it and every hook object shares it by name (each hook is an object of its own). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct msg_execve_key);
} tg_socktrack SEC(".maps");

/* --enable-policy-filter (Tetragon's policy filter): which cgroups each scoped policy applies
 * to. A key {policy, cgroup id} is present when the policy applies to that cgroup (a pod's
 * container matching its namespace and selectors); {policy, 0} when it also applies to host
 * processes (hostSelector), that is to any cgroup that is no known container's (tg_podcgroups).
 * The core creates both maps and every hook object shares them by name. */
struct tg_polfilter_key {
	__u32 policy;
	__u32 pad;
	__u64 cgroup;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* the core's map (policyfilter.POLFILTER_ENTRIES) is reused */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_polfilter_key);
	__type(value, __u8);
} tg_polfilter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u8);
} tg_podcgroups SEC(".maps");

static __always_inline int policy_filter_allows(__u32 policy)
{
	struct tg_polfilter_key k = { .policy = policy };
	__u64 cg = bpf_get_current_cgroup_id();

	k.cgroup = cg;
	if (bpf_map_lookup_elem(&tg_polfilter, &k))
		return 1;
	k.cgroup = 0;
	return bpf_map_lookup_elem(&tg_polfilter, &k) && !bpf_map_lookup_elem(&tg_podcgroups, &cg);
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
		/* followChildren: bin_follow - 1 is the set's bit in mbset (see tg_mbset_paths) */
		if (!found && s->bin_follow && proc && (proc->mbset & (1ULL << ((s->bin_follow - 1) & 63))))
			found = 1;
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

#ifdef TG_PATH_ARGS
			if (f->is_str == TG_ARG_NET)
				ok = match_net(f, fid, h, h->off[a]);
			else
#endif
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

	i += 1; /* selector 0 was tried inline */
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
	__u64 now = tg_get_ktime(), *last;

	*(__u64 *)&h->sk = 14695981039346656037ULL;
	bpf_loop(h->dlen < 128 ? h->dlen : 128, hash_step, &r, 0);
	k.sel = sel;
	k.scope = (act->arg & 0xff) == TG_RL_SCOPE_THREAD ? (__u32)pid_tgid
		  : (act->arg & 0xff) == TG_RL_SCOPE_PROCESS ? (__u32)(pid_tgid >> 32) : 0;
	k.hash = *(__u64 *)&h->sk;
	last = bpf_map_lookup_elem(&tg_ratelimit, &k);
	if (last && now - *last < act->arg2)
		return 1;
	bpf_map_update_elem(&tg_ratelimit, &k, &now, BPF_ANY);
	return 0;
}

static __always_inline void read_ns_caps(struct task_struct *task, struct tg_heap *h)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	read_namespaces(task, &h->hdr.ns);
	h->hdr.caps.permitted = read_cap(__builtin_preserve_access_index(&cred->cap_permitted));
	h->hdr.caps.effective = read_cap(__builtin_preserve_access_index(&cred->cap_effective));
	h->hdr.caps.inheritable = read_cap(__builtin_preserve_access_index(&cred->cap_inheritable));
}

static __always_inline struct execve_map_value *lookup_proc(struct tg_heap *h, struct tg_hook_stats *st,
							   __u32 tgid)
{
	struct execve_map_value *proc = bpf_map_lookup_elem(&execve_map, &tgid);

	if (proc) {
		h->hdr.current = proc->key;
	} else {
		h->hdr.current.pid = tgid;
		h->hdr.common.flags |= TG_MSG_PROCESS_NOT_FOUND;
		st->no_process++;
	}
	return proc;
}

#ifdef TG_PATH_ARGS
/* A sock or socket argument whose socket is tracked (TrackSock): the event is its owner's. */
static __always_inline void owner_of_sock(struct tg_hook_cfg *cfg, struct tg_heap *h)
{
	struct msg_execve_key *owner;
	__u64 sk;
	int i;

	for (i = 0; i < TG_MAX_ARGS; i++) {
		if (i >= cfg->nargs)
			break;
		if (cfg->args[i].type != TG_T_SOCK && cfg->args[i].type != TG_T_SOCKET)
			continue;
		sk = (__u64)tg_sock_of(cfg->args[i].type, h->val[i]);
		owner = bpf_map_lookup_elem(&tg_socktrack, &sk);
		if (owner) {
			h->hdr.current = *owner;
			h->hdr.common.flags &= ~TG_MSG_PROCESS_NOT_FOUND;
			return;
		}
	}
}

#endif

static __always_inline void send_return(struct tg_hook_stats *st, struct tg_heap *h, __u32 dlen)
{
	__u64 size = sizeof(h->hdr) + (dlen & (TG_BUF - 1));

	h->hdr.common.size = size;
	if (tg_output(&h->hdr, tg_mask(size, 0xffff)))
		st->output_failed++;
	else
		st->posted++;
}

/* The common path of every run is kept short: a run that no selector accepts reads only the
 * arguments the selectors look at, and the process, namespaces and time only if they do too. */
/* kernelStackTrace / userStackTrace of a Post action: the stacks' ids in this map, which user
 * space reads (and frees) when it decodes the event. One entry per object unless the core sizes
 * it for a hook that asks for stacks. */
#define TG_STACK_DEPTH 127 /* PERF_MAX_STACK_DEPTH */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, TG_STACK_DEPTH * sizeof(__u64));
} tg_stack_map SEC(".maps");

/* generic_run_ctx: ctx is where the arguments are, pctx the program's own context (they differ
 * for a syscall kprobe, whose arguments are the user pt_regs its first parameter points to). */
#define generic_run(ctx, op, raw, ctx_size) generic_run_ctx(ctx, ctx, op, raw, ctx_size)

static __always_inline int generic_run_ctx(void *ctx, void *pctx, __u8 op, const int raw, const int ctx_size)
{
	__u32 zero = 0;
	struct tg_hook_cfg *cfg = hook_cfg();
	struct tg_hook_stats *st = bpf_map_lookup_elem(&tg_hook_stats_map, &zero);
	__u32 cpu = bpf_get_smp_processor_id();
	struct tg_heap *h = bpf_map_lookup_elem(&tg_heap_map, &cpu);
	struct task_struct *task = 0;
	struct tg_hook_mode *mode;
	struct tg_sel_walk sw = {};
	struct tg_selector *s;
	__u64 pid_tgid = 0, size;
	__u32 tgid = 0, all;
	int post = 1, j, sig, have_proc = 0;
	long err, ret = 0; /* ret: what the program returns (Override: the error) */

	if (!cfg || !st || !h)
		return 0;
	st->calls++;
	/* a scoped policy acts only in the cgroups the policy filter lists, before anything else */
	mode = bpf_map_lookup_elem(&tg_hook_mode_map, &zero);
	if (mode && mode->policy_filter && !policy_filter_allows(mode->policy_filter)) {
		st->policy_filtered++;
		return 0;
	}
	/* The header is cleared before the selectors only when they fill parts of it; a run that
	 * they reject needs no header at all. */
	if (cfg->flags & TG_HOOK_EARLY_HDR)
		__builtin_memset(&h->hdr, 0, sizeof(h->hdr));
	/* Even the task and the pid are fetched only when a selector or the event needs them. */
	if (cfg->flags & (TG_HOOK_SEL_PROC | TG_HOOK_SEL_NSCAPS | TG_HOOK_SEL_NSPID)) {
		task = (struct task_struct *)bpf_get_current_task();
		pid_tgid = bpf_get_current_pid_tgid();
		tgid = pid_tgid >> 32;
	}
	if (cfg->flags & TG_HOOK_SEL_PROC) {
		sw.proc = lookup_proc(h, st, tgid);
		have_proc = 1;
	}
	/* Namespaces and capabilities cost a dozen CO-RE reads: before the selectors only when they
	 * look at them, else only for an event that is sent. */
	if (cfg->flags & TG_HOOK_SEL_NSCAPS)
		read_ns_caps(task, h);
	all = (1 << (cfg->nargs & 7)) - 1;
	if (cfg->nsel)
		read_args(ctx, cfg, h, cfg->sel_args & all, raw, ctx_size);
	sw.matched = -1;
	if (cfg->nsel) {
		sw.cfg = cfg;
		sw.h = h;
		sw.tgid = tgid;
		if (cfg->flags & TG_HOOK_SEL_NSPID)
			sw.nspid = read_nspid(task);
		/* the first selector inline (most policies have one), the others through bpf_loop */
		if (match_selector(&sw, 0))
			sw.matched = 0;
		else if (cfg->nsel > 1)
			bpf_loop(cfg->nsel < TG_MAX_SELECTORS ? cfg->nsel - 1 : TG_MAX_SELECTORS - 1, sel_step, &sw, 0);
		if (sw.matched < 0 || sw.matched >= TG_MAX_SELECTORS) {
			st->filtered++;
			return 0;
		}
	}
	if (!(cfg->flags & TG_HOOK_EARLY_HDR))
		__builtin_memset(&h->hdr, 0, sizeof(h->hdr));
	h->hdr.kernel_stack_id = -1;
	h->hdr.user_stack_id = -1;
	if (sw.matched >= 0 && sw.matched < TG_MAX_SELECTORS) {
		s = &cfg->sel[sw.matched];
		if (!task) {
			task = (struct task_struct *)bpf_get_current_task();
			pid_tgid = bpf_get_current_pid_tgid();
			tgid = pid_tgid >> 32;
		}
		if (!have_proc) {
			sw.proc = lookup_proc(h, st, tgid);
			have_proc = 1;
		}
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
				if (act->arg & TG_POST_KSTACK)
					h->hdr.kernel_stack_id = bpf_get_stackid(pctx, &tg_stack_map, 0);
				if (act->arg & TG_POST_USTACK)
					h->hdr.user_stack_id = bpf_get_stackid(pctx, &tg_stack_map, BPF_F_USER_STACK);
				break;
			case TG_ACT_NOPOST:
				post = 0;
				st->no_post++;
				break;
			case TG_ACT_SIGKILL:
			case TG_ACT_SIGNAL:
				sig = act->id == TG_ACT_SIGKILL ? 9 : act->arg;
				h->hdr.action = act->id;
				mode = bpf_map_lookup_elem(&tg_hook_mode_map, &zero);
				if (!mode || mode->monitor) {
					st->monitor_skips++;
				} else if (bpf_send_signal(sig) < 0) {
					h->hdr.common.flags |= TG_MSG_ACTION_FAILED;
					st->action_failed++;
				} else {
					st->signals++;
				}
				break;
			case TG_ACT_GETURL:
			case TG_ACT_DNSLOOKUP: /* user space performs it on the event: it must be sent */
				h->hdr.action = act->id;
				h->hdr.action_arg_id = act->arg;
				break;
#ifdef TG_PATH_ARGS
			case TG_ACT_TRACKSOCK:
			case TG_ACT_UNTRACKSOCK: {
				__u64 sk = h->val[tg_mask(act->arg, 7) & 7];

				if (act->id == TG_ACT_TRACKSOCK)
					bpf_map_update_elem(&tg_socktrack, &sk, &h->hdr.current, BPF_ANY);
				else
					bpf_map_delete_elem(&tg_socktrack, &sk);
				break;
			}
#endif
#ifdef TG_SET_ARG
			/* the includer's TG_SET_ARG(pctx, argIndex, argValue) writes the argument: < 0 fails */
			case TG_ACT_SET:
				h->hdr.action = act->id;
				mode = bpf_map_lookup_elem(&tg_hook_mode_map, &zero);
				if (!mode || mode->monitor) {
					st->monitor_skips++;
				} else if (TG_SET_ARG(pctx, act->arg, act->arg2) < 0) {
					h->hdr.common.flags |= TG_MSG_ACTION_FAILED;
					st->action_failed++;
				} else {
					st->sets++;
				}
				break;
#endif
			case TG_ACT_OVERRIDE:
				h->hdr.action = act->id;
				mode = bpf_map_lookup_elem(&tg_hook_mode_map, &zero);
				if (!mode || mode->monitor) {
					st->monitor_skips++;
				} else {
					ret = (__s32)act->arg;
					st->overrides++;
				}
				break;
			}
		}
	}
	if (!post)
		return ret;
	if (!task) { /* no selectors: every run is sent */
		task = (struct task_struct *)bpf_get_current_task();
		pid_tgid = bpf_get_current_pid_tgid();
		tgid = pid_tgid >> 32;
	}
	if (!have_proc)
		lookup_proc(h, st, tgid);
	if (!(cfg->flags & TG_HOOK_SEL_NSCAPS))
		read_ns_caps(task, h);
	if (!cfg->nsel || (cfg->sel_args & all) != all)
		read_args(ctx, cfg, h, all, raw, ctx_size); /* every argument, in order, for the event */
#ifdef TG_PATH_ARGS
	if (cfg->flags & TG_HOOK_SOCK_ARGS)
		owner_of_sock(cfg, h);
#endif
	h->hdr.common.op = op;
	h->hdr.common.ktime = tg_get_ktime();
	h->hdr.func_id = cfg->hook_id;
	h->hdr.tid = (__u32)pid_tgid;
	size = sizeof(h->hdr) + (h->dlen & (TG_BUF - 1));
	h->hdr.common.size = size;
	if (cfg->flags & TG_HOOK_RETURN)
		h->hdr.retprobe_id = h->hdr.common.ktime;
	err = tg_output(&h->hdr, tg_mask(size, 0xffff));
	if (err) {
		st->output_failed++;
	} else {
		st->posted++;
		if (cfg->flags & TG_HOOK_RETURN) {
			struct tg_ret_entry e = {};

			e.ktime = h->hdr.common.ktime;
			e.sel = sw.matched >= 0 ? sw.matched : TG_MAX_SELECTORS;
			if (cfg->ret.copy)
				e.copy_ptr = h->val[tg_mask(cfg->ret.copy - 1, 7) & 7];
			bpf_map_update_elem(&tg_ret_pending, &pid_tgid, &e, BPF_ANY);
			/* Overridden (fmod_ret): the function does not run, so its return probe does not
			 * fire; the return half is the override's value, sent now (inline and small: this
			 * program's stack is near the verifier's limit with bpf_loop's frames). */
			if (ret) {
				bpf_map_delete_elem(&tg_ret_pending, &pid_tgid);
				h->hdr.common.flags |= TG_MSG_RETURN;
				h->hdr.retprobe_id = h->hdr.common.ktime;
				h->hdr.common.ktime = tg_get_ktime();
				*(__u64 *)h->data = (__u64)ret;
				send_return(st, h, 8);
			}
		}
	}
	return ret;
}

/* The return half (kretprobe, sys_exit): sent only for a thread whose entry was sent, with the
 * entry's retprobe_id. Its data: the value (8 bytes), the object it points to when returnArg
 * names one, then returnCopy's buffer as a char_buf. When the matchReturnArgs of the entry's
 * selector reject the value, only the header goes, flagged, so user space drops the entry. */
static __always_inline int generic_return(__u64 ret, __u8 op)
{
	__u32 zero = 0;
	struct tg_hook_cfg *cfg = hook_cfg();
	struct tg_hook_stats *st = bpf_map_lookup_elem(&tg_hook_stats_map, &zero);
	__u32 cpu = bpf_get_smp_processor_id();
	struct tg_heap *h = bpf_map_lookup_elem(&tg_heap_map, &cpu);
	__u64 pid_tgid = bpf_get_current_pid_tgid(), copy_ptr;
	struct tg_ret_entry *entry;
	__u32 off = 8, sel, j, n;
	int ok = 1;

	if (!cfg || !st || !h)
		return 0;
	entry = bpf_map_lookup_elem(&tg_ret_pending, &pid_tgid);
	if (!entry)
		return 0;
	__builtin_memset(&h->hdr, 0, sizeof(h->hdr));
	h->hdr.retprobe_id = entry->ktime;
	sel = entry->sel;
	copy_ptr = entry->copy_ptr;
	bpf_map_delete_elem(&tg_ret_pending, &pid_tgid);
	lookup_proc(h, st, pid_tgid >> 32);
	h->hdr.common.op = op;
	h->hdr.common.flags |= TG_MSG_RETURN;
	h->hdr.common.ktime = tg_get_ktime();
	h->hdr.func_id = cfg->hook_id;
	h->hdr.tid = (__u32)pid_tgid;
	h->hdr.kernel_stack_id = -1;
	h->hdr.user_stack_id = -1;
	*(__u64 *)h->data = ret;
	h->val[0] = ret;
	h->len[0] = -1;
#ifdef TG_PATH_ARGS
	off = encode_object(h, 8, ret, cfg->ret.type, 0);
#endif
	if (sel < TG_MAX_SELECTORS) {
		/* masked to the 8 slots of tg_ret_cfg (see there) */
		__u32 s8 = tg_mask(sel, 7);
		__u32 nf = cfg->ret.nfilt[s8];
		struct tg_arg_filter *fs = cfg->ret.filt[s8];

		for (j = 0; j < TG_MAX_RET_FILTERS; j++) {
			struct tg_arg_filter *f = &fs[j];
			__u32 fid = TG_RET_FID + sel * TG_MAX_RET_FILTERS + j;

			if (j >= nf)
				break;
#ifdef TG_PATH_ARGS
			if (f->is_str == TG_ARG_NET)
				ok = match_net(f, fid, h, h->off[0]);
			else
#endif
				ok = match_int(f, fid, ret, cfg->ret.is_signed);
			if (!ok)
				break;
		}
	}
	if (!ok) {
		st->filtered++;
		h->hdr.common.flags |= TG_MSG_RETURN_FILTERED;
		send_return(st, h, 0);
		return 0;
	}
#ifdef TG_PATH_ARGS
	if (cfg->ret.action == TG_RET_TRACKSOCK)
		bpf_map_update_elem(&tg_socktrack, &ret, &h->hdr.current, BPF_ANY);
	else if (cfg->ret.action == TG_RET_UNTRACKSOCK)
		bpf_map_delete_elem(&tg_socktrack, &ret);
#endif
	if (cfg->ret.copy) { /* returnCopy: as many bytes as the call returned, from the entry's buffer */
		struct tg_arg_cfg *a = &cfg->args[tg_mask(cfg->ret.copy - 1, 7) & 3];
		__s64 size = (__s64)ret;
		long r = 0;

		n = size < 0 ? 0 : (size > TG_STR_MAX ? TG_STR_MAX : size);
		off &= 0x1fff;
		if (n && copy_ptr) {
			if (is_user(a, copy_ptr))
				r = bpf_probe_read_user(&h->data[off + 8], tg_mask(n, 0x1fff), (void *)copy_ptr);
			else
				r = bpf_probe_read_kernel(&h->data[off + 8], tg_mask(n, 0x1fff), (void *)copy_ptr);
		}
		if (r < 0 || !copy_ptr)
			n = 0;
		*(__s32 *)&h->data[off] = r < 0 ? (__s32)r : (__s32)size;
		*(__u32 *)&h->data[off + 4] = n;
		off += 8 + (n & 0x1fff);
	}
	send_return(st, h, off);
	return 0;
}

#endif /* TG_GENERIC_RUN_H */
