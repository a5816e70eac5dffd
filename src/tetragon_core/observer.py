"""The observer: drains the shared ring buffer and dispatches each record by its op code.

Records are copied out of the ring in batches and the ring space released at once; each record
then goes to the decoder registered for byte 0, and the decoded message to the listener. A record
nobody decodes, or one whose decoder fails, is counted and dropped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Iterable, Mapping

from tetragon_core.bpf.maps import Map
from tetragon_core.bpf.ringbuf import RingBuffer
from tetragon_core.exceptions import SensorError
from tetragon_core.metrics import Registry
from tetragon_core.process.messages import OP_NAMES

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], object]
Listener = Callable[[object], None]

# tg_stats_map: u64 sent_failed[256][7] per CPU (bpf/lib/common.h)
_ERR_NAMES = ("unknown", "ENOENT", "E2BIG", "EBUSY", "EINVAL", "ENOSPC", "EAGAIN")
_STATS = struct.Struct(f"<{256 * len(_ERR_NAMES)}Q")


class Observer:
    """Op-code dispatch from raw records to decoded messages, with Tetragon's observer metrics."""

    def __init__(
        self, registry: Registry, listener: Listener, on_batch: Callable[[], None] | None = None
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
        registry.gauge(
            "tetragon_msg_op_total",
            "The total number of times we encounter a given message opcode.",
            ("msg_op",),
            collect=self._collect_ops,
        )
        registry.gauge(
            "tetragon_handler_errors_total",
            "The total number of event handler errors.",
            ("opcode", "error"),
            collect=self._collect_errors,
        )
        self.received = registry.counter(
            "tetragon_observer_ringbuf_events_received_total", "Number of ring buffer events received."
        )
        registry.gauge(
            "tetragon_observer_ringbuf_events_lost_total",
            "Number of ring buffer events lost.",
            collect=lambda: {(): float(sum(self.missed().values()))},
        )
        registry.gauge(
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
                listener(dec(rec))
            except Exception as e:  # a malformed record or a handler bug must not stop the reader
                self._failed[op] += 1
                log.warning("handling op %d record of %d bytes failed: %r", op, len(rec), e)
                continue
            n += 1
        self.received.inc(by=n)
        if self._on_batch is not None:
            self._on_batch()
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
    """The asyncio task that drains a RingBuffer into an Observer.

    Producers submit without waking us (a wakeup per event costs them microseconds); we poll
    every ``poll_interval`` seconds, and the kernel wakes us early past the fill watermark.
    """

    def __init__(
        self,
        ring: RingBuffer,
        observer: Observer,
        *,
        poll_interval: float = 0.005,
        batch: int = 4096,
        backlogged: Callable[[], bool] | None = None,
    ) -> None:
        self.ring = ring
        self.observer = observer
        self.poll_interval = poll_interval
        self.batch = batch
        #: True while a sink that must not lose events (the JSON export) is behind: reading then
        #: pauses and the ring holds the records (a full ring is counted by the kernel)
        self.backlogged = backlogged
        self._wake = asyncio.Event()

    def drain(self) -> int:
        """Process everything in the ring now; returns the number of records."""
        total = 0
        while True:
            recs = self.ring.read_batch(self.batch)
            if not recs:
                return total
            self.observer.handle_records(recs)
            total += len(recs)

    async def run(self) -> None:
        """Drain until cancelled. The owner drains once more after detaching the producers."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.ring.fd, self._wake.set)
        try:
            while True:
                if self.backlogged is not None and self.backlogged():
                    await asyncio.sleep(self.poll_interval)
                    continue
                recs = self.ring.read_batch(self.batch)
                if recs:
                    self.observer.handle_records(recs)
                    if len(recs) == self.batch:
                        await asyncio.sleep(0)  # let sinks and servers run between full batches
                        continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            loop.remove_reader(self.ring.fd)
