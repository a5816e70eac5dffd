"""Builds the ``events.Process`` Struct of a process image from its exec or clone message.

Sub-structs that many processes share (capabilities, credentials, namespaces, user records) are
memoized and shared between Process Structs, so every Struct built here is read-only by contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from tetragon_core.events import (
    BinaryProperties,
    Capabilities,
    FileProperties,
    InodeProperties,
    Process,
    ProcessCredentials,
    UserRecord,
)
from tetragon_core.metrics import Registry
from tetragon_core.process.args import binary_path, docker_id, format_args
from tetragon_core.process.caps import (
    EXEC_SETGID,
    EXEC_SETUID,
    capability_names,
    privileges_changed,
    securebits_names,
)
from tetragon_core.process.containers import PodSource
from tetragon_core.process.execid import ExecIds
from tetragon_core.process.flags import IN_INIT_TREE, PROCFS, FlagCounts, decode_flags
from tetragon_core.process.messages import CloneMessage, Creds, ExecMessage
from tetragon_core.process.namespaces import NS_NAMES, NamespaceResolver
from tetragon_core.process.userdb import UserDB

__all__ = ["INVALID_UID", "KERNEL_BINARY", "ProcessBuilder"]

# (uid_t)-1: the kernel's "no value", e.g. the auid of a process with no login session.
INVALID_UID: Final = 4294967295
KERNEL_BINARY: Final = "<kernel>"
_MEMO_LIMIT: Final = 4096

_K = TypeVar("_K")
_V = TypeVar("_V")


def _memo_put(memo: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


class ProcessBuilder:
    """Turns exec/clone messages into Process Structs, with cap/ns/creds/user gated by options."""

    __slots__ = (
        "_caps_memo",
        "_clock",
        "_containers",
        "_cred",
        "_creds_memo",
        "_debug",
        "_errors",
        "_flag_counts",
        "_ids",
        "_ns",
        "_redact",
        "_resolver",
        "_user_memo",
        "_users",
    )

    def __init__(
        self,
        ids: ExecIds,
        clock: Callable[[int], str],
        *,
        enable_process_cred: bool,
        enable_process_ns: bool,
        namespaces: NamespaceResolver,
        users: UserDB | None,
        registry: Registry,
        redact: Callable[[str, str], str] | None = None,
        containers: PodSource | None = None,
    ) -> None:
        """``ids`` makes exec ids; ``clock`` converts a ktime to an RFC 3339 string; ``users`` enables
        user names; ``containers`` (the Kubernetes API's pods, the runtime hook's or the CRI's
        containers) fills ``pod`` for containerised processes."""
        self._ids = ids
        self._clock = clock
        # --redaction-filters: applied once, as the process enters the cache, so every output agrees.
        self._redact = redact
        self._cred = enable_process_cred
        self._ns = enable_process_ns
        self._resolver = namespaces
        self._users = users
        self._containers = containers
        self._caps_memo: dict[tuple[int, int, int], Capabilities] = {}
        self._creds_memo: dict[tuple[int, ...], ProcessCredentials] = {}
        self._user_memo: dict[str, UserRecord] = {}
        self._errors = registry.counter(
            "tetragon_errors_total", "The total number of Tetragon errors. For internal use only.", ("type",)
        )
        self._flag_counts = FlagCounts(registry)
        self._debug = registry.counter(
            "tetragon_debug_events_total",
            "The total number of Tetragon debug events. For internal use only.",
            ("type",),
        )

    @property
    def node(self) -> str:
        """The node name embedded in exec ids."""
        return self._ids.node

    def exec_process(self, msg: ExecMessage, parent_exec_id: str, start_time: str) -> Process:
        """The Process of the image ``msg`` describes, child of ``parent_exec_id``."""
        flags = msg.flags
        self._flag_counts.count(flags)
        cwd = msg.cwd
        filename = msg.filename
        creds = msg.creds
        cap: Capabilities | None = None
        pcreds: ProcessCredentials | None = None
        if self._cred:
            cap = self._capabilities(creds.cap_permitted, creds.cap_effective, creds.cap_inheritable)
            pcreds = self._credentials(creds)
        cgroup = msg.cgroup_name
        binary = filename if filename.startswith("/") else binary_path(filename, cwd)
        arguments = format_args(msg.args)
        if self._redact is not None and arguments:
            arguments = self._redact(binary, arguments)
        docker = docker_id(cgroup, from_bpf=not flags & PROCFS) if cgroup else ""
        containers = self._containers
        return Process(
            exec_id=self._ids(msg.pid, msg.ktime),
            pid=msg.pid,
            uid=creds.euid,
            cwd=cwd,
            binary=binary,
            arguments=arguments,
            flags=decode_flags(flags),
            start_time=start_time,
            auid=msg.auid,
            pod=containers.pod(docker, msg.nspid, binary, arguments)
            if docker and containers is not None
            else None,
            docker=docker,
            parent_exec_id=parent_exec_id,
            cap=cap,
            ns=self._resolver.namespaces(msg.ns) if self._ns else None,
            tid=msg.pid,
            process_credentials=pcreds,
            user=self._user(creds.euid, msg.ns) if self._users is not None else None,
            in_init_tree=flags & IN_INIT_TREE != 0,
        )

    def binary_properties(self, msg: ExecMessage) -> BinaryProperties | None:
        """The exec-only ``binary_properties`` (setuid/setgid/file caps, unlinked binary), if any.

        Only meaningful with ``--enable-process-cred``; the caller checks that.
        """
        secureexec = msg.secureexec
        unlinked = msg.ino != 0 and msg.nlink == 0
        if not secureexec and not unlinked:
            return None
        creds = msg.creds
        setuid = creds.euid if secureexec & EXEC_SETUID and creds.euid != INVALID_UID else None
        setgid = creds.egid if secureexec & EXEC_SETGID and creds.egid != INVALID_UID else None
        reasons = privileges_changed(secureexec)
        file = (
            FileProperties(inode=InodeProperties(number=str(msg.ino), links=msg.nlink)) if unlinked else None
        )
        if setuid is None and setgid is None and not reasons and file is None:
            return None
        return BinaryProperties(setuid=setuid, setgid=setgid, privileges_changed=reasons, file=file)

    def clone_process(self, parent: Process, msg: CloneMessage, parent_exec_id: str) -> Process:
        """A forked image: the parent's Process with new identity, flags and start time."""
        flags = msg.flags
        pod = parent.pod
        if pod is not None and pod.container is not None:
            pod = msgspec.structs.replace(
                pod, container=msgspec.structs.replace(pod.container, pid=msg.nspid)
            )
        return msgspec.structs.replace(
            parent,
            exec_id=self._ids(msg.pid, msg.ktime),
            pid=msg.pid,
            tid=msg.pid,
            flags=decode_flags(flags),
            start_time=self._clock(msg.ktime),
            parent_exec_id=parent_exec_id,
            refcnt=0,
            pod=pod,
            binary_properties=None,
            in_init_tree=flags & IN_INIT_TREE != 0,
        )

    def with_pod(self, process: Process, nspid: int = 0) -> Process | None:
        """``process`` with the ``pod`` of its container, if it has none yet and its container
        has since become known; else None (nothing to change)."""
        containers = self._containers
        if containers is None or process.pod is not None or not process.docker:
            return None
        pod = containers.pod(process.docker, nspid, process.binary, process.arguments)
        return msgspec.structs.replace(process, pod=pod) if pod is not None else None

    def kernel_process(self) -> Process:
        """The ``<kernel>`` pseudo-process (pid 0, ktime 1), root of every process tree."""
        kid = self._ids(0, 1)
        zero = Creds(*(0,) * 16)
        return Process(
            exec_id=kid,
            pid=0,
            uid=0,
            binary=KERNEL_BINARY,
            flags=decode_flags(PROCFS),
            start_time=self._clock(1),
            auid=0,
            parent_exec_id=kid,
            cap=self._capabilities(0, 0, 0) if self._cred else None,
            ns=self._resolver.namespaces((0,) * len(NS_NAMES)) if self._ns else None,
            tid=0,
            process_credentials=self._credentials(zero) if self._cred else None,
            in_init_tree=False,
        )

    def _capabilities(self, permitted: int, effective: int, inheritable: int) -> Capabilities:
        key = (permitted, effective, inheritable)
        found = self._caps_memo.get(key)
        if found is None:
            found = _memo_put(
                self._caps_memo,
                key,
                Capabilities(
                    permitted=capability_names(permitted),
                    effective=capability_names(effective),
                    inheritable=capability_names(inheritable),
                ),
            )
        return found

    def _credentials(self, c: Creds) -> ProcessCredentials:
        key = (c.uid, c.gid, c.euid, c.egid, c.suid, c.sgid, c.fsuid, c.fsgid, c.securebits)
        found = self._creds_memo.get(key)
        if found is None:
            found = _memo_put(
                self._creds_memo,
                key,
                ProcessCredentials(
                    uid=c.uid,
                    gid=c.gid,
                    euid=c.euid,
                    egid=c.egid,
                    suid=c.suid,
                    sgid=c.sgid,
                    fsuid=c.fsuid,
                    fsgid=c.fsgid,
                    securebits=securebits_names(c.securebits),
                ),
            )
        return found

    def _user(self, uid: int, ns: tuple[int, ...]) -> UserRecord | None:
        users = self._users
        if users is None:
            return None
        in_host = self._resolver.in_host_mnt_user(ns)
        if in_host is None:
            self._errors.inc("process_metadata_username_failed")
            return None
        if not in_host:
            self._debug.inc("process_metadata_username_ignored_not_in_host_namespaces")
            return None
        name = users.lookup(uid)
        if not name:
            self._errors.inc("process_metadata_username_failed")
            return None
        record = self._user_memo.get(name)
        if record is None:
            record = _memo_put(self._user_memo, name, UserRecord(name=name))
        return record
