/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* --cgroup-rate: exec and clone events counted per cgroup, per CPU, with Tetragon's two-window
 * estimate (bpf/process/bpf_rate.h upstream). The options are written by user space; an interval
 * of 0 turns the rate off. Once a cgroup's estimate reaches the limit on a CPU, that CPU drops
 * its exec and clone events (counted) until user space clears the mark (src/tetragon_core/
 * cgrouprate.py); the first event over the limit sends one MSG_OP_THROTTLE record. */
#ifndef TG_RATE_H
#define TG_RATE_H

#include "common.h"

#define MSG_OP_THROTTLE 27
#define CGROUP_RATE_NAME_MAX 128

struct cgroup_rate_value {
	__u64 curr;	 /* events in the current window */
	__u64 prev;	 /* events in the window before */
	__u64 time;	 /* the current window's start (ns, a multiple of the interval) */
	__u64 rate;	 /* the last estimate */
	__u64 throttled; /* when it was throttled (ns), 0 while not */
};

struct cgroup_rate_options {
	__u64 events;
	__u64 interval; /* ns; 0: the rate is off */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1); /* the agent sizes it when the rate is on */
	__type(key, __u64);	/* the cgroup id */
	__type(value, struct cgroup_rate_value);
} cgroup_rate_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_rate_options);
} cgroup_rate_options_map SEC(".maps");

/* Events dropped while throttled, by kind (tetragon_cgroup_rate_events_dropped_total). */
#define RATE_DROP_EXEC 0
#define RATE_DROP_CLONE 1
#define RATE_DROP_MAX 2

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RATE_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cgroup_rate_drops SEC(".maps");

/* 152 bytes: the header, the cgroup id and its kernfs name. */
struct msg_throttle {
	struct msg_common common;
	__u64 cgrpid;
	char name[CGROUP_RATE_NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct msg_throttle);
} throttle_heap_map SEC(".maps");

static __always_inline void cgroup_rate_send(__u64 cgrpid, const char *name, __u64 time)
{
	__u32 zero = 0;
	struct msg_throttle *msg = bpf_map_lookup_elem(&throttle_heap_map, &zero);

	if (!msg)
		return;
	msg->common.op = MSG_OP_THROTTLE;
	msg->common.flags = 0;
	msg->common.size = sizeof(*msg);
	msg->common.ktime = time;
	msg->cgrpid = cgrpid;
	if (bpf_probe_read_kernel_str(msg->name, sizeof(msg->name), name) < 0)
		msg->name[0] = 0;
	tg_output(msg, sizeof(*msg));
}

/* May this event of cgroup ``cgrpid`` (kernfs name ``name``) at ``time`` go out? Counts it;
 * false (and the drop counted under ``kind``) while the cgroup is throttled on this CPU. */
static __always_inline bool cgroup_rate(__u64 cgrpid, const char *name, __u64 time, __u32 kind)
{
	struct cgroup_rate_options *opt;
	struct cgroup_rate_value *val;
	__u64 interval, delta, slide, *drops;
	__u32 zero = 0;

	opt = bpf_map_lookup_elem(&cgroup_rate_options_map, &zero);
	if (!opt)
		return true;
	interval = opt->interval;
	if (!interval)
		return true;

	val = bpf_map_lookup_elem(&cgroup_rate_map, &cgrpid);
	if (!val) {
		struct cgroup_rate_value fresh = {
			.time = (time / interval) * interval,
			.curr = 1,
		};

		bpf_map_update_elem(&cgroup_rate_map, &cgrpid, &fresh, BPF_ANY);
		return true;
	}

	/* two windows: the current (curr events since val->time) and the one before (prev) */
	delta = time - val->time;
	if (delta > interval) {
		if (delta > 2 * interval) {
			val->prev = 0;
			val->time = (time / interval) * interval;
		} else {
			val->prev = val->curr;
			val->time += interval;
		}
		val->curr = 0;
	}
	val->curr++;

	/* the estimate over a sliding interval: the part of the previous window it still covers,
	 * pro rata, plus the current window */
	slide = interval - (time - val->time);
	val->rate = (slide * val->prev) / interval + val->curr;

	if (!val->throttled && val->rate >= opt->events) {
		val->throttled = time;
		cgroup_rate_send(cgrpid, name, time);
	}
	if (!val->throttled)
		return true;
	drops = bpf_map_lookup_elem(&cgroup_rate_drops, &kind);
	if (drops)
		__sync_fetch_and_add(drops, 1);
	return false;
}

#endif
