"""Namespace inode numbers: reading them from procfs and turning them into ``events.Namespaces``."""

from __future__ import annotations

import os
from typing import Final

from tetragon_core.events import Namespace, Namespaces

__all__ = [
    "NS_NAMES",
    "NamespaceResolver",
    "read_host_namespaces",
    "read_ns_inodes",
]

# The order of ExecMessage.ns and of the kernel's msg_ns.
NS_NAMES: Final[tuple[str, ...]] = (
    "uts",
    "ipc",
    "mnt",
    "pid",
    "pid_for_children",
    "net",
    "time",
    "time_for_children",
    "cgroup",
    "user",
)
_MNT: Final = 2
_TIME: Final = 6
_TIME_FOR_CHILDREN: Final = 7
_USER: Final = 9
_MEMO_LIMIT: Final = 4096


def read_ns_inodes(proc_dir: str) -> tuple[int, ...]:
    """The ten namespace inode numbers of the process at ``proc_dir`` (``/proc/<pid>``), 0 if unreadable."""
    out: list[int] = []
    for name in NS_NAMES:
        try:
            out.append(os.stat(f"{proc_dir}/ns/{name}").st_ino)
        except OSError:
            out.append(0)
    return tuple(out)


def read_host_namespaces(procfs: str = "/proc") -> tuple[int, ...] | None:
    """The namespace inodes of pid 1, or None when any of them (time ones aside) cannot be read.

    A kernel without time namespaces reports 0 for both time entries.
    """
    inodes = read_ns_inodes(f"{procfs}/1")
    for i, ino in enumerate(inodes):
        if ino == 0 and i not in (_TIME, _TIME_FOR_CHILDREN):
            return _fallback_host(procfs) if not any(inodes) else None
    return inodes


def _fallback_host(procfs: str) -> tuple[int, ...]:
    # mnt and net have no fixed initial inode; the agent runs in the host's, so take its own.
    own = read_ns_inodes(f"{procfs}/self")
    return tuple(own[i] if i in (_MNT, _NET) else ino for i, ino in enumerate(_INIT_INODES))


# The initial namespaces' fixed inode numbers (include/linux/proc_ns.h), used when pid 1 cannot be
# inspected (a sandbox hides /proc/1/ns).
_NET: Final = 5
_INIT_INODES = (
    0xEFFFFFFE,  # uts
    0xEFFFFFFF,  # ipc
    0,  # mnt
    0xEFFFFFFC,  # pid
    0xEFFFFFFC,  # pid_for_children
    0,  # net
    0xEFFFFFFA,  # time
    0xEFFFFFFA,  # time_for_children
    0xEFFFFFFB,  # cgroup
    0xEFFFFFFD,  # user
)


class NamespaceResolver:
    """Builds the ``Namespaces`` of a process, with ``is_host`` judged against pid 1's namespaces.

    Results are memoized per inode tuple (and shared between processes): treat them as read-only.
    """

    __slots__ = ("_host", "_memo")

    def __init__(self, host: tuple[int, ...] | None) -> None:
        """``host`` is pid 1's ten inodes (see :func:`read_host_namespaces`); None if unknown."""
        self._host = host
        self._memo: dict[tuple[int, ...], Namespaces | None] = {}

    @property
    def host(self) -> tuple[int, ...] | None:
        """pid 1's namespace inodes, if known."""
        return self._host

    def namespaces(self, ns: tuple[int, ...]) -> Namespaces | None:
        """The ``Namespaces`` for a process's inode tuple (is_host false when the host's are unknown)."""
        try:
            return self._memo[ns]
        except KeyError:
            pass
        built = self._build(ns)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[ns] = built
        return built

    def _build(self, ns: tuple[int, ...]) -> Namespaces | None:
        if len(ns) != len(NS_NAMES):
            return None
        # When pid 1's namespaces cannot be read (a sandbox hides them), the inodes are still
        # reported; only is_host stays false, since nothing can be judged the host's.
        host = self._host or (0,) * len(NS_NAMES)
        items = []
        for i, ino in enumerate(ns):
            host_ino = host[i]
            # With no time namespaces on the host, nothing can be "in the host's" one.
            items.append(Namespace(inum=ino, is_host=host_ino == ino and host_ino != 0))
        time_ns: Namespace | None = items[_TIME]
        time_children: Namespace | None = items[_TIME_FOR_CHILDREN]
        if ns[_TIME] == 0:
            time_ns = time_children = None
        return Namespaces(
            uts=items[0],
            ipc=items[1],
            mnt=items[_MNT],
            pid=items[3],
            pid_for_children=items[4],
            net=items[5],
            time=time_ns,
            time_for_children=time_children,
            cgroup=items[8],
            user=items[_USER],
        )

    def in_host_mnt_user(self, ns: tuple[int, ...]) -> bool | None:
        """Whether the process shares the host's mount and user namespaces; None if unknown."""
        host = self._host
        if host is None or len(ns) != len(NS_NAMES):
            return None
        return ns[_MNT] == host[_MNT] and ns[_USER] == host[_USER]
