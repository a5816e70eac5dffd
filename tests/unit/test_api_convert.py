"""``tetragon_core.api.convert``: event Structs ↔ ``tetragon.GetEventsResponse`` messages, exactly.

The Structs encode to protojson (see ``test_protojson_golden``), so the conversion is exact when
protojson of ``to_proto(ev)`` (per google.protobuf's ``json_format``) equals ``encode_json(ev)``,
and ``from_proto`` of the wire bytes gives back an equal Struct.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format

from tests.unit.samples import (
    NODE,
    exec_in_pod,
    exec_with_ancestors,
    exec_with_parent,
    exit_signal,
    exit_status,
    host_namespaces,
    rate_limit_info,
    rate_limit_info_zero,
    root_credentials,
    sudo_process,
)
from tests.unit.samples_tracing import (
    CASES as TRACING_CASES,
    kprobe_every_argument,
    kprobe_write,
    loader_libc,
    throttle,
)
from tetragon_core import events as ev
from tetragon_core.api import _convert_plan, convert
from tetragon_core.api.convert import ConversionError, from_proto, to_proto
from tetragon_core.api.tetragon import capabilities_pb2, events_pb2, tetragon_pb2

CASES: dict[str, Callable[[], ev.GetEventsResponse]] = {
    "exec_with_parent": exec_with_parent,
    "exec_with_parent_lean": lambda: exec_with_parent(full=False),
    "exec_with_ancestors": exec_with_ancestors,
    "exec_in_pod": exec_in_pod,
    "exit_signal": exit_signal,
    "exit_status": exit_status,
    "rate_limit_info": rate_limit_info,
    "rate_limit_info_zero": rate_limit_info_zero,
    "empty": ev.GetEventsResponse,
    **TRACING_CASES,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_proto_is_protojson_exact(name: str) -> None:
    event = CASES[name]()
    convert._clear_memos()
    for _ in range(2):  # memo cold, then warm
        msg = to_proto(event)
        assert isinstance(msg, events_pb2.GetEventsResponse)
        got = json_format.MessageToDict(msg, preserving_proto_field_name=True)
        assert got == json.loads(ev.encode_json(event))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("strict", [False, True])
def test_wire_round_trip(name: str, strict: bool) -> None:
    event = CASES[name]()
    wire = to_proto(event).SerializeToString()
    convert._clear_memos()
    for _ in range(2):  # memo cold, then warm
        back = from_proto(events_pb2.GetEventsResponse.FromString(wire), strict=strict)
        assert type(back) is ev.GetEventsResponse
        assert back == event
        assert ev.encode_json(back) == ev.encode_json(event)  # maps here are in key order


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_proto_matches_message_to_dict(name: str) -> None:
    """The generic reader agrees with ``MessageToDict`` + ``msgspec.convert`` (exact but slow)."""
    msg = to_proto(CASES[name]())
    via_dict = msgspec.convert(
        json_format.MessageToDict(msg, preserving_proto_field_name=True), ev.GetEventsResponse
    )
    assert from_proto(msg) == via_dict


def test_proto_values() -> None:
    """Spot-check the message itself: wrappers at zero present, numbers, enums, timestamps."""
    msg = to_proto(exec_with_ancestors())
    assert msg.WhichOneof("event") == "process_exec"
    proc, parent = msg.process_exec.process, msg.process_exec.parent
    assert parent.HasField("pid") and parent.pid.value == 0
    assert parent.HasField("auid") and parent.auid.value == 0
    assert proc.auid.value == 4294967295
    assert parent.in_init_tree.value is True
    assert proc.HasField("in_init_tree") and proc.in_init_tree.value is False
    assert proc.flags == "execve clone"
    assert proc.start_time.seconds == 1694302062 and proc.start_time.nanos == 751301124
    assert parent.start_time.nanos == 0
    assert proc.binary_properties.file.inode.number == 2**32 + 40_000_123
    assert proc.binary_properties.setuid.value == 0
    assert list(proc.cap.effective) == [capabilities_pb2.CAP_SETUID, capabilities_pb2.CAP_SETGID]
    assert proc.cap.permitted[1] == capabilities_pb2.DAC_OVERRIDE
    assert list(proc.process_credentials.securebits) == [
        capabilities_pb2.SecBitNoRoot,
        capabilities_pb2.SecBitNoRootLocked,
        capabilities_pb2.SecBitKeepCaps,
    ]
    assert proc.process_credentials.user_ns.HasField("level")
    assert proc.ns.pid.inum == 4026531836 and proc.ns.pid.is_host
    assert [(e.Key, e.Value) for e in proc.environment_variables] == [
        ("PATH", "/usr/sbin:/usr/bin"),
        ("LANG", ""),
    ]
    assert len(msg.process_exec.ancestors) == 2
    assert not proc.HasField("pod")

    pod = to_proto(exec_in_pod()).process_exec.process
    assert dict(pod.pod.pod_labels) == {"app": "web", "pod-template-hash": "7d9c6f8b5"}
    assert pod.pod.container.start_time.ToNanoseconds() == 1704164640_000_001_000
    assert pod.HasField("cap") and pod.HasField("user")  # empty but present

    exit_ = to_proto(exit_signal()).process_exit
    assert exit_.signal == "SIGKILL" and exit_.status == 0 and exit_.time.nanos == 1
    assert to_proto(exit_status()).process_exit.status == 3
    rli = to_proto(rate_limit_info()).rate_limit_info
    assert rli.number_of_dropped_process_events == 2**64 - 1
    assert to_proto(rate_limit_info_zero()).HasField("rate_limit_info")


@pytest.mark.parametrize(
    "text",
    [
        "2023-09-09T23:27:42Z",
        "2023-09-09T23:27:42.7Z",
        "2023-09-09T23:27:42.751Z",
        "2023-09-09T23:27:42.751301124Z",
        "2023-09-10T01:27:42.5+02:00",
        "1969-12-31T23:59:59.999999999Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
    ],
)
def test_timestamps_parse_as_protojson_does(text: str) -> None:
    event = ev.GetEventsResponse(time=text)
    expected = json_format.Parse(json.dumps({"time": text}), events_pb2.GetEventsResponse())
    assert to_proto(event).time == expected.time


@pytest.mark.parametrize("text", ["2023-09-09T23:27:42", "2023-09-09T23:27:42.Z", "2023-09-09T23:27:42.1²Z"])
def test_bad_timestamp(text: str) -> None:
    with pytest.raises(ConversionError):
        to_proto(ev.GetEventsResponse(time=text))


def test_bad_enum_name() -> None:
    event = ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=ev.Process(cap=ev.Capabilities(permitted=["CAP_NOPE"])))
    )
    with pytest.raises(ConversionError, match=r"tetragon\.Capabilities\.permitted: 'CAP_NOPE'"):
        to_proto(event)


def test_unknown_enum_number_round_trips() -> None:
    """A number without a name (a newer peer) is carried as its decimal string, and back."""
    msg = events_pb2.GetEventsResponse()
    msg.process_exec.process.cap.permitted.extend([capabilities_pb2.CAP_KILL, 77])
    event = from_proto(msg)
    assert event.process_exec is not None and event.process_exec.process is not None
    assert event.process_exec.process.cap == ev.Capabilities(permitted=["CAP_KILL", "77"])
    assert to_proto(event) == msg


def test_from_proto_drops_unknown_fields_unless_strict() -> None:
    msg = events_pb2.GetEventsResponse(node_name=NODE)
    msg.process_exec.process.pod.container.security_context.privileged = True
    msg.aggregation_info.count = 3
    assert from_proto(msg) == ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=ev.Process(pod=ev.Pod(container=ev.Container()))),
        node_name=NODE,
    )
    with pytest.raises(ConversionError, match=r"tetragon\.Container\.security_context is set"):
        from_proto(msg, strict=True)
    msg.process_exec.process.pod.container.ClearField("security_context")
    with pytest.raises(ConversionError, match=r"tetragon\.GetEventsResponse\.aggregation_info is set"):
        from_proto(msg, strict=True)

    test = events_pb2.GetEventsResponse(node_name=NODE)
    test.test.arg0 = 7
    assert from_proto(test) == ev.GetEventsResponse(node_name=NODE)
    assert from_proto(test).event_type() == "UNDEF"
    with pytest.raises(ConversionError, match=r"tetragon\.GetEventsResponse\.test is set"):
        from_proto(test, strict=True)


def test_from_proto_sorts_map_keys() -> None:
    """A proto map has no order; from_proto sorts by key, as Go's protojson writes maps."""
    labels = {"zone": "b", "app": "web", "k8s": "x"}
    msg = to_proto(ev.GetEventsResponse(node_labels=labels))
    assert list(from_proto(msg).node_labels) == sorted(labels)


