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

import json
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2, tetragon_pb2

NODE = "gke-john-632-default-pool-7041cac0-9s95"
EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4Njc0MzIxMzczOjUyNjk5"
PARENT_EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4NjcwOTg2OTQ4OjUyNjgz"
ALL_CAPS = [
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
HOST_NS = ev.Namespaces(
    uts=ev.Namespace(inum=4026531838, is_host=True),
    ipc=ev.Namespace(inum=4026531839, is_host=True),
    mnt=ev.Namespace(inum=4026531841, is_host=True),
    pid=ev.Namespace(inum=4026531836, is_host=True),
    pid_for_children=ev.Namespace(inum=4026531836, is_host=True),
    net=ev.Namespace(inum=4026531840, is_host=True),
    time=ev.Namespace(inum=4026531834, is_host=True),
    time_for_children=ev.Namespace(inum=4026531834, is_host=True),
    cgroup=ev.Namespace(inum=4026531835, is_host=True),
    user=ev.Namespace(inum=4026531837, is_host=True),
)


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
        caps=ev.Capabilities(permitted=ALL_CAPS, effective=ALL_CAPS, inheritable=[]),
        user_ns=ev.UserNamespace(level=0, uid=0, gid=0, ns=ev.Namespace(inum=4026531837, is_host=True)),
    )


def _exec_on_host() -> ev.GetEventsResponse:
    """A setuid-root exec on the host, with a pid-0 (kernel) parent and full credentials."""
    process = ev.Process(
        exec_id=EXEC_ID,
        pid=52699,
        uid=0,
        cwd="/",
        binary="/usr/bin/sudo",
        arguments="cat /etc/shadow",
        flags="execve rootcwd clone",
        start_time="2023-09-09T23:27:42.751301124Z",
        auid=4294967295,
        parent_exec_id=PARENT_EXEC_ID,
        refcnt=1,
        cap=ev.Capabilities(permitted=ALL_CAPS, effective=["CAP_SETUID", "CAP_SETGID"]),
        ns=HOST_NS,
        tid=52699,
        process_credentials=_root_credentials(),
        binary_properties=ev.BinaryProperties(
            setuid=0,
            privileges_changed=["PRIVILEGES_RAISED_EXEC_FILE_SETUID"],
            file=ev.FileProperties(
                inode=ev.InodeProperties(number=str(2**32 + 40_000_123), links=1),
                path="/usr/bin/sudo",
            ),
        ),
        user=ev.UserRecord(name="root"),
        in_init_tree=True,
        environment_variables=[
            ev.EnvVar(key="PATH", value="/usr/sbin:/usr/bin"),
            ev.EnvVar(key="LANG", value=""),
        ],
    )
    parent = ev.Process(
        exec_id=PARENT_EXEC_ID,
        pid=0,
        uid=0,
        cwd="/",
        binary="<kernel>",
        flags="procFS",
        start_time="2023-09-09T23:00:00Z",
        auid=0,
        refcnt=3,
        ns=HOST_NS,
        tid=0,
        in_init_tree=False,
    )
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=process, parent=parent, ancestors=[parent]),
        node_name=NODE,
        time="2023-09-09T23:27:42.751301124Z",
    )


def _exec_in_pod() -> ev.GetEventsResponse:
    """A container exec: pod metadata, labels, empty-but-present sub-messages, cluster fields."""
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
                start_time="2024-01-02T03:04:00Z",
                pid=1,
                maybe_exec_probe=False,
            ),
            pod_labels={"app": "web", "pod-template-hash": "7d9c6f8b5"},
            workload="web",
            workload_kind="Deployment",
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
        in_init_tree=False,
    )
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=process),
        node_name=NODE,
        time="2024-01-02T03:04:05.123456Z",
        cluster_name="prod-eu",
        node_labels={"kubernetes.io/hostname": NODE, "topology.kubernetes.io/zone": "europe-west1-b"},
    )


def _exit_killed() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=ev.Process(
                exec_id=EXEC_ID,
                pid=52699,
                uid=0,
                binary="/usr/bin/sleep",
                arguments="1000",
                flags="execve clone",
                auid=4294967295,
                tid=52699,
            ),
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


def _empty_rate_limit_info() -> ev.GetEventsResponse:
    """Zero drops: the event key stays, its body is {} (uint64 "0" is the zero value)."""
    return ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(), node_name=NODE)


CASES = {
    "exec_on_host": _exec_on_host,
    "exec_in_pod": _exec_in_pod,
    "exit_sigkill": _exit_killed,
    "exit_status": _exit_status,
    "rate_limit_info": _rate_limit_info,
    "rate_limit_info_zero": _empty_rate_limit_info,
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
    got = json.loads(ev.encode_json(_exec_on_host()))
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

    exit_ = json.loads(ev.encode_json(_exit_killed()))["process_exit"]
    assert exit_["signal"] == "SIGKILL" and "status" not in exit_
    exit3 = json.loads(ev.encode_json(_exit_status()))["process_exit"]
    assert exit3["status"] == 3 and "signal" not in exit3

    assert json.loads(ev.encode_json(_empty_rate_limit_info())) == {"rate_limit_info": {}, "node_name": NODE}


def test_process_keys_in_field_number_order() -> None:
    got = json.loads(ev.encode_json(_exec_on_host()))["process_exec"]["process"]
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
    ]
    for struct, message in pairs:
        encoded = [f.encode_name for f in msgspec.structs.fields(struct)]
        declared = [f.name for f in message.DESCRIPTOR.fields]
        assert set(encoded) <= set(declared), f"{struct.__name__}: {set(encoded) - set(declared)}"
        assert encoded == [n for n in declared if n in encoded], f"{struct.__name__}: order {encoded}"
