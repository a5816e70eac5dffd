"""The retry "event cache": messages parked until the process or parent they need is cached.

Messages can arrive out of order (an exit before its exec, an exec before its parent's clone). The
manager parks such an event here instead of sending it incomplete; every
``--event-cache-retry-delay`` an async task calls :meth:`EventCache.retry_tick`, which retries each
parked item and returns the events that completed or ran out of ``--event-cache-retries``.
"""

from __future__ import annotations

from typing import Final, Protocol

from tetragon_core.events import GetEventsResponse
from tetragon_core.metrics import Registry

__all__ = ["ENTRY_PARENT_INFO", "ENTRY_POD_INFO", "ENTRY_PROCESS_INFO", "EventCache", "Pending"]

# entry_type label values: which piece of information is still missing.
ENTRY_PROCESS_INFO: Final = "process_info"
ENTRY_PARENT_INFO: Final = "parent_info"
ENTRY_POD_INFO: Final = "pod_info"


class Pending(Protocol):
    """A parked message. The manager implements one per message kind."""

    @property
    def event_type(self) -> str:
        """The EventType name ("PROCESS_EXEC"...), or "" for messages that emit nothing."""
        ...

    def retry(self) -> str | None:
        """Try to complete; returns None when complete, else the entry_type still missing."""
        ...

    def result(self) -> GetEventsResponse | None:
        """The event to send now (complete, or given up on); None for silent messages."""
        ...


class EventCache:
    """Parked messages, retried on each :meth:`retry_tick` up to ``retries`` times."""

    def __init__(self, retries: int = 15, registry: Registry | None = None) -> None:
        """Give up on an item after ``retries`` failed retries (``--event-cache-retries``)."""
        self._retries = retries
        self._items: list[tuple[Pending, int]] = []
        reg = registry if registry is not None else Registry()
        reg.gauge(
            "tetragon_event_cache_entries",
            "The number of entries in the event cache.",
            collect=lambda: {(): float(len(self._items))},
        )
        self._inserts = reg.counter(
            "tetragon_event_cache_inserts_total", "Number of inserts to the event cache."
        )
        self._retries_total = reg.counter(
            "tetragon_event_cache_fetch_retries_total",
            "Number of retries when fetching info from the event cache.",
            ("entry_type",),
        )
        self._failures = reg.counter(
            "tetragon_event_cache_fetch_failures_total",
            "Number of failed fetches from the event cache. These won't be retried.",
            ("event_type", "entry_type"),
        )
        self._missing_process = reg.counter(
            "tetragon_events_missing_process_info_total", "Number of events missing process info."
        )
        # Upstream counts events cached without a process pid; an event here is parked for its
        # pid by construction, so this stays 0 (registered for the dashboards that read it).
        reg.counter(
            "tetragon_event_cache_errors_total",
            "The total of errors encountered while fetching process exec information from the cache.",
            ("error", "event_type"),
        )

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Pending) -> None:
        """Park ``item`` until the next :meth:`retry_tick`."""
        self._inserts.inc()
        self._items.append((item, 0))

    def retry_tick(self) -> list[GetEventsResponse]:
        """Retry every parked item once; returns the events now complete or timed out, in order."""
        out: list[GetEventsResponse] = []
        keep: list[tuple[Pending, int]] = []
        items, self._items = self._items, keep
        for item, attempts in items:
            missing = item.retry()
            if missing is not None:
                self._retries_total.inc(missing)
                attempts += 1
                if attempts < self._retries:
                    keep.append((item, attempts))
                    continue
                self._failures.inc(item.event_type or "UNDEF", missing)
                if missing == ENTRY_PROCESS_INFO and item.event_type:
                    self._missing_process.inc()
            res = item.result()
            if res is not None:
                out.append(res)
        return out

    def flush(self) -> list[GetEventsResponse]:
        """Give up on every parked item now (at shutdown) and return their events."""
        items, self._items = self._items, []
        out = []
        for item, _ in items:
            if item.event_type and item.retry() == ENTRY_PROCESS_INFO:
                self._missing_process.inc()  # sent without its process
            res = item.result()
            if res is not None:
                out.append(res)
        return out
