/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The policy hooks' shared layouts: the per-hook configuration the core compiles from a
 * TracingPolicy (arguments, selectors, actions) and the event message every generic hook sends.
 * src/tetragon_core/policy/kernel.py packs exactly these structs; keep the two in step. */
#ifndef TG_GENERIC_H
#define TG_GENERIC_H

#include "process.h"

#define TG_MAX_ARGS 5
#define TG_MAX_SELECTORS 5
#define TG_MAX_VALUES 4
#define TG_MAX_RANGE_VALUES 8 /* 4 min:max pairs */
#define TG_MAX_ACTIONS 3
#define TG_MAX_PID_FILTERS 4
#define TG_MAX_PID_VALUES 8
#define TG_MAX_NS_FILTERS 10
#define TG_MAX_CAP_FILTERS 4
#define TG_STR_MATCH 256 /* bytes of a string that Equal looks at */
#define TG_LPM_MAX 248	 /* ... and Prefix/Postfix (an LPM trie key holds at most 256 bytes) */
#define TG_STR_MAX 4096  /* bytes of a string or buffer argument copied into an event */

/* Argument types: Tetragon's kernel ids (pkg/generictypes). */
#define TG_T_INT 1
#define TG_T_CHAR_BUF 2
#define TG_T_SIZE_T 4
#define TG_T_STRING 6
#define TG_T_S64 10
#define TG_T_U64 11
#define TG_T_S32 12
#define TG_T_U32 13
#define TG_T_FILENAME 14
#define TG_T_FD 17
#define TG_T_SYSCALL64 28
#define TG_T_S16 29
#define TG_T_U16 30
#define TG_T_S8 31
#define TG_T_U8 32
#define TG_T_PATH 15 /* struct path *: its path, encoded as a string */
#define TG_T_FILE 16 /* struct file *: the path of its f_path, encoded as a string */
#define TG_T_DATA_LOC 38
#define TG_T_NOP 99 /* not read and not sent (Tetragon's nop) */
#define TG_T_CHAR_IOVEC 3
#define TG_T_SKB 5
#define TG_T_SOCK 7
#define TG_T_CRED 8
#define TG_T_BPF_ATTR 19
#define TG_T_CAPABILITY 23
#define TG_T_LOAD_INFO 26
#define TG_T_MODULE 27
#define TG_T_KERNEL_CAP_T 33
#define TG_T_CAP_INH 34
#define TG_T_CAP_PRM 35
#define TG_T_CAP_EFF 36
#define TG_T_LINUX_BINPRM 37
#define TG_T_SOCKADDR 40
#define TG_T_SOCKET 41

/* Operators: Tetragon's kernel op ids. */
#define TG_OP_GT 1
#define TG_OP_LT 2
#define TG_OP_EQ 3
#define TG_OP_NEQ 4
#define TG_OP_IN 5
#define TG_OP_NOTIN 6
#define TG_OP_PREFIX 8
#define TG_OP_POSTFIX 9
#define TG_OP_INMAP 10
#define TG_OP_NOTINMAP 11
#define TG_OP_MASK 12
#define TG_OP_NOTPREFIX 26
#define TG_OP_NOTPOSTFIX 27
#define TG_OP_SADDR 13
#define TG_OP_DADDR 14
#define TG_OP_SPORT 15
#define TG_OP_DPORT 16
#define TG_OP_PROTOCOL 17
#define TG_OP_NOTSPORT 18
#define TG_OP_NOTDPORT 19
#define TG_OP_SPORTPRIV 20
#define TG_OP_NOTSPORTPRIV 21
#define TG_OP_DPORTPRIV 22
#define TG_OP_NOTDPORTPRIV 23
#define TG_OP_NOTSADDR 24
#define TG_OP_NOTDADDR 25
#define TG_OP_FAMILY 28
#define TG_OP_STATE 29
#define TG_OP_INRANGE 31
#define TG_OP_NOTINRANGE 32

/* Actions: Tetragon's kernel action ids. */
#define TG_ACT_POST 0
#define TG_ACT_SIGKILL 2
#define TG_ACT_OVERRIDE 4
#define TG_ACT_GETURL 6
#define TG_ACT_DNSLOOKUP 7
#define TG_ACT_NOPOST 8
#define TG_ACT_SIGNAL 9
#define TG_ACT_TRACKSOCK 10
#define TG_ACT_UNTRACKSOCK 11
#define TG_ACT_NOTIFY_ENFORCER 12
#define TG_ACT_SET 14 /* USDT: write argValue to argument argIndex (TG_SET_ARG) */

