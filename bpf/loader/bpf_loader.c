// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The loader sensor: a MSG_OP_LOADER record for every executable mapping of a file, with the
 * file's identity (device, inode), its path and, where the kernel computed it, its build id.
 * Two routes, the core picks one by what the kernel has:
 *
 *   kprobe route (upstream's): a kprobe on perf_event_mmap_output, which the kernel calls for
 *   each executable mmap (mmap_region, mprotect) once user space holds a perf event per CPU with
 *   attr.mmap and attr.build_id (their ids are in tg_loader_ids). The kernel hands it the file
 *   name, the inode and the build id it parsed.
 *
 *   tracepoint route (no kprobes): loader_mmap on syscalls/sys_exit_mmap finds the new mapping
 *   (bpf_find_vma at the returned address) and reports it when it is executable and has a file;
 *   loader_exec on sched_process_exec reports what execve itself mapped, which no syscall does:
 *   the executable's text (mm->start_code) and the ELF interpreter (AT_BASE of the saved auxv).
 *   The path is walked from the file's dentry (path.h); user space reads the build id from the
 *   file, once per file identity.
 */
#include "common.h"
#include "path.h"
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TG_BUILD_ID_SIZE 20
#define TG_LOADER_KPROBE 0x1 /* flags: from the kprobe route (build id from the kernel) */
#define TG_LOADER_EXEC 0x2   /* flags: mapped by execve (the executable or its interpreter) */
#define TG_LOADER_INTERP 0x4 /* flags: ... the interpreter */
#define TG_VM_EXEC 0x4
#define TG_AT_BASE 7

struct msg_loader {
	struct msg_common common;
	struct msg_execve_key current; /* the process, from execve_map (pid only when unknown) */
	__u32 pid;
	__u32 tid;
	__u64 ino;
	__u64 mtime; /* ns; 0 on the kprobe route */
	__u32 dev;   /* the kernel's dev_t: major << 20 | minor */
	__u32 flags;
	__u64 start; /* the mapping, for /proc/<pid>/map_files */
	__u64 end;
	__u32 buildid_size;
	__u32 path_size;
	__u8 buildid[TG_BUILD_ID_SIZE];
	__u8 pad[4];
	char path[TG_PATH_BUF];
};

struct loader_heap {
	struct msg_loader msg;
	char walk[TG_PATH_BUF + 256];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct loader_heap);
} tg_loader_heap SEC(".maps");

/* perf event ids of the kprobe route's events (user space fills it) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} tg_loader_ids SEC(".maps");

/* records sent, and records lost to a full ring (tetragon_process_loader_stats) */
struct tg_loader_stats {
	__u64 sent;
	__u64 output_failed;
	__u64 no_file; /* an executable mapping without a file (none is sent) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_loader_stats);
} tg_loader_stats_map SEC(".maps");

static __always_inline struct loader_heap *loader_start(__u32 flags)
{
	__u32 zero = 0;
	struct loader_heap *h = bpf_map_lookup_elem(&tg_loader_heap, &zero);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct execve_map_value *proc;
	__u32 tgid = pid_tgid >> 32;

	if (!h)
		return 0;
	__builtin_memset(&h->msg, 0, offsetof(struct msg_loader, path));
	h->msg.common.op = MSG_OP_LOADER;
	h->msg.common.ktime = tg_get_ktime();
	h->msg.pid = tgid;
	h->msg.tid = (__u32)pid_tgid;
	h->msg.flags = flags;
	proc = bpf_map_lookup_elem(&execve_map, &tgid);
	if (proc)
		h->msg.current = proc->key;
	else
		h->msg.current.pid = tgid;
	return h;
}

static __always_inline void loader_send(struct loader_heap *h)
{
	__u32 zero = 0;
	struct tg_loader_stats *st = bpf_map_lookup_elem(&tg_loader_stats_map, &zero);
	__u64 size = offsetof(struct msg_loader, path) + (h->msg.path_size & (TG_PATH_BUF - 1));

	h->msg.common.size = size;
	if (tg_output(&h->msg, tg_mask(size, 0xffff))) {
		if (st)
			st->output_failed++;
	} else if (st) {
		st->sent++;
	}
}

/* The inode's mtime in ns, from the layout of the kernel it runs on. */
struct inode___v61 {
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_mtime(struct inode *inode)
{
	if (bpf_core_field_exists(inode->i_mtime_sec))
		return BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ULL + BPF_CORE_READ(inode, i_mtime_nsec);
	if (bpf_core_field_exists(((struct inode___v66 *)inode)->__i_mtime))
		return BPF_CORE_READ((struct inode___v66 *)inode, __i_mtime.tv_sec) * 1000000000ULL +
		       BPF_CORE_READ((struct inode___v66 *)inode, __i_mtime.tv_nsec);
	return BPF_CORE_READ((struct inode___v61 *)inode, i_mtime.tv_sec) * 1000000000ULL +
	       BPF_CORE_READ((struct inode___v61 *)inode, i_mtime.tv_nsec);
}

/* The tracepoint route: the file of a mapping, its identity and its path. */
static __always_inline int loader_file(struct loader_heap *h, struct file *file, __u64 start, __u64 end)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 err = 0, n;
	int pos;

