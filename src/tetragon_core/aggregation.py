"""Event aggregation, one implementation for the JSON export (``--enable-export-aggregation``,
``--export-aggregation-window-size``, ``--export-aggregation-buffer-size``) and for GetEvents
(``GetEventsRequest.aggregation_options``), with the seed's semantics:

* an aggregating stream puts a buffer of ``channel_buffer_size`` events between its filters and
  its writer; when the buffer is full the event is dropped, logged and counted
  (``tetragon_aggregation_events_dropped_total{sink}``), where upstream only logs;
* events of an aggregated type would be held for ``window_size`` (15 s) and sent once per
  window with ``aggregation_info.count``; every other event goes through at once, in order.

The seed aggregates only ``process_accept`` and ``process_connect``, event types the API no
longer has (upstream's open-source aggregator passes every event through too). So no event of
this agent is of an aggregated type: each passes through unaggregated, in order, and what
aggregation changes is the bounded buffer. A window other than the default would act on nothing
and is refused, naming ``--export-aggregation-window-size`` or ``aggregation_options.window_size``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from tetragon_core.config.support import AGGREGATION_WINDOW
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.metrics import Metric, Registry

__all__ = [
    "DEFAULT_WINDOW_S",
    "Admission",
    "AggregationOptions",
    "Aggregator",
    "dropped_metric",
    "export_admission",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S: Final = 15.0
DEFAULT_BUFFER: Final = 10000

#: at most one "buffer full" warning per sink this often (each drop is counted)
WARN_EVERY_S: Final = 10.0


@dataclass(frozen=True)
class AggregationOptions:
    """A validated window (seconds) and buffer size; ``where`` names the fields in errors."""

    window_s: float = DEFAULT_WINDOW_S
    buffer_size: int = DEFAULT_BUFFER

    @classmethod
    def checked(
        cls, window_s: float, buffer_size: int, window_field: str, buffer_field: str
    ) -> AggregationOptions:
        if window_s <= 0:
            raise ConfigError(f"{window_field}: the aggregation window must be above zero, not {window_s:g}s")
        if buffer_size <= 0:
            raise ConfigError(f"{buffer_field}: the aggregation buffer must hold at least one event")
        return cls(window_s, buffer_size)

    @classmethod
    def from_request(cls, opts: object) -> AggregationOptions:
        """GetEventsRequest.aggregation_options (a protobuf message): an unset window is 15 s, and
        a buffer of 0 (proto3 cannot tell it from unset) is the flag's default, 10000, where
        upstream would make an unbuffered channel that drops nearly every event."""
        window = DEFAULT_WINDOW_S
        if opts.HasField("window_size"):  # type: ignore[attr-defined]
            d = opts.window_size  # type: ignore[attr-defined]
            window = d.seconds + d.nanos / 1e9
            if window != DEFAULT_WINDOW_S:
                raise ConfigError(f"aggregation_options.window_size: {AGGREGATION_WINDOW}")
        size = int(opts.channel_buffer_size) or DEFAULT_BUFFER  # type: ignore[attr-defined]
        return cls.checked(
            window, size, "aggregation_options.window_size", "aggregation_options.channel_buffer_size"
        )


def dropped_metric(registry: Registry) -> Metric:
    """``tetragon_aggregation_events_dropped_total{sink}`` (ours: upstream only logs)."""
    return registry.counter(
        "tetragon_aggregation_events_dropped_total",
        "Events an aggregating export or GetEvents stream dropped because its aggregation buffer "
        "(channel_buffer_size, --export-aggregation-buffer-size) was full.",
        ("sink",),
    )


class Admission:
    """The buffer rule of one aggregating sink: what fits in ``buffer_size`` is taken, the rest
    dropped, counted and (at most every 10 s) logged. The JSON export applies it to its writer's
    queue; a GetEvents stream to its :class:`Aggregator`."""

    def __init__(self, options: AggregationOptions, dropped: Metric, sink: str) -> None:
        self.options = options
        self._dropped = dropped
        self._sink = sink
        self._warned = -WARN_EVERY_S

    def admit(self, pending: int, events: list[GetEventsResponse]) -> list[GetEventsResponse]:
        """The events that fit beside ``pending`` buffered ones, in order."""
        room = max(self.options.buffer_size - pending, 0)
        if len(events) <= room:
            return events
        self._dropped.inc(self._sink, by=len(events) - room)
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning(
                "%s: aggregation buffer is full (%d events); dropping events (counted in "
                "tetragon_aggregation_events_dropped_total); consider a larger buffer",
                self._sink,
                self.options.buffer_size,
            )
        return events[:room]


class Aggregator:
    """A GetEvents stream's aggregation stage: the filtered events wait in a buffer of
    ``channel_buffer_size`` (see :class:`Admission`) and :meth:`run` sends them, in order."""

    def __init__(
        self,
        admission: Admission,
        send: Callable[[list[GetEventsResponse]], Awaitable[None]],
    ) -> None:
        self.admission = admission
        self._send = send
        self._buffer: deque[GetEventsResponse] = deque()
        self._wake = asyncio.Event()

    def push_many(self, events: list[GetEventsResponse]) -> int:
        """Buffer what fits; the rest is dropped and counted. Returns how many were taken."""
        taken = self.admission.admit(len(self._buffer), events)
        if taken:
            self._buffer.extend(taken)
            self._wake.set()
        return len(taken)

    async def run(self, batch: int = 512) -> None:
        """Send what comes through, in batches of at most ``batch``, until cancelled."""
        buf = self._buffer
        while True:
            if not buf:
                self._wake.clear()
                await self._wake.wait()
                continue
            out = [buf.popleft() for _ in range(min(batch, len(buf)))]
            await self._send(out)

    def pending(self) -> int:
        """Events buffered, not sent yet."""
        return len(self._buffer)


def export_admission(cfg: Any, registry: Registry) -> Admission | None:
    """The JSON export's buffer rule under ``--enable-export-aggregation`` (None without)."""
    if not cfg.enable_export_aggregation:
        return None
    opts = AggregationOptions.checked(
        cfg.export_aggregation_window_size,
        cfg.export_aggregation_buffer_size,
        "--export-aggregation-window-size",
        "--export-aggregation-buffer-size",
    )
    return Admission(opts, dropped_metric(registry), "export")
