// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The base sensor: process exec, fork and exit, on tracepoints only (no kprobes needed).
 *
 *  sched_process_fork  -> a new thread group inherits its parent's execve_map entry (MSG_OP_CLONE)
 *  sched_process_exec  -> the image is rewritten in execve_map and reported (MSG_OP_EXECVE)
 *  sched_process_exit  -> the last thread of a group reports the exit (MSG_OP_EXIT)
 */
#include "path.h"
#include "process.h"
#include "rate.h"

#define PATH_READ_MAX 4096
#define ARGS_READ_MAX 4096
#define CWD_MAX TG_PATH_BUF
#define VAR_MAX (PATH_READ_MAX + ARGS_READ_MAX + CWD_MAX)
#define EXEC_SETUID 0x01
#define EXEC_SETGID 0x02
#define EXEC_SETUID_ROOT 0x08
#define EXEC_SETGID_ROOT 0x10
#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h, unchanged since 2.6 */

struct execve_heap {
	struct msg_execve_event ev;
	struct msg_process proc;
	char var[VAR_MAX + CWD_MAX];
	char cwd[CWD_MAX + 256];
	struct execve_map_value val;
	char val_spill[BINARY_PATH_MAX]; /* masked copies into val.bin.path may reach past it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct execve_heap);
} execve_heap_map SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The first ancestor (up to 4 levels, as Tetragon) that execve_map knows. */
static __always_inline struct execve_map_value *find_parent(struct task_struct *task)
{
	struct task_struct *p = task;
	struct execve_map_value *v;
	__u32 tgid;
	int i;

	for (i = 0; i < 4; i++) {
		p = BPF_CORE_READ(p, real_parent);
		if (!p)
			return 0;
		tgid = BPF_CORE_READ(p, tgid);
		v = bpf_map_lookup_elem(&execve_map, &tgid);
		if (v && v->key.ktime)
			return v;
	}
	return 0;
}

/* Walk fs->pwd up to fs->root into h->cwd, right-aligned; returns the start offset. */
static __always_inline int walk_cwd(struct task_struct *task, struct execve_heap *h, __u32 *flags)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	__u32 err = 0;
	int pos;

	pos = tg_walk_path(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), h->cwd, &err);
	if (err)
		*flags |= EVENT_ERROR_PATH_COMPONENTS;
	return pos;
}

/* execve_map's binary: the exec path, joined to the cwd (h->cwd from pos) when relative, so that
 * matchBinaries compares absolute paths. Longer than BINARY_PATH_MAX - 1: truncated. */