def test_memo_follows_values() -> None:
    """Memoized sub-messages (ns, cap, credentials) are keyed by value, not identity."""
    event = exec_with_parent()
    assert event.process_exec is not None and event.process_exec.process is not None
    process = event.process_exec.process
    assert process.ns is not None and process.ns.pid is not None
    first = to_proto(event)
    process.ns.pid.inum = 4026532000  # changed in place
    process.ns.pid.is_host = False
    assert process.process_credentials is not None
    process.process_credentials.securebits = []
    process.cap = ev.Capabilities()
    second = to_proto(event)
    assert second.process_exec.process.ns.pid.inum == 4026532000
    assert not second.process_exec.process.ns.pid.is_host
    assert second.process_exec.parent.ns.pid.inum == 4026531836  # the parent's own (same) value
    assert not second.process_exec.process.process_credentials.securebits
    assert second.process_exec.process.HasField("cap") and not second.process_exec.process.cap.permitted
    got = json_format.MessageToDict(second, preserving_proto_field_name=True)
    assert got == json.loads(ev.encode_json(event))
    assert first.process_exec.process.ns.pid.inum == 4026531836


def test_from_proto_memo_returns_fresh_structs() -> None:
    msg = to_proto(exec_with_parent())
    a, b = from_proto(msg), from_proto(msg)
    assert a.process_exec is not None and b.process_exec is not None
    pa, pb = a.process_exec.process, b.process_exec.process
    assert pa is not None and pb is not None and pa.ns is not None and pb.ns is not None
    assert pa.ns is not pb.ns
    assert pa.ns.uts is not None
    pa.ns.uts.inum = 1  # must not leak into the memo
    assert from_proto(msg) == b == exec_with_parent()


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_convert_plan, "_MEMO_MAX", 4)
    convert._clear_memos()
    for inum in range(20):
        ns = ev.Namespaces(uts=ev.Namespace(inum=inum + 1), net=ev.Namespace(inum=inum + 2, is_host=True))
        event = ev.GetEventsResponse(process_exec=ev.ProcessExec(process=ev.Process(pid=inum, ns=ns)))
        msg = to_proto(event)
        assert json_format.MessageToDict(msg, preserving_proto_field_name=True) == json.loads(
            ev.encode_json(event)
        )
        assert from_proto(msg) == event
    assert all(len(memo) <= 4 for memo in convert._memos)


