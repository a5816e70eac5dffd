/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* In-kernel selector evaluation for the generic hooks. Selectors are ORed (the first that
 * matches decides the actions), the filters of one selector are ANDed, and the values of one
 * filter are ORed, as Tetragon's. The user-space compiler is src/tetragon_core/policy/kernel.py. */
#ifndef TG_SELECTORS_H
#define TG_SELECTORS_H

#include "generic.h"
#include "path.h"

#define TG_BUF 0x8000 /* argument bytes an event may carry; offsets are masked with TG_BUF - 1 */
#define TG_USER_MAX 0x00007ffffffff000ULL /* x86_64: above this an address is the kernel's */

struct tg_heap {
	struct msg_generic_hdr hdr;
	char data[TG_BUF + TG_STR_MAX + 64]; /* follows hdr directly: the two are sent as one */
	__u64 val[TG_MAX_ARGS];		      /* numeric value (or pointer) of each argument */
	__u32 off[TG_MAX_ARGS];		      /* string/buffer arguments: payload offset in data */
	__s32 len[TG_MAX_ARGS];		      /* ... and length, < 0 when there is none */
	struct tg_str_key sk;
	char sk_spill[TG_STR_MATCH];
	struct tg_lpm_key lk;
	char lk_spill[TG_STR_MATCH + 8];
	struct tg_bin_key bk;
	char bk_spill[BINARY_PATH_MAX];
	char pathbuf[TG_PATH_BUF + 256]; /* file/path arguments, walked right-aligned */
	__u32 dlen;
	__u32 pad;
};

/* One scratch area per CPU (the core sets max_entries to the number of possible CPUs). Not a
 * PERCPU_ARRAY: those values are limited to 32 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_heap);
} tg_heap_map SEC(".maps");

/* The hook's configuration, written by the core into this read-only section before the object
 * is loaded (one object per hook). The verifier reads it as constants: the branches this hook
 * does not take are removed before the program is compiled, so a hook pays only for the
 * arguments, filters and actions it has. */
const volatile struct tg_hook_cfg tg_hook_cfg SEC(".rodata.hook") = {};

/* The configuration through a pointer clang cannot see through: it must load each field rather
 * than fold it to the zero initializer (the verifier does the folding, with the real values). */
static __always_inline struct tg_hook_cfg *hook_cfg(void)
{
	struct tg_hook_cfg *cfg = (struct tg_hook_cfg *)&tg_hook_cfg;

	asm volatile("" : "+r"(cfg));
	return cfg;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_hook_mode);
} tg_hook_mode_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_hook_stats);
} tg_hook_stats_map SEC(".maps");

#define TG_STR_EQ_MAP(name, keytype)                                                                      \
	struct {                                                                                          \
		__uint(type, BPF_MAP_TYPE_HASH);                                                          \
		__uint(max_entries, 128);                                                                 \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                                     \
		__type(key, keytype);                                                                     \
		__type(value, __u8);                                                                      \
	} name SEC(".maps")

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_SELECTORS * TG_MAX_ARGS);
	__type(key, __u32);
	__type(value, struct tg_str_short);
} tg_str_short SEC(".maps");

TG_STR_EQ_MAP(tg_str_eq32, struct tg_str_key32);
TG_STR_EQ_MAP(tg_str_eq64, struct tg_str_key64);
TG_STR_EQ_MAP(tg_str_eq128, struct tg_str_key128);
TG_STR_EQ_MAP(tg_str_eq, struct tg_str_key);

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u8);
} tg_str_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u8);
} tg_str_postfix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_int_key);
	__type(value, __u8);
} tg_int_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_bin_key);
	__type(value, __u8);
} tg_bin_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u8);
} tg_bin_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u8);
} tg_bin_postfix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_rl_key);
	__type(value, __u64);
} tg_ratelimit SEC(".maps");

/* -- argument filters ------------------------------------------------------------------------ */

static __always_inline int tg_cmp(__u64 a, __s64 b, int is_signed, int op)
{
	if (is_signed)
		return op == TG_OP_GT ? (__s64)a > b : (__s64)a < b;
	return op == TG_OP_GT ? a > (__u64)b : a < (__u64)b;
}

static __always_inline int tg_in_range(__u64 v, __s64 lo, __s64 hi, int is_signed)
{
	if (is_signed)
		return (__s64)v >= lo && (__s64)v <= hi;
	return v >= (__u64)lo && v <= (__u64)hi;
}

