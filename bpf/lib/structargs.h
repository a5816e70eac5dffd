/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Kernel objects read as arguments (args.h, with TG_PATH_ARGS): each is written at h->data[off]
 * in a fixed layout that src/tetragon_core/sensors/structdecode.py decodes. All reads are CO-RE,
 * so one object serves every kernel whose BTF has the types. */
#ifndef TG_STRUCTARGS_H
#define TG_STRUCTARGS_H

#include "selectors.h"
#include <bpf/bpf_endian.h>

#define TG_AF_INET 2
#define TG_AF_INET6 10

/* sock, socket, skb, sockaddr: 64 bytes. The first 40 (addresses, ports, protocol, family) are
 * what the network operators of selectors.h compare; the rest depends on the type. IPv4
 * addresses are the first 4 bytes of their 16, in network order; ports are in host order. */
struct tg_net {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 protocol;
	__u16 family;
	union {
		struct { /* sock, socket */
			__u64 cookie; /* the struct sock's address, as Tetragon's */
			__u32 mark;
			__u32 priority;
			__u16 type;
			__u8 state;
			__u8 pad[5];
		} sk;
		struct { /* skb */
			__u32 hash;
			__u32 len;
			__u32 priority;
			__u32 mark;
			__u32 secpath_len;
			__u32 secpath_olen;
		} skb;
	};
};

#define TG_NET_SIZE 64
#define TG_MOD_NAME 56

/* module, load_info: 72 bytes */
struct tg_module {
	char name[TG_MOD_NAME];
	__u64 taints;
	__u32 sig_ok; /* 0 / 1; 2: not known (load_info only has it with CONFIG_MODULE_SIG) */
	__u32 pad;
};

/* bpf_attr: 24 bytes (BPF_PROG_LOAD's fields) */
struct tg_bpf_attr {
	__u32 prog_type;
	__u32 insn_cnt;
	char name[16];
};

/* The layout of struct load_info (kernel/module/internal.h), which vmlinux.h lacks where the
 * kernel's BTF has no such type; CO-RE matches it by name on kernels that have it. */
struct load_info___tg {
	const char *name;
	struct module *mod;
	bool sig_ok;
} __attribute__((preserve_access_index));

/* struct module's sig_ok exists only with CONFIG_MODULE_SIG */
struct module___tg {
	bool sig_ok;
} __attribute__((preserve_access_index));

static __always_inline struct tg_net *tg_net_at(struct tg_heap *h, __u32 off)
{
	struct tg_net *n = (struct tg_net *)&h->data[off & (TG_BUF - 1)];

	__builtin_memset(n, 0, sizeof(*n));
	return n;
}

