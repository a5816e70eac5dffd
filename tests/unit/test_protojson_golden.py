"""``tetragon_core.events.encode_json`` writes exactly protojson (``UseProtoNames: true``).

For a handful of realistic ``GetEventsResponse`` values, our msgspec encoding must

* parse with ``google.protobuf.json_format.Parse`` into our compiled ``tetragon.GetEventsResponse``
  (every key is a proto field name and every value has the shape protojson uses for its type), and
* equal, as JSON, ``json_format.MessageToDict(..., preserving_proto_field_name=True)`` of that message
  (zero values omitted, wrappers present even at zero, 64-bit ints as strings, enums as names,
  timestamps as RFC 3339 with 0/3/6/9 fractional digits), and
* list keys in declaration order, as Go's protojson writes them (for ``Process`` that is
  field-number order).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tests.unit.samples import (
    NODE,
    exec_in_pod_plain,
    exec_on_host,
    exit_signal_sleep,
    exit_status,
    rate_limit_info,
    rate_limit_info_zero,
)
from tests.unit.samples_tracing import (
    BUILD_ID,
    CASES as TRACING_CASES,
    kprobe_every_argument,
    kprobe_write,
    loader_libc,
)
from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2, tetragon_pb2

CASES = {
    "exec_on_host": exec_on_host,
    "exec_in_pod": exec_in_pod_plain,
    "exit_sigkill": exit_signal_sleep,
    "exit_status": exit_status,
    "rate_limit_info": rate_limit_info,
    "rate_limit_info_zero": rate_limit_info_zero,
    **TRACING_CASES,
}


def _check_key_order(obj: Any, desc: Descriptor, path: str) -> None:
    """Keys appear in the message's declaration order (as Go's protojson writes them)."""
    assert isinstance(obj, dict), path
    declared = [f.name for f in desc.fields]
    keys = list(obj)
    assert keys == [k for k in declared if k in obj], f"{path}: key order {keys}"
    for key, value in obj.items():
        fd = desc.fields_by_name[key]
        if fd.type != FieldDescriptor.TYPE_MESSAGE or fd.message_type.GetOptions().map_entry:
            continue
        if fd.message_type.full_name.startswith("google.protobuf."):
            continue
        items = value if fd.is_repeated else [value]
        for i, item in enumerate(items):
            _check_key_order(
                item, fd.message_type, f"{path}.{key}[{i}]" if fd.is_repeated else f"{path}.{key}"
            )


@pytest.mark.parametrize("name", sorted(CASES))
def test_encode_json_is_protojson(name: str) -> None:
    event = CASES[name]()
    ours = ev.encode_json(event)
    assert b"\n" not in ours

    msg = json_format.Parse(ours, events_pb2.GetEventsResponse())  # strict: unknown keys raise
    expected = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    got = json.loads(ours)
    assert got == expected
    assert msg.WhichOneof("event") == event.event_type().lower()
    _check_key_order(got, events_pb2.GetEventsResponse.DESCRIPTOR, "GetEventsResponse")


def test_exec_shapes() -> None:
    """Spot-check the protojson shapes that are easy to get wrong."""
    got = json.loads(ev.encode_json(exec_on_host()))
    assert list(got) == ["process_exec", "node_name", "time"]
    assert got["time"] == "2023-09-09T23:27:42.751301124Z"
    proc, parent = got["process_exec"]["process"], got["process_exec"]["parent"]
    assert parent["pid"] == 0 and parent["uid"] == 0 and parent["tid"] == 0  # wrappers kept at zero
    assert parent["in_init_tree"] is False
    assert proc["auid"] == 4294967295
    assert proc["flags"] == "execve rootcwd clone"
    assert proc["in_init_tree"] is True
    assert proc["binary_properties"]["file"]["inode"]["number"] == str(2**32 + 40_000_123)
    assert proc["binary_properties"]["setuid"] == 0
    assert proc["process_credentials"]["securebits"] == [
        "SecBitNoRoot",
        "SecBitNoRootLocked",
        "SecBitKeepCaps",
    ]
    assert proc["ns"]["pid"] == {"inum": 4026531836, "is_host": True}
    assert "inheritable" not in proc["cap"]  # empty repeated omitted
    assert proc["environment_variables"] == [{"Key": "PATH", "Value": "/usr/sbin:/usr/bin"}, {"Key": "LANG"}]
    assert "refcnt" in parent and "docker" not in proc  # zero scalars omitted

    exit_ = json.loads(ev.encode_json(exit_signal_sleep()))["process_exit"]
    assert exit_["signal"] == "SIGKILL" and "status" not in exit_
    exit3 = json.loads(ev.encode_json(exit_status()))["process_exit"]
    assert exit3["status"] == 3 and "signal" not in exit3

    assert json.loads(ev.encode_json(rate_limit_info_zero())) == {"rate_limit_info": {}, "node_name": NODE}


def test_process_keys_in_field_number_order() -> None:
    got = json.loads(ev.encode_json(exec_on_host()))["process_exec"]["process"]
    numbers = {f.name: f.number for f in tetragon_pb2.Process.DESCRIPTOR.fields}
    assert len(got) == len(numbers) - 2  # every Process field but pod and docker is set
    assert list(got) == sorted(got, key=numbers.__getitem__)


def test_structs_mirror_the_proto() -> None:
    """Each Struct's fields are its message's, by proto name, in declaration order (a subset)."""
    pairs: list[tuple[type[msgspec.Struct], Any]] = [
        (ev.Namespace, tetragon_pb2.Namespace),
        (ev.Namespaces, tetragon_pb2.Namespaces),
        (ev.Capabilities, tetragon_pb2.Capabilities),
        (ev.UserNamespace, tetragon_pb2.UserNamespace),
        (ev.ProcessCredentials, tetragon_pb2.ProcessCredentials),
        (ev.InodeProperties, tetragon_pb2.InodeProperties),
        (ev.FileProperties, tetragon_pb2.FileProperties),
        (ev.BinaryProperties, tetragon_pb2.BinaryProperties),
        (ev.UserRecord, tetragon_pb2.UserRecord),
        (ev.Image, tetragon_pb2.Image),
        (ev.Container, tetragon_pb2.Container),
        (ev.Pod, tetragon_pb2.Pod),
        (ev.EnvVar, tetragon_pb2.EnvVar),
        (ev.Process, tetragon_pb2.Process),
        (ev.ProcessExec, tetragon_pb2.ProcessExec),
        (ev.ProcessExit, tetragon_pb2.ProcessExit),
        (ev.RateLimitInfo, events_pb2.RateLimitInfo),
        (ev.GetEventsResponse, events_pb2.GetEventsResponse),
        *TRACING_PAIRS,
    ]
    for struct, message in pairs:
        encoded = [f.encode_name for f in msgspec.structs.fields(struct)]
        declared = [f.name for f in message.DESCRIPTOR.fields]
        assert set(encoded) <= set(declared), f"{struct.__name__}: {set(encoded) - set(declared)}"
        assert encoded == [n for n in declared if n in encoded], f"{struct.__name__}: order {encoded}"


TRACING_PAIRS: list[tuple[type[msgspec.Struct], Any]] = [
    (getattr(ev, name), getattr(pb, name))
    for name, pb in [
        ("KprobeSock", tetragon_pb2),
        ("KprobeSkb", tetragon_pb2),
        ("KprobeSockaddr", tetragon_pb2),
        ("KprobeSockaddrUn", tetragon_pb2),
        ("KprobeNetDev", tetragon_pb2),
        ("KprobePath", tetragon_pb2),
        ("KprobeFile", tetragon_pb2),
        ("KprobeTruncatedBytes", tetragon_pb2),
        ("KprobeCred", tetragon_pb2),
        ("KprobeLinuxBinprm", tetragon_pb2),
        ("KprobeCapability", tetragon_pb2),
        ("KprobeUserNamespace", tetragon_pb2),
        ("KprobeBpfAttr", tetragon_pb2),
        ("KprobeBpfProg", tetragon_pb2),
        ("KprobePerfEvent", tetragon_pb2),
        ("KprobeBpfMap", tetragon_pb2),
        ("KprobeError", tetragon_pb2),
        ("SyscallId", tetragon_pb2),
        ("KernelModule", tetragon_pb2),
        ("KprobeArgument", tetragon_pb2),
        ("StackTraceEntry", tetragon_pb2),
        ("ProcessKprobe", tetragon_pb2),
        ("ProcessTracepoint", tetragon_pb2),
        ("ProcessUprobe", tetragon_pb2),
        ("ProcessUsdt", tetragon_pb2),
        ("ProcessLsm", tetragon_pb2),
        ("ProcessLoader", tetragon_pb2),
        ("ProcessThrottle", events_pb2),
    ]
]


def test_tracing_structs_cover_their_messages() -> None:
    """The tracing Structs carry every field of their messages (not a subset), and every event
    field of the GetEventsResponse oneof but ``test`` is there."""
    for struct, message in TRACING_PAIRS:
        encoded = {f.encode_name for f in msgspec.structs.fields(struct)}
        assert encoded == {f.name for f in message.DESCRIPTOR.fields}, struct.__name__
    oneof = events_pb2.GetEventsResponse.DESCRIPTOR.oneofs_by_name["event"]
    response = {f.encode_name for f in msgspec.structs.fields(ev.GetEventsResponse)}
    assert {f.name for f in oneof.fields} - response == {"test"}


def test_tracing_shapes() -> None:
    """Spot-check the protojson shapes of the tracing events that are easy to get wrong."""
    kp = json.loads(ev.encode_json(kprobe_write()))["process_kprobe"]
    assert kp["return"] == {"int_arg": 6}  # the proto name, a Python keyword
    assert kp["args"][1] == {"bytes_arg": "aGVsbG8K/wA=", "label": "buf"}  # standard base64
    assert kp["args"][2] == {"size_arg": "6"}  # uint64 as a string
    assert kp["kernel_stack_trace"][0] == {
        "address": "18446744072414807056",
        "offset": "16",
        "symbol": "ksys_write",
    }
    assert kp["action"] == "KPROBE_ACTION_POST"

    args = json.loads(ev.encode_json(kprobe_every_argument()))["process_kprobe"]["args"]
    by_key = {next(iter(a)): a for a in args}
    # A set oneof member is written even at its zero value, enums included.
    assert by_key["string_arg"] == {"string_arg": ""}
    assert by_key["int_arg"] == {"int_arg": 0}
    assert by_key["uint_arg"] == {"uint_arg": 0}
    assert by_key["bytes_arg"] == {"bytes_arg": ""}
    assert by_key["bpf_cmd_arg"] == {"bpf_cmd_arg": "BPF_MAP_CREATE"}
    assert by_key["file_arg"] == {"file_arg": {}}
    assert by_key["label"] == {"label": "empty"}
    assert by_key["long_arg"] == {"long_arg": "-9223372036854775808"}
    assert by_key["bpf_attr_arg"]["bpf_attr_arg"] == {
        "ProgType": "BPF_PROG_TYPE_KPROBE",
        "InsnCnt": 212,
        "ProgName": "probe",
    }
    assert by_key["perf_event_arg"]["perf_event_arg"]["Config"] == "4294967296"
    assert "ProbeOffset" not in by_key["perf_event_arg"]["perf_event_arg"]  # "0" is the zero value
    assert by_key["capability_arg"] == {"capability_arg": {"value": 0, "name": "CAP_CHOWN"}}
    assert by_key["module_arg"]["module_arg"]["signature_ok"] is False

    loader = json.loads(ev.encode_json(loader_libc()))["process_loader"]
    assert base64.b64decode(loader["buildid"]) == BUILD_ID
    assert list(loader) == ["process", "path", "buildid", "parent"]


def test_tracing_events_decode_back() -> None:
    """protojson of a tracing event decodes (msgspec) into the same Structs."""
    decoder = msgspec.json.Decoder(ev.GetEventsResponse)
    for make in TRACING_CASES.values():
        event = make()
        assert decoder.decode(ev.encode_json(event)) == event


@pytest.mark.parametrize(
    "first", ["tetragon_core.events_tracing", "tetragon_core.events", "tetragon_core.api.convert"]
)
def test_either_events_module_imports_first(first: str) -> None:
    """events and events_tracing import each other (at their ends): any import order works."""
    code = (
        f"import {first}\n"
        "import msgspec\n"
        "from tetragon_core import events, events_tracing\n"
        "assert events.ProcessKprobe is events_tracing.ProcessKprobe\n"
        "assert events_tracing.Process is events.Process\n"
        'line = b\'{"process_kprobe":{"process":{"pid":1},"args":[{"process_credentials_arg":{}}]}}\'\n'
        "ev = msgspec.json.decode(line, type=events.GetEventsResponse)\n"
        "assert events.encode_json(ev) == line and ev.event_type() == 'PROCESS_KPROBE'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
