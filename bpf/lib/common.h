/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by every tetragon-core BPF object: the message header, op codes, and the one ring
 * buffer the core owns. Each object declares tg_rb_events/tg_conf_map/tg_stats_map with the same
 * names; the core makes every object reuse its own instances before load. */
#ifndef TG_COMMON_H
#define TG_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Op codes: Tetragon's numbers (bpf/lib/msg_types.h); they appear in metric labels. */
#define MSG_OP_EXECVE 5
#define MSG_OP_EXIT 7
#define MSG_OP_GENERIC_KPROBE 13
#define MSG_OP_GENERIC_TRACEPOINT 14
#define MSG_OP_GENERIC_UPROBE 15
#define MSG_OP_GENERIC_LSM 16
#define MSG_OP_CLONE 23
#define MSG_OP_DATA 24
#define MSG_OP_LOADER 26
#define MSG_OP_THROTTLE 27
#define MSG_OP_GENERIC_USDT 28
#define MSG_OP_TEST 254

struct msg_common {
	__u8 op;
	__u8 flags;
	__u8 pad[2];
	__u32 size;
	__u64 ktime;
};

/* Runtime configuration written by the core (index 0). */
struct tg_conf {
	__u64 wakeup_bytes; /* force a reader wakeup once this much data is waiting; 0 = never */
	__u32 agent_pid;
	__u32 pad;
};

/* Output failures per op code and error class, read into tetragon_bpf_missed_events_total. */
#define TG_ERR_UNKNOWN 0
#define TG_ERR_ENOENT 1
#define TG_ERR_E2BIG 2
#define TG_ERR_EBUSY 3
#define TG_ERR_EINVAL 4
#define TG_ERR_ENOSPC 5
#define TG_ERR_EAGAIN 6
#define TG_ERR_MAX 7

struct tg_stats {
	__u64 sent_failed[256][TG_ERR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tg_rb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_conf);
} tg_conf_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_stats);
} tg_stats_map SEC(".maps");

/* Mask a value in a way the compiler cannot optimise away, so the verifier sees the bound at the
 * helper call that uses it. */
#define tg_mask(v, m) ({ __u64 __v = (v); asm volatile("%0 &= " #m : "+r"(__v)); __v; })

static __always_inline __u64 tg_get_ktime(void)
{
	return bpf_ktime_get_boot_ns();
}

static __always_inline void tg_count_failure(__u8 op, long err)
{
	__u32 zero = 0;
	struct tg_stats *st = bpf_map_lookup_elem(&tg_stats_map, &zero);
	int idx = TG_ERR_UNKNOWN;

	if (!st)
		return;
	switch (-err) {
	case 2: idx = TG_ERR_ENOENT; break;
	case 7: idx = TG_ERR_E2BIG; break;
	case 16: idx = TG_ERR_EBUSY; break;
	case 22: idx = TG_ERR_EINVAL; break;
	case 28: idx = TG_ERR_ENOSPC; break;
	case 11: idx = TG_ERR_EAGAIN; break;
	}
	__sync_fetch_and_add(&st->sent_failed[op][idx], 1);
}

/* Copy one message into the shared ring. Wakeups are batched: the reader polls every few ms and
 * is only woken early past the fill watermark, because a wakeup per event costs the producing
 * syscall ~2.5 us. */
static __always_inline long tg_output(void *data, __u64 size)
{
	__u32 zero = 0;
	__u64 flags = BPF_RB_NO_WAKEUP;
	struct tg_conf *conf = bpf_map_lookup_elem(&tg_conf_map, &zero);
	long err;

	if (conf && conf->wakeup_bytes &&
	    bpf_ringbuf_query(&tg_rb_events, BPF_RB_AVAIL_DATA) >= conf->wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	err = bpf_ringbuf_output(&tg_rb_events, data, size, flags);
	if (err)
		tg_count_failure(((struct msg_common *)data)->op, err);
	return err;
}

#endif
