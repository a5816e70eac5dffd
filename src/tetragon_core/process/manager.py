"""The process manager: exec/clone/exit messages in, process_exec/process_exit events out.

It keeps the :class:`ProcessCache` in step with the kernel's view (exec ids, parent links and
refcounts exactly as upstream's ``pkg/process`` + ``pkg/grpc/exec``) and builds the events from the
cached Process Structs, which it shares with the events rather than copying them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import msgspec

from tetragon_core.events import GetEventsResponse, Process, ProcessExec, ProcessExit
from tetragon_core.metrics import Registry
from tetragon_core.process.builder import ProcessBuilder
from tetragon_core.process.cache import (
    PARENT_DEC,
    PARENT_INC,
    PROCESS_DEC,
    ProcessCache,
    ProcessEntry,
)
from tetragon_core.process.caps import signal_name
from tetragon_core.process.containers import PodSource
from tetragon_core.process.eventcache import ENTRY_PARENT_INFO, ENTRY_POD_INFO, ENTRY_PROCESS_INFO, EventCache
from tetragon_core.process.execid import ExecIds
from tetragon_core.process.flags import CLONE
from tetragon_core.process.messages import CloneMessage, ExecKey, ExecMessage, ExitMessage
from tetragon_core.process.namespaces import NamespaceResolver, read_host_namespaces
from tetragon_core.process.procfs import is_kernel_thread
from tetragon_core.process.userdb import UserDB

__all__ = ["ProcessManager"]

# Below this pid a missing parent is expected (pid 1's parent is <kernel>), so nothing waits for it.
_FIRST_PID_WITH_PARENT: Final = 2


class ProcessManager:
    """Turns decoded kernel messages into events while maintaining the process cache.

    ``clock`` converts a ktime (ns since boot) to an RFC 3339 string, e.g. ``KtimeClock().rfc3339``.
    With an ``event_cache``, events whose process or parent is not cached yet are parked there and
    come out of ``event_cache.retry_tick()``; without one they are sent at once, incomplete.
    ``host_namespaces`` (pid 1's ten namespace inodes) is read from ``procfs`` when not given and
    namespaces or user names are wanted. With ``containers`` (the runtime hook's records), processes
    in a recorded container carry its ``pod``; one cached before its container was recorded gets
    it at its next event (a child's exec, a fork, its exit).
    """

    def __init__(
        self,
        cache: ProcessCache,
        node_name: str,
        clock: Callable[[int], str],
        *,
        enable_process_cred: bool = False,
        enable_process_ns: bool = False,
        username_metadata: bool = False,
        registry: Registry | None = None,
        event_cache: EventCache | None = None,
        host_namespaces: tuple[int, ...] | None = None,
        user_db: UserDB | None = None,
        procfs: str | None = "/proc",
        redact: Callable[[str, str], str] | None = None,
        containers: PodSource | None = None,
        cluster_name: str = "",
        wait_for_pods: bool = False,
    ) -> None:
        """Set up the manager and insert the ``<kernel>`` root process into ``cache``.

        ``cluster_name`` (``--cluster-name``) is set on every event, beside the node name. With
        ``wait_for_pods`` (pods come from the Kubernetes API or the CRI, which learn of a container
        shortly after it starts), the exec event of a containerised process whose pod is not known
        yet waits in the event cache for it (``entry_type="pod_info"``), as upstream's does.
        """
        reg = registry if registry is not None else Registry()
        if host_namespaces is None and procfs is not None and (enable_process_ns or username_metadata):
            host_namespaces = read_host_namespaces(procfs)
        users = (user_db if user_db is not None else UserDB()) if username_metadata else None
        self._cache = cache
        self._node = node_name
        self._cluster = cluster_name
        self._clock = clock
        self._cred = enable_process_cred
        self._event_cache = event_cache
        self._ids = ExecIds(node_name)
        self._builder = ProcessBuilder(
            self._ids,
            clock,
            enable_process_cred=enable_process_cred,
            enable_process_ns=enable_process_ns,
            namespaces=NamespaceResolver(host_namespaces),
            users=users,
            registry=reg,
            redact=redact,
            containers=containers,
        )
        self._pods = containers is not None
        self._wait_pods = wait_for_pods and containers is not None and event_cache is not None
        self._errors = reg.counter(
            "tetragon_errors_total", "The total number of Tetragon errors. For internal use only.", ("type",)
        )
        self._kernel = ProcessEntry(self._builder.kernel_process(), pinned=True)
        self._kernel_id = self._kernel.exec_id
        cache.add(self._kernel)

    @property
    def cache(self) -> ProcessCache:
        """The process cache this manager maintains."""
        return self._cache

    @property
    def event_cache(self) -> EventCache | None:
        """The retry cache, if any."""
        return self._event_cache

    @property
    def kernel_exec_id(self) -> str:
        """The exec id of the ``<kernel>`` root (pid 0, ktime 1)."""
        return self._kernel_id

    def exec_id(self, key: ExecKey) -> str:
        """The exec id of a process image key on this node (pid 0 means ``<kernel>``)."""
        return self._kernel_id if key.pid == 0 else self._ids(key.pid, key.ktime)

    # -- exec ---------------------------------------------------------------------------------

    def handle_exec(self, msg: ExecMessage) -> GetEventsResponse | None:
        """Cache the new image and return its process_exec event (None if parked)."""
        return self._exec(msg, emit=True)

    def _exec(self, msg: ExecMessage, *, emit: bool) -> GetEventsResponse | None:
        cache = self._cache
        cleanup = msg.cleanup_key
        replaces = cleanup is not None and cleanup.ktime != 0
        # An exec without a fork descends from the image it replaces, not from the parent task.
        pkey = cleanup if cleanup is not None and replaces and not msg.flags & CLONE else msg.parent
        parent_id = self._kernel_id if pkey.pid == 0 else self._ids(pkey.pid, pkey.ktime)
        if msg.tid != msg.pid:
            self._errors.inc("process_pid_tid_mismatch")
        start = self._clock(msg.ktime)
        entry = ProcessEntry(self._builder.exec_process(msg, parent_id, start))
        cache.add(entry)
        parent = cache.get(parent_id)
        if parent is not None:
            if self._pods:
                self._refresh_pod(parent)
            cache.ref_inc(parent, PARENT_INC)
            entry.holds_parent_ref = True
        if cleanup is not None and replaces:
            self._cleanup(cleanup)
        if not emit:
            return None
        process = entry.process
        if self._cred:
            props = self._builder.binary_properties(msg)
            if props is not None:
                process = msgspec.structs.replace(process, binary_properties=props)
        res = GetEventsResponse(
            process_exec=ProcessExec(process=process, parent=parent.process if parent else None),
            node_name=self._node,
            cluster_name=self._cluster,
            time=start,
        )
        if parent is None and msg.pid >= _FIRST_PID_WITH_PARENT and self._event_cache is not None:
            self._event_cache.add(_PendingExec(self, entry, res, msg.nspid))
            return None
        if self._wait_pods and process.docker and process.pod is None:
            assert self._event_cache is not None
            self._event_cache.add(_PendingExec(self, entry, res, msg.nspid))
            return None
        return res

    def _cleanup(self, key: ExecKey) -> None:
        old_id = self._ids(key.pid, key.ktime)
        old = self._cache.get(old_id)
        if old is None:
            if self._event_cache is not None:
                self._event_cache.add(_PendingCleanup(self, old_id))
            return
        self._release(old)

    def _refresh_pod(self, entry: ProcessEntry) -> None:
        """Give a cached process the pod its container was recorded with after it was cached."""
        updated = self._builder.with_pod(entry.process)
        if updated is not None:
            entry.process = updated

    def _release(self, entry: ProcessEntry) -> None:
        self._cache.release_parent(entry)
        self._cache.ref_dec(entry, PROCESS_DEC)

    # -- clone --------------------------------------------------------------------------------

    def handle_clone(self, msg: CloneMessage) -> None:
        """Cache a forked image as a copy of its parent's; clones are never exported."""
        parent_id = self.exec_id(msg.parent)
        parent = self._cache.get(parent_id)
        if parent is None:
            if self._event_cache is not None:
                self._event_cache.add(_PendingClone(self, parent_id, msg))
            return
        self._clone_from(parent, parent_id, msg)

    def _clone_from(self, parent: ProcessEntry, parent_id: str, msg: CloneMessage) -> None:
        if self._pods:
            self._refresh_pod(parent)
        if msg.tid != msg.pid:
            self._errors.inc("process_pid_tid_mismatch")
        entry = ProcessEntry(self._builder.clone_process(parent.process, msg, parent_id))
        self._cache.ref_inc(parent, PARENT_INC)
        entry.holds_parent_ref = True
        self._cache.add(entry)

    # -- exit ---------------------------------------------------------------------------------

    def handle_exit(self, msg: ExitMessage) -> GetEventsResponse | None:
        """Drop the image's references and return its process_exit event (None if parked)."""
        cache = self._cache
        key = msg.key
        code = msg.code
        eid = self.exec_id(key)
        entry = cache.get(eid)
        now = self._clock(msg.ktime)
        if entry is None:
            stub = Process(pid=key.pid, start_time=self._clock(key.ktime))
            ex = ProcessExit(process=stub, signal=signal_name(code & 0x7F), status=code >> 8, time=now)
            res = GetEventsResponse(
                process_exit=ex, node_name=self._node, cluster_name=self._cluster, time=now
            )
            if self._event_cache is not None:
                self._event_cache.add(_PendingExit(self, eid, None, res))
                return None
            return res
        if msg.tid != key.pid:
            self._errors.inc("process_pid_tid_mismatch")
        parent = cache.get(entry.parent_exec_id)
        if self._pods:
            self._refresh_pod(entry)
            if parent is not None:
                self._refresh_pod(parent)
        if entry.holds_parent_ref:
            entry.holds_parent_ref = False
            if parent is not None and parent is not entry:
                cache.ref_dec(parent, PARENT_DEC)
        cache.ref_dec(entry, PROCESS_DEC)
        ex = ProcessExit(
            process=entry.process,
            parent=parent.process if parent is not None else None,
            signal=signal_name(code & 0x7F),
            status=code >> 8,
            time=now,
        )
        res = GetEventsResponse(process_exit=ex, node_name=self._node, cluster_name=self._cluster, time=now)
        if parent is None and key.pid >= _FIRST_PID_WITH_PARENT and self._event_cache is not None:
            self._event_cache.add(_PendingExit(self, eid, entry, res))
            return None
        return res

    # -- procfs -------------------------------------------------------------------------------

    def handle_procfs(self, msgs: Iterable[ExecMessage]) -> list[GetEventsResponse]:
        """Feed the start-up procfs scan (parents first) and return its process_exec events.

        The first event is ``<kernel>``'s own (its parent is itself), as upstream emits it. Kernel
        threads are cached but, as upstream, not exported.
        """
        kernel = self._kernel
        self._cache.ref_inc(kernel, PARENT_INC)
        kproc = kernel.process
        out = [
            GetEventsResponse(
                process_exec=ProcessExec(process=kproc, parent=kproc),
                node_name=self._node,
                cluster_name=self._cluster,
                time=kproc.start_time,
            )
        ]
        for msg in msgs:
            res = self._exec(msg, emit=not is_kernel_thread(msg))
            if res is not None:
                out.append(res)
        return out


class _PendingExec:
    """An exec event waiting for its parent to be cached, or for its container's pod."""

    __slots__ = ("_entry", "_mgr", "_nspid", "_res")
    event_type = "PROCESS_EXEC"

    def __init__(self, mgr: ProcessManager, entry: ProcessEntry, res: GetEventsResponse, nspid: int) -> None:
        self._mgr = mgr
        self._entry = entry
        self._res = res
        self._nspid = nspid

    def retry(self) -> str | None:
        entry = self._entry
        mgr = self._mgr
        cache = mgr.cache
        assert self._res.process_exec is not None
        if mgr._wait_pods and entry.process.docker and entry.process.pod is None:
            updated = mgr._builder.with_pod(entry.process, self._nspid)
            if updated is None:
                return ENTRY_POD_INFO
            entry.process = updated
            self._res.process_exec.process = _with_exec_props(updated, self._res.process_exec.process)
        parent = cache.get(entry.parent_exec_id)
        if parent is None:
            return ENTRY_PARENT_INFO
        # Only a still-live image may take a reference: one that already exited would never drop it.
        if entry.refcnt > 0 and cache.peek(entry.exec_id) is entry and not entry.holds_parent_ref:
            cache.ref_inc(parent, PARENT_INC)
            entry.holds_parent_ref = True
        assert self._res.process_exec is not None
        self._res.process_exec.parent = parent.process
        return None

    def result(self) -> GetEventsResponse | None:
        return self._res


def _with_exec_props(updated: Process, sent: Process | None) -> Process:
    # the exec event's process may carry binary_properties, which the cached one does not
    if sent is None or sent.binary_properties is None:
        return updated
    return msgspec.structs.replace(updated, binary_properties=sent.binary_properties)


class _PendingExit:
    """An exit event waiting for its process (or the process's parent) to be cached."""

    __slots__ = ("_eid", "_entry", "_mgr", "_res")
    event_type = "PROCESS_EXIT"

    def __init__(
        self, mgr: ProcessManager, eid: str, entry: ProcessEntry | None, res: GetEventsResponse
    ) -> None:
        self._mgr = mgr
        self._eid = eid
        self._entry = entry
        self._res = res

    def retry(self) -> str | None:
        cache = self._mgr.cache
        ex = self._res.process_exit
        assert ex is not None
        entry = self._entry
        if entry is None:
            entry = cache.get(self._eid)
            if entry is None:
                return ENTRY_PROCESS_INFO
            self._entry = entry
            ex.process = entry.process
            self._mgr._release(entry)
        if ex.parent is None and (entry.process.pid or 0) >= _FIRST_PID_WITH_PARENT:
            parent = cache.get(entry.parent_exec_id)
            if parent is None:
                return ENTRY_PARENT_INFO
            ex.parent = parent.process
        return None

    def result(self) -> GetEventsResponse | None:
        return self._res


class _PendingClone:
    """A clone waiting for its parent image to be cached (no event of its own)."""

    __slots__ = ("_mgr", "_msg", "_parent_id")
    event_type = ""

    def __init__(self, mgr: ProcessManager, parent_id: str, msg: CloneMessage) -> None:
        self._mgr = mgr
        self._parent_id = parent_id
        self._msg = msg

    def retry(self) -> str | None:
        parent = self._mgr.cache.get(self._parent_id)
        if parent is None:
            return ENTRY_PARENT_INFO
        self._mgr._clone_from(parent, self._parent_id, self._msg)
        return None

    def result(self) -> GetEventsResponse | None:
        return None


class _PendingCleanup:
    """The release of a replaced image that was not cached yet when its successor exec'd."""

    __slots__ = ("_eid", "_mgr")
    event_type = ""

    def __init__(self, mgr: ProcessManager, eid: str) -> None:
        self._mgr = mgr
        self._eid = eid

    def retry(self) -> str | None:
        old = self._mgr.cache.get(self._eid)
        if old is None:
            return ENTRY_PROCESS_INFO
        self._mgr._release(old)
        return None

    def result(self) -> GetEventsResponse | None:
        return None