/* tg_action.arg of Post: the rate limit's scope, and the stacks to take */
#define TG_POST_KSTACK 0x100
#define TG_POST_USTACK 0x200
#define TG_RL_SCOPE_THREAD 0
#define TG_RL_SCOPE_PROCESS 1
#define TG_RL_SCOPE_GLOBAL 2

#define TG_PID_NSPID 0x1
#define TG_PID_FOLLOW_FORKS 0x2

#define TG_CAP_EFFECTIVE 0
#define TG_CAP_INHERITABLE 1
#define TG_CAP_PERMITTED 2

/* tg_hook_cfg.flags */
#define TG_HOOK_RAW 0x1
#define TG_HOOK_SEL_NSCAPS 0x2 /* some selector reads namespaces or capabilities */
#define TG_HOOK_SEL_NSPID 0x4  /* some selector compares namespace pids */
#define TG_HOOK_SEL_PROC 0x8   /* some selector needs the process (binaries, followForks, changes) */
#define TG_HOOK_EARLY_HDR (TG_HOOK_SEL_PROC | TG_HOOK_SEL_NSCAPS) /* selectors fill the header */
#define TG_HOOK_RETURN 0x10 /* a return probe follows: a sent entry marks its thread */
#define TG_HOOK_SOCK_ARGS 0x20 /* sock/socket arguments: a tracked socket's owner is the process */

/* msg_common.flags (Tetragon's) */
#define TG_MSG_PROCESS_NOT_FOUND 0x10
#define TG_MSG_RETURN 0x1 /* the return half of a kprobe/kretprobe pair */
#define TG_MSG_ACTION_FAILED 0x20
#define TG_MSG_RETURN_FILTERED 0x40 /* matchReturnArgs rejected the return: drop the waiting entry */

struct tg_arg_cfg {
	__u32 type;
	__u16 offset;	 /* byte offset in the tracepoint record (raw: 8 x the argument number) */
	__u16 size;	 /* field size in bytes: 1, 2, 4 or 8 */
	__u8 is_signed;
	__u8 size_arg;	 /* char_buf: 1-based position of the argument holding the length, or 0 */
	__u8 user;	 /* 1: pointer into user memory, 0: kernel, 2: decide by address */
	__u8 ret_copy;	 /* char_buf with returnCopy: read at return, not at entry */
};

struct tg_pid_filter {
	__u32 op; /* In / NotIn */
	__u32 flags;
	__u32 n;
	__u32 vals[TG_MAX_PID_VALUES];
};

struct tg_ns_filter {
	__u32 nstype; /* index into struct msg_ns */
	__u32 op;
	__u32 n;
	__u32 vals[TG_MAX_VALUES];
};

struct tg_cap_filter {
	__u32 type;
	__u32 op;
	__u32 host_userns; /* non-zero: only for processes outside this (the host's) user namespace */
	__u32 pad;
	__u64 mask;
};

struct tg_arg_filter {
	__u32 arg; /* position in the hook's args */
	__u32 op;
	__u32 n;   /* inline values */
	__u32 is_str;
	__s64 vals[TG_MAX_RANGE_VALUES];
};

struct tg_action {
	__u32 id;
	__u32 arg;  /* Signal: signal number; Post: rate-limit scope */
	__u64 arg2; /* Post: rate limit in ns (0 = none) */
};

struct tg_selector {
	__u32 npid;
	__u32 nns;
	__u32 ncap;
	__u32 ncapchg;
	__u32 nschg_op;   /* 0 = none, else In / NotIn */
	__u32 nschg_mask; /* bit per struct msg_ns index */
	__u32 nargs;
	__u32 nact;
	__u32 bin_op;	  /* 0 = no matchBinaries */
	__u32 bin_follow; /* followChildren: 1 + the set's bit in execve_map's mbset, 0 = off */
	struct tg_pid_filter pid[TG_MAX_PID_FILTERS];
	struct tg_ns_filter ns[TG_MAX_NS_FILTERS];
	struct tg_cap_filter cap[TG_MAX_CAP_FILTERS];
	struct tg_cap_filter capchg[TG_MAX_CAP_FILTERS];
	struct tg_arg_filter arg[TG_MAX_ARGS];
	struct tg_action act[TG_MAX_ACTIONS];
};

/* The return half (return: true): the value's type, the matchReturnArgs of each selector (the
 * one whose entry matched applies), returnCopy, and returnArgAction. */
