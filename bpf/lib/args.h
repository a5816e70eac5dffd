/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading a generic hook's arguments into the per-CPU heap (generic_run.h): where each argument
 * is (tg_arg_cfg: a context offset, direct loads for the first bytes where the program variant
 * allows), and how it is encoded after the event header (integers, strings, buffers, and with
 * TG_PATH_ARGS file and path arguments walked to their path). */
#ifndef TG_ARGS_H
#define TG_ARGS_H

#include "selectors.h"

/* An 8-byte field at an aligned offset of the first 64 bytes (every syscall argument, every raw
 * tracepoint argument): a direct context load, which the verifier allows only at constant
 * offsets, instead of a probe_read helper call. The kernel refuses to attach a program whose
 * loads reach past the tracepoint's context, so each program variant loads below its ctx_size
 * only; the core picks the variant that fits the tracepoint. */
#define TG_CTX_U64(o)                                                                                   \
	case o:                                                                                         \
		if (o + 8 <= ctx_size) {                                                                \
			asm volatile("%0 = *(u64 *)(%1 + " #o ")" : "=r"(v) : "r"(ctx));                  \
			return v;                                                                       \
		}                                                                                       \
		break

static __always_inline __u64 ctx_u64(void *ctx, __u16 off, const int raw, const int ctx_size)
{
	__u64 v = 0;

	if (raw && off == 0 && ctx_size >= 8) { /* a record's first 8 bytes are off limits */
		asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(v) : "r"(ctx));
		return v;
	}
	switch (off) {
		TG_CTX_U64(8);
		TG_CTX_U64(16);
		TG_CTX_U64(24);
		TG_CTX_U64(32);
		TG_CTX_U64(40);
		TG_CTX_U64(48);
		TG_CTX_U64(56);
	}
	bpf_probe_read_kernel(&v, 8, (char *)ctx + off);
	return v;
}

