"""The start-up procfs scan: every running process as a synthetic exec message.

Processes already running when the agent starts are read from ``/proc/<pid>`` and fed to the
process manager as exec messages flagged ``procFS`` (upstream exports them as process_exec events);
the same data seeds the kernel's ``execve_map`` (:func:`execve_map_entries`). Processes that vanish
mid-scan are skipped. A few upstream details are reproduced because they show in the output: kernel
threads (empty cmdline) get binary ``[comm]``; argument/cwd truncation to upstream's message buffer
sets ``truncArgs``/``nocwd``; ``nspid`` is 0 outside containers.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Final, NamedTuple

from tetragon_core.process.args import docker_id
from tetragon_core.process.flags import ERROR_CWD, IN_INIT_TREE, NO_CWD_SUPPORT, PROCFS, ROOT_CWD, TRUNC_ARGS
from tetragon_core.process.messages import Creds, ExecKey, ExecMessage
from tetragon_core.process.namespaces import NS_NAMES, read_ns_inodes

__all__ = ["ExecveMapEntry", "execve_map_entries", "is_kernel_thread", "walk_procfs"]

_INVALID_ID: Final = 4294967295
_KERNEL_KEY: Final = ExecKey(0, 1)
_NO_NS: Final = (0,) * len(NS_NAMES)
# Upstream's message budget for a process and its parent (MSG_SIZEOF_BUFFER = args 1024 + cwd 256
# + 2 x execve head 64 + maxarg 100); each side is charged head + args + a cwd slot.
_BUFFER: Final = 1024 + 256 + 2 * 64 + 100
_HEAD: Final = 64
_CWD_SLOT: Final = 256


class ExecveMapEntry(NamedTuple):
    """One ``execve_map`` row for the kernel side: key pid → this value."""

    pid: int
    ktime: int
    parent_pid: int
    parent_ktime: int
    flags: int  # IN_INIT_TREE or 0
    nspid: int
    cap_permitted: int
    cap_effective: int
    cap_inheritable: int
    ns: tuple[int, ...]
    binary: str


@dataclass(slots=True)
class _Proc:
    pid: int
    ppid: int
    ktime: int
    comm: str
    cmdline: bytes
    exe: str | None
    cwd: str | None
    uids: tuple[int, int, int, int]
    gids: tuple[int, int, int, int]
    auid: int
    nspid: int
    caps: tuple[int, int, int]  # permitted, effective, inheritable
    ns: tuple[int, ...]
    cgroup_name: str

    @property
    def kernel_thread(self) -> bool:
        return not self.cmdline

    def raw_args(self) -> bytes:
        """argv NUL-separated with argv[0] replaced by the exe path (upstream's PrependPath)."""
        if self.kernel_thread:
            return (self.exe if self.exe is not None else self.comm).encode()
        argv0, sep, rest = self.cmdline.partition(b"\0")
        exe = self.exe if self.exe is not None else argv0.decode("utf-8", "replace")
        return exe.encode() + sep + rest


def walk_procfs(procfs: str = "/proc") -> list[ExecMessage]:
    """Every process under ``procfs`` as an exec message, parents before children."""
    tick_ns = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)
    procs: dict[int, _Proc] = {}
    with os.scandir(procfs) as it:
        names = [e.name for e in it if e.name.isdigit()]
    for name in names:
        p = _read_proc(f"{procfs}/{name}", int(name), tick_ns)
        if p is not None:
            procs[p.pid] = p
    return [_to_message(p, procs) for p in _parents_first(procs)]


def is_kernel_thread(msg: ExecMessage) -> bool:
    """Whether a procfs exec message describes a kernel thread (cached, but not exported)."""
    name = msg.filename
    return bool(msg.flags & PROCFS and name[:1] == "[" and name[-1:] == "]" and not msg.args and not msg.cwd)


