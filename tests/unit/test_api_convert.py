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

from tetragon_core import events as ev
from tetragon_core.api import _convert_plan, convert
from tetragon_core.api.convert import ConversionError, from_proto, to_proto
from tetragon_core.api.tetragon import capabilities_pb2, events_pb2, tetragon_pb2

NODE = "gke-john-632-default-pool-7041cac0-9s95"
EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4Njc0MzIxMzczOjUyNjk5"
PARENT_EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4NjcwOTg2OTQ4OjUyNjgz"
CAPS = [
    "CAP_CHOWN",
    "DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_ADMIN",
    "CAP_SYS_ADMIN",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
_NS_INUMS = {
    "uts": 4026531838,
    "ipc": 4026531839,
    "mnt": 4026531841,
    "pid": 4026531836,
    "pid_for_children": 4026531836,
    "net": 4026531840,
    "time": 4026531834,
    "time_for_children": 4026531834,
    "cgroup": 4026531835,
    "user": 4026531837,
}


def _host_ns() -> ev.Namespaces:
    return ev.Namespaces(**{k: ev.Namespace(inum=v, is_host=True) for k, v in _NS_INUMS.items()})


def _root_credentials() -> ev.ProcessCredentials:
    return ev.ProcessCredentials(
        uid=0,
        gid=0,
        euid=0,
        egid=0,
        suid=0,
        sgid=0,
        fsuid=0,
        fsgid=0,
        securebits=["SecBitNoRoot", "SecBitNoRootLocked", "SecBitKeepCaps"],
        caps=ev.Capabilities(permitted=CAPS, effective=CAPS, inheritable=[]),
        user_ns=ev.UserNamespace(level=0, uid=0, gid=0, ns=ev.Namespace(inum=4026531837, is_host=True)),
    )


def _process(*, full: bool) -> ev.Process:
    """A setuid-root exec on the host; ``full`` adds cap, ns, credentials and binary properties."""
    p = ev.Process(
        exec_id=EXEC_ID,
        pid=52699,
        uid=0,
        cwd="/home/user",
        binary="/usr/bin/sudo",
        arguments="cat /etc/shadow",
        flags="execve clone",
        start_time="2023-09-09T23:27:42.751301124Z",
        auid=4294967295,
        parent_exec_id=PARENT_EXEC_ID,
        refcnt=1,
        tid=52699,
        user=ev.UserRecord(name="root"),
        in_init_tree=False,
        environment_variables=[
            ev.EnvVar(key="PATH", value="/usr/sbin:/usr/bin"),
            ev.EnvVar(key="LANG", value=""),
        ],
    )
    if full:
        p.cap = ev.Capabilities(permitted=CAPS, effective=["CAP_SETUID", "CAP_SETGID"])
        p.ns = _host_ns()
        p.process_credentials = _root_credentials()
        p.binary_properties = ev.BinaryProperties(
            setuid=0,
            privileges_changed=["PRIVILEGES_RAISED_EXEC_FILE_SETUID"],
            file=ev.FileProperties(
                inode=ev.InodeProperties(number=str(2**32 + 40_000_123), links=1),
                path="/usr/bin/sudo",
            ),
        )
    return p


def _kernel_parent(*, full: bool) -> ev.Process:
    """pid 0 and auid 0: wrappers present at zero; in_init_tree True."""
    p = ev.Process(
        exec_id=PARENT_EXEC_ID,
        pid=0,
        uid=0,
        cwd="/",
        binary="<kernel>",
        flags="procFS auid rootcwd",
        start_time="2023-09-09T23:00:00Z",
        auid=0,
        refcnt=3,
        tid=0,
        in_init_tree=True,
    )
    if full:
        p.cap = ev.Capabilities(permitted=CAPS, effective=CAPS, inheritable=CAPS[:2])
        p.ns = _host_ns()
        p.process_credentials = _root_credentials()
    return p


def exec_with_parent(full: bool = True) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=_process(full=full), parent=_kernel_parent(full=full)),
        node_name=NODE,
        time="2023-09-09T23:27:42.751301124Z",
    )


def _exec_with_ancestors() -> ev.GetEventsResponse:
    event = exec_with_parent()
    assert event.process_exec is not None
    event.process_exec.ancestors = [_kernel_parent(full=False), _kernel_parent(full=True)]
    return event


