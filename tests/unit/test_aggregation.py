"""Aggregation: the options and their refusals, the buffer rule shared by the JSON export and
GetEvents, and a GetEvents stream with aggregation_options against the real grpclib server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import duration_pb2
from grpclib import GRPCError, Status

from tests.unit.test_export_json import GatedFile
from tests.unit.test_grpc_batchsend import _events, _pid, _server, _until
from tetragon_core.aggregation import Admission, AggregationOptions, Aggregator, dropped_metric
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.cli.grpc_client import get_events
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.export.jsonexport import JsonExporter
from tetragon_core.metrics import Registry


def test_request_options() -> None:
    opts = AggregationOptions.from_request(events_pb2.AggregationOptions())
    assert (opts.window_s, opts.buffer_size) == (15.0, 10000)  # unset window, 0 buffer: defaults
    opts = AggregationOptions.from_request(
        events_pb2.AggregationOptions(window_size=duration_pb2.Duration(seconds=15), channel_buffer_size=7)
    )
    assert (opts.window_s, opts.buffer_size) == (15.0, 7)
    with pytest.raises(ConfigError, match=r"^aggregation_options.window_size: no event type of the API"):
        AggregationOptions.from_request(
            events_pb2.AggregationOptions(window_size=duration_pb2.Duration(seconds=5))
        )
    with pytest.raises(ConfigError, match=r"^--export-aggregation-buffer-size: .* at least one event"):
        AggregationOptions.checked(
            15, 0, "--export-aggregation-window-size", "--export-aggregation-buffer-size"
        )


def test_admission_takes_what_fits_and_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    reg = Registry()
    adm = Admission(AggregationOptions(buffer_size=5), dropped_metric(reg), "export")
    evs = _events(4)
    assert adm.admit(0, evs) == evs
    assert adm.admit(3, evs) == evs[:2]
    assert adm.admit(9, evs) == []
    assert reg["tetragon_aggregation_events_dropped_total"].get("export") == 6
    assert sum("aggregation buffer is full" in r.getMessage() for r in caplog.records) == 1  # once per 10 s


def test_the_aggregator_sends_in_order_and_drops_past_its_buffer() -> None:
    reg = Registry()
    sent: list[GetEventsResponse] = []
    release = asyncio.Event()

    async def send(evs: list[GetEventsResponse]) -> None:
        await release.wait()  # a slow client
        sent.extend(evs)

    async def main() -> None:
        agg = Aggregator(
            Admission(AggregationOptions(buffer_size=10), dropped_metric(reg), "getevents"), send
        )
        task = asyncio.create_task(agg.run(batch=4))
        evs = _events(30)
        assert agg.push_many(evs[:10]) == 10
        await asyncio.sleep(0.01)  # the first batch of 4 is taken, waiting on the client
        assert agg.push_many(evs[10:30]) == 4  # room for the 4 taken out
        release.set()
        await _until(lambda: agg.pending() == 0 and len(sent) == 14, "the buffer to drain")
        task.cancel()
        assert [e.process_exec.process.pid for e in sent] == list(range(1000, 1014))  # type: ignore[union-attr]

    asyncio.run(main())
    assert reg["tetragon_aggregation_events_dropped_total"].get("getevents") == 16


def test_the_json_export_drops_past_its_aggregation_buffer(tmp_path: Path) -> None:
    gated = GatedFile
    gated.gate.clear()
    gated.entered.clear()
    reg = Registry()
    adm = Admission(AggregationOptions(buffer_size=3), dropped_metric(reg), "export")
    out = tmp_path / "export.log"
    exp = JsonExporter(out, registry=reg, queue_size=1000, batch_size=1, writer_cls=gated, aggregation=adm)
    try:
        assert exp.submit_many(_events(1, first_pid=1)) == 1
        assert gated.entered.wait(10)  # the writer holds event 1 on a stuck disk
        assert exp.submit_many(_events(5, first_pid=10)) == 3  # the buffer holds 3
        assert not exp.backlogged()  # it drops rather than pausing the ring reader
        assert exp.submit_many(_events(2, first_pid=20)) == 0
    finally:
        gated.gate.set()
        exp.close(timeout=10)
    pids = [json.loads(line)["process_exec"]["process"]["pid"] for line in out.read_text().splitlines()]
    assert pids == [1, 10, 11, 12]
    assert reg["tetragon_aggregation_events_dropped_total"].get("export") == 4


def test_get_events_with_aggregation_options() -> None:
    n = 500

    async def main() -> tuple[list[Any], GRPCError]:
        async with _server() as (address, hub, _):
            got: list[Any] = []
            req = events_pb2.GetEventsRequest(
                aggregation_options=events_pb2.AggregationOptions(channel_buffer_size=100_000)
            )

            async def collect() -> None:
                stream = get_events(address, req, 10.0)
                async with contextlib.aclosing(stream):
                    async for msg in stream:
                        got.append(msg)
                        if len(got) == n:
                            return

            task = asyncio.create_task(collect())
            await _until(lambda: hub.clients == 1, "the client to subscribe")
            hub.submit_many(_events(n))
            await asyncio.wait_for(task, 60)
            bad = events_pb2.GetEventsRequest(
                aggregation_options=events_pb2.AggregationOptions(
                    window_size=duration_pb2.Duration(seconds=1)
                )
            )
            with pytest.raises(GRPCError) as err:
                async with contextlib.aclosing(get_events(address, bad, 10.0)) as s:
                    async for _ in s:
                        pass
            return got, err.value

    got, err = asyncio.run(main())
    assert [_pid(m) for m in got] == list(range(1000, 1000 + n))
    assert not any(m.HasField("aggregation_info") for m in got)  # nothing of an aggregated type
    assert err.status == Status.INVALID_ARGUMENT and "aggregation_options.window_size" in str(err.message)
