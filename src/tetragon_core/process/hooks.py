"""Policy hook events (tracepoint, kprobe, ...) meet the process cache here.

A hook sensor decodes its record into a :class:`HookMessage` holding the event Struct (e.g.
``ProcessTracepoint``) without process information; :class:`HookHandler` fills ``process`` and
``parent`` from the cache by the image key the kernel sent, or parks the event in the event cache
until that process is known, as Tetragon's eventcache does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tetragon_core.events import GetEventsResponse, Process
from tetragon_core.plugin_events import response_class
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.eventcache import ENTRY_PARENT_INFO, ENTRY_PROCESS_INFO, EventCache
from tetragon_core.process.messages import ExecKey

__all__ = ["HookHandler", "HookMessage"]

_FIRST_PID_WITH_PARENT = 2


class HookMessage(msgspec.Struct, gc=False):
    """One decoded hook event, before enrichment.

    ``key`` is the process image (pid, exec ktime) the kernel found in execve_map, with ktime 0
    when it found none; ``field`` names the GetEventsResponse member (``process_tracepoint``);
    ``event`` is that member's Struct, with ``process``/``parent`` still unset. ``resolved``, when
    set, is told once how the process was found: ``True`` at once, ``False`` after a retry.
    """

    key: ExecKey
    ktime: int
    field: str
    event: Any
    event_type: str = "PROCESS_TRACEPOINT"
    resolved: Callable[[bool], None] | None = None


class HookHandler:
    """Builds GetEventsResponse from HookMessages, reading the process cache."""

    def __init__(
        self,
        cache: ProcessCache,
        exec_id: Callable[[ExecKey], str],
        node_name: str,
        clock: Callable[[int], str],
        event_cache: EventCache | None = None,
        cluster_name: str = "",
    ) -> None:
        self._cache = cache
        self._cluster = cluster_name
        self._exec_id = exec_id
        self._node = node_name
        self._clock = clock
        self._event_cache = event_cache

    def __call__(self, msg: HookMessage) -> GetEventsResponse | None:
        now = self._clock(msg.ktime)
        cls = response_class(msg.field)  # a plugin's event has a response type of its own
        res = cls(node_name=self._node, cluster_name=self._cluster, time=now)
        setattr(res, msg.field, msg.event)
        eid = self._exec_id(msg.key) if msg.key.ktime else ""
        if self.fill(msg, eid) is not None:
            if msg.event.process is None:
                msg.event.process = Process(pid=msg.key.pid)
            if self._event_cache is not None and eid:
                self._event_cache.add(_PendingHook(self, msg, eid, res))
                return None
        elif msg.resolved is not None:
            msg.resolved(True)
        return res

    def fill(self, msg: HookMessage, eid: str) -> str | None:
        """Set process and parent; while either is not cached, say which is missing."""
        entry = self._cache.get(eid) if eid else None
        if entry is None:
            return ENTRY_PROCESS_INFO
        ev = msg.event
        ev.process = entry.process
        if (entry.process.pid or 0) < _FIRST_PID_WITH_PARENT:
            return None
        parent = self._cache.get(entry.parent_exec_id)
        if parent is None:
            return ENTRY_PARENT_INFO
        ev.parent = parent.process
        return None


class _PendingHook:
    """A hook event waiting for its process (or the process's parent) to be cached."""

    __slots__ = ("_eid", "_handler", "_msg", "_res")

    def __init__(self, handler: HookHandler, msg: HookMessage, eid: str, res: GetEventsResponse) -> None:
        self._handler = handler
        self._msg = msg
        self._eid = eid
        self._res = res

    @property
    def event_type(self) -> str:
        return self._msg.event_type

    def retry(self) -> str | None:
        missing = self._handler.fill(self._msg, self._eid)
        if missing is None and self._msg.resolved is not None:
            self._msg.resolved(False)
        return missing

    def result(self) -> GetEventsResponse | None:
        return self._res
