"""A plugin's own event type through every consumer: JSON export, console, filters, field
filters, tetragon_events_total and GetEvents (read by an upstream-proto client)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from tetragon_core.api.convert import from_proto, to_proto
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.eventmetrics import EventMetrics
from tetragon_core.events import Process, encode_json
from tetragon_core.exceptions import SensorError
from tetragon_core.export.compact import render_compact
from tetragon_core.fieldfilters import compile_field_filters, parse_field_filter_lines
from tetragon_core.filters.compile import compile_filter
from tetragon_core.filters.parse import parse_filter_lines
from tetragon_core.metrics import Registry
from tetragon_core.plugin_events import (
    EventType,
    PluginEvent,
    UInt32,
    UInt64,
    by_name,
    proto_source,
    register,
)


class UnitSignal(PluginEvent):
    signal: str = ""
    target_pid: UInt32 = 0
    count: UInt64 = "0"
    notes: list[str] = []


def _render(ev: UnitSignal, info: str) -> str:
    return f"📶 signal  {info} {ev.signal} → {ev.target_pid}"


REG = register(EventType("unit_signal", UnitSignal, 50990, _render), "unit_test")


def _event() -> object:
    proc = Process(exec_id="ZXhl", pid=77, binary="/bin/kill", arguments="-TERM 4242")
    return REG.response(
        node_name="node-a",
        time="2026-12-03T01:02:03.000000004Z",
        unit_signal=UnitSignal(process=proc, signal="SIGTERM", target_pid=4242, count="9"),
    )


def test_the_json_export_carries_it_under_its_own_key() -> None:
    doc = json.loads(encode_json(_event()))  # type: ignore[arg-type]
    assert doc == {
        "node_name": "node-a",
        "time": "2026-12-03T01:02:03.000000004Z",
        "unit_signal": {
            "signal": "SIGTERM",
            "target_pid": 4242,
            "count": "9",
            "process": {"exec_id": "ZXhl", "pid": 77, "binary": "/bin/kill", "arguments": "-TERM 4242"},
        },
    }
    assert _event().event_type() == "UNIT_SIGNAL"  # type: ignore[attr-defined]


def test_get_events_carries_it_in_the_reserved_range_and_upstream_clients_skip_it() -> None:
    msg = to_proto(_event())  # type: ignore[arg-type]
    data = msg.SerializeToString()
    upstream = events_pb2.GetEventsResponse.FromString(data)  # a client built from upstream's proto
    assert upstream.node_name == "node-a" and upstream.WhichOneof("event") is None
    assert upstream.time.nanos == 4
    assert upstream.SerializeToString() == data  # the unknown field is kept, not lost
    # protojson of the extended message is the export's line
    want = json.loads(encode_json(_event()))  # type: ignore[arg-type]
    assert (
        json_format.MessageToDict(msg, preserving_proto_field_name=True)["unit_signal"]["process"]["pid"]
        == 77
    )
    # a client that knows the plugin (our tetra) reads it back
    back = from_proto(upstream)
    assert json.loads(encode_json(back)) == want
    assert "message UnitSignal {" in proto_source(REG) and "uint32 target_pid = 4;" in proto_source(REG)


def test_filters_field_filters_console_and_metrics() -> None:
    (allow,) = parse_filter_lines('{"event_set":["UNIT_SIGNAL"]}', "--export-allowlist")
    assert list(allow.event_set) == [50990]
    assert compile_filter(allow)(_event())  # type: ignore[arg-type]
    (other,) = parse_filter_lines('{"event_set":["PROCESS_EXEC"]}', "--export-allowlist")
    assert not compile_filter(other)(_event())  # type: ignore[arg-type]
    (bin_filter,) = parse_filter_lines('{"binary_regex":["^/bin/kill$"]}', "--export-allowlist")
    assert compile_filter(bin_filter)(_event())  # type: ignore[arg-type]

    ff = compile_field_filters(
        parse_field_filter_lines(
            '{"event_set":["UNIT_SIGNAL"],"fields":"signal,process.binary","action":"INCLUDE"}',
            "--field-filters",
        )
    )
    out = json.loads(encode_json(ff(_event())))  # type: ignore[arg-type]
    assert out["unit_signal"] == {"signal": "SIGTERM", "process": {"binary": "/bin/kill"}}
    with pytest.raises(Exception, match="no field 'nope'"):
        compile_field_filters(
            parse_field_filter_lines('{"event_set":["UNIT_SIGNAL"],"fields":"nope"}', "--field-filters")
        )

    line = render_compact(_event(), color=False, timestamps=False)  # type: ignore[arg-type]
    assert line == "📶 signal  node-a /bin/kill SIGTERM → 4242"

    reg = Registry()
    EventMetrics(reg, ("binary",)).submit(_event())  # type: ignore[arg-type]
    assert reg["tetragon_events_total"].get("UNIT_SIGNAL", "/bin/kill") == 1


class Unsupported(PluginEvent):
    when: complex = 0j


@pytest.mark.parametrize(
    ("etype", "msg"),
    [
        (EventType("process_exec", UnitSignal, 50991), "snake_case with at least two words"),
        (EventType("unit_other", UnitSignal, 1), "outside the plugin range 50000..50999"),
        (EventType("unit_other", UnitSignal, 50990), "number 50990 is already used by 'unit_signal'"),
        (EventType("unit_signal", UnitSignal, 50991), "already defined by sensor 'unit_test'"),
        (EventType("unit_complex", Unsupported, 50992), "field Unsupported.when has type"),
    ],
)
def test_registration_refuses_what_cannot_work(etype: EventType, msg: str) -> None:
    with pytest.raises(SensorError, match=msg):
        register(etype, "someone" if etype.name != "unit_signal" else "other")
    assert by_name("unit_signal") is REG