	h->msg.ino = BPF_CORE_READ(inode, i_ino);
	h->msg.mtime = inode_mtime(inode);
	h->msg.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	h->msg.start = start;
	h->msg.end = end;
	pos = tg_walk_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), h->walk, &err);
	if (pos < 0 || pos > TG_PATH_BUF)
		return -1;
	n = TG_PATH_BUF - pos;
	if (n == 0 || n >= TG_PATH_BUF)
		return -1;
	bpf_probe_read_kernel(h->msg.path, n & (TG_PATH_BUF - 1), h->walk + (pos & (TG_PATH_BUF - 1)));
	h->msg.path_size = n;
	return 0;
}

struct loader_vma {
	struct loader_heap *h;
	int need_exec;
	int found;
};

static long loader_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct loader_vma *lv = data;
	struct file *file = BPF_CORE_READ(vma, vm_file);
	unsigned long vm_flags = BPF_CORE_READ(vma, vm_flags);

	if (lv->need_exec && !(vm_flags & TG_VM_EXEC))
		return 0;
	if (!file) {
		__u32 zero = 0;
		struct tg_loader_stats *st = bpf_map_lookup_elem(&tg_loader_stats_map, &zero);

		if (st)
			st->no_file++;
		return 0;
	}
	if (loader_file(lv->h, file, BPF_CORE_READ(vma, vm_start), BPF_CORE_READ(vma, vm_end)) == 0)
		lv->found = 1;
	return 0;
}

static __always_inline void loader_at(struct task_struct *task, __u64 addr, __u32 flags, int need_exec)
{
	struct loader_vma lv = {};

	lv.h = loader_start(flags);
	if (!lv.h)
		return;
	lv.need_exec = need_exec;
	bpf_find_vma(task, addr, loader_vma_cb, &lv, 0);
	if (lv.found)
		loader_send(lv.h);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int loader_mmap(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;

	if (ret < 0 && ret > -4096)
		return 0;
	loader_at(bpf_get_current_task_btf(), (__u64)ret, 0, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(loader_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;
	unsigned long auxv[2];
	__u64 base = 0;
	int i;

	if (!mm)
		return 0;
	loader_at(task, BPF_CORE_READ(mm, start_code), TG_LOADER_EXEC, 1);
	for (i = 0; i < 24; i++) {
		if (bpf_probe_read_kernel(auxv, sizeof(auxv), &mm->saved_auxv[2 * i]))
			break;
		if (auxv[0] == 0)
			break;
		if (auxv[0] == TG_AT_BASE) {
			base = auxv[1];
			break;
		}
	}
	/* a static executable has no interpreter; AT_BASE is the interpreter's first segment,
	 * which need not be the executable one */
	if (base)
		loader_at(task, base, TG_LOADER_EXEC | TG_LOADER_INTERP, 0);
	return 0;
}

/* The kprobe route. */
SEC("kprobe/perf_event_mmap_output")
int BPF_KPROBE(loader_kprobe, struct perf_event *event, struct perf_mmap_event *mmap_event)
{
	__u64 id = BPF_CORE_READ(event, id);
	struct loader_heap *h;
	const char *name;
	long n;

	if (!bpf_map_lookup_elem(&tg_loader_ids, &id))
		return 0;
	h = loader_start(TG_LOADER_KPROBE);
	if (!h)
		return 0;
	h->msg.ino = BPF_CORE_READ(mmap_event, ino);
	h->msg.dev = ((__u32)BPF_CORE_READ(mmap_event, maj) << 20) | (__u32)BPF_CORE_READ(mmap_event, min);
	h->msg.start = BPF_CORE_READ(mmap_event, event_id.start);
	h->msg.end = h->msg.start + BPF_CORE_READ(mmap_event, event_id.len);
	h->msg.buildid_size = BPF_CORE_READ(mmap_event, build_id_size);
	if (!h->msg.buildid_size) /* as upstream: only a mapping with a build id */
		return 0;
	if (h->msg.buildid_size > TG_BUILD_ID_SIZE)
		h->msg.buildid_size = TG_BUILD_ID_SIZE;
	bpf_probe_read_kernel(h->msg.buildid, TG_BUILD_ID_SIZE, &mmap_event->build_id);
	name = BPF_CORE_READ(mmap_event, file_name);
	n = bpf_probe_read_kernel_str(h->msg.path, TG_PATH_BUF, name);
	if (n <= 1) /* "//anon" and friends have a name; an empty one is no file */
		return 0;
	h->msg.path_size = n - 1;
	loader_send(h);
	return 0;
}