static __noinline void read_sock(struct tg_heap *h, __u32 off, struct sock *sk)
{
	struct tg_net *n;

	if (!h)
		return;
	n = tg_net_at(h, off);
	if (!sk)
		return;
	n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (n->family == TG_AF_INET) {
		*(__u32 *)n->saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*(__u32 *)n->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else if (n->family == TG_AF_INET6) {
		bpf_probe_read_kernel(n->saddr, 16, __builtin_preserve_access_index(&sk->__sk_common.skc_v6_rcv_saddr));
		bpf_probe_read_kernel(n->daddr, 16, __builtin_preserve_access_index(&sk->__sk_common.skc_v6_daddr));
	}
	n->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	n->protocol = BPF_CORE_READ(sk, sk_protocol);
	n->sk.type = BPF_CORE_READ(sk, sk_type);
	n->sk.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	n->sk.mark = BPF_CORE_READ(sk, sk_mark);
	n->sk.priority = BPF_CORE_READ(sk, sk_priority);
	n->sk.cookie = (__u64)sk;
}

/* The IP and transport headers of a packet: addresses, protocol and (TCP, UDP) ports. */
static __noinline void read_skb(struct tg_heap *h, __u32 off, struct sk_buff *skb)
{
	struct tg_net *n;
	unsigned char *head;
	__u16 nh, th;
	__u8 b[40] = {};
	__u16 ports[2] = {};

	if (!h)
		return;
	n = tg_net_at(h, off);
	if (!skb)
		return;
	n->skb.hash = BPF_CORE_READ(skb, hash);
	n->skb.len = BPF_CORE_READ(skb, len);
	n->skb.priority = BPF_CORE_READ(skb, priority);
	n->skb.mark = BPF_CORE_READ(skb, mark);
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	th = BPF_CORE_READ(skb, transport_header);
	if (!head || nh == 0xffff || bpf_probe_read_kernel(b, sizeof(b), head + nh) < 0)
		return;
	if ((b[0] >> 4) == 4) {
		n->family = TG_AF_INET;
		n->protocol = b[9];
		__builtin_memcpy(n->saddr, &b[12], 4);
		__builtin_memcpy(n->daddr, &b[16], 4);
		if (th == 0xffff || th <= nh)
			th = nh + (b[0] & 0xf) * 4;
	} else if ((b[0] >> 4) == 6) {
		n->family = TG_AF_INET6;
		n->protocol = b[6]; /* the next header; extension headers are not walked */
		__builtin_memcpy(n->saddr, &b[8], 16);
		__builtin_memcpy(n->daddr, &b[24], 16);
		if (th == 0xffff || th <= nh)
			th = nh + 40;
	} else {
		return;
	}
	if ((n->protocol == 6 || n->protocol == 17) && bpf_probe_read_kernel(ports, 4, head + th) == 0) {
		n->sport = bpf_ntohs(ports[0]);
		n->dport = bpf_ntohs(ports[1]);
	}
}

/* A struct sockaddr * in kernel memory (security_socket_connect/bind): family, address and port,
 * which the selectors compare as the source (SAddr, SPort), as Tetragon's. */
static __noinline void read_sockaddr(struct tg_heap *h, __u32 off, void *sa)
{
	struct tg_net *n;
	__u8 b[24] = {};

	if (!h)
		return;
	n = tg_net_at(h, off);
	if (!sa || bpf_probe_read_kernel(b, sizeof(b), sa) < 0)
		return;
	n->family = *(__u16 *)b;
	n->sport = ((__u16)b[2] << 8) | b[3];
	if (n->family == TG_AF_INET)
		__builtin_memcpy(n->saddr, &b[4], 4);
	else if (n->family == TG_AF_INET6)
		__builtin_memcpy(n->saddr, &b[8], 16);
}

static __noinline void read_module(struct tg_heap *h, __u32 off, __u64 v, __u32 type)
{
	struct tg_module *m;
	struct module *mod = (struct module *)v;

	if (!h)
		return;
	m = (struct tg_module *)&h->data[off & (TG_BUF - 1)];
	__builtin_memset(m, 0, sizeof(*m));
	m->sig_ok = 2;
	if (!v)
		return;
	if (type == TG_T_LOAD_INFO) {
		struct load_info___tg *info = (struct load_info___tg *)v;
		const char *name;

		if (!bpf_core_type_exists(struct load_info___tg))
			return;
		name = BPF_CORE_READ(info, name);
		if (name)
			bpf_probe_read_kernel_str(m->name, TG_MOD_NAME, name);
		if (bpf_core_field_exists(info->sig_ok))
			m->sig_ok = BPF_CORE_READ(info, sig_ok);
		mod = BPF_CORE_READ(info, mod);
		if (!mod)
			return;
	} else {
		bpf_probe_read_kernel_str(m->name, TG_MOD_NAME, __builtin_preserve_access_index(&mod->name));
		struct module___tg *ms = (struct module___tg *)mod;

		if (bpf_core_field_exists(ms->sig_ok))
			m->sig_ok = BPF_CORE_READ(ms, sig_ok);
	}
	m->taints = BPF_CORE_READ(mod, taints);
}

static __noinline void read_bpf_attr(struct tg_heap *h, __u32 off, union bpf_attr *attr)
{
	struct tg_bpf_attr *b;

	if (!h)
		return;
	b = (struct tg_bpf_attr *)&h->data[off & (TG_BUF - 1)];
	__builtin_memset(b, 0, sizeof(*b));
	if (!attr)
		return;
	b->prog_type = BPF_CORE_READ(attr, prog_type);
	b->insn_cnt = BPF_CORE_READ(attr, insn_cnt);
	bpf_probe_read_kernel(b->name, sizeof(b->name), __builtin_preserve_access_index(&attr->prog_name));
}

static __noinline void read_cred_arg(struct tg_heap *h, __u32 off, const struct cred *cred)
{
	struct msg_cred *c;

	if (!h)
		return;
	c = (struct msg_cred *)&h->data[off & (TG_BUF - 1)];
	__builtin_memset(c, 0, sizeof(*c));
	if (cred)
		read_cred(cred, c);
}

/* char_iovec: the bytes of up to TG_IOV_MAX user iovecs, as one char_buf (s32 total size +
 * u32 bytes copied + bytes), the copy capped at TG_STR_MAX. */
#define TG_IOV_MAX 8
static __noinline __u32 read_iovec(struct tg_heap *h, __u32 off, struct iovec *iov, __s64 cnt)
{
	__u32 got = 0, want;
	__s64 total = 0;
	struct iovec v;
	int i;

	if (!h)
		return 0;
	for (i = 0; i < TG_IOV_MAX; i++) {
		if (i >= cnt)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]) < 0)
			break;
		total += v.iov_len;
		want = v.iov_len > TG_STR_MAX - got ? TG_STR_MAX - got : v.iov_len;
		if (want && got < TG_STR_MAX &&
		    bpf_probe_read_user(&h->data[(off + 8 + got) & (TG_BUF - 1)], tg_mask(want, 0x1fff), v.iov_base) == 0)
			got += want;
	}
	*(__s32 *)&h->data[off & (TG_BUF - 1)] = (__s32)total;
	*(__u32 *)&h->data[(off + 4) & (TG_BUF - 1)] = got;
	return got;
}

