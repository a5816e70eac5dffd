/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The in-kernel process map (execve_map) and the process message layouts. execve_map is owned by
 * the exec sensor and shared by name with every later sensor object. */
#ifndef TG_PROCESS_H
#define TG_PROCESS_H

#include "common.h"

/* Process flags: Tetragon's bits (bpf/lib/process.h). */
#define EVENT_EXECVE 0x01
#define EVENT_PROCFS 0x04
#define EVENT_TRUNC_ARGS 0x10
#define EVENT_MISS 0x40
#define EVENT_ERROR_FILENAME 0x100
#define EVENT_ERROR_ARGS 0x200
#define EVENT_NO_CWD_SUPPORT 0x800
#define EVENT_ROOT_CWD 0x1000
#define EVENT_ERROR_CWD 0x2000
#define EVENT_CLONE 0x4000
#define EVENT_ERROR_CGROUP_NAME 0x010000
#define EVENT_ERROR_PATH_COMPONENTS 0x400000
#define EVENT_IN_INIT_TREE 0x2000000
#define EVENT_COMMON_FLAG_CLONE 0x01

#define BINARY_PATH_MAX 256
#define CGROUP_NAME_MAX 128

struct msg_execve_key {
	__u32 pid;
	__u8 pad[4];
	__u64 ktime;
};

struct msg_ns {
	__u32 uts_inum;
	__u32 ipc_inum;
	__u32 mnt_inum;
	__u32 pid_inum;
	__u32 pid_for_children_inum;
	__u32 net_inum;
	__u32 time_inum;
	__u32 time_for_children_inum;
	__u32 cgroup_inum;
	__u32 user_inum;
};

struct msg_capabilities {
	__u64 permitted;
	__u64 effective;
	__u64 inheritable;
};

struct msg_user_namespace {
	__s32 level;
	__u32 uid;
	__u32 gid;
	__u32 ns_inum;
};

struct msg_cred {
	__u32 uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
	__u32 securebits;
	__u32 pad;
	struct msg_capabilities caps;
	struct msg_user_namespace user_ns;
};

struct binary {
	__s32 path_length;
	__u32 pad;
	char path[BINARY_PATH_MAX];
};

struct execve_map_value {
	struct msg_execve_key key;
	struct msg_execve_key pkey;
	__u32 flags;
	__u32 nspid;
	struct msg_ns ns;
	struct msg_capabilities caps;
	struct binary bin; /* absolute: a relative exec path is joined to the cwd */
	__u64 mbset;	   /* matchBinaries followChildren: a bit per binary set this image descends from */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct execve_map_value);
} execve_map SEC(".maps");

/* matchBinaries followChildren: binary path -> the set bits an exec of it adds to mbset. Owned by
 * the exec sensor, filled by policy sensors (shared by name). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[BINARY_PATH_MAX]);
	__type(value, __u64);
} tg_mbset_paths SEC(".maps");

/* Update/delete failures of execve_map (full map, …) and its entries (inserts minus deletes,
 * summed over CPUs: one CPU's slot can go below zero), as Tetragon's execve_map_stats. */
#define MAP_STATS_EUPDATE 0
#define MAP_STATS_EDELETE 1
#define MAP_STATS_COUNT 2
#define MAP_STATS_MAX 3

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAP_STATS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} execve_map_stats SEC(".maps");

static __always_inline void execve_map_stat(__u32 which, __s64 by)
{
	__u64 *v = bpf_map_lookup_elem(&execve_map_stats, &which);

	if (v)
		__sync_fetch_and_add(v, by);
}

static __always_inline void execve_map_error(__u32 which)
{
	execve_map_stat(which, 1);
}

/* Write tgid's entry: replace the one the caller found (``exists``), else insert and count a
 * new entry (tetragon_map_entries); an insert that races with another falls back to replace. */
