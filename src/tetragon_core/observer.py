"""The observer: drains the shared ring buffer and dispatches each record by its op code.

Records are copied out of the ring in batches and the ring space released at once, into a queue
bounded by ``--rb-queue-size``; each record then goes to the decoder registered for byte 0, and
the decoded message to the listener. A record nobody decodes, or one whose decoder fails, is
counted and dropped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from tetragon_core.bpf.maps import Map
from tetragon_core.exceptions import SensorError
from tetragon_core.metrics import Histogram, Registry
from tetragon_core.process.messages import OP_NAMES

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], object]
Listener = Callable[[object], None]

#: tetragon_handling_latency's bucket bounds, in microseconds
LATENCY_BUCKETS_US = (50.0, 100.0, 5000.0, 10000.0, 100000.0, 10000000.0)
_OP_LABELS = tuple(str(op) for op in range(256))

# tg_stats_map: u64 sent_failed[256][7] per CPU (bpf/lib/common.h)
_ERR_NAMES = ("unknown", "ENOENT", "E2BIG", "EBUSY", "EINVAL", "ENOSPC", "EAGAIN")
_STATS = struct.Struct(f"<{256 * len(_ERR_NAMES)}Q")


class Observer:
    """Op-code dispatch from raw records to decoded messages, with Tetragon's observer metrics."""

    def __init__(
        self,
        registry: Registry,
        listener: Listener,
        on_batch: Callable[[], None] | None = None,
        *,
        handling_latency: bool = False,
    ) -> None:
        self._decoders: list[Decoder | None] = [None] * 256
        self._owners: dict[int, str] = {}
        self._listener = listener
        # Called after every batch, so sinks are handed events once per batch, not once per event.
        self._on_batch = on_batch
        self._op_counts = [0] * 256
        self._unknown = 0
        self._failed = [0] * 256
        self._stats_map: Map | None = None
        registry.counter(
            "tetragon_msg_op_total",
            "The total number of times we encounter a given message opcode.",
            ("msg_op",),
            collect=self._collect_ops,
        )
        registry.counter(
            "tetragon_handler_errors_total",
            "The total number of event handler errors.",
            ("opcode", "error"),
            collect=self._collect_errors,
        )
        #: records decoded and handed to the listener
        self.delivered = 0
        #: called with (sensor, exception) when a sensor's decoder raises
        self.on_decode_error: Callable[[str, BaseException], None] | None = None
        # --enable-msg-handling-latency: each record's decode + handling time, per op code
        # (registered either way, as upstream does, so that dashboards find the family)
        latency = registry.histogram(
            "tetragon_handling_latency",
            "The latency of handling messages in us.",
            ("op",),
            LATENCY_BUCKETS_US,
        )
        self._latency: Histogram | None = latency if handling_latency else None
        registry.counter(
            "tetragon_observer_ringbuf_events_lost_total",
            "Number of ring buffer events lost.",
            collect=lambda: {(): float(sum(self.missed().values()))},
        )
        registry.counter(
            "tetragon_bpf_missed_events_total",
            "Number of Tetragon perf events that are failed to be sent from the kernel.",
            ("msg_op", "error"),
            collect=self._collect_missed,
        )

    def add_decoders(self, owner: str, decoders: Mapping[int, Decoder]) -> None:
        """Route records with these op codes to ``owner``'s decoders."""
        for op in decoders:
            if op in self._owners:
                raise SensorError(
                    f"sensor {owner!r}: op code {op} is already decoded by {self._owners[op]!r}"
                )
        for op, fn in decoders.items():
            self._decoders[op] = fn
            self._owners[op] = owner

    def remove_decoders(self, owner: str) -> None:
        for op, who in list(self._owners.items()):
            if who == owner:
                self._decoders[op] = None
                del self._owners[op]

    def set_stats_map(self, m: Map) -> None:
        """The kernel's per-op output-failure counters (tg_stats_map)."""
        self._stats_map = m

    def handle_records(self, records: Iterable[bytes]) -> int:
        """Decode and deliver a batch of raw records; returns how many were delivered."""
        if self._latency is not None:
            n = self._deliver_timed(records, self._latency)
        else:
            n = self._deliver(records)
        if self._on_batch is not None:
            self._on_batch()
        return n

    def _deliver_timed(self, records: Iterable[bytes], hist: Histogram) -> int:
        """:meth:`_deliver`, timing each record (its own loop: the untimed one stays lean)."""
        clock = time.perf_counter_ns
        observe = hist.observe
        names = _OP_LABELS
        n = 0
        for rec in records:
            t0 = clock()
            n += self._deliver((rec,))
            if rec:
                observe((clock() - t0) / 1000, names[rec[0]])
        return n

    def _deliver(self, records: Iterable[bytes]) -> int:
        """Decode each record and hand its message to the listener; returns how many."""
        decoders = self._decoders
        counts = self._op_counts
        listener = self._listener
        n = 0
        for rec in records:
            if not rec:
                self._unknown += 1
                continue
            op = rec[0]
            counts[op] += 1
            dec = decoders[op]
            if dec is None:
                self._unknown += 1
                continue
            try:
                msg = dec(rec)
            except Exception as e:  # a malformed record or a plugin's bug must not stop the reader
                self._failed[op] += 1
                log.warning("decoding op %d record of %d bytes failed: %r", op, len(rec), e)
                if self.on_decode_error is not None:
                    self.on_decode_error(self._owners.get(op, "?"), e)
                continue
            try:
                listener(msg)
            except Exception as e:
                self._failed[op] += 1
                log.warning("handling op %d record of %d bytes failed: %r", op, len(rec), e)
                continue
            n += 1
        self.delivered += n
        return n

    def missed(self) -> dict[tuple[str, str], int]:
        """Records the kernel could not write into the ring, by (op name, error)."""
        if self._stats_map is None:
            return {}
        out: dict[tuple[str, str], int] = {}
        for cpu in self._stats_map.lookup_percpu(b"\0\0\0\0"):
            vals = _STATS.unpack_from(cpu)
            for i, v in enumerate(vals):
                if v:
                    op, err = divmod(i, len(_ERR_NAMES))
                    key = (str(op), _ERR_NAMES[err])
                    out[key] = out.get(key, 0) + v
        return out

    def _collect_missed(self) -> dict[tuple[str, ...], float]:
        return {k: float(v) for k, v in self.missed().items()}

    def _collect_ops(self) -> dict[tuple[str, ...], float]:
        return {(str(op),): float(c) for op, c in enumerate(self._op_counts) if c}

    def _collect_errors(self) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        if self._unknown:
            out[("0", "unknown_opcode")] = float(self._unknown)
        for op, c in enumerate(self._failed):
            if c:
                out[(str(op), "event_handler_failed")] = float(c)
        return out

    @staticmethod
    def op_name(op: int) -> str:
        return OP_NAMES.get(op, str(op))


