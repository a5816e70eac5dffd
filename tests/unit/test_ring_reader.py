"""The ring reader's bounded queue (``--rb-queue-size``), on a replayed ring: no kernel needed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from tests.promtext import families, value
from tetragon_core.bpf.replay import ReplayRing
from tetragon_core.metrics import Registry
from tetragon_core.observer import Observer, RingReader

OP = 200  # an op code nobody else uses: each record is one message


def _setup(n: int, queue_size: int, batch: int = 64) -> tuple[ReplayRing, RingReader, list[bytes], Registry]:
    reg = Registry()
    got: list[bytes] = []
    obs = Observer(reg, lambda msg: got.append(msg))  # type: ignore[arg-type]
    obs.add_decoders("test", {OP: lambda rec: rec})
    ring = ReplayRing(bytes([OP]) + i.to_bytes(4, "little") for i in range(n))
    return ring, RingReader(ring, obs, registry=reg, queue_size=queue_size, batch=batch), got, reg


def _ids(got: list[bytes]) -> list[int]:
    return [int.from_bytes(r[1:5], "little") for r in got]


def test_a_full_queue_leaves_the_rest_in_the_ring() -> None:
    ring, reader, got, reg = _setup(1000, queue_size=100)
    assert reader.fill() == 100
    assert (reader.queued, reader.queue_received, reader.queue_lost) == (100, 100, 0)
    assert len(ring._q) == 900  # waiting in the ring, not dropped
    assert reader.fill() == 0  # full: nothing more is read
    assert reader.handle(30) == 30 and reader.queued == 70
    assert reader.fill() == 30 and reader.queued == 100
    assert reg["tetragon_observer_ringbuf_queue_events_received_total"].get() == 130
    assert reg["tetragon_observer_ringbuf_events_received_total"].get() == 130
    assert reg["tetragon_observer_ringbuf_queue_events_lost_total"].get() == 0
    assert reader.drain() == 970
    assert _ids(got) == list(range(1000))  # oldest first, in order, none lost
    assert reader.queued == 0 and not reader.queue


def test_records_that_fit_are_all_delivered_in_order() -> None:
    ring, reader, got, _ = _setup(500, queue_size=65535, batch=7)
    assert reader.drain() == 500
    assert _ids(got) == list(range(500)) and reader.queue_lost == 0
    ring.feed([bytes([OP]) + (500).to_bytes(4, "little")])
    assert reader.drain() == 1 and _ids(got)[-1] == 500


def test_while_a_sink_is_backlogged_the_queue_fills_and_the_ring_holds_the_rest() -> None:
    backlog = {"on": True}
    ring, reader, got, _ = _setup(0, queue_size=50, batch=16)
    reader.backlogged = lambda: backlog["on"]
    reader.poll_interval = 0.001

    async def scenario() -> None:
        task = asyncio.create_task(reader.run())
        ring.feed(bytes([OP]) + i.to_bytes(4, "little") for i in range(80))
        for _ in range(200):
            await asyncio.sleep(0.002)
            if reader.queued == 50:
                break
        assert got == []  # nothing handled while backlogged
        assert (reader.queued, len(ring._q), reader.queue_lost) == (50, 30, 0)
        backlog["on"] = False
        for _ in range(200):
            await asyncio.sleep(0.002)
            if len(got) == 80:
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert _ids(got) == list(range(80))


def test_handling_latency_is_a_histogram_per_op_measured_only_when_enabled() -> None:
    reg = Registry()
    obs = Observer(reg, lambda msg: None, handling_latency=True)
    obs.add_decoders("test", {OP: lambda rec: rec})
    assert obs.handle_records([bytes([OP, i]) for i in range(5)]) == 5
    h = reg["tetragon_handling_latency"]
    assert h.kind == "histogram" and h.get(str(OP)) == 5
    text = reg.exposition()
    assert families(text)["tetragon_handling_latency"].type == "histogram"
    assert value(text, "tetragon_handling_latency_bucket", op=str(OP), le="+Inf") == 5
    assert value(text, "tetragon_handling_latency_count", op=str(OP)) == 5
    quiet = Registry()
    Observer(quiet, lambda msg: None)
    # registered all the same (dashboards find it), but nothing is measured
    assert families(quiet.exposition())["tetragon_handling_latency"].samples == []


def test_the_poll_is_quick_while_records_arrive_and_backs_off_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1 ms polls while the ring keeps giving records (so an exec reaches GetEvents within about
    that), doubling back to 5 ms once it stays empty (the idle cost)."""
    ring, reader, got, _ = _setup(0, queue_size=100)
    waits: list[float] = []
    real_wait_for = asyncio.wait_for

    async def recording_wait_for(aw: Coroutine[Any, Any, Any], timeout: float) -> Any:
        waits.append(timeout)
        if len(waits) == 3:  # a record arrives during the third wait
            ring.feed([bytes([OP]) + (7).to_bytes(4, "little")])
        if len(waits) >= 9:
            aw.close()
            raise asyncio.CancelledError
        return await real_wait_for(aw, 0)

    monkeypatch.setattr(asyncio, "wait_for", recording_wait_for)

    async def main() -> None:
        try:
            await reader.run()
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    assert _ids(got) == [7]
    assert waits == [0.005, 0.005, 0.005, 0.001, 0.002, 0.004, 0.005, 0.005, 0.005]