static __always_inline void execve_map_put(__u32 *tgid, struct execve_map_value *val, bool exists)
{
	if (!exists && !bpf_map_update_elem(&execve_map, tgid, val, BPF_NOEXIST)) {
		execve_map_stat(MAP_STATS_COUNT, 1);
		return;
	}
	if (bpf_map_update_elem(&execve_map, tgid, val, BPF_ANY))
		execve_map_error(MAP_STATS_EUPDATE);
}

/* 320-byte header, as Tetragon's msg_execve_event. */
struct msg_execve_event {
	struct msg_common common;
	__u64 cgrpid;
	__u64 cgrp_tracker_id;
	char cgrp_name[CGROUP_NAME_MAX];
	struct msg_execve_key parent;
	__u64 parent_flags;
	struct msg_cred creds;
	struct msg_ns ns;
	struct msg_execve_key cleanup_key;
};

/* 64-byte process head; path, args (NUL-separated, argv[0] first) and cwd follow. */
struct msg_process {
	__u32 size;
	__u32 pid;
	__u32 tid;
	__u32 nspid;
	__u32 secureexec;
	__u32 uid;
	__u32 auid;
	__u32 flags;
	__u32 i_nlink;
	__u32 pad;
	__u64 i_ino;
	__u64 ktime;
	__u16 size_path;
	__u16 size_args;
	__u16 size_cwd;
	__u16 size_envs;
};

struct msg_clone_event {
	struct msg_common common;
	struct msg_execve_key parent;
	__u32 tgid;
	__u32 tid;
	__u32 nspid;
	__u32 flags;
	__u64 ktime;
};

struct msg_exit {
	struct msg_common common;
	struct msg_execve_key current;
	__u32 code;
	__u32 tid;
};

static __always_inline void read_namespaces(struct task_struct *task, struct msg_ns *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *tp = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct upid *up;

	if (!nsp)
		return;
	ns->uts_inum = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->ipc_inum = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->mnt_inum = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns->pid_for_children_inum = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns->net_inum = BPF_CORE_READ(nsp, net_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns->time_inum = BPF_CORE_READ(nsp, time_ns, ns.inum);
		ns->time_for_children_inum = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
	ns->cgroup_inum = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns->user_inum = BPF_CORE_READ(task, cred, user_ns, ns.inum);
	up = (struct upid *)((char *)tp + bpf_core_field_offset(struct pid, numbers)) + (level & 31);
	ns->pid_inum = BPF_CORE_READ(up, ns, ns.inum);
}

static __always_inline __u32 read_nspid(struct task_struct *task)
{
	struct pid *tp = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct upid *up = (struct upid *)((char *)tp + bpf_core_field_offset(struct pid, numbers)) + (level & 31);

	return BPF_CORE_READ(up, nr);
}

static __always_inline __u64 read_cap(const kernel_cap_t *cap)
{
	__u64 v = 0;

	/* kernel_cap_t is u32[2] before 6.3 and u64 after: the same 8 bytes on little endian. */
	bpf_probe_read_kernel(&v, sizeof(v), cap);
	return v;
}

static __always_inline void read_cred(const struct cred *cred, struct msg_cred *c)
{
	struct user_namespace *uns = BPF_CORE_READ(cred, user_ns);

	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	c->securebits = BPF_CORE_READ(cred, securebits);
	c->caps.permitted = read_cap(__builtin_preserve_access_index(&cred->cap_permitted));
	c->caps.effective = read_cap(__builtin_preserve_access_index(&cred->cap_effective));
	c->caps.inheritable = read_cap(__builtin_preserve_access_index(&cred->cap_inheritable));
	c->user_ns.level = BPF_CORE_READ(uns, level);
	c->user_ns.uid = BPF_CORE_READ(uns, owner.val);
	c->user_ns.gid = BPF_CORE_READ(uns, group.val);
	c->user_ns.ns_inum = BPF_CORE_READ(uns, ns.inum);
}

static __always_inline void read_creds(struct task_struct *task, struct msg_cred *c)
{
	read_cred(BPF_CORE_READ(task, cred), c);
}

#endif
