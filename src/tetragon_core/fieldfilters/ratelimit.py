"""The export rate limit (``--export-rate-limit``): at most N events per minute are exported.

Semantics are Tetragon's (``pkg/ratelimit``, ``pkg/exporter``): a token bucket holding at most
N tokens, refilled at N per minute and full at start (Go's ``rate.NewLimiter(N/minute, N)``).
Each exported event takes a token; an event that finds none is dropped and counted in
``tetragon_export_ratelimit_events_dropped_total``. Once a minute, if events were dropped since
the previous report, a ``rate_limit_info`` event carrying their number is written (it bypasses
the limit). N = -1 (any negative N) turns the limit off; N = 0 exports nothing but the reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from tetragon_core.events import GetEventsResponse, RateLimitInfo
from tetragon_core.export.timefmt import rfc3339_nanos
from tetragon_core.metrics import Registry

__all__ = ["DROPPED_METRIC", "REPORT_INTERVAL_S", "ExportRateLimiter"]

DROPPED_METRIC = "tetragon_export_ratelimit_events_dropped_total"
REPORT_INTERVAL_S = 60.0


class ExportRateLimiter:
    """Token bucket plus drop reporting for one exporter. Thread-safe.

    ``clock`` is a monotonic clock in seconds (the bucket and the report schedule use it);
    ``wall_clock_ns`` and ``time_format`` make the report's ``time`` (nanoseconds since the epoch,
    formatted like a protojson Timestamp by default).
    """

    def __init__(
        self,
        per_minute: int,
        registry: Registry,
        *,
        node_name: str = "",
        cluster_name: str = "",
        node_labels: Mapping[str, str] | None = None,
        time_format: Callable[[int], str] = rfc3339_nanos,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REPORT_INTERVAL_S,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._enabled = per_minute >= 0
        self._burst = float(max(per_minute, 0))
        self._rate = self._burst / interval  # tokens per second
        self._interval = interval
        self._node_name = node_name
        self._cluster_name = cluster_name
        self._node_labels = dict(node_labels or {})
        self._time_format = time_format
        self._wall_clock_ns = wall_clock_ns
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._tokens = self._burst
        self._last = now
        self._next_report = now + interval
        self._dropped = 0
        self._metric = registry.counter(
            DROPPED_METRIC, "Number of events dropped on export due to rate limiting"
        )

    @property
    def enabled(self) -> bool:
        """False for a negative limit: every event is allowed and nothing is reported."""
        return self._enabled

    @property
    def pending_drops(self) -> int:
        """Events dropped since the last report."""
        return self._dropped

    def allow(self) -> bool:
        """Take a token for one event: True to export it, False if it is dropped (and counted)."""
        if not self._enabled:
            return True
        with self._lock:
            now = self._clock()
            if now > self._last:
                self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
                self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            self._dropped += 1
        self._metric.inc()
        return False

    def report(self, now: float | None = None) -> GetEventsResponse | None:
        """The ``rate_limit_info`` event to write now, if one is due.

        A report is due once per ``interval`` (a minute), counted from the previous due check
        that found the interval elapsed, as upstream's ticker does; it is returned only when
        events were dropped since the previous report. ``now`` defaults to ``clock()``.
        """
        if not self._enabled:
            return None
        if now is None:
            now = self._clock()
        with self._lock:
            if now < self._next_report:
                return None
            self._next_report = now + self._interval
            dropped, self._dropped = self._dropped, 0
        if dropped == 0:
            return None
        return GetEventsResponse(
            rate_limit_info=RateLimitInfo(number_of_dropped_process_events=str(dropped)),
            node_name=self._node_name,
            time=self._time_format(self._wall_clock_ns()),
            cluster_name=self._cluster_name,
            node_labels=dict(self._node_labels),
        )