def _exec_in_pod() -> ev.GetEventsResponse:
    """Pod with labels and a container start time; empty-but-present sub-messages."""
    process = ev.Process(
        exec_id=EXEC_ID,
        pid=1,
        uid=1000,
        cwd="/app",
        binary="/usr/local/bin/python3",
        arguments="-m http.server 8080",
        flags="execve clone",
        start_time="2024-01-02T03:04:05.123Z",
        auid=4294967295,
        pod=ev.Pod(
            namespace="default",
            name="web-7d9c6f8b5-x2x4z",
            uid="a3c9ab0e-6f5b-4c1e-9c5a-0e1f6b1c2d3e",
            container=ev.Container(
                id="containerd://4b0d2c1d9e8f",
                name="web",
                image=ev.Image(id="docker.io/library/python@sha256:0123abcd", name="python:3.12"),
                start_time="2024-01-02T03:04:00.000001Z",
                pid=1,
                maybe_exec_probe=True,
            ),
            pod_labels={"app": "web", "pod-template-hash": "7d9c6f8b5"},
            workload="web",
            workload_kind="Deployment",
            pod_annotations={"kubectl.kubernetes.io/default-container": "web"},
        ),
        docker="4b0d2c1d9e8f",
        parent_exec_id=PARENT_EXEC_ID,
        cap=ev.Capabilities(),  # present but empty: protojson writes {}
        ns=ev.Namespaces(uts=ev.Namespace(inum=4026532449), pid=ev.Namespace(inum=4026532452)),
        tid=1,
        process_credentials=ev.ProcessCredentials(
            uid=1000, gid=1000, euid=1000, egid=1000, suid=1000, sgid=1000, fsuid=1000, fsgid=1000
        ),
        binary_properties=ev.BinaryProperties(file=ev.FileProperties(inode=ev.InodeProperties())),
        user=ev.UserRecord(),
        in_init_tree=False,
    )
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=process),
        node_name=NODE,
        time="2024-01-02T03:04:05.123456Z",
        cluster_name="prod-eu",
        node_labels={"kubernetes.io/hostname": NODE, "topology.kubernetes.io/zone": "europe-west1-b"},
    )


def _exit_signal() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=_process(full=False),
            parent=ev.Process(exec_id=PARENT_EXEC_ID, pid=52683, uid=0, binary="/bin/bash", tid=52683),
            signal="SIGKILL",
            time="2023-09-09T23:28:01.000000001Z",
        ),
        node_name=NODE,
        time="2023-09-09T23:28:01.000000001Z",
    )


def _exit_status() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=ev.Process(exec_id=EXEC_ID, pid=4242, uid=1000, binary="/usr/bin/false", tid=4242),
            status=3,
            time="2023-09-09T23:28:02Z",
            ancestors=[ev.Process(exec_id=PARENT_EXEC_ID, pid=1, uid=0, binary="/sbin/init")],
        ),
        node_name=NODE,
        time="2023-09-09T23:28:02.500Z",
    )


def _rate_limit_info() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="18446744073709551615"),
        node_name=NODE,
        time="2023-09-09T23:29:00Z",
    )


def _rate_limit_info_zero() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(), node_name=NODE)


CASES: dict[str, Callable[[], ev.GetEventsResponse]] = {
    "exec_with_parent": exec_with_parent,
    "exec_with_parent_lean": lambda: exec_with_parent(full=False),
    "exec_with_ancestors": _exec_with_ancestors,
    "exec_in_pod": _exec_in_pod,
    "exit_signal": _exit_signal,
    "exit_status": _exit_status,
    "rate_limit_info": _rate_limit_info,
    "rate_limit_info_zero": _rate_limit_info_zero,
    "empty": ev.GetEventsResponse,
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
    msg = to_proto(_exec_with_ancestors())
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

    pod = to_proto(_exec_in_pod()).process_exec.process
    assert dict(pod.pod.pod_labels) == {"app": "web", "pod-template-hash": "7d9c6f8b5"}
    assert pod.pod.container.start_time.ToNanoseconds() == 1704164640_000_001_000
    assert pod.HasField("cap") and pod.HasField("user")  # empty but present

    exit_ = to_proto(_exit_signal()).process_exit
    assert exit_.signal == "SIGKILL" and exit_.status == 0 and exit_.time.nanos == 1
    assert to_proto(_exit_status()).process_exit.status == 3
    rli = to_proto(_rate_limit_info()).rate_limit_info
    assert rli.number_of_dropped_process_events == 2**64 - 1
    assert to_proto(_rate_limit_info_zero()).HasField("rate_limit_info")


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

    kprobe = events_pb2.GetEventsResponse(node_name=NODE)
    kprobe.process_kprobe.function_name = "security_file_open"
    assert from_proto(kprobe) == ev.GetEventsResponse(node_name=NODE)
    assert from_proto(kprobe).event_type() == "UNDEF"
    with pytest.raises(ConversionError, match=r"tetragon\.GetEventsResponse\.process_kprobe is set"):
        from_proto(kprobe, strict=True)


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
        ConversionError, match=r"more than one of process_exec, process_exit, rate_limit_info"
    ):
        to_proto(event)


class _Namespaces(ev.Namespaces):
    """A subclass without fields of its own converts like its base."""


def test_struct_subclass_converts() -> None:
    event = exec_with_parent()
    assert event.process_exec is not None and event.process_exec.process is not None
    event.process_exec.process.ns = _Namespaces(**msgspec.structs.asdict(_host_ns()))
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
    creds = _root_credentials()
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
    full = _process(full=True)
    pod_exec = _exec_in_pod().process_exec
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
