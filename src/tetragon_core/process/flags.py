"""Process flag bits (``bpf/lib/process.h``) and Tetragon's ``Process.flags`` string.

The kernel side ORs these bits into every exec (and clone) message; user space prints the known ones
as a space-separated list in a fixed order. ``NEEDS_CWD`` is internal and never printed.
"""

from __future__ import annotations

from typing import Final

from tetragon_core.metrics import Registry

__all__ = [
    "CLONE",
    "COMMON_FLAG_CLONE",
    "DATA_ARGS",
    "DATA_FILENAME",
    "ENVS_DATA",
    "ERROR_ARGS",
    "ERROR_CGROUPS",
    "ERROR_CGROUP_ID",
    "ERROR_CGROUP_KN",
    "ERROR_CGROUP_NAME",
    "ERROR_CGROUP_SUBSYS",
    "ERROR_CGROUP_SUBSYS_CGRP",
    "ERROR_CWD",
    "ERROR_ENVS",
    "ERROR_FILENAME",
    "ERROR_PATH_COMPONENTS",
    "EXECVE",
    "FLAG_ORDER",
    "IN_INIT_TREE",
    "MISS",
    "NEEDS_CWD",
    "NO_CWD_SUPPORT",
    "PROCFS",
    "ROOT_CWD",
    "TRUNC_ARGS",
    "FlagCounts",
    "decode_flags",
]

EXECVE: Final = 0x01
ENVS_DATA: Final = 0x02
PROCFS: Final = 0x04
ERROR_ENVS: Final = 0x08
TRUNC_ARGS: Final = 0x10
MISS: Final = 0x40
ERROR_FILENAME: Final = 0x100
ERROR_ARGS: Final = 0x200
NEEDS_CWD: Final = 0x400
NO_CWD_SUPPORT: Final = 0x800
ROOT_CWD: Final = 0x1000
ERROR_CWD: Final = 0x2000
CLONE: Final = 0x4000
ERROR_CGROUP_NAME: Final = 0x010000
ERROR_CGROUP_KN: Final = 0x020000
ERROR_CGROUP_SUBSYS_CGRP: Final = 0x040000
ERROR_CGROUP_SUBSYS: Final = 0x080000
ERROR_CGROUPS: Final = 0x100000
ERROR_CGROUP_ID: Final = 0x200000
ERROR_PATH_COMPONENTS: Final = 0x400000
DATA_FILENAME: Final = 0x800000
DATA_ARGS: Final = 0x1000000
IN_INIT_TREE: Final = 0x2000000

# A clone message carries EVENT_COMMON_FLAG_CLONE, which is the EXECVE bit: that is why a process
# that forked but never exec'd shows flags "execve" upstream.
COMMON_FLAG_CLONE: Final = 0x01

FLAG_ORDER: Final[tuple[tuple[int, str], ...]] = (
    (EXECVE, "execve"),
    (PROCFS, "procFS"),
    (ERROR_ENVS, "errorEnvs"),
    (TRUNC_ARGS, "truncArgs"),
    (MISS, "miss"),
    (ERROR_FILENAME, "errorFilename"),
    (ERROR_ARGS, "errorArgs"),
    (NO_CWD_SUPPORT, "nocwd"),
    (ROOT_CWD, "rootcwd"),
    (ERROR_CWD, "errorCWD"),
    (CLONE, "clone"),
    (ERROR_CGROUP_NAME, "errorCgroupName"),
    (ERROR_CGROUP_ID, "errorCgroupID"),
    (ERROR_CGROUP_SUBSYS_CGRP, "errorCgroupSubsysCgrp"),
    (ERROR_CGROUP_SUBSYS, "errorCgroupSubsys"),
    (ERROR_CGROUPS, "errorCgroups"),
    (ERROR_PATH_COMPONENTS, "errorPathResolutionCwd"),
    (DATA_FILENAME, "dataFilename"),
    (DATA_ARGS, "dataArgs"),
    (IN_INIT_TREE, "inInitTree"),
)

_PRINTED_MASK: Final = sum(bit for bit, _ in FLAG_ORDER)
# Only printed bits form the key, so at most a few thousand distinct strings ever exist in practice;
# the bound only guards against a kernel sending garbage.
_MEMO_LIMIT: Final = 4096
_memo: dict[int, str] = {}


def decode_flags(flags: int) -> str:
    """Tetragon's flags string for a process flags bitmask (memoized per value)."""
    key = flags & _PRINTED_MASK
    s = _memo.get(key)
    if s is None:
        s = " ".join(name for bit, name in FLAG_ORDER if key & bit)
        if len(_memo) < _MEMO_LIMIT:
            _memo[key] = s
    return s


class FlagCounts:
    """``tetragon_flags_total{type}``: how many exec events carried each flag, as upstream counts
    them. The hot path counts whole bitmasks (one dict slot per exec); a scrape splits them."""

    def __init__(self, registry: Registry) -> None:
        self._by_mask: dict[int, int] = {}
        registry.counter(
            "tetragon_flags_total",
            "The total number of Tetragon flags. For internal use only.",
            ("type",),
            collect=self._collect,
        )

    def count(self, flags: int) -> None:
        """Count one exec event's flags."""
        key = flags & _PRINTED_MASK
        self._by_mask[key] = self._by_mask.get(key, 0) + 1

    def _collect(self) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for mask, n in list(self._by_mask.items()):
            for bit, name in FLAG_ORDER:
                if mask & bit:
                    out[(name,)] = out.get((name,), 0.0) + n
        return out