class RingReader:
    """The asyncio task that drains a RingBuffer into a bounded queue, and the queue into an
    Observer (Tetragon's channel of ``--rb-queue-size`` records between the ring reader and the
    handlers).

    Each turn copies what the ring holds into the queue, so the kernel's space is released at
    once even while handlers are slow (the default ring is 64 KiB per CPU; the queue holds 65535
    records); once the queue is full the rest waits in the ring. Then up to ``batch`` queued
    records are handled. Producers submit without waking us (a wakeup per event costs them
    microseconds, and the reader a turn per event); we poll, and the kernel wakes us early past
    the fill watermark. The poll adapts: every ``busy_poll_interval`` while records keep
    arriving (an exec reaches GetEvents within about that), doubling back to ``poll_interval``
    once the ring stays empty (the idle cost stays ~200 turns a second).
    """

    def __init__(
        self,
        ring: RingLike,
        observer: Observer,
        *,
        registry: Registry | None = None,
        queue_size: int = 65535,
        poll_interval: float = 0.005,
        busy_poll_interval: float = 0.001,
        batch: int = 4096,
        backlogged: Callable[[], bool] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.ring = ring
        self.observer = observer
        self.poll_interval = poll_interval
        self.busy_poll_interval = min(busy_poll_interval, poll_interval)
        self.batch = batch
        #: True while a sink that must not lose events (the JSON export) is behind: handling
        #: pauses and the queue holds the records (a full queue drops and counts)
        self.backlogged = backlogged
        self.queue_size = queue_size
        self.queue: deque[list[bytes]] = deque()
        self.queued = 0
        #: records that entered the queue; Tetragon's count of records a full queue dropped stays
        #: 0 here, as a full queue leaves them in the ring instead
        self.queue_received = 0
        self.queue_lost = 0
        self._wake = asyncio.Event()
        if registry is not None:
            registry.counter(
                "tetragon_observer_ringbuf_events_received_total",
                "Number of ring buffer events received.",
                collect=lambda: {(): float(self.ring.received)},
            )
            registry.counter(
                "tetragon_observer_ringbuf_errors_total",
                "Number of errors when reading Tetragon ring buffer.",
                collect=lambda: {(): float(getattr(self.ring, "errors", 0))},
            )
            registry.counter(
                "tetragon_observer_ringbuf_queue_events_received_total",
                "Number of ring buffer events queue received.",
                collect=lambda: {(): float(self.queue_received)},
            )
            registry.counter(
                "tetragon_observer_ringbuf_queue_events_lost_total",
                "Number of ring buffer events queue lost.",
                collect=lambda: {(): float(self.queue_lost)},
            )

    def fill(self) -> int:
        """Copy records from the ring into the queue until the ring is empty or the queue full;
        returns how many were read. What does not fit stays in the ring, the larger buffer: the
        queue never drops, and when the ring fills too the kernel counts what it cannot write
        (``tetragon_bpf_missed_events_total``)."""
        total = 0
        read_batch = self.ring.read_batch
        while True:
            free = self.queue_size - self.queued
            if free <= 0:
                return total
            recs = read_batch(min(self.batch, free))
            n = len(recs)
            if not n:
                return total
            total += n
            self.queue.append(recs)
            self.queued += n
            self.queue_received += n

    def handle(self, limit: int) -> int:
        """Hand up to ``limit`` queued records to the observer, oldest first; returns how many."""
        done = 0
        queue = self.queue
        while queue and done < limit:
            recs = queue.popleft()
            room = limit - done
            if len(recs) > room:
                queue.appendleft(recs[room:])
                recs = recs[:room]
            self.queued -= len(recs)
            done += len(recs)
            self.observer.handle_records(recs)
        return done

    def drain(self) -> int:
        """Process everything in the ring and the queue now; returns the number of records."""
        total = 0
        while True:
            self.fill()
            n = self.handle(self.queue_size)
            if not n:
                return total
            total += n

    async def run(self) -> None:
        """Drain until cancelled. The owner drains once more after detaching the producers."""
        loop = asyncio.get_running_loop()
        fd = getattr(self.ring, "fd", None)
        if fd is not None:
            loop.add_reader(fd, self._wake.set)
        interval = self.poll_interval
        try:
            while True:
                if self.fill():
                    interval = self.busy_poll_interval
                if self.queued:
                    if self.backlogged is not None and self.backlogged():
                        await asyncio.sleep(self.poll_interval)
                        continue
                    self.handle(self.batch)
                    await asyncio.sleep(0)  # let sinks and servers run between batches
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
                interval = min(interval * 2, self.poll_interval)
        finally:
            if fd is not None:
                loop.remove_reader(fd)


class RingLike(Protocol):
    """What the reader needs of a ring: :class:`RingBuffer` or the replaying ReplayRing."""

    received: int

    def read_batch(self, max_records: int = ...) -> list[bytes]: ...