def execve_map_entries(msgs: list[ExecMessage]) -> list[ExecveMapEntry]:
    """The ``execve_map`` rows for a procfs scan (parents first), plus the pid 0 ``<kernel>`` row.

    A process is in its container's init tree when its nspid is 1 or its parent is in one.
    """
    out = [ExecveMapEntry(0, 1, 0, 1, 0, 0, 0, 0, 0, _NO_NS, "")]
    in_init: set[int] = set()
    for m in msgs:
        flags = 0
        if m.nspid == 1 or m.parent.pid in in_init:
            flags = IN_INIT_TREE
            in_init.add(m.pid)
        binary = m.filename[1:-1] if is_kernel_thread(m) else m.filename
        c = m.creds
        out.append(
            ExecveMapEntry(
                m.pid,
                m.ktime,
                m.parent.pid,
                m.parent.ktime,
                flags,
                m.nspid,
                c.cap_permitted,
                c.cap_effective,
                c.cap_inheritable,
                m.ns,
                binary,
            )
        )
    return out


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _read_proc(d: str, pid: int, tick_ns: int) -> _Proc | None:
    try:
        cmdline = _read(f"{d}/cmdline")
        comm = _read(f"{d}/comm").decode("utf-8", "replace").rstrip("\n")
        stat = _read(f"{d}/stat")
        status = _read(f"{d}/status").decode("utf-8", "replace")
    except OSError:
        return None  # gone (or unreadable) mid-scan
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        ppid = int(fields[1])
        starttime = int(fields[19])
    except (IndexError, ValueError):
        return None
    uids = gids = (_INVALID_ID,) * 4
    nspid = 0
    cap_inh = cap_prm = cap_eff = 0
    for line in status.splitlines():
        key, _, value = line.partition(":")
        try:
            if key == "Uid" or key == "Gid":
                ids = value.split()
                if len(ids) == 4:
                    parsed = (int(ids[0]), int(ids[1]), int(ids[2]), int(ids[3]))
                    if key == "Uid":
                        uids = parsed
                    else:
                        gids = parsed
            elif key == "NStgid":
                nspid = int(value.split()[-1])
            elif key == "CapInh":
                cap_inh = int(value, 16)
            elif key == "CapPrm":
                cap_prm = int(value, 16)
            elif key == "CapEff":
                cap_eff = int(value, 16)
        except (ValueError, IndexError):
            continue
    try:
        auid = int(_read(f"{d}/loginuid"))
    except (OSError, ValueError):
        auid = _INVALID_ID
    cgroup_name, in_container = _cgroup(d)
    return _Proc(
        pid=pid,
        ppid=ppid,
        ktime=starttime * tick_ns,
        comm=comm,
        cmdline=cmdline,
        exe=_readlink(f"{d}/exe"),
        cwd=_readlink(f"{d}/cwd"),
        uids=uids,
        gids=gids,
        auid=auid,
        nspid=nspid if in_container else 0,
        caps=(cap_prm, cap_eff, cap_inh),
        ns=read_ns_inodes(d),
        cgroup_name=cgroup_name,
    )


def _readlink(path: str) -> str | None:
    # Read as bytes: a path that is not UTF-8 (any user can create one) must not break the walk.
    try:
        return os.readlink(os.fsencode(path)).decode("utf-8", "replace")
    except OSError:
        return None


def _cgroup(d: str) -> tuple[str, bool]:
    """(cgroup leaf name, whether it names a container) from ``/proc/<pid>/cgroup``."""
    try:
        text = _read(f"{d}/cgroup").decode("utf-8", "replace")
    except OSError:
        return "", False
    unified = ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        leaf = parts[2].rsplit("/", 1)[-1]
        if leaf and docker_id(leaf, from_bpf=False):
            return leaf, True
        if parts[0] == "0" and not parts[1]:
            unified = leaf
    return unified, False


