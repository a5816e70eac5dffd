"""Fan-out of events to GetEvents streams: one bounded queue per client.

A slow client loses events (counted in ``tetragon_notify_overflowed_events_total``) and never
slows the agent or the other clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from tetragon_core.events import GetEventsResponse
from tetragon_core.metrics import Registry


class EventHub:
    """A sink (``submit``/``submit_many``) whose readers are GetEvents streams."""

    def __init__(self, registry: Registry, queue_size: int) -> None:
        self._queues: set[asyncio.Queue[GetEventsResponse]] = set()
        self.conversion_errors = registry.counter(
            "tetragon_grpc_conversion_errors_total", "Events that could not be converted to protobuf"
        )
        self._size = queue_size
        self._overflow = registry.counter(
            "tetragon_notify_overflowed_events_total",
            "The total number of events dropped because listener buffer was full",
        )

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[GetEventsResponse]]:
        """A queue receiving every event from now on, until the context ends."""
        q: asyncio.Queue[GetEventsResponse] = asyncio.Queue(self._size)
        self._queues.add(q)
        try:
            yield q
        finally:
            self._queues.discard(q)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def submit(self, event: GetEventsResponse) -> bool:
        ok = True
        for q in self._queues:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                self._overflow.inc()
                ok = False
        return ok

    def submit_many(self, events: list[GetEventsResponse]) -> int:
        for q in self._queues:
            room = q.maxsize - q.qsize()
            for ev in events[:room]:
                q.put_nowait(ev)
            if len(events) > room:
                self._overflow.inc(by=len(events) - room)
        return len(events)

    def close(self, timeout: float | None = None) -> None:
        self._queues.clear()