static __always_inline __u64 read_field(void *ctx, struct tg_arg_cfg *a, const int raw, const int ctx_size)
{
	void *src = (char *)ctx + a->offset;
	__u64 v = 0;

	if (a->size == 8 && a->offset < 64 && !(a->offset & 7))
		return ctx_u64(ctx, a->offset, raw, ctx_size);
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

#ifdef TG_PATH_ARGS
/* A file or path argument (a struct file * or struct path * in v) at h->data[off]: s32 length
 * (-1: none) + the path, then u32 flags (1: components were cut) and u32 the inode's mode. A
 * subprogram: the walk is verified once, not per argument. Returns the path's length. */
static __noinline __u32 read_path_arg(struct tg_heap *h, __u32 off, __u64 v, __u32 type)
{
	struct dentry *dentry;
	struct vfsmount *mnt;
	__u32 err = 0, n = 0;
	int pos;

	if (!h)
		return 0;
	if (type == TG_T_FILE) {
		struct file *f = (struct file *)v;

		dentry = BPF_CORE_READ(f, f_path.dentry);
		mnt = BPF_CORE_READ(f, f_path.mnt);
	} else {
		struct path *p = (struct path *)v;

		dentry = BPF_CORE_READ(p, dentry);
		mnt = BPF_CORE_READ(p, mnt);
	}
	if (!dentry || !mnt) {
		*(__s32 *)&h->data[off & (TG_BUF - 1)] = -1;
		*(__u64 *)&h->data[(off + 4) & (TG_BUF - 1)] = 0;
		return 0;
	}
	pos = tg_walk_path(dentry, mnt, h->pathbuf, &err);
	if (pos >= 0 && pos < TG_PATH_BUF) {
		n = TG_PATH_BUF - pos;
		bpf_probe_read_kernel(&h->data[(off + 4) & (TG_BUF - 1)], tg_mask(n, 0xfff) /* TG_PATH_BUF - 1: tg_mask wants a literal */,
				      &h->pathbuf[pos & (TG_PATH_BUF - 1)]);
	} else {
		h->data[(off + 4) & (TG_BUF - 1)] = '/'; /* the root itself */
		n = 1;
	}
	*(__s32 *)&h->data[off & (TG_BUF - 1)] = n;
	*(__u32 *)&h->data[(off + 4 + n) & (TG_BUF - 1)] = err ? 1 : 0;
	*(__u32 *)&h->data[(off + 8 + n) & (TG_BUF - 1)] = BPF_CORE_READ(dentry, d_inode, i_mode);
	return n;
}

#include "structargs.h"

/* A sock or socket argument's struct sock. */
static __always_inline struct sock *tg_sock_of(__u32 type, __u64 v)
{
	if (type == TG_T_SOCKET && v)
		return BPF_CORE_READ((struct socket *)v, sk);
	return (struct sock *)v;
}

/* The kernel object v (a pointer of a path or object type) encoded at h->data[off], as argument i
 * (h->off/len/val); returns where its encoding ends, or off itself for any other type. Arguments
 * and return values (generic_return) share it. */
static __always_inline __u32 encode_object(struct tg_heap *h, __u32 off, __u64 v, __u32 type, __u32 i)
{
	__u32 n;

	i &= 7;
	switch (type) {
	case TG_T_FILE:
	case TG_T_PATH:
	case TG_T_LINUX_BINPRM:
		if (type == TG_T_LINUX_BINPRM)
			n = read_binprm(h, off, (struct linux_binprm *)v);
		else
			n = read_path_arg(h, off, v, type);
		if (n) {
			h->off[i] = off + 4;
			h->len[i] = n;
		}
		return off + 12 + (n & (TG_STR_MAX - 1));
	case TG_T_SOCK:
	case TG_T_SOCKET:
	case TG_T_SKB:
	case TG_T_SOCKADDR:
		if (type == TG_T_SKB)
			read_skb(h, off, (struct sk_buff *)v);
		else if (type == TG_T_SOCKADDR)
			read_sockaddr(h, off, (void *)v);
		else
			read_sock(h, off, tg_sock_of(type, v));
		h->off[i] = off;
		h->len[i] = TG_NET_SIZE;
		return off + TG_NET_SIZE;
	case TG_T_CRED:
		read_cred_arg(h, off, (const struct cred *)v);
		return off + sizeof(struct msg_cred);
	case TG_T_MODULE:
	case TG_T_LOAD_INFO:
		read_module(h, off, v, type);
		return off + sizeof(struct tg_module);
	case TG_T_BPF_ATTR:
		read_bpf_attr(h, off, (union bpf_attr *)v);
		return off + sizeof(struct tg_bpf_attr);
	case TG_T_KERNEL_CAP_T:
	case TG_T_CAP_INH:
	case TG_T_CAP_PRM:
	case TG_T_CAP_EFF: { /* a kernel_cap_t *: the 8 bytes it points to, which filters see too */
		__u64 caps = v ? read_cap((const kernel_cap_t *)v) : 0;

		h->val[i] = caps;
		*(__u64 *)&h->data[off & (TG_BUF - 1)] = caps;
		return off + 8;
	}
	}
	return off;
}
#endif

struct tg_args_walk {
	void *ctx;
	struct tg_hook_cfg *cfg;
	struct tg_heap *h;
	__u32 off;
	__u32 only; /* bit per argument to read */
};

/* char_buf, char_iovec: the value of the argument sizeArgIndex names, or dflt without one. */
static __always_inline __s64 size_arg(struct tg_args_walk *w, struct tg_arg_cfg *a, __s64 dflt, const int raw,
				      const int ctx_size)
{
	__u32 k;

	if (a->size_arg < 1 || a->size_arg > TG_MAX_ARGS)
		return dflt;
	k = tg_mask(a->size_arg - 1, 7);
	if (k >= TG_MAX_ARGS)
		k = 0;
	return (__s64)read_field(w->ctx, &w->cfg->args[k], raw, ctx_size);
}

/* Read argument i and append its encoding to h->data:
 *   integers: 8 bytes; string: s32 length (< 0: read error) + bytes;
 *   char_buf: s32 original size (< 0: error) + u32 bytes read + bytes. */
static __always_inline long read_arg_step(__u32 i, void *c, const int raw, const int ctx_size)
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
	if (!(w->only & (1 << i)))
		return 0;
	a = &w->cfg->args[i];
	v = read_field(w->ctx, a, raw, ctx_size);
	h->val[i] = v;
	h->len[i] = -1;
	switch (a->type) {
	case TG_T_NOP:
		break;
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
#ifdef TG_PATH_ARGS /* objects whose hooks can have file/path arguments (kprobe, LSM) */
	case TG_T_FILE:
	case TG_T_PATH:
	case TG_T_LINUX_BINPRM:
	case TG_T_SOCK:
	case TG_T_SOCKET:
	case TG_T_SKB:
	case TG_T_SOCKADDR:
	case TG_T_CRED:
	case TG_T_MODULE:
	case TG_T_LOAD_INFO:
	case TG_T_BPF_ATTR:
	case TG_T_KERNEL_CAP_T:
	case TG_T_CAP_INH:
	case TG_T_CAP_PRM:
	case TG_T_CAP_EFF:
		w->off = encode_object(h, off, v, a->type, i);
		break;
	case TG_T_CHAR_IOVEC:
		n = read_iovec(h, off, (struct iovec *)v, size_arg(w, a, 0, raw, ctx_size));
		h->off[i] = off + 8;
		h->len[i] = n;
		w->off = off + 8 + (n & 0x1fff);
		break;
#endif
	case TG_T_CHAR_BUF: {
		__s64 size = size_arg(w, a, TG_STR_MAX, raw, ctx_size);

		n = size < 0 || a->ret_copy ? 0 : (size > TG_STR_MAX ? TG_STR_MAX : size);
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

static __always_inline void read_args(void *ctx, struct tg_hook_cfg *cfg, struct tg_heap *h, __u32 only,
				      const int raw, const int ctx_size)
{
	struct tg_args_walk aw = {};

	aw.ctx = ctx;
	aw.cfg = cfg;
	aw.h = h;
	aw.only = only;
	/* unrolled: a bpf_loop callback per argument costs more than the reads of a short run */
#pragma unroll
	for (int i = 0; i < TG_MAX_ARGS; i++)
		if (i >= cfg->nargs || read_arg_step(i, &aw, raw, ctx_size))
			break;
	h->dlen = aw.off;
}

#endif /* TG_ARGS_H */