def test_two_events_in_the_oneof() -> None:
    event = ev.GetEventsResponse(process_exec=ev.ProcessExec(), rate_limit_info=ev.RateLimitInfo())
    with pytest.raises(
        ConversionError, match=r"more than one of process_exec, process_exit, .*process_usdt, rate_limit_info"
    ):
        to_proto(event)


class _Namespaces(ev.Namespaces):
    """A subclass without fields of its own converts like its base."""


def test_struct_subclass_converts() -> None:
    event = exec_with_parent()
    assert event.process_exec is not None and event.process_exec.process is not None
    event.process_exec.process.ns = _Namespaces(**msgspec.structs.asdict(host_namespaces()))
    got = json_format.MessageToDict(to_proto(event), preserving_proto_field_name=True)
    assert got == json.loads(ev.encode_json(event))


class _ProcessWithExtra(ev.Process):
    extra: str = ""


class _ProcessWrongType(msgspec.Struct, omit_defaults=True, kw_only=True):
    exec_id: str = ""
    pid: str | None = None  # a UInt32Value is carried as int | None


def test_struct_field_missing_from_proto_fails_at_build_time() -> None:
    with pytest.raises(
        ConversionError, match=r"_ProcessWithExtra\.extra.*tetragon\.Process has no field 'extra'"
    ):
        convert.prepare(_ProcessWithExtra, tetragon_pb2.Process)
    # Nothing half-built was cached: it fails the same way when met inside an event.
    event = ev.GetEventsResponse(process_exec=ev.ProcessExec(process=_ProcessWithExtra(extra="x")))
    with pytest.raises(ConversionError, match=r"_ProcessWithExtra\.extra"):
        to_proto(event)