def _parents_first(procs: dict[int, _Proc]) -> list[_Proc]:
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for pid in sorted(procs):
        ppid = procs[pid].ppid
        if ppid in procs and ppid != pid:
            children.setdefault(ppid, []).append(pid)
        else:
            roots.append(pid)
    out: list[_Proc] = []
    queue = deque(roots)
    while queue:
        pid = queue.popleft()
        out.append(procs[pid])
        queue.extend(children.get(pid, ()))
    if len(out) < len(procs):
        # Only a pid reused mid-scan can fake a cycle; keep those processes anyway.
        seen = {p.pid for p in out}
        out.extend(procs[pid] for pid in sorted(procs) if pid not in seen)
    return out


def _truncate(own: int, parent: int) -> tuple[int, bool]:
    """Upstream's fit into one message: (bytes of raw args kept, whether the cwd slot was dropped).

    Over budget, the parent's cwd slot goes first, then this process's; then bytes are shaved one
    at a time off whichever of the two argument blobs is longer (this one on ties).
    """
    need = (_HEAD + own + _CWD_SLOT) + (_HEAD + parent + _CWD_SLOT) - _BUFFER
    if need <= 0:
        return own, False
    need -= _CWD_SLOT
    nocwd = need > 0
    if nocwd:
        need -= _CWD_SLOT
    if need <= 0:
        return own, nocwd
    # Shave the longer side down to the other, then alternate (own first on ties).
    if own >= parent:
        first = min(need, own - parent)
        own -= first
        rest = need - first
    else:
        first = min(need, parent - own)
        rest = need - first
    own -= (rest + 1) // 2
    return max(own, 0), nocwd


def _to_message(p: _Proc, procs: dict[int, _Proc]) -> ExecMessage:
    parent = procs.get(p.ppid)
    if p.ppid == 0:
        pkey = _KERNEL_KEY
    else:
        pkey = ExecKey(p.ppid, parent.ktime if parent is not None else 0)
    if p.kernel_thread:
        return ExecMessage(
            ktime=p.ktime,
            pid=p.pid,
            tid=p.pid,
            nspid=p.nspid,
            flags=PROCFS,
            parent=pkey,
            parent_flags=0,
            cleanup_key=None,
            filename=f"[{p.exe if p.exe is not None else p.comm}]",
            args=[],
            cwd="",
            auid=_INVALID_ID,
            creds=Creds(*(0,) * 16),
            ns=_NO_NS,
        )
    raw = p.raw_args()
    praw_len = len(parent.raw_args()) if parent is not None else 0
    kept, nocwd = _truncate(len(raw), praw_len)
    flags = PROCFS
    if kept < len(raw):
        flags |= TRUNC_ARGS
        raw = raw[:kept]
    cwd = p.cwd
    if cwd is None:
        flags |= ROOT_CWD | ERROR_CWD
        cwd = ""
    elif cwd == "/":
        flags |= ROOT_CWD
    if nocwd:
        flags |= NO_CWD_SUPPORT
        cwd = ""
    tokens = raw.decode("utf-8", "replace").split("\0")
    args = tokens[1:]
    while args and not args[-1]:
        args.pop()
    u, g = p.uids, p.gids
    cap_prm, cap_eff, cap_inh = p.caps
    return ExecMessage(
        ktime=p.ktime,
        pid=p.pid,
        tid=p.pid,
        nspid=p.nspid,
        flags=flags,
        parent=pkey,
        parent_flags=0,
        cleanup_key=None,
        filename=tokens[0],
        args=args,
        cwd=cwd,
        auid=p.auid,
        creds=Creds(
            uid=u[0],
            gid=g[0],
            suid=u[2],
            sgid=g[2],
            euid=u[1],
            egid=g[1],
            fsuid=u[3],
            fsgid=g[3],
            securebits=0,
            cap_permitted=cap_prm,
            cap_effective=cap_eff,
            cap_inheritable=cap_inh,
            userns_level=0,
            userns_uid=0,
            userns_gid=0,
            userns_inum=0,
        ),
        ns=p.ns,
        cgroup_name=p.cgroup_name,
    )
