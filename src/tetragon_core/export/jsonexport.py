"""The JSON file exporter (``--export-filename``): one protojson object per line.

The sink is split in two so that the asyncio event loop never waits on the disk:

* :meth:`JsonExporter.submit` (event loop) appends to a bounded in-memory queue and returns. When
  the queue is full the event is dropped and counted in
  ``tetragon_export_queue_events_dropped_total`` — a tetragon-core metric; upstream writes
  synchronously from its listener goroutine and instead drops further up, in the listener
  channel (``tetragon_notify_overflowed_events_total``).
* A dedicated writer thread drains the queue in batches, encodes each event with
  :func:`~tetragon_core.events.encode_json`, and hands the joined lines to
  :class:`~tetragon_core.export.rotate.RotatingFile` in a single ``write_lines`` call.

Metrics, with Tetragon's names and meanings: ``tetragon_events_exported_total`` (events written),
``tetragon_events_exported_bytes_total`` (bytes written, newlines included) and
``tetragon_events_last_exported_timestamp`` (the ``time`` of the newest written event, in whole
Unix seconds, as upstream's ``GetTime().GetSeconds()``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from tetragon_core.aggregation import Admission
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.export.rotate import RotatingFile
from tetragon_core.export.timefmt import parse_rfc3339
from tetragon_core.metrics import Registry

__all__ = ["QUEUE_DROPPED_METRIC", "JsonExporter"]

log = logging.getLogger(__name__)

QUEUE_DROPPED_METRIC = "tetragon_export_queue_events_dropped_total"
_IDLE_WAIT_S = 1.0
_ERROR_LOG_INTERVAL_S = 10.0


class JsonExporter:
    """Writes :class:`GetEventsResponse` events as JSON lines to a rotated file, off-loop.

    Defaults are Tetragon's ``--export-file-*`` defaults (10 MB, 5 backups, no compression,
    ``600``, no interval). ``submit``/``submit_many`` are meant to be called from one thread (the
    event loop); ``flush`` and ``close`` may be called from any thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        registry: Registry,
        queue_size: int = 10000,
        max_size_mb: float = 10,
        max_backups: int = 5,
        compress: bool = False,
        perm: str = "600",
        rotation_interval: float = 0.0,
        batch_size: int = 1024,
        writer_cls: type[RotatingFile] = RotatingFile,
        transform: Callable[[list[GetEventsResponse]], list[GetEventsResponse]] | None = None,
        aggregation: Admission | None = None,
    ) -> None:
        """Open the export file and start the writer thread.

        ``writer_cls`` lets a test substitute a :class:`RotatingFile` subclass (a slow disk).
        """
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._file = writer_cls(
            path,
            max_size_mb=max_size_mb,
            max_backups=max_backups,
            compress=compress,
            perm=perm,
            rotation_interval=rotation_interval,
        )
        self._queue: deque[GetEventsResponse] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        # Export-only filtering (allow/deny lists, field filters, rate limit) runs here, in the
        # writer thread, so it never costs the event loop.
        self._transform = transform
        # --enable-export-aggregation: the queue is the aggregation buffer; past it events are
        # dropped and counted, as upstream's aggregator does, instead of pausing the ring reader
        self._aggregation = aggregation

        self._exported = registry.counter("tetragon_events_exported_total", "Total number of events exported")
        self._exported_bytes = registry.counter(
            "tetragon_events_exported_bytes_total", "Number of bytes exported for events"
        )
        self._last_ts = registry.gauge(
            "tetragon_events_last_exported_timestamp", "Timestamp of the most recent event to be exported"
        )
        self._dropped = registry.counter(
            QUEUE_DROPPED_METRIC, "Number of events dropped because the JSON export queue was full"
        )

        # Producer/consumer hand-off without a lock per event: the writer announces ``_idle``
        # and re-checks the queue before sleeping, the producer only sets ``_wake`` when it sees
        # ``_idle``. A missed wake-up is impossible under the GIL's ordering, and would cost at
        # most _IDLE_WAIT_S anyway.
        self._wake = threading.Event()
        self._idle = False
        self._stopping = False
        self._closed = False
        self._accepted = 0  # events queued, written by the producer only
        self._done = 0  # events taken off the queue and handled, written by the writer only
        self._done_cv = threading.Condition()
        self._close_lock = threading.Lock()
        self._last_error_log = -_ERROR_LOG_INTERVAL_S

        self._thread = threading.Thread(target=self._run, name="json-exporter", daemon=True)
        self._thread.start()

    @property
    def file(self) -> RotatingFile:
        """The rotated file being written."""
        return self._file

    @property
    def pending(self) -> int:
        """Events queued and not yet handled by the writer."""
        return self._accepted - self._done

    def backlogged(self) -> bool:
        """More than half the queue is waiting: the producer should pause rather than drop
        (never while aggregating: the aggregation buffer drops instead)."""
        return self._aggregation is None and len(self._queue) > self._queue_size // 2

    def alive(self) -> bool:
        """The writer thread runs (or the sink was closed on purpose)."""
        return self._closed or self._thread.is_alive()

    def submit(self, event: GetEventsResponse) -> bool:
        """Queue one event; never blocks. False if it was dropped (queue full or closed)."""
        if self._closed:
            return False
        if self._aggregation is not None:
            return self.submit_many([event]) == 1
        if len(self._queue) >= self._queue_size:
            self._dropped.inc()
            return False
        self._queue.append(event)
        self._accepted += 1
        if self._idle:
            self._wake.set()
        return True

    def submit_many(self, events: Iterable[GetEventsResponse]) -> int:
        """Queue several events in order; never blocks. Returns how many were accepted."""
        if self._closed:
            return 0
        batch = events if isinstance(events, list) else list(events)
        if self._aggregation is not None:
            accepted = self._aggregation.admit(len(self._queue), batch)
        else:
            room = max(0, self._queue_size - len(self._queue))
            accepted = batch[:room] if len(batch) > room else batch
            if len(accepted) < len(batch):
                self._dropped.inc(by=len(batch) - len(accepted))
        if accepted:
            self._queue.extend(accepted)
            self._accepted += len(accepted)
            if self._idle:
                self._wake.set()
        return len(accepted)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event accepted so far has been written; False on timeout.

        Events whose write failed (logged) also count as handled.
        """
        target = self._accepted
        self._wake.set()
        with self._done_cv:
            return (
                self._done_cv.wait_for(lambda: self._done >= target or not self._thread.is_alive(), timeout)
                and self._done >= target
            )

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting events, write everything queued, stop the thread and close the file."""
        with self._close_lock:
            if self._stopping:
                return
            self._closed = True
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning(
                    "JSON exporter writer did not stop within %ss; %d events pending", timeout, self.pending
                )
                return
            self._file.close()

    def __enter__(self) -> JsonExporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with self._done_cv:
                self._done_cv.notify_all()

    def _loop(self) -> None:
        queue, pop, limit = self._queue, self._queue.popleft, self._batch_size
        while True:
            batch: list[GetEventsResponse] = []
            append = batch.append
            try:
                while len(batch) < limit:
                    append(pop())
            except IndexError:
                pass
            if batch:
                try:
                    self._write_batch(batch)
                except Exception:
                    self._log_error("JSON export batch failed")
                with self._done_cv:
                    self._done += len(batch)
                    self._done_cv.notify_all()
                continue
            if self._stopping:
                return
            self._idle = True
            if queue or self._stopping:
                self._idle = False
                continue
            due = self._file.next_rotation_in()
            self._wake.wait(_IDLE_WAIT_S if due is None else min(_IDLE_WAIT_S, max(due, 0.01)))
            self._wake.clear()
            self._idle = False
            try:
                self._file.tick()
            except OSError:
                self._log_error("JSON export file rotation failed")
            if self._transform is not None:
                # A quiet stream still gets its periodic reports (rate_limit_info) on time.
                self._write_batch([])

    def _write_batch(self, batch: list[GetEventsResponse]) -> None:
        if self._transform is not None:
            try:
                batch = self._transform(batch)
            except Exception:
                self._log_error("export filters failed on a batch")
                return
        if not batch:
            return
        try:
            lines = [encode_json(ev) for ev in batch]
        except Exception:
            lines = []
            for ev in batch:
                try:
                    lines.append(encode_json(ev))
                except Exception:
                    self._log_error("failed to JSON encode an event")
        if not lines:
            return
        lines.append(b"")
        payload = b"\n".join(lines)
        try:
            self._file.write_lines(payload)
        except OSError:
            self._log_error(f"writing {len(lines) - 1} events to {self._file.path} failed")
            return
        self._exported.inc(by=len(lines) - 1)
        self._exported_bytes.inc(by=len(payload))
        last_time = batch[-1].time
        try:
            seconds = parse_rfc3339(last_time) // 1_000_000_000 if last_time else 0
        except ValueError:
            seconds = 0
        self._last_ts.set(seconds)

    def _log_error(self, msg: str) -> None:
        # A full disk fails every batch; keep the log readable.
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            log.warning(msg, exc_info=True)
