"""GetEvents writes several messages per DATA write; clients still see every message, in order.

The server is the real one (``start_server`` on 127.0.0.1, a free port) with a hub fed in-process;
no root is needed. The clients are tetra's grpclib client and an independent grpcio client.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpclib.protocol
import grpclib.server
import pytest
from google.protobuf import field_mask_pb2
from grpclib.const import Cardinality, Handler
from grpclib.encoding.proto import ProtoCodec
from grpclib.server import Server

from tests.unit import samples
from tetragon_core.api.convert import to_proto
from tetragon_core.api.tetragon import events_pb2, sensors_pb2
from tetragon_core.cli.grpc_client import get_events
from tetragon_core.events import GetEventsResponse
from tetragon_core.filters import EventFilter
from tetragon_core.grpc import batchsend, eventstream
from tetragon_core.grpc.hub import EventHub, EventQueue
from tetragon_core.grpc.server import start_server, stop_server
from tetragon_core.metrics import Registry

GET_EVENTS = "/tetragon.FineGuidanceSensors/GetEvents"


def _events(n: int, first_pid: int = 1000) -> list[GetEventsResponse]:
    """n exec events with distinct pids (``first_pid`` up), ~500 bytes each as protobuf."""
    out = []
    for i in range(n):
        ev = samples.exec_with_parent()
        assert ev.process_exec is not None and ev.process_exec.process is not None
        ev.process_exec.process.pid = first_pid + i
        out.append(ev)
    return out


def _pid(msg: Any) -> int:
    return int(msg.process_exec.process.pid.value)


class _Recorder:
    """Records the number of messages of each coalesced write (patched over MessageBatch.flush)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[int] = []
        self.coalescing: list[bool] = []
        flush = batchsend.MessageBatch.flush

        async def recording_flush(batch: batchsend.MessageBatch) -> None:
            if batch.count:
                self.writes.append(batch.count)
                self.coalescing.append(batch.coalescing)
            await flush(batch)

        monkeypatch.setattr(batchsend.MessageBatch, "flush", recording_flush)


@contextlib.asynccontextmanager
async def _server(queue_size: int = 100_000) -> AsyncIterator[tuple[str, EventHub, Registry]]:
    reg = Registry()
    hub = EventHub(reg, queue_size)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server, addr = await start_server(f"127.0.0.1:{port}", hub)
    try:
        yield f"127.0.0.1:{port}", hub, reg
    finally:
        hub.close()
        await stop_server(server, addr)


async def _until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _grpcio_collect(address: str, n: int, request: events_pb2.GetEventsRequest) -> list[Any]:
    """n messages of GetEvents, with grpcio (blocking; runs in a thread)."""
    with grpc.insecure_channel(address) as ch:
        call = ch.unary_stream(
            GET_EVENTS,
            request_serializer=events_pb2.GetEventsRequest.SerializeToString,
            response_deserializer=events_pb2.GetEventsResponse.FromString,
        )
        it = call(request, timeout=30)
        got = []
        try:
            for msg in it:
                got.append(msg)
                if len(got) == n:
                    break
        finally:
            it.cancel()
        return got


# -- the grpclib internals batchsend relies on ------------------------------------------------------


def test_grpclib_internals_are_where_batchsend_expects() -> None:
    """Fails loudly when a grpclib upgrade moves what batchsend.py uses (see its docstring)."""
    params = list(inspect.signature(grpclib.protocol.Stream.send_data).parameters)
    assert params[:3] == ["self", "data", "end_stream"], params
    assert inspect.iscoroutinefunction(grpclib.protocol.Stream.send_data)
    init = inspect.signature(grpclib.server.Stream.__init__).parameters
    assert {"stream", "codec", "dispatch"} <= set(init), list(init)
    for name in ("_send_initial_metadata_done", "_send_message_done", "_messages_sent"):
        assert hasattr(grpclib.server.Stream, name), name

    seen: dict[str, Any] = {}

    async def handler(stream: grpclib.server.Stream[Any, Any]) -> None:
        await stream.recv_message()
        seen["raw"] = stream._stream
        seen["codec"] = stream._codec
        seen["listeners"] = stream._dispatch._listeners
        seen["usable"] = batchsend.coalescing_usable(stream)
        batch = batchsend.MessageBatch(stream)
        batch.add(sensors_pb2.GetVersionResponse(version="x"))
        await batch.flush()
        seen["sent"] = (stream._messages_sent, stream._send_message_done)
        seen["conn"] = (stream._stream.connection.messages_sent, stream._stream.connection.last_message_sent)

    class Svc:
        def __mapping__(self) -> dict[str, Handler]:
            path = "/tetragon.FineGuidanceSensors/GetVersion"
            return {
                path: Handler(
                    handler,
                    Cardinality.UNARY_UNARY,
                    sensors_pb2.GetVersionRequest,
                    sensors_pb2.GetVersionResponse,
                )
            }

    async def main() -> None:
        server = Server([Svc()])
        await server.start("127.0.0.1", 0)
        port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = ch.unary_unary(
                    "/tetragon.FineGuidanceSensors/GetVersion",
                    request_serializer=sensors_pb2.GetVersionRequest.SerializeToString,
                    response_deserializer=sensors_pb2.GetVersionResponse.FromString,
                )
                reply = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: call(sensors_pb2.GetVersionRequest(), timeout=10)
                )
        finally:
            server.close()
            await server.wait_closed()
        assert reply.version == "x"

    asyncio.run(main())
    assert isinstance(seen["raw"], grpclib.protocol.Stream)
    assert isinstance(seen["codec"], ProtoCodec)
    assert isinstance(seen["listeners"], dict)
    assert seen["usable"] is True, "coalescing is not used on a default grpclib server"
    assert seen["sent"] == (1, True)
    assert seen["conn"][0] == 1 and isinstance(seen["conn"][1], float)