#define TG_MAX_RET_FILTERS 2
#define TG_RET_SLOTS 8
#define TG_RET_FID 32 /* filter ids of matchReturnArgs: TG_RET_FID + sel * 2 + j */
#define TG_RET_TRACKSOCK 1
#define TG_RET_UNTRACKSOCK 2
struct tg_ret_cfg {
	__u32 type; /* TG_T_* of the value: an integer, or a kernel object the value points to */
	__u32 is_signed;
	__u32 copy;	 /* returnCopy: 1 + the argument whose buffer is read at return, 0: none */
	__u32 action;	 /* returnArgAction: TG_RET_TRACKSOCK / TG_RET_UNTRACKSOCK, 0: none */
	/* indexed by selector; 8 slots (3 unused) so that a selector index masked to 3 bits is in
	 * bounds: 6.1's verifier loses the tighter bound when clang rematerializes the index */
	__u32 nfilt[TG_RET_SLOTS];
	struct tg_arg_filter filt[TG_RET_SLOTS][TG_MAX_RET_FILTERS];
};

struct tg_hook_cfg {
	__u32 hook_id; /* the core's id for this hook: tells user space how to decode the event */
	__u32 nargs;
	__u32 nsel;
	__u32 flags;
	struct tg_arg_cfg args[TG_MAX_ARGS];
	__u32 sel_args; /* bit per argument some selector looks at: read before the selectors */
	struct tg_selector sel[TG_MAX_SELECTORS];
	struct tg_ret_cfg ret;
};

/* Written separately so that switching enforce/monitor is one atomic word. */
struct tg_hook_mode {
	__u32 monitor;
	__u32 policy_filter; /* --enable-policy-filter: the policy's id in tg_polfilter, 0: none */
};

/* Counters per hook, read by the core into metrics and by the tests. */
struct tg_hook_stats {
	__u64 calls;	     /* program runs */
	__u64 filtered;	     /* rejected by every selector: never left the kernel */
	__u64 posted;	     /* events sent */
	__u64 rate_limited;  /* Post suppressed by rateLimit */
	__u64 no_post;	     /* matched with NoPost */
	__u64 signals;	     /* Sigkill/Signal performed */
	__u64 monitor_skips; /* enforcement counted but not performed (policy-mode monitor) */
	__u64 action_failed; /* bpf_send_signal failed */
	__u64 no_process;    /* current process unknown to execve_map */
	__u64 output_failed; /* ring buffer full */
	__u64 overrides;     /* Override performed: the hook returned argError */
	__u64 sets;	     /* Set performed: an argument written (USDT) */
	__u64 policy_filtered; /* the process's cgroup is not one the policy applies to */
};

/* 144-byte header, as Tetragon's msg_generic_kprobe; argument bytes follow. */
struct msg_generic_hdr {
	struct msg_common common;
	struct msg_execve_key current;
	struct msg_ns ns;
	struct msg_capabilities caps;
	__u64 func_id;
	__u64 retprobe_id;
	__u64 action;
	__u32 action_arg_id;
	__u32 tid;
	__s64 kernel_stack_id;
	__s64 user_stack_id;
};

/* String maps. The first 4 key bytes name the filter (selector * TG_MAX_ARGS + filter). Equal
 * strings live in four maps by size (keys of 32, 64, 128 and 256 string bytes), so that a short
 * string hashes a short key. */
#define TG_EQ_BUCKETS 4
struct tg_str_key {
	__u32 filter;
	__u32 len;
	char s[TG_STR_MATCH];
};

struct tg_str_key32 {
	__u32 filter;
	__u32 len;
	char s[32];
};

struct tg_str_key64 {
	__u32 filter;
	__u32 len;
	char s[64];
};

struct tg_str_key128 {
	__u32 filter;
	__u32 len;
	char s[128];
};

/* Equal/NotEqual with at most TG_SHORT_VALS values, each shorter than TG_SHORT_STR bytes (the
 * common case: a few paths or names): the values themselves, zero-padded to four words, in an
 * array indexed by filter. Comparing them costs less than hashing a key for a map lookup. */
#define TG_SHORT_STR 32
#define TG_SHORT_VALS 8
#define TG_STR_INLINE 2 /* tg_arg_filter.is_str: the values are in tg_str_short */
#define TG_ARG_NET 3	 /* tg_arg_filter.is_str: a network operator on a tg_net (structargs.h) */
struct tg_str_short {
	__u32 n;
	__u32 pad;
	__u8 len[TG_SHORT_VALS];
	__u64 w[TG_SHORT_VALS][4];
};

/* Prefix/Postfix of arguments and of binaries (filter = selector for binaries); Postfix keys
 * hold the string reversed. */
struct tg_lpm_key {
	__u32 prefixlen;
	__u32 filter;
	char s[TG_LPM_MAX];
};

struct tg_int_key {
	__u32 filter;
	__u32 pad;
	__u64 v;
};

/* matchBinaries In/NotIn */
struct tg_bin_key {
	__u32 sel;
	__u32 pad;
	char path[BINARY_PATH_MAX];
};

struct tg_rl_key {
	__u32 sel;
	__u32 scope;
	__u64 hash;
};

#endif
