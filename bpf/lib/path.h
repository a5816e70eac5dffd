/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A path from its dentry and mount, as d_path would give it, walked up to the task's root one
 * component per bpf_loop step (one verification of the body) and written right-aligned into a
 * buffer of TG_PATH_BUF bytes (plus 256 of slack for the masked copies). Mount points are crossed
 * through mnt_parent/mnt_mountpoint. Used for the exec sensor's cwd and for file/path arguments. */
#ifndef TG_PATH_H
#define TG_PATH_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define TG_PATH_BUF 4096
#define TG_PATH_DEPTH 64
#define TG_PATH_ERR_COMPONENTS 0x1 /* too deep or too long: the path is cut at its start */

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - __builtin_offsetof(type, member)))
#endif

struct tg_path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	char *buf; /* TG_PATH_BUF + 256 bytes of map memory */
	int pos;   /* the path is buf[pos, TG_PATH_BUF) */
	__u32 err;
	int done;
};

static long tg_path_step(__u32 i, void *ctx)
{
	struct tg_path_walk *w = ctx;
	/* locals, so that the CO-RE reads below relocate kernel types only */
	struct dentry *dentry = w->dentry, *parent;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	char *buf = w->buf;
	struct qstr name;
	__u32 len;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		goto done;
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (mp == mnt)
			goto done; /* the namespace root */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = __builtin_preserve_access_index(&mp->mnt);
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (parent == dentry)
		goto done;
	name = BPF_CORE_READ(dentry, d_name);
	len = name.len & 255;
	/* >=: the result must stay under TG_PATH_BUF bytes, which the copies can express */
	if ((int)len + 1 >= w->pos || w->pos > TG_PATH_BUF) {
		w->err |= TG_PATH_ERR_COMPONENTS;
		goto done;
	}
	w->pos -= len;
	bpf_probe_read_kernel(&buf[w->pos & (TG_PATH_BUF - 1)], len, name.name);
	w->pos -= 1;
	buf[w->pos & (TG_PATH_BUF - 1)] = '/';
	w->dentry = parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

/* Walk (dentry, vfsmnt) up to the current task's root into buf; returns the start offset (an
 * empty result, TG_PATH_BUF, is the root itself) and ORs TG_PATH_ERR_COMPONENTS into *err. */
static __always_inline int tg_walk_path(struct dentry *dentry, struct vfsmount *vfsmnt, char *buf, __u32 *err)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct tg_path_walk w = {};

	w.dentry = dentry;
	w.vfsmnt = vfsmnt;
	w.root_dentry = BPF_CORE_READ(fs, root.dentry);
	w.root_mnt = BPF_CORE_READ(fs, root.mnt);
	w.mnt = container_of(vfsmnt, struct mount, mnt);
	w.buf = buf;
	w.pos = TG_PATH_BUF;
	bpf_loop(TG_PATH_DEPTH, tg_path_step, &w, 0);
	if (!w.done)
		w.err |= TG_PATH_ERR_COMPONENTS;
	*err |= w.err;
	return w.pos;
}

#endif /* TG_PATH_H */
