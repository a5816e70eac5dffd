// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* generic_usdt_set: the USDT program with the Set action (bpf_probe_write_user), an object of its
 * own so that the read-only one loads where kernel lockdown refuses that helper. */
#define TG_USDT_SET
#include "bpf_generic_usdt.c"
