// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Feature probes: one tiny program per kind of hook. src/tetragon_core/probes.py loads each on its
 * own (and attaches the kprobe kinds for a moment) to learn whether this kernel runs it. The
 * target is a function every kernel with BTF has; the programs do nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe/security_file_permission")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe/security_file_permission")
int probe_kretprobe(void *ctx)
{
	return 0;
}

SEC("kprobe.multi/security_file_permission")
int probe_kprobe_multi(void *ctx)
{
	return 0;
}

SEC("fentry/security_file_permission")
int probe_fentry(void *ctx)
{
	return 0;
}

SEC("fexit/security_file_permission")
int probe_fexit(void *ctx)
{
	return 0;
}

SEC("fmod_ret/security_file_permission")
int probe_fmod_ret(void *ctx)
{
	return 0;
}

SEC("lsm/file_permission")
int probe_lsm(void *ctx)
{
	return 0;
}

/* bpf_probe_write_user (the USDT Set action): lockdown removes it from every program type */
SEC("uprobe")
int probe_write_user(void *ctx)
{
	char b = 0;

	bpf_probe_write_user((void *)4096, &b, 1);
	return 0;
}
