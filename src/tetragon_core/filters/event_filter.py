"""Allow and deny lists of filters, as applied to ``GetEvents`` streams and the JSON export."""

from __future__ import annotations

from collections.abc import Sequence

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.events import GetEventsResponse
from tetragon_core.filters.access import EventParts, event_parts
from tetragon_core.filters.compile import CompiledFilter

_NO_PARTS = EventParts("", None, None, (), "")


class EventFilter:
    """``filters.Apply(allow, deny)``: an event passes if it matches at least one allow filter (or
    the allow list is empty) and no deny filter.

    Both lists are compiled once, here (so a bad filter raises :class:`ConfigError` at
    construction). The process, parent and ancestors of an event are looked up once per call and
    shared by all filters; with both lists empty a call does no work at all.
    """

    __slots__ = ("_allow", "_deny", "_needs_parts", "_pass_all")

    def __init__(
        self, allow: Sequence[events_pb2.Filter] = (), deny: Sequence[events_pb2.Filter] = ()
    ) -> None:
        self._allow = tuple(CompiledFilter(f) for f in allow)
        self._deny = tuple(CompiledFilter(f) for f in deny)
        self._pass_all = not self._allow and not self._deny
        self._needs_parts = any(f.needs_parts for f in (*self._allow, *self._deny))

    @property
    def passes_everything(self) -> bool:
        """True when both lists are empty (callers may skip calling the filter)."""
        return self._pass_all

    def __call__(self, ev: GetEventsResponse) -> bool:
        """Whether ``ev`` passes the allow and deny lists."""
        if self._pass_all:
            return True
        parts = event_parts(ev) if self._needs_parts else _NO_PARTS
        if self._allow:
            for f in self._allow:
                if f.match(ev, parts):
                    break
            else:
                return False
        for f in self._deny:
            if f.match(ev, parts):
                return False
        return True