# -- clients see every message of a coalesced burst -------------------------------------------------


def test_grpcio_client_receives_a_coalesced_burst_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _Recorder(monkeypatch)
    n = 3000
    events = _events(n)

    async def main() -> list[Any]:
        async with _server() as (address, hub, _):
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, _grpcio_collect, address, n, events_pb2.GetEventsRequest())
            await _until(lambda: hub.clients == 1, "the client to subscribe")
            hub.submit_many(events)  # one burst: the handler finds 3000 events queued
            return await asyncio.wait_for(fut, 60)

    got = asyncio.run(main())
    assert [_pid(m) for m in got] == list(range(1000, 1000 + n))
    assert got[0].SerializeToString() == to_proto(events[0]).SerializeToString()
    assert all(rec.coalescing)
    assert sum(rec.writes) == n
    assert max(rec.writes) > 50, rec.writes  # several messages per write, not one each
    assert len(rec.writes) < n // 50, len(rec.writes)


def test_grpclib_client_receives_a_coalesced_burst_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _Recorder(monkeypatch)
    n = 3000
    events = _events(n)

    async def main() -> list[Any]:
        async with _server() as (address, hub, _):
            got: list[Any] = []

            async def collect() -> None:
                stream = get_events(address, events_pb2.GetEventsRequest(), 10.0)
                async with contextlib.aclosing(stream):
                    async for msg in stream:
                        got.append(msg)
                        if len(got) == n:
                            return

            task = asyncio.create_task(collect())
            await _until(lambda: hub.clients == 1, "the client to subscribe")
            hub.submit_many(events)
            await asyncio.wait_for(task, 60)
            return got

    got = asyncio.run(main())
    assert [_pid(m) for m in got] == list(range(1000, 1000 + n))
    assert got[-1].SerializeToString() == to_proto(events[-1]).SerializeToString()
    assert all(rec.coalescing) and sum(rec.writes) == n and max(rec.writes) > 50


def test_filters_field_filters_and_a_bad_event_in_a_coalesced_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per event: the allow list, the field filter; an event that cannot be converted is skipped
    and counted, and the rest of its batch is sent."""
    rec = _Recorder(monkeypatch)
    events = _events(400)
    bad = events[101]
    bad.time = "not a timestamp"  # to_proto raises ConversionError
    wanted = [p for p in range(1000, 1400) if p % 2 == 0]
    request = events_pb2.GetEventsRequest(
        allow_list=[events_pb2.Filter(pid=[*wanted, 1101])],  # 1101 passes, then fails conversion
        field_filters=[
            events_pb2.FieldFilter(
                event_set=[events_pb2.PROCESS_EXEC],
                fields=field_mask_pb2.FieldMask(paths=["process.pid", "process.binary"]),
                action=events_pb2.INCLUDE,
            )
        ],
    )

    async def main() -> tuple[list[Any], float]:
        async with _server() as (address, hub, reg):
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, _grpcio_collect, address, len(wanted), request)
            await _until(lambda: hub.clients == 1, "the client to subscribe")
            hub.submit_many(events)
            got = await asyncio.wait_for(fut, 60)
            return got, reg["tetragon_grpc_conversion_errors_total"].get()

    got, errors = asyncio.run(main())
    assert [_pid(m) for m in got] == wanted
    assert errors == 1
    first = got[0]
    assert first.node_name == samples.NODE and first.HasField("time")  # not event fields: kept
    assert first.process_exec.process.binary and not first.process_exec.process.exec_id
    assert not first.process_exec.HasField("parent")
    assert sum(rec.writes) == len(wanted) and max(rec.writes) > 10


# -- the loop is yielded between batches --------------------------------------------------------


def test_a_backlog_yields_the_loop_between_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """With thousands of events queued, other tasks run between the handler's writes."""

    class FakeBatch:
        coalescing = True

        def __init__(self, stream: Any) -> None:
            self.count = 0
            self.size = 0

        def add(self, msg: Any) -> int:
            self.count += 1
            self.size += msg.ByteSize() + 5
            return self.size

        def add_bytes(self, data: bytes) -> int:
            self.count += 1
            self.size += len(data) + 5
            return self.size

        async def flush(self) -> None:  # never suspends, like a write to a socket with room
            writes.append((self.count, ticks))
            self.count = self.size = 0

    writes: list[tuple[int, int]] = []
    ticks = 0
    monkeypatch.setattr(eventstream, "MessageBatch", FakeBatch)

    async def main() -> None:
        nonlocal ticks
        q = EventQueue(100_000)
        for ev in _events(2000):
            assert q.push(ev)
        reg = Registry()
        errors = reg.counter("errors_total", "")
        task = asyncio.create_task(eventstream.send_events(None, q, EventFilter(), None, errors))  # type: ignore[arg-type]
        while q.qsize() or not writes:
            ticks += 1
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sum(n for n, _ in writes) == 2000
    assert len(writes) >= 2000 // eventstream.BATCH_EVENTS
    assert all(n <= eventstream.BATCH_EVENTS for n, _ in writes)
    seen = [t for _, t in writes]
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen  # a tick between every two writes


