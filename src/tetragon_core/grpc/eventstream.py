"""The body of a GetEvents stream: a client's hub queue to the wire, several messages per write.

Each turn takes the event the queue gives (waiting if it is empty), then whatever else is already
queued, up to :data:`BATCH_BYTES` of serialized messages or :data:`BATCH_EVENTS` events looked at.
Every event is filtered, field-filtered and converted on its own; an event that fails conversion is
counted and skipped, and the others of its batch are sent. The batch goes out in one write (one
``send_data`` call, which h2 cuts into DATA frames of at most the peer's frame size; messages may
straddle frames, as gRPC allows; see :mod:`tetragon_core.grpc.batchsend`), then the handler yields
to the event loop, so a backlog never keeps the loop from the ring reader for more than one batch.
A lone event is sent at once: nothing waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from grpclib.server import Stream

from tetragon_core.aggregation import Admission, Aggregator
from tetragon_core.api.convert import ConversionError, to_proto
from tetragon_core.api.wire import event_bytes
from tetragon_core.events import GetEventsResponse
from tetragon_core.filters import EventFilter
from tetragon_core.grpc.batchsend import MessageBatch
from tetragon_core.grpc.hub import EventQueue
from tetragon_core.metrics import Metric

log = logging.getLogger(__name__)

#: a batch is sent once its serialized messages reach this many bytes (h2 splits it into frames)
BATCH_BYTES = 64 * 1024
#: ... or once this many queued events were looked at (filtered-out ones included)
BATCH_EVENTS = 512


async def send_events(
    stream: Stream[Any, Any],
    queue: EventQueue,
    event_filter: EventFilter,
    fields: Callable[[GetEventsResponse], GetEventsResponse] | None,
    conversion_errors: Metric,
    *,
    batch_bytes: int = BATCH_BYTES,
    batch_events: int = BATCH_EVENTS,
) -> None:
    """Stream ``queue`` to ``stream`` until the stream is cancelled."""
    batch = MessageBatch(stream)
    passes = None if event_filter.passes_everything else event_filter
    # coalescing takes bytes: exec/exit events are serialized without a protobuf object (api/wire.py)
    add: Callable[[Any], int]
    convert: Callable[[GetEventsResponse], Any]
    if batch.coalescing:
        add, convert = batch.add_bytes, event_bytes
    else:
        add, convert = batch.add, to_proto
    while True:
        ev = await queue.get()
        looked = size = 0
        while True:
            looked += 1
            if passes is None or passes(ev):
                if fields is not None:
                    ev = fields(ev)
                try:
                    msg = convert(ev)
                except ConversionError as e:  # one bad event must not end the stream
                    conversion_errors.inc()
                    log.warning("GetEvents: event not sent: %s", e)
                else:
                    size = add(msg)
            if looked >= batch_events or size >= batch_bytes or queue.empty():
                break
            ev = queue.get_nowait()
        await batch.flush()
        await asyncio.sleep(0)  # let the ring reader (same loop) run between batches


async def send_aggregated(
    stream: Stream[Any, Any],
    queue: EventQueue,
    event_filter: EventFilter,
    fields: Callable[[GetEventsResponse], GetEventsResponse] | None,
    conversion_errors: Metric,
    admission: Admission,
    *,
    batch_events: int = BATCH_EVENTS,
) -> None:
    """A stream with ``aggregation_options``: the filtered events pass through the
    stream's aggregation buffer (:mod:`tetragon_core.aggregation`) to the wire, in order."""
    batch = MessageBatch(stream)
    passes = None if event_filter.passes_everything else event_filter

    async def send(events: list[GetEventsResponse]) -> None:
        for ev in events:
            try:
                msg = event_bytes(ev) if batch.coalescing else to_proto(ev)
            except ConversionError as e:
                conversion_errors.inc()
                log.warning("GetEvents: event not sent: %s", e)
                continue
            if batch.coalescing:
                batch.add_bytes(msg)
            else:
                batch.add(msg)
        await batch.flush()
        await asyncio.sleep(0)

    agg = Aggregator(admission, send)

    async def pump() -> None:
        while True:
            got = [await queue.get()]
            while len(got) < batch_events and not queue.empty():
                got.append(queue.get_nowait())
            kept = [ev for ev in got if passes is None or passes(ev)]
            agg.push_many([fields(ev) for ev in kept] if fields is not None else kept)

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(agg.run())
            tg.create_task(pump())
    except BaseExceptionGroup as eg:  # the stream's own error, not a group of one
        raise eg.exceptions[0] from None
