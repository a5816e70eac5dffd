// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic LSM sensor: one instance of this object per policy hook, on the selector engine of
 * generic_run.h. The section's hook (file_open) is a placeholder: the core names the real one
 * (bpf_program__set_attach_target) before loading. The program's return value is the LSM
 * decision: 0, or the argError of a matching Override action, which blocks the operation.
 *
 * The arguments are the hook's u64 context slots; generic_lsm_N loads the first N bytes of them
 * directly (a BTF context may only be read within the hook's parameters), generic_lsm with
 * probe_read. Events carry MSG_OP_GENERIC_LSM.
 */
#define TG_PATH_ARGS /* file and path arguments */
#include "generic_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TG_LSM(name, n)                                                                                 \
	SEC("lsm/file_open")                                                                            \
	int name(void *ctx)                                                                             \
	{                                                                                               \
		return generic_run(ctx, MSG_OP_GENERIC_LSM, 1, n);                                      \
	}

TG_LSM(generic_lsm, 0)
TG_LSM(generic_lsm_8, 8)
TG_LSM(generic_lsm_16, 16)
TG_LSM(generic_lsm_24, 24)
TG_LSM(generic_lsm_32, 32)
TG_LSM(generic_lsm_40, 40)
TG_LSM(generic_lsm_48, 48)