static __always_inline int match_int(struct tg_arg_filter *f, __u32 fid, __u64 v, int is_signed)
{
	struct tg_int_key ik = {};
	int found = 0, j;

	switch (f->op) {
	case TG_OP_EQ:
	case TG_OP_NEQ:
		for (j = 0; j < TG_MAX_VALUES; j++)
			if (j < f->n && (__u64)f->vals[j] == v)
				found = 1;
		return f->op == TG_OP_EQ ? found : !found;
	case TG_OP_GT:
	case TG_OP_LT:
		return f->n > 0 && tg_cmp(v, f->vals[0], is_signed, f->op);
	case TG_OP_MASK:
		for (j = 0; j < TG_MAX_VALUES; j++)
			if (j < f->n && (v & (__u64)f->vals[j]))
				found = 1;
		return found;
	case TG_OP_INRANGE:
	case TG_OP_NOTINRANGE:
		for (j = 0; j < TG_MAX_RANGE_VALUES / 2; j++)
			if (2 * j < f->n && tg_in_range(v, f->vals[2 * j], f->vals[2 * j + 1], is_signed))
				found = 1;
		return f->op == TG_OP_INRANGE ? found : !found;
	case TG_OP_INMAP:
	case TG_OP_NOTINMAP:
		ik.filter = fid;
		ik.v = v;
		found = bpf_map_lookup_elem(&tg_int_map, &ik) != 0;
		return f->op == TG_OP_INMAP ? found : !found;
	}
	return 0;
}

struct tg_rev {
	struct tg_heap *h;
	__u32 last; /* offset of the string's last byte */
};

/* Postfix matching looks a reversed string up in an LPM trie: copy byte i from the end. */
static long tg_rev_step(__u32 i, void *ctx)
{
	struct tg_rev *r = ctx;

	if (i >= TG_LPM_MAX)
		return 1;
	r->h->lk.s[i & 0xff] = r->h->data[(r->last - i) & (TG_BUF - 1)];
	return 0;
}

static long tg_rev_bin_step(__u32 i, void *ctx)
{
	struct tg_rev *r = ctx;

	if (i >= TG_LPM_MAX)
		return 1;
	r->h->lk.s[i & 0xff] = r->h->bk.path[(r->last - i) & (BINARY_PATH_MAX - 1)];
	return 0;
}

/* Is the n-byte string in w (zero-padded words) one of filter fid's inline values? */
static __always_inline int match_short(__u32 fid, __u32 n, __u64 *w)
{
	struct tg_str_short *v = bpf_map_lookup_elem(&tg_str_short, &fid);
	int k;

	if (!v)
		return 0;
#pragma unroll
	for (k = 0; k < TG_SHORT_VALS; k++)
		if (k < v->n && v->len[k] == n && v->w[k][0] == w[0] && v->w[k][1] == w[1] &&
		    v->w[k][2] == w[2] && v->w[k][3] == w[3])
			return 1;
	return 0;
}

