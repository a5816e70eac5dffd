"""Live events on the agent's stdout, in Tetragon's compact form or as JSON lines."""

from __future__ import annotations

import sys
import threading
from collections import deque
from typing import TextIO

from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.export.compact import render_compact
from tetragon_core.metrics import Registry


class ConsoleSink:
    """A sink that prints events from its own thread, so a slow terminal never blocks the loop.

    A full queue drops the event and counts it in ``tetragon_console_queue_events_dropped_total``.
    """

    def __init__(
        self,
        mode: str,
        registry: Registry,
        *,
        stream: TextIO | None = None,
        queue_size: int = 10000,
        color: bool | None = None,
    ) -> None:
        if mode not in ("compact", "json"):
            raise ValueError(f"console mode must be compact or json, not {mode!r}")
        self._mode = mode
        self._stream = stream or sys.stdout
        self._color = self._stream.isatty() if color is None else color
        self._queue: deque[GetEventsResponse] = deque()
        self._size = queue_size
        self._wake = threading.Event()
        self._stop = False
        self._dropped = registry.counter(
            "tetragon_console_queue_events_dropped_total",
            "Events not printed because the console queue was full",
        )
        self._failed = registry.counter(
            "tetragon_console_render_errors_total", "Events the console could not render"
        )
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._thread.start()

    def submit(self, event: GetEventsResponse) -> bool:
        """Queue one event for printing; False (and counted) when the queue is full."""
        if len(self._queue) >= self._size:
            self._dropped.inc()
            return False
        self._queue.append(event)
        self._wake.set()
        return True

    def submit_many(self, events: list[GetEventsResponse]) -> int:
        """Queue several events; returns how many fit (the rest are counted as dropped)."""
        room = max(0, self._size - len(self._queue))
        if len(events) > room:
            self._dropped.inc(by=len(events) - room)
            events = events[:room]
        if events:
            self._queue.extend(events)
            self._wake.set()
        return len(events)

    def _render(self, ev: GetEventsResponse) -> str | None:
        if self._mode == "json":
            return encode_json(ev).decode()
        return render_compact(ev, color=self._color, timestamps=False)

    def _run(self) -> None:
        q = self._queue
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            lines: list[str] = []
            while q:
                try:
                    line = self._render(q.popleft())
                except Exception:  # one unrenderable event must not silence the console
                    self._failed.inc()
                    continue
                if line is not None:
                    lines.append(line)
            if lines:
                try:
                    self._stream.write("\n".join(lines) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    return  # stdout went away (closed pipe); the agent keeps running
            if self._stop and not q:
                return

    def close(self, timeout: float | None = 5.0) -> None:
        """Print what is queued, then stop the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