def test_batches_are_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []

    class FakeBatch:
        coalescing = True

        def __init__(self, stream: Any) -> None:
            self.count = self.size = 0

        def add(self, msg: Any) -> int:
            self.count += 1
            self.size += msg.ByteSize() + 5
            return self.size

        def add_bytes(self, data: bytes) -> int:
            self.count += 1
            self.size += len(data) + 5
            return self.size

        async def flush(self) -> None:
            sizes.append(self.size)
            self.count = self.size = 0

    monkeypatch.setattr(eventstream, "MessageBatch", FakeBatch)
    events = _events(600)
    one = to_proto(events[0]).SerializeToString()

    async def main() -> None:
        q = EventQueue(100_000)
        for ev in events:
            assert q.push(ev)
        errors = Registry().counter("errors_total", "")
        task = asyncio.create_task(
            eventstream.send_events(None, q, EventFilter(), None, errors, batch_bytes=16_384)  # type: ignore[arg-type]
        )
        while q.qsize() or sum(sizes) < 600 * (len(one) + 5) - 1_000:
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert max(sizes) < 16_384 + len(one) + 100  # the limit, plus at most the one that crossed it
    assert len(sizes) >= 600 * len(one) // (16_384 + len(one) + 100)


# -- the hub's per-client queue -----------------------------------------------------------------


def test_event_queue_bounds_order_and_wakeup() -> None:
    events = _events(10)

    async def main() -> None:
        q = EventQueue(4)
        assert q.empty() and q.qsize() == 0
        assert q.push_many(events[:3]) == 3
        assert q.push_many(events[3:6]) == 1  # only one more fits
        assert not q.push(events[6])
        assert q.qsize() == 4
        assert [await q.get(), q.get_nowait(), q.get_nowait(), q.get_nowait()] == events[:4]
        with pytest.raises(asyncio.QueueEmpty):
            q.get_nowait()

        reader = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        assert not reader.done()  # waits while empty
        with pytest.raises(RuntimeError, match="one reader"):
            await q.get()
        assert q.push(events[7])
        assert await asyncio.wait_for(reader, 5) is events[7]

        cancelled = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        assert q.push_many(events[8:]) == 2  # a cancelled reader leaves no stale waiter
        assert [await q.get(), await q.get()] == events[8:]

    asyncio.run(main())
    with pytest.raises(ValueError):
        EventQueue(0)


def test_hub_counts_what_a_full_queue_refuses() -> None:
    reg = Registry()
    hub = EventHub(reg, 3)
    events = _events(5)
    with hub.subscribe() as q, hub.subscribe() as q2:
        assert hub.clients == 2
        hub.submit_many(events[:2])
        assert q2.get_nowait() is events[0]  # q2 now has room for 2 more, q for 1
        hub.submit_many(events[2:4])  # q refuses events[3]
        assert not hub.submit(events[4])  # both refuse it
        assert q.qsize() == 3 and q2.qsize() == 3
        assert [q.get_nowait() for _ in range(3)] == events[:3]
        assert [q2.get_nowait() for _ in range(3)] == events[1:4]
    assert hub.clients == 0
    assert reg["tetragon_notify_overflowed_events_total"].get() == 3
