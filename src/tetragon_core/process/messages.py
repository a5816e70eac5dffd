"""Decoded kernel messages that feed the process cache.

Sensor plugins decode raw ring-buffer records into these Structs; the process manager turns them
into exported events. The same types are synthesised from procfs at start-up, so the cache has one
input format whatever the source.
"""

from __future__ import annotations

import msgspec

# Tetragon's op codes (bpf/lib/msg_types.h); they appear in metric labels, so they are kept.
MSG_OP_EXECVE = 5
MSG_OP_EXIT = 7
MSG_OP_GENERIC_KPROBE = 13
MSG_OP_GENERIC_TRACEPOINT = 14
MSG_OP_GENERIC_UPROBE = 15
MSG_OP_GENERIC_LSM = 16
MSG_OP_CLONE = 23
MSG_OP_DATA = 24
MSG_OP_CGROUP = 25
MSG_OP_LOADER = 26
MSG_OP_THROTTLE = 27
MSG_OP_GENERIC_USDT = 28
MSG_OP_TEST = 254

OP_NAMES: dict[int, str] = {
    0: "Undef",
    MSG_OP_EXECVE: "Execve",
    MSG_OP_EXIT: "Exit",
    MSG_OP_GENERIC_KPROBE: "GenericKprobe",
    MSG_OP_GENERIC_TRACEPOINT: "GenericTracepoint",
    MSG_OP_GENERIC_UPROBE: "GenericUprobe",
    MSG_OP_GENERIC_LSM: "GenericLSM",
    MSG_OP_CLONE: "Clone",
    MSG_OP_DATA: "Data",
    MSG_OP_CGROUP: "Cgroup",
    MSG_OP_LOADER: "Loader",
    MSG_OP_THROTTLE: "Throttle",
    MSG_OP_GENERIC_USDT: "GenericUSDT",
    MSG_OP_TEST: "Test",
}


class ExecKey(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A process image's identity: thread-group id plus its exec (or clone) ktime in ns."""

    pid: int
    ktime: int


class Creds(msgspec.Struct, array_like=True, gc=False):
    uid: int
    gid: int
    suid: int
    sgid: int
    euid: int
    egid: int
    fsuid: int
    fsgid: int
    securebits: int
    cap_permitted: int
    cap_effective: int
    cap_inheritable: int
    userns_level: int
    userns_uid: int
    userns_gid: int
    userns_inum: int


class ExecMessage(msgspec.Struct, gc=False):
    """One process image: from an exec in the kernel, or from the procfs walk at start-up.

    ``args`` excludes argv[0]. ``cwd`` is already decided ("/" for rootcwd). ``filename`` is the
    path as the kernel saw it (possibly relative); the manager makes it absolute.
    """

    ktime: int
    pid: int
    tid: int
    nspid: int
    flags: int
    parent: ExecKey
    parent_flags: int
    cleanup_key: ExecKey | None
    filename: str
    args: list[str]
    cwd: str
    auid: int
    creds: Creds
    ns: tuple[int, ...]  # uts, ipc, mnt, pid, pid_for_children, net, time, time_for_children, cgroup, user
    cgroup_id: int = 0
    cgroup_name: str = ""
    secureexec: int = 0
    ino: int = 0
    nlink: int = 0


class CloneMessage(msgspec.Struct, gc=False):
    """A new thread group forked from a known parent; it updates the cache, it is not exported."""

    ktime: int
    parent: ExecKey
    pid: int
    tid: int
    nspid: int
    flags: int


class ExitMessage(msgspec.Struct, gc=False):
    """The last thread of a group exited: ``code`` is the kernel's exit_code."""

    ktime: int
    key: ExecKey
    code: int
    tid: int


class ThrottleMessage(msgspec.Struct, gc=False):
    """--cgroup-rate: the kernel throttled cgroup ``cgrpid`` (kernfs name ``name``) at ``ktime``."""

    ktime: int
    cgrpid: int
    name: str


class ProcfsSnapshot(msgspec.Struct):
    """The processes found in procfs at start-up, parents first; exported as procFS execs."""

    messages: list[ExecMessage]
