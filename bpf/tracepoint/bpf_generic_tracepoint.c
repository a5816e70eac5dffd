// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generic tracepoint sensor: one instance of this object per policy hook. The core writes
 * the hook's arguments and compiled selectors into its .rodata.hook section before loading; the
 * program reads the arguments, evaluates the selectors and runs the actions here, so an event
 * that no selector accepts never leaves the kernel.
 *
 *   generic_tracepoint: classic tracepoints; arguments are fields of the trace record
 *   generic_rawtp:      raw tracepoints; arguments are the tracepoint's u64 arguments
 */
#define TG_PATH_ARGS /* raw tracepoints: file, path and kernel-object arguments */
#include "generic_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* generic_tracepoint / generic_rawtp read every argument with probe_read; the _N variants load
 * the first N bytes of their context directly (see ctx_u64). */
#define TG_TP(name, n)                                                                                  \
	SEC("tracepoint")                                                                               \
	int name(void *ctx)                                                                             \
	{                                                                                               \
		return generic_run(ctx, MSG_OP_GENERIC_TRACEPOINT, 0, n);                               \
	}
#define TG_RAW(name, n)                                                                                 \
	SEC("raw_tp")                                                                                   \
	int name(void *ctx)                                                                             \
	{                                                                                               \
		return generic_run(ctx, MSG_OP_GENERIC_TRACEPOINT, 1, n);                               \
	}

TG_TP(generic_tracepoint, 0)
TG_TP(generic_tp_16, 16)
TG_TP(generic_tp_24, 24)
TG_TP(generic_tp_32, 32)
TG_TP(generic_tp_40, 40)
TG_TP(generic_tp_48, 48)
TG_TP(generic_tp_56, 56)
TG_TP(generic_tp_64, 64)
TG_RAW(generic_rawtp, 0)
TG_RAW(generic_raw_8, 8)
TG_RAW(generic_raw_16, 16)
TG_RAW(generic_raw_24, 24)
TG_RAW(generic_raw_32, 32)
TG_RAW(generic_raw_40, 40)
TG_RAW(generic_raw_48, 48)
