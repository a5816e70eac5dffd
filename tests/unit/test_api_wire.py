"""api/wire.py's event bytes equal the converter's message, for every sample event."""

from __future__ import annotations

import msgspec
import pytest

from tests.unit import samples
from tests.unit.samples_tracing import CASES
from tetragon_core import events as ev
from tetragon_core.api.convert import to_proto
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.api.wire import event_bytes

SAMPLES = {
    "exec_with_parent": samples.exec_with_parent(),
    "exec_with_parent_plain": samples.exec_with_parent(full=False),
    "exec_with_ancestors": samples.exec_with_ancestors(),
    "exec_on_host": samples.exec_on_host(),
    "exec_in_pod": samples.exec_in_pod(),
    "exit_signal": samples.exit_signal(),
    "exit_signal_sleep": samples.exit_signal_sleep(),
    "exit_status": samples.exit_status(),
    "rate_limit_info": samples.rate_limit_info(),
    **{f"tracing_{k}": v() if callable(v) else v for k, v in CASES.items()},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_message_as_the_converter(name: str) -> None:
    event = SAMPLES[name]
    assert isinstance(event, ev.GetEventsResponse)
    ours = events_pb2.GetEventsResponse.FromString(event_bytes(event))
    assert ours == to_proto(event)
    assert event_bytes(event) == event_bytes(event)  # the memoized second time too


def test_edge_values() -> None:
    base = samples.exit_status()
    assert base.process_exit is not None
    cases = [
        msgspec.structs.replace(base, cluster_name="c1", node_name=""),
        msgspec.structs.replace(base, time=None),
        msgspec.structs.replace(
            base, process_exit=msgspec.structs.replace(base.process_exit, status=0, signal="")
        ),
        msgspec.structs.replace(
            base, process_exit=msgspec.structs.replace(base.process_exit, parent=None, time=None)
        ),
        msgspec.structs.replace(base, time="1969-12-31T23:59:59.5Z"),  # negative seconds
        msgspec.structs.replace(base, node_labels={"a": "b"}),
        ev.GetEventsResponse(process_exec=ev.ProcessExec(), node_name="n"),
    ]
    for c in cases:
        assert events_pb2.GetEventsResponse.FromString(event_bytes(c)) == to_proto(c)


def test_a_replaced_process_is_converted_again() -> None:
    event = samples.exec_with_parent()
    assert event.process_exec is not None and event.process_exec.process is not None
    first = event_bytes(event)
    changed = msgspec.structs.replace(event.process_exec.process, binary="/bin/other")
    event2 = msgspec.structs.replace(
        event, process_exec=msgspec.structs.replace(event.process_exec, process=changed)
    )
    msg = events_pb2.GetEventsResponse.FromString(event_bytes(event2))
    assert msg.process_exec.process.binary == "/bin/other"
    assert event_bytes(event) == first