static __always_inline void set_binary(struct execve_heap *h, int pos)
{
	__u32 n = h->proc.size_path, c = 0, total, skip = 0;

	/* "./x" is the common relative form: join "x" (other dot segments are kept as given) */
	if (n > 2 && h->var[0] == '.' && h->var[1] == '/')
		skip = 2;

	if (n && h->var[0] != '/' && pos < CWD_MAX) {
		c = CWD_MAX - pos;
		if (c > BINARY_PATH_MAX - 2)
			c = BINARY_PATH_MAX - 2;
		bpf_probe_read_kernel(h->val.bin.path, tg_mask(c, 0xff), &h->cwd[pos & (CWD_MAX - 1)]);
		h->val.bin.path[tg_mask(c, 0xff)] = '/';
		c += 1;
	} else if (n && h->var[0] != '/') {
		h->val.bin.path[0] = '/'; /* cwd is the root */
		c = 1;
	}
	total = c + n - skip;
	if (total > BINARY_PATH_MAX - 1)
		total = BINARY_PATH_MAX - 1;
	if (total > c)
		bpf_probe_read_kernel(&h->val.bin.path[tg_mask(c, 0xff)], tg_mask(total - c, 0xff), &h->var[skip]);
	h->val.bin.path_length = total;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tg_execve, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct execve_heap *h = bpf_map_lookup_elem(&execve_heap_map, &zero);
	struct execve_map_value *curr, *parent;
	struct mm_struct *mm;
	__u32 tgid, flags = EVENT_EXECVE;
	__u64 off, n;
	unsigned long arg_start, arg_end;
	long r;
	int pos;

	if (!h)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	__builtin_memset(&h->ev, 0, sizeof(h->ev));
	__builtin_memset(&h->proc, 0, sizeof(h->proc));

	h->ev.common.op = MSG_OP_EXECVE;
	h->ev.common.ktime = tg_get_ktime();

	curr = bpf_map_lookup_elem(&execve_map, &tgid);
	if (curr) {
		h->ev.cleanup_key = curr->key;
		if (curr->flags & EVENT_COMMON_FLAG_CLONE)
			flags |= EVENT_CLONE;
		if (curr->flags & EVENT_IN_INIT_TREE)
			flags |= EVENT_IN_INIT_TREE;
	}
	parent = find_parent(task);
	if (parent) {
		h->ev.parent = parent->key;
		if (parent->flags & EVENT_IN_INIT_TREE)
			flags |= EVENT_IN_INIT_TREE;
	} else {
		h->ev.parent.pid = BPF_CORE_READ(task, real_parent, tgid);
		h->ev.parent_flags = EVENT_MISS;
	}

	/* filename as given to execve; user space makes it absolute against cwd */
	off = 0;
	r = bpf_probe_read_kernel_str(h->var, PATH_READ_MAX, BPF_CORE_READ(bprm, filename));
	if (r > 0)
		off = r - 1;
	else
		flags |= EVENT_ERROR_FILENAME;
	if (off > PATH_READ_MAX)
		off = PATH_READ_MAX;
	h->proc.size_path = off;

	/* argv, NUL-separated, read from the new image's stack */
	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	n = arg_end > arg_start ? arg_end - arg_start : 0;
	if (n > ARGS_READ_MAX) {
		n = ARGS_READ_MAX;
		flags |= EVENT_TRUNC_ARGS;
	}
	if (n && bpf_probe_read_user(&h->var[tg_mask(off, 0x1fff)], tg_mask(n, 0x1fff), (void *)arg_start) < 0) {
		flags |= EVENT_ERROR_ARGS;
		n = 0;
	}
	/* drop the NUL that ends the last argument */
	if (n && h->var[(off + n - 1) & 0x3fff] == 0)
		n--;
	h->proc.size_args = n;
	off += n;
	if (off > PATH_READ_MAX + ARGS_READ_MAX)
		off = PATH_READ_MAX + ARGS_READ_MAX;

	pos = walk_cwd(task, h, &flags);
	if (pos >= CWD_MAX) {
		flags |= EVENT_ROOT_CWD;
		n = 0;
	} else {
		n = CWD_MAX - pos;
		bpf_probe_read_kernel(&h->var[tg_mask(off, 0x1fff)], tg_mask(n, 0xfff), &h->cwd[pos & (CWD_MAX - 1)]);
	}
	h->proc.size_cwd = n & (CWD_MAX - 1);
	off += h->proc.size_cwd;

	h->ev.cgrpid = bpf_get_current_cgroup_id();
	if (bpf_probe_read_kernel_str(h->ev.cgrp_name, CGROUP_NAME_MAX,
				      BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name)) < 0)
		flags |= EVENT_ERROR_CGROUP_NAME;
	read_creds(task, &h->ev.creds);
	read_namespaces(task, &h->ev.ns);
	/* AT_SECURE exec: say which ids it raised (Tetragon computes this at
	 * security_bprm_committing_creds; without kprobes the new creds against the real ids tell). */
	if (BPF_CORE_READ_BITFIELD_PROBED(bprm, secureexec)) {
		__u32 se = 0;

		if (h->ev.creds.euid != h->ev.creds.uid)
			se |= EXEC_SETUID | (h->ev.creds.euid == 0 ? EXEC_SETUID_ROOT : 0);
		if (h->ev.creds.egid != h->ev.creds.gid)
			se |= EXEC_SETGID | (h->ev.creds.egid == 0 ? EXEC_SETGID_ROOT : 0);
		h->proc.secureexec = se;
	}

	h->proc.pid = tgid;
	h->proc.tid = BPF_CORE_READ(task, pid);
	h->proc.nspid = read_nspid(task);
	h->proc.uid = h->ev.creds.euid;
	h->proc.auid = bpf_core_field_exists(task->loginuid) ? BPF_CORE_READ(task, loginuid.val) : (__u32)-1;
	h->proc.i_ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	h->proc.i_nlink = BPF_CORE_READ(bprm, file, f_inode, __i_nlink);
	h->proc.ktime = h->ev.common.ktime;
	if (h->proc.nspid == 1)
		flags |= EVENT_IN_INIT_TREE;
	h->proc.flags = flags;
	h->proc.size = sizeof(h->proc) + off;

	/* the new image replaces whatever this tgid was */
	__builtin_memset(&h->val, 0, sizeof(h->val));
	h->val.key.pid = tgid;
	h->val.key.ktime = h->ev.common.ktime;
	h->val.pkey = h->ev.parent;
	h->val.flags = flags & EVENT_IN_INIT_TREE;
	h->val.nspid = h->proc.nspid;
	h->val.ns = h->ev.ns;
	h->val.caps = h->ev.creds.caps;
	set_binary(h, pos);
	/* followChildren: what the image descends from, plus what this binary starts */
	h->val.mbset = curr ? curr->mbset : 0;
	{
		__u64 *mb = bpf_map_lookup_elem(&tg_mbset_paths, h->val.bin.path);

		if (mb)
			h->val.mbset |= *mb;
	}
	execve_map_put(&tgid, &h->val, curr != 0);
	/* --cgroup-rate: the process stays known to the kernel (execve_map), only its event goes */
	if (!cgroup_rate(h->ev.cgrpid, BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name), h->ev.common.ktime,
			 RATE_DROP_EXEC))
		return 0;

	off = sizeof(h->ev) + sizeof(h->proc) + off;
	h->ev.common.size = off;
	if (off > sizeof(h->ev) + sizeof(h->proc) + VAR_MAX)
		return 0;
	tg_output(h, tg_mask(off, 0x3fff));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tg_fork, struct task_struct *ptask, struct task_struct *child)
{
	__u32 zero = 0, tgid, ptgid;
	struct execve_heap *h = bpf_map_lookup_elem(&execve_heap_map, &zero);
	struct execve_map_value *p;
	struct msg_clone_event msg = {};

	tgid = BPF_CORE_READ(child, tgid);
	if (!h || tgid != BPF_CORE_READ(child, pid))
		return 0; /* a new thread, not a new process */
	ptgid = BPF_CORE_READ(ptask, tgid);
	p = bpf_map_lookup_elem(&execve_map, &ptgid);
	if (!p || !p->key.ktime)
		return 0;
	h->val = *p;
	h->val.pkey = p->key;
	h->val.key.pid = tgid;
	h->val.key.ktime = tg_get_ktime();
	h->val.flags = EVENT_COMMON_FLAG_CLONE | (p->flags & EVENT_IN_INIT_TREE);
	h->val.nspid = read_nspid(child);
	if (h->val.nspid == 1)
		h->val.flags |= EVENT_IN_INIT_TREE;
	execve_map_put(&tgid, &h->val, false);
	if (!cgroup_rate(BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id),
			 BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, name), h->val.key.ktime, RATE_DROP_CLONE))
		return 0;

	msg.common.op = MSG_OP_CLONE;
	msg.common.size = sizeof(msg);
	msg.common.ktime = h->val.key.ktime;
	msg.parent = p->key;
	msg.tgid = tgid;
	msg.tid = BPF_CORE_READ(child, pid);
	msg.nspid = h->val.nspid;
	msg.flags = h->val.flags;
	msg.ktime = h->val.key.ktime;
	tg_output(&msg, sizeof(msg));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tg_exit, struct task_struct *task)
{
	struct execve_map_value *v;
	struct msg_exit msg = {};
	__u32 tgid;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads of the group still run */
	tgid = BPF_CORE_READ(task, tgid);
	v = bpf_map_lookup_elem(&execve_map, &tgid);
	if (!v)
		return 0;
	msg.current = v->key;
	/* deletion decides which thread reports, when the last two exit together */
	if (bpf_map_delete_elem(&execve_map, &tgid) != 0)
		return 0;
	execve_map_stat(MAP_STATS_COUNT, -1);
	if (!msg.current.ktime)
		return 0;
	msg.common.op = MSG_OP_EXIT;
	msg.common.size = sizeof(msg);
	msg.common.ktime = tg_get_ktime();
	/* The reporting thread may not be the one that ended the group: a group exit's code is the
	 * group's. tid is the thread group id, as Tetragon reports it. */
	if (BPF_CORE_READ(task, signal, flags) & SIGNAL_GROUP_EXIT)
		msg.code = BPF_CORE_READ(task, signal, group_exit_code);
	else
		msg.code = BPF_CORE_READ(task, exit_code);
	msg.tid = tgid;
	tg_output(&msg, sizeof(msg));
	return 0;
}

/* A removed cgroup (v2, the default hierarchy) takes its rate entry with it. */
SEC("raw_tp/cgroup_rmdir")
int tg_cgroup_rmdir(struct bpf_raw_tracepoint_args *ctx)
{
	struct cgroup *cgrp = (struct cgroup *)ctx->args[0];
	__u64 id;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	bpf_map_delete_elem(&cgroup_rate_map, &id);
	return 0;
}