class _ProcessWrongDefault(msgspec.Struct, omit_defaults=True, kw_only=True):
    exec_id: str = "unknown"  # protojson would omit "" (the zero value), not this


class _ProcessNoDefault(msgspec.Struct, kw_only=True):
    exec_id: str


def test_struct_field_of_wrong_type_fails_at_build_time() -> None:
    with pytest.raises(ConversionError, match=r"_ProcessWrongType\.pid ↔ tetragon\.Process\.pid: .*int"):
        convert.prepare(_ProcessWrongType, tetragon_pb2.Process)
    with pytest.raises(ConversionError, match=r"_ProcessWrongDefault\.exec_id .*proto zero value ''"):
        convert.prepare(_ProcessWrongDefault, tetragon_pb2.Process)
    with pytest.raises(ConversionError, match=r"_ProcessNoDefault\.exec_id .*needs a default"):
        convert.prepare(_ProcessNoDefault, tetragon_pb2.Process)


def test_all_event_structs_prepare() -> None:
    convert.prepare(ev.GetEventsResponse, events_pb2.GetEventsResponse)


def test_generic_api() -> None:
    creds = root_credentials()
    msg = convert.struct_to_proto(creds, tetragon_pb2.ProcessCredentials)
    assert isinstance(msg, tetragon_pb2.ProcessCredentials)
    assert convert.proto_to_struct(msg, ev.ProcessCredentials) == creds


def _us_per_call(fn: Callable[[], object], n: int = 2000) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def test_to_proto_speed() -> None:
    """Loose bound (shared CI machines); see the module docstring of convert for the numbers."""
    full, lean = exec_with_parent(), exec_with_parent(full=False)
    assert _us_per_call(lambda: to_proto(full)) < 200
    assert _us_per_call(lambda: to_proto(lean)) < 100


def _process_fields() -> list[str]:
    return [f.name for f in msgspec.structs.fields(ev.Process)]


@pytest.mark.parametrize("field", _process_fields())
def test_each_process_field_alone(field: str) -> None:
    """Every Process field converts on its own: set (from the full process), and at zero."""
    full = sudo_process(full=True)
    pod_exec = exec_in_pod().process_exec
    assert pod_exec is not None and pod_exec.process is not None
    full.pod = pod_exec.process.pod
    full.docker = "4b0d2c1d9e8f"
    value = getattr(full, field)
    assert value not in (None, "", [], {}), field
    zero: dict[str, Any] = {
        "pid": 0,
        "uid": 0,
        "in_init_tree": False,
        "start_time": "1970-01-01T00:00:00Z",
    }
    v: Any
    for v in (value, zero.get(field, value)):
        event = ev.GetEventsResponse(process_exit=ev.ProcessExit(process=ev.Process(**{field: v})))
        msg = to_proto(event)
        expected = json.loads(ev.encode_json(event))
        assert json_format.MessageToDict(msg, preserving_proto_field_name=True) == expected
        assert from_proto(events_pb2.GetEventsResponse.FromString(msg.SerializeToString())) == event