/* linux_binprm: the path of the program being executed (bprm->file), then flags and mode */
static __noinline __u32 read_binprm(struct tg_heap *h, __u32 off, struct linux_binprm *bprm)
{
	struct file *f = bprm ? BPF_CORE_READ(bprm, file) : 0;

	return read_path_arg(h, off, (__u64)f, TG_T_FILE);
}

/* -- network operators on sock, socket, skb and sockaddr arguments ---------------------------- */

/* SAddr/DAddr: one LPM trie for both families; the key's data is the filter, the family (4 or 6)
 * and the address, so a prefix /N of an IPv4 CIDR is 40 + N bits. */
struct tg_addr_key {
	__u32 prefixlen;
	__u32 filter;
	__u8 family;
	__u8 addr[16];
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_addr_key);
	__type(value, __u8);
} tg_addr_lpm SEC(".maps");

static __always_inline int tg_port_in(struct tg_arg_filter *f, __u64 port)
{
	int j, found = 0;

	for (j = 0; j < TG_MAX_RANGE_VALUES / 2; j++)
		if (2 * j < f->n && port >= (__u64)f->vals[2 * j] && port <= (__u64)f->vals[2 * j + 1])
			found = 1;
	return found;
}

static __always_inline int match_net(struct tg_arg_filter *f, __u32 fid, struct tg_heap *h, __u32 off)
{
	struct tg_net *n = (struct tg_net *)&h->data[off & (TG_BUF - 1)];
	struct tg_addr_key k = {};
	int found = 0, j, src;
	__u64 v = 0;

	switch (f->op) {
	case TG_OP_SADDR:
	case TG_OP_DADDR:
	case TG_OP_NOTSADDR:
	case TG_OP_NOTDADDR:
		src = f->op == TG_OP_SADDR || f->op == TG_OP_NOTSADDR;
		if (n->family == TG_AF_INET || n->family == TG_AF_INET6) {
			k.filter = fid;
			k.family = n->family == TG_AF_INET ? 4 : 6;
			k.prefixlen = 40 + (n->family == TG_AF_INET ? 32 : 128);
			__builtin_memcpy(k.addr, src ? n->saddr : n->daddr, 16);
			found = bpf_map_lookup_elem(&tg_addr_lpm, &k) != 0;
		}
		return f->op == TG_OP_SADDR || f->op == TG_OP_DADDR ? found : !found;
	case TG_OP_SPORT:
	case TG_OP_NOTSPORT:
		found = tg_port_in(f, n->sport);
		return f->op == TG_OP_SPORT ? found : !found;
	case TG_OP_DPORT:
	case TG_OP_NOTDPORT:
		found = tg_port_in(f, n->dport);
		return f->op == TG_OP_DPORT ? found : !found;
	case TG_OP_SPORTPRIV:
		return n->sport < 1024;
	case TG_OP_NOTSPORTPRIV:
		return n->sport >= 1024;
	case TG_OP_DPORTPRIV:
		return n->dport < 1024;
	case TG_OP_NOTDPORTPRIV:
		return n->dport >= 1024;
	case TG_OP_PROTOCOL:
		v = n->protocol;
		break;
	case TG_OP_FAMILY:
		v = n->family;
		break;
	case TG_OP_STATE:
		v = n->sk.state;
		break;
	default:
		return 0;
	}
	for (j = 0; j < TG_MAX_RANGE_VALUES; j++)
		if (j < f->n && (__u64)f->vals[j] == v)
			found = 1;
	return found;
}

#endif /* TG_STRUCTARGS_H */
