"""RuntimeHook, GetInfo, ListDomains and GetStackTraceTree against the real grpclib server.

The server runs in a thread of its own, on a unix socket, with an AgentState the test fills in; it is
called with tetra's grpclib client, with the ``tetra`` command, and with grpcio on stubs that
grpcio-tools compiled from ``proto/`` (in a child interpreter, see ``tests/grpcio_stubs.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2, wrappers_pb2
from grpclib import GRPCError, Status

from tests.grpcio_stubs import compile_protos
from tests.unit.test_process_manager import NODE, clock, exec_msg
from tests.unit.test_stacktree import ENTRY, OPEN, X64, _kev
from tetragon_core import __version__
from tetragon_core.api.tetragon import sensors_pb2, tetragon_pb2
from tetragon_core.cli.grpc_client import unary
from tetragon_core.config import FLAGS, AgentConfig
from tetragon_core.events import Container, Pod
from tetragon_core.grpc.hub import EventHub
from tetragon_core.grpc.info import build_info, feature_probes
from tetragon_core.grpc.server import start_server, stop_server
from tetragon_core.grpc.state import AgentState
from tetragon_core.metrics import Registry
from tetragon_core.policy.registry import DOMAIN_STATIC, PolicyRegistry
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.manager import ProcessManager

TETRA = str(Path(sys.executable).with_name("tetra"))
POLICIES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "policies"
STACK_POLICY = "stack-traces-example"  # stack_traces.yaml, a kprobe policy
CID = "9c4d2e7f" * 8
N_CONF = sum(not f.cli_only for f in FLAGS)


@dataclass
class Served:
    address: str
    state: AgentState


@pytest.fixture
def served() -> Iterator[Served]:
    state = AgentState(
        policies=PolicyRegistry(lambda: {"generic_kprobe", "generic_tracepoint"}),
        config=AgentConfig.defaults(),
    )
    d = tempfile.mkdtemp(prefix="tg-rpc-")  # short: unix socket paths are limited to 107 bytes
    address = f"unix://{d}/tetragon.sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failed: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            server, addr = loop.run_until_complete(start_server(address, EventHub(Registry(), 16), state))
        except BaseException as e:
            failed.append(e)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(stop_server(server, addr))

    thread = threading.Thread(target=serve, name="grpc-test-server", daemon=True)
    thread.start()
    assert ready.wait(10) and not failed, failed
    try:
        yield Served(address, state)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        shutil.rmtree(d, ignore_errors=True)


def _call(s: Served, rpc: str, req: Any, reply: Any) -> Any:
    return asyncio.run(unary(s.address, rpc, req, reply, 10.0, 0))


def _status(s: Served, rpc: str, req: Any, reply: Any) -> tuple[Status, str]:
    with pytest.raises(GRPCError) as err:
        _call(s, rpc, req, reply)
    return err.value.status, str(err.value.message)


def _tetra(s: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TETRA, "--server-address", s.address, *args], capture_output=True, text=True, timeout=60
    )


def _add_policies(state: AgentState) -> None:
    state.policies.add((POLICIES / "stack_traces.yaml").read_text())
    state.policies.add((POLICIES / "rawtp.yaml").read_text(), DOMAIN_STATIC)


def _feed_traces(state: AgentState) -> None:
    state.stack_traces.submit_many(
        [
            _kev(STACK_POLICY, "/bin/cat", OPEN, X64, ENTRY),
            _kev(STACK_POLICY, "/bin/cat", OPEN, X64),
            _kev(STACK_POLICY, "/bin/ls", OPEN),
        ]
    )


TREE_LINES = [
    "0x0 () count:3",
    f"    0x{OPEN[0]:x} (do_sys_openat2) count:3",
    f"        0x{X64[0]:x} (__x64_sys_openat) count:2",
    f"            0x{ENTRY[0]:x} (do_syscall_64) count:1",
    "                /bin/cat count:1",
]

# -- RuntimeHook ----------------------------------------------------------------------------------


def test_runtime_hook_records_the_container_and_its_processes_get_the_pod(served: Served) -> None:
    req = tetragon_pb2.RuntimeHookRequest(
        createContainer=tetragon_pb2.CreateContainer(
            cgroupsPath=f"/kubepods/besteffort/pod0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11/{CID}",
            rootDir="/run/containerd/rootfs",
            annotations={"io.kubernetes.cri.sandbox-namespace": "shop"},
            containerName="web",
            containerID=f"containerd://{CID}",
            podName="web-0",
        )
    )
    assert _call(served, "RuntimeHook", req, tetragon_pb2.RuntimeHookResponse) == (
        tetragon_pb2.RuntimeHookResponse()
    )
    info = served.state.containers.get(CID)
    assert info is not None
    assert (info.container_name, info.pod_name, info.pod_namespace, info.pod_uid, info.root_dir) == (
        "web",
        "web-0",
        "shop",
        "0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11",
        "/run/containerd/rootfs",
    )
    # an exec in that container, through the manager the agent shares the registry with
    mgr = ProcessManager(ProcessCache(16), NODE, clock, procfs=None, containers=served.state.containers)
    ev = mgr.handle_exec(exec_msg(500, 5000, cgroup_name=f"cri-containerd-{CID}.scope"))
    assert ev is not None and ev.process_exec is not None and ev.process_exec.process is not None
    assert ev.process_exec.process.pod == Pod(
        namespace="shop",
        name="web-0",
        uid="0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11",
        container=Container(id=f"containerd://{CID}", name="web"),
    )


def test_runtime_hook_errors_name_the_field(served: Served) -> None:
    reply = tetragon_pb2.RuntimeHookResponse
    assert _status(served, "RuntimeHook", tetragon_pb2.RuntimeHookRequest(), reply) == (
        Status.INVALID_ARGUMENT,
        "RuntimeHook: createContainer: required (the request names no event)",
    )
    empty = tetragon_pb2.RuntimeHookRequest(createContainer=tetragon_pb2.CreateContainer(rootDir="/x"))
    assert _status(served, "RuntimeHook", empty, reply) == (
        Status.INVALID_ARGUMENT,
        "RuntimeHook: createContainer.containerID: required when cgroupsPath is empty",
    )
    bad = tetragon_pb2.RuntimeHookRequest(createContainer=tetragon_pb2.CreateContainer(cgroupsPath="/"))
    assert _status(served, "RuntimeHook", bad, reply) == (
        Status.INVALID_ARGUMENT,
        "RuntimeHook: createContainer.cgroupsPath: no container id in '/'",
    )
    assert len(served.state.containers) == 0
    # the server is still fine
    assert _call(served, "ListDomains", sensors_pb2.ListDomainsRequest(), sensors_pb2.ListDomainsResponse)


# -- GetInfo, ListDomains --------------------------------------------------------------------------


def _unpack(packed: Any) -> Any:
    for kind in (wrappers_pb2.StringValue, wrappers_pb2.Int64Value, wrappers_pb2.BoolValue):
        if packed.Is(kind.DESCRIPTOR):
            v = kind()
            packed.Unpack(v)
            return v.value
    lv = struct_pb2.ListValue()
    assert packed.Unpack(lv), packed.type_url
    return [x.string_value for x in lv.values]


def test_get_info_reports_name_version_build_probes_and_every_flag(served: Served) -> None:
    res = _call(served, "GetInfo", sensors_pb2.GetInfoRequest(), sensors_pb2.GetInfoResponse)
    assert (res.name, res.version) == ("tetragon", __version__)
    b = build_info()
    assert (res.build.go_version, res.build.commit, res.build.time, res.build.modified) == (
        b.go_version,
        b.commit,
        b.time,
        b.modified,
    )
    assert re.fullmatch(r"python3\.\d+\.\d+.*", b.go_version)
    # this checkout is a git repository: the commit is one of its commits, the time RFC 3339 UTC
    assert re.fullmatch(r"[0-9a-f]{40}", b.commit)
    subprocess.run(["git", "cat-file", "-e", f"{b.commit}^{{commit}}"], check=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b.time) and b.modified in ("true", "false")
    probes = [(p.Name, p.Enabled.value if p.HasField("Enabled") else None) for p in res.probes]
    assert probes == feature_probes()
    conf = {c.key: _unpack(c.value) for c in res.conf}
    assert list(conf) == [f.name for f in FLAGS if not f.cli_only]
    assert conf["server-address"] == "localhost:54321"
    assert conf["process-cache-size"] == 65536
    assert conf["enable-process-cred"] is False
    assert conf["process-cache-gc-interval"] == "30s"
    assert conf["export-file-rotation-interval"] == "0s"
    assert conf["event-cache-retry-delay"] == 2
    assert conf["metrics-label-filter"] == ["namespace", "workload", "pod", "binary"]
    assert conf["rb-queue-size"] == "65535"


def test_list_domains_lists_the_domains_of_loaded_policies(served: Served) -> None:
    req, reply = sensors_pb2.ListDomainsRequest(), sensors_pb2.ListDomainsResponse
    assert list(_call(served, "ListDomains", req, reply).domains) == []
    _add_policies(served.state)
    assert list(_call(served, "ListDomains", req, reply).domains) == ["grpc", "static"]
    listed = _call(
        served,
        "ListTracingPolicies",
        sensors_pb2.ListTracingPoliciesRequest(),
        sensors_pb2.ListTracingPoliciesResponse,
    )
    assert [(p.name, p.domain) for p in listed.policies] == [(STACK_POLICY, "grpc"), ("rawtp", "static")]


# -- GetStackTraceTree -----------------------------------------------------------------------------


def test_get_stack_trace_tree(served: Served) -> None:
    reply = sensors_pb2.GetStackTraceTreeResponse
    assert _status(served, "GetStackTraceTree", sensors_pb2.GetStackTraceTreeRequest(name="nope"), reply) == (
        Status.NOT_FOUND,
        "GetStackTraceTree: name: no tracing policy 'nope' is loaded",
    )
    assert _status(served, "GetStackTraceTree", sensors_pb2.GetStackTraceTreeRequest(), reply) == (
        Status.INVALID_ARGUMENT,
        "GetStackTraceTree: name: required (a tracing policy name)",
    )
    _add_policies(served.state)
    empty = _call(served, "GetStackTraceTree", sensors_pb2.GetStackTraceTreeRequest(name=STACK_POLICY), reply)
    assert json_format.MessageToDict(empty, preserving_proto_field_name=True) == {"root": {"address": {}}}
    _feed_traces(served.state)
    res = _call(served, "GetStackTraceTree", sensors_pb2.GetStackTraceTreeRequest(name=STACK_POLICY), reply)
    root = res.root
    assert root.count == 3 and root.address.address == 0
    (openat2,) = root.children
    assert (openat2.address.address, openat2.address.symbol, openat2.count) == (*OPEN, 3)
    assert [(lb.key, lb.count) for lb in openat2.labels] == [("/bin/cat", 2), ("/bin/ls", 1)]
    (x64,) = openat2.children
    assert (x64.address.symbol, x64.count, [c.address.symbol for c in x64.children]) == (
        "__x64_sys_openat",
        2,
        ["do_syscall_64"],
    )


# -- tetra -----------------------------------------------------------------------------------------


def test_tetra_info_rthooks_domains_and_stacktrace_tree(served: Served) -> None:
    r = _tetra(served, "info")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc) == ["Name", "Version", "Probes", "Conf", "Build"]
    assert (doc["Name"], doc["Version"], doc["Conf"]["process-cache-size"]) == (
        "tetragon",
        __version__,
        65536,
    )
    assert doc["Probes"] == {name: bool(v) for name, v in sorted(feature_probes())}
    assert doc["Build"]["Commit"] == build_info().commit

    r = _tetra(
        served,
        "rthooks",
        "create-container",
        CID,
        "/rootfs",
        "--container-dir",
        f"/kubepods/besteffort/pod0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11/{CID}",
        "--annotations",
        "io.kubernetes.cri.sandbox-name=api-1,io.kubernetes.cri.sandbox-namespace=prod",
        "--container-name",
        "api",
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    info = served.state.containers.get(CID)
    assert info is not None
    assert (info.container_id, info.container_name, info.pod_name, info.pod_namespace, info.root_dir) == (
        CID,
        "api",
        "api-1",
        "prod",
        "/rootfs",
    )
    r = _tetra(served, "rthooks", "create-container", "", "--annotations", "novalue")
    assert r.returncode == 1 and "--annotations: 'novalue' is not key=value" in r.stderr
    r = _tetra(served, "rthooks", "create-container", "")
    assert r.returncode == 1
    assert "INVALID_ARGUMENT: RuntimeHook: createContainer.containerID: required" in r.stderr

    assert _tetra(served, "tp", "domains").stdout == "[]\n"
    _add_policies(served.state)
    assert _tetra(served, "tp", "domains").stdout == "[grpc static]\n"

    _feed_traces(served.state)
    r = _tetra(served, "stacktrace-tree", "print", STACK_POLICY)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == TREE_LINES
    r = _tetra(served, "stacktrace-tree", "print", "nope")
    assert r.returncode == 1 and "NOT_FOUND: GetStackTraceTree: name: no tracing policy 'nope'" in r.stderr


# -- grpcio ----------------------------------------------------------------------------------------

_GRPCIO_CLIENT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
from google.protobuf import json_format
from tetragon import sensors_pb2, tetragon_pb2, sensors_pb2_grpc
stub = sensors_pb2_grpc.FineGuidanceSensorsStub(grpc.insecure_channel(sys.argv[2]))
out = {}
info = stub.GetInfo(sensors_pb2.GetInfoRequest())
out["info"] = [info.name, info.version, info.build.commit, len(info.conf)]
out["domains"] = list(stub.ListDomains(sensors_pb2.ListDomainsRequest()).domains)
cc = tetragon_pb2.CreateContainer(containerID=sys.argv[3], podName="p", podNamespace="ns")
out["hook"] = stub.RuntimeHook(tetragon_pb2.RuntimeHookRequest(createContainer=cc)).ByteSize()
tree = stub.GetStackTraceTree(sensors_pb2.GetStackTraceTreeRequest(name=sys.argv[4]))
out["tree"] = json_format.MessageToDict(tree, preserving_proto_field_name=True)
for name, req in (
    ("bad_hook", lambda: stub.RuntimeHook(tetragon_pb2.RuntimeHookRequest())),
    ("bad_tree", lambda: stub.GetStackTraceTree(sensors_pb2.GetStackTraceTreeRequest(name="nope"))),
):
    try:
        req()
    except grpc.RpcError as e:
        out[name] = [e.code().name, e.details()]
print(json.dumps(out))
"""


def test_independent_grpcio_client(served: Served, tmp_path: Path) -> None:
    compile_protos(tmp_path)
    _add_policies(served.state)
    _feed_traces(served.state)
    r = subprocess.run(
        [sys.executable, "-c", _GRPCIO_CLIENT, str(tmp_path), served.address, CID, STACK_POLICY],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["info"] == ["tetragon", __version__, build_info().commit, N_CONF]
    assert out["domains"] == ["grpc", "static"]
    assert out["hook"] == 0
    info = served.state.containers.get(CID)
    assert info is not None and (info.pod_name, info.pod_namespace) == ("p", "ns")
    assert out["tree"]["root"]["count"] == "3"
    assert [c["address"]["symbol"] for c in out["tree"]["root"]["children"]] == ["do_sys_openat2"]
    assert out["bad_hook"] == [
        "INVALID_ARGUMENT",
        "RuntimeHook: createContainer: required (the request names no event)",
    ]
    assert out["bad_tree"] == ["NOT_FOUND", "GetStackTraceTree: name: no tracing policy 'nope' is loaded"]