static __always_inline int match_str(struct tg_arg_filter *f, __u32 fid, struct tg_heap *h, __u32 off, __s32 len)
{
	struct tg_rev r = {};
	__u32 n;
	int found = 0;

	if (len < 0)
		return f->op == TG_OP_NEQ || f->op == TG_OP_NOTPREFIX || f->op == TG_OP_NOTPOSTFIX;
	n = len > TG_STR_MATCH ? TG_STR_MATCH : len;
	switch (f->op) {
	case TG_OP_EQ:
	case TG_OP_NEQ:
		/* vals[0..3]: a bitmap of the values' lengths, so most mismatches cost no lookup */
		if (len < TG_STR_MATCH && ((__u64)f->vals[(n >> 6) & 3] & (1ULL << (n & 63)))) {
			h->sk.filter = fid;
			h->sk.len = n;
			if (n < 32) {
				/* short strings: four word copies and a mask instead of memset + probe_read */
				char *src = &h->data[off & (TG_BUF - 1)];
				__u64 *dst = (__u64 *)h->sk.s;
				int k;

#pragma unroll
				for (k = 0; k < 4; k++) {
					__s32 valid = (__s32)n - 8 * k;
					__u64 w = *(__u64 *)(src + 8 * k);

					dst[k] = valid >= 8 ? w : valid <= 0 ? 0 : w & ((1ULL << (8 * valid)) - 1);
				}
				if (f->is_str == TG_STR_INLINE)
					return (f->op == TG_OP_EQ) == match_short(fid, n, dst);
			} else {
				__builtin_memset(h->sk.s, 0, sizeof(h->sk.s));
				bpf_probe_read_kernel(h->sk.s, tg_mask(n, 0x1ff), &h->data[off & (TG_BUF - 1)]);
			}
			if (n < 32)
				found = bpf_map_lookup_elem(&tg_str_eq32, &h->sk) != 0;
			else if (n < 64)
				found = bpf_map_lookup_elem(&tg_str_eq64, &h->sk) != 0;
			else if (n < 128)
				found = bpf_map_lookup_elem(&tg_str_eq128, &h->sk) != 0;
			else
				found = bpf_map_lookup_elem(&tg_str_eq, &h->sk) != 0;
		}
		return f->op == TG_OP_EQ ? found : !found;
	case TG_OP_PREFIX:
	case TG_OP_NOTPREFIX:
		n = n > TG_LPM_MAX ? TG_LPM_MAX : n;
		h->lk.prefixlen = 32 + n * 8;
		h->lk.filter = fid;
		if (n)
			bpf_probe_read_kernel(h->lk.s, tg_mask(n, 0xff), &h->data[off & (TG_BUF - 1)]);
		found = bpf_map_lookup_elem(&tg_str_prefix, &h->lk) != 0;
		return f->op == TG_OP_PREFIX ? found : !found;
	case TG_OP_POSTFIX:
	case TG_OP_NOTPOSTFIX:
		n = n > TG_LPM_MAX ? TG_LPM_MAX : n;
		h->lk.prefixlen = 32 + n * 8;
		h->lk.filter = fid;
		r.h = h;
		r.last = off + len - 1;
		bpf_loop(n, tg_rev_step, &r, 0);
		found = bpf_map_lookup_elem(&tg_str_postfix, &h->lk) != 0;
		return f->op == TG_OP_POSTFIX ? found : !found;
	}
	return 0;
}

/* -- process filters ------------------------------------------------------------------------- */

static __always_inline int pid_in(struct tg_pid_filter *f, __u32 pid)
{
	int j;

	for (j = 0; j < TG_MAX_PID_VALUES; j++)
		if (j < f->n && f->vals[j] == pid)
			return 1;
	return 0;
}

static __always_inline int match_pid(struct tg_pid_filter *f, struct execve_map_value *proc, __u32 tgid, __u32 nspid)
{
	struct execve_map_value *p = proc;
	__u32 pid = f->flags & TG_PID_NSPID ? nspid : tgid;
	int found = pid_in(f, pid), i;

	/* followForks: a descendant of a listed process matches too (nspid is only known for the
	 * current process, so ancestors are compared by their host pid) */
	if (!found && (f->flags & TG_PID_FOLLOW_FORKS) && p) {
		for (i = 0; i < 8 && p; i++) {
			__u32 ppid = p->pkey.pid;

			if (!ppid)
				break;
			if (pid_in(f, f->flags & TG_PID_NSPID ? p->nspid : ppid)) {
				found = 1;
				break;
			}
			p = bpf_map_lookup_elem(&execve_map, &ppid);
		}
	}
	return f->op == TG_OP_IN ? found : !found;
}

static __always_inline __u32 ns_at(struct msg_ns *ns, __u32 i)
{
	if (i >= 10)
		i = 0;
	return ((__u32 *)ns)[i];
}

static __always_inline int match_ns(struct tg_ns_filter *f, struct msg_ns *ns)
{
	__u32 v = ns_at(ns, f->nstype);
	int found = 0, j;

	for (j = 0; j < TG_MAX_VALUES; j++)
		if (j < f->n && f->vals[j] == v)
			found = 1;
	return f->op == TG_OP_IN ? found : !found;
}

static __always_inline __u64 cap_of(struct msg_capabilities *c, __u32 type)
{
	if (type == TG_CAP_INHERITABLE)
		return c->inheritable;
	if (type == TG_CAP_PERMITTED)
		return c->permitted;
	return c->effective;
}

static __always_inline int match_cap(struct tg_cap_filter *f, struct msg_capabilities *caps, __u64 old, int change,
				     __u32 userns)
{
	__u64 v = cap_of(caps, f->type);
	int found;

	/* isNamespaceCapability: only a process in a user namespace of its own can match */
	if (f->host_userns && userns == f->host_userns)
		return 0;
	found = change ? ((v ^ old) & f->mask) != 0 : (v & f->mask) != 0;

	return f->op == TG_OP_IN ? found : !found;
}

#endif
