/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The BPF side of tetragon-core's sensor SDK: what a plugin's object includes.
 *
 *   #include "vmlinux.h"      generated from the build machine's BTF by the build backend
 *   #include "tg_sdk.h"
 *
 * The stable ABI (TG_SDK_ABI) is:
 *   - struct msg_common: the first 16 bytes of every ring record. op selects the decoder in user
 *     space; size is the record's length in bytes; ktime is bpf_ktime_get_boot_ns() of the event.
 *     flags and pad are 0 unless the op's own layout says otherwise.
 *   - plugin op codes are TG_OP_PLUGIN_MIN..TG_OP_PLUGIN_MAX; every other value belongs to the
 *     core and its built-in sensors (Tetragon's numbers).
 *   - tg_output(record, size): writes a record into the core's one ring buffer (tg_rb_events),
 *     shared by every object; a failure is counted per op and error in
 *     tetragon_bpf_missed_events_total. Records are at most TG_RECORD_MAX bytes.
 *   - struct msg_execve_key {pid, ktime}: a process image as user space names it (its exec_id).
 *     tg_process_key(tgid, &key) fills it from execve_map (owned by the execve sensor, shared by
 *     name), so the decoder can hand the core an ExecKey and the event gets process and parent
 *     from the process cache.
 * Everything else in these headers is internal to the built-in sensors and may change.
 */
#ifndef TG_SDK_H
#define TG_SDK_H

#include "common.h"
#include "process.h"

#define TG_SDK_ABI 1
#define TG_OP_PLUGIN_MIN 100
#define TG_OP_PLUGIN_MAX 199
#define TG_RECORD_MAX 32768

/* Fill *key with the process image of thread group tgid; 0, or -1 if execve_map has no entry
 * (a process that exec'd before the agent and was not seen by the procfs walk). */
static __always_inline int tg_process_key(__u32 tgid, struct msg_execve_key *key)
{
	struct execve_map_value *v = bpf_map_lookup_elem(&execve_map, &tgid);

	if (!v) {
		key->pid = tgid;
		key->ktime = 0;
		return -1;
	}
	key->pid = v->key.pid;
	key->ktime = v->key.ktime;
	return 0;
}

/* Fill the common header of a record of op code op and size bytes. */
static __always_inline void tg_record_header(struct msg_common *c, __u8 op, __u32 size)
{
	c->op = op;
	c->flags = 0;
	c->pad[0] = 0;
	c->pad[1] = 0;
	c->size = size;
	c->ktime = tg_get_ktime();
}

#endif