# --- the tracing events ---------------------------------------------------------------------------


def test_tracing_proto_values() -> None:
    """Spot-check the messages of the tracing events: oneof members, keyword field, bytes, enums."""
    kp = to_proto(kprobe_write()).process_kprobe
    assert kp.args[0].WhichOneof("arg") == "file_arg" and kp.args[0].file_arg.path == "/tmp/out.txt"
    assert kp.args[1].bytes_arg == b"hello\n\xff\x00" and kp.args[1].label == "buf"
    assert kp.args[2].size_arg == 6
    assert getattr(kp, "return").int_arg == 6
    assert kp.action == tetragon_pb2.KPROBE_ACTION_POST
    assert kp.kernel_stack_trace[0].address == 18446744072414807056
    assert to_proto(loader_libc()).process_loader.buildid == bytes.fromhex(
        "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    )
    assert to_proto(throttle("THROTTLE_STOP")).process_throttle.type == events_pb2.THROTTLE_STOP

    args = to_proto(kprobe_every_argument()).process_kprobe.args
    kinds = [a.WhichOneof("arg") for a in args]
    assert kinds[:-1] == [f.name for f in tetragon_pb2.KprobeArgument.DESCRIPTOR.oneofs_by_name["arg"].fields]
    assert kinds[-1] is None and args[-1].label == "empty"
    zeros = {k: a for k, a in zip(kinds, args, strict=True)}
    assert zeros["int_arg"].HasField("int_arg") and zeros["bpf_cmd_arg"].HasField("bpf_cmd_arg")
    assert zeros["string_arg"].HasField("string_arg") and zeros["bytes_arg"].HasField("bytes_arg")
    assert zeros["capability_arg"].capability_arg.HasField("value")


def test_each_tracing_event_kind_round_trips_through_the_wire() -> None:
    """One event per EventType of the tracing sensors: to_proto, wire bytes, from_proto (strict)."""
    kinds = set()
    for make in TRACING_CASES.values():
        event = make()
        msg = events_pb2.GetEventsResponse.FromString(to_proto(event).SerializeToString())
        kinds.add(msg.WhichOneof("event"))
        assert msg.WhichOneof("event") == event.event_type().lower()
        assert from_proto(msg, strict=True) == event
    assert kinds == {
        "process_kprobe",
        "process_tracepoint",
        "process_uprobe",
        "process_lsm",
        "process_usdt",
        "process_loader",
        "process_throttle",
    }


def test_memo_is_per_parent_field() -> None:
    """One credentials value as Process.process_credentials (17) and as a kprobe argument (19):
    the memoized serialized field carries the parent's tag, so each field has its own memo."""
    creds = root_credentials()
    event = kprobe_every_argument()
    assert event.process_kprobe is not None and event.process_kprobe.process is not None
    event.process_kprobe.process.process_credentials = creds
    convert._clear_memos()
    for _ in range(2):
        msg = to_proto(event)
        assert msg.process_kprobe.process.process_credentials.caps.permitted
        assert msg.process_kprobe.args[17].process_credentials_arg.caps.permitted
        got = json_format.MessageToDict(msg, preserving_proto_field_name=True)
        assert got == json.loads(ev.encode_json(event))


def test_two_arguments_in_the_oneof() -> None:
    event = ev.GetEventsResponse(
        process_kprobe=ev.ProcessKprobe(args=[ev.KprobeArgument(int_arg=1, string_arg="x")])
    )
    with pytest.raises(
        ConversionError,
        match=r"more than one of string_arg, int_arg.* in oneof tetragon\.KprobeArgument\.arg",
    ):
        to_proto(event)
