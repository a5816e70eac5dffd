"""The CRI client (``--enable-cri``): endpoints, cgroup paths, and the poller against an in-process
fake ``runtime.v1.RuntimeService`` (grpclib's server on a unix socket) replaying what containerd
answers."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream

from tetragon_core.api.cri import api_pb2 as cri
from tetragon_core.cri import (
    DEFAULT_ENDPOINTS,
    CriClient,
    CriSync,
    cgroup_path,
    default_endpoint,
    parse_endpoint,
)
from tetragon_core.exceptions import ConfigError, CriError
from tetragon_core.metrics import Registry
from tetragon_core.process.containers import ContainerRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]

# -- the generated runtime.v1 subset ----------------------------------------------------------------


def test_generated_module_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "gen_cri_proto.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"run tools/gen_cri_proto.py: {done.stderr}"


@pytest.mark.parametrize(
    ("message", "field_name", "number"),
    [
        # the fields the client reads, numbered as k8s.io/cri-api's api.proto numbers them
        ("VersionResponse", "runtime_name", 2),
        ("VersionResponse", "runtime_api_version", 4),
        ("PodSandbox", "metadata", 2),
        ("PodSandbox", "labels", 5),
        ("PodSandboxMetadata", "uid", 2),
        ("PodSandboxMetadata", "namespace", 3),
        ("Container", "pod_sandbox_id", 2),
        ("Container", "state", 6),
        ("ContainerStatusRequest", "verbose", 2),
        ("ContainerStatusResponse", "info", 2),
        ("ContainerStatus", "started_at", 5),
        ("ContainerStatus", "image_ref", 9),
        ("ContainerStatus", "annotations", 13),
        ("ContainerStatus", "image_id", 17),
        ("PodSandboxConfig", "linux", 8),
        ("LinuxSandboxSecurityContext", "run_as_group", 8),
        ("LinuxContainerSecurityContext", "seccomp", 15),
        ("ContainerConfig", "linux", 15),
        ("ImageSpec", "user_specified_image", 18),
    ],
)
def test_wire_numbers_are_upstreams(message: str, field_name: str, number: int) -> None:
    assert cri.DESCRIPTOR.package == "runtime.v1"
    assert cri.DESCRIPTOR.message_types_by_name[message].fields_by_name[field_name].number == number


def test_service_path() -> None:
    service = cri.DESCRIPTOR.services_by_name["RuntimeService"]
    assert service.full_name == "runtime.v1.RuntimeService"
    assert {m.name for m in service.methods} >= {
        "Version",
        "ListPodSandbox",
        "ListContainers",
        "ContainerStatus",
    }
    assert cri.NODE == 2 and cri.CONTAINER_RUNNING == 1 and cri.SANDBOX_NOTREADY == 1


# -- parse_endpoint, default_endpoint --------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [
        ("unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("/run/crio/crio.sock", "/run/crio/crio.sock"),
        ("unix:///tmp/a b.sock", "/tmp/a b.sock"),
    ],
)
def test_parse_endpoint_takes_unix_urls_and_absolute_paths(endpoint: str, path: str) -> None:
    assert parse_endpoint(endpoint) == path


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://127.0.0.1:1234", "npipe:////./pipe/containerd", "run/containerd.sock", "unix://run/x.sock", ""],
)
def test_parse_endpoint_refuses_the_rest_naming_the_flag(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="--cri-endpoint"):
        parse_endpoint(endpoint)


def test_client_refuses_a_bad_endpoint_at_construction() -> None:
    with pytest.raises(ConfigError, match="--cri-endpoint: 'tcp://x:1'"):
        CriClient("tcp://x:1")


def test_default_endpoint_is_the_first_socket_that_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_ENDPOINTS[0] == "unix:///run/containerd/containerd.sock"
    crio, dockerd = tmp_path / "crio.sock", tmp_path / "cri-dockerd.sock"
    candidates = (f"unix://{tmp_path}/containerd.sock", f"unix://{crio}", f"unix://{dockerd}")
    monkeypatch.setattr("tetragon_core.cri._client.DEFAULT_ENDPOINTS", candidates)
    with pytest.raises(ConfigError, match="--cri-endpoint: empty"):
        default_endpoint()
    dockerd.touch()
    assert default_endpoint() == f"unix://{dockerd}"
    crio.touch()
    assert default_endpoint() == f"unix://{crio}"


# -- cgroup_path ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        # cgroupfs driver: the path itself
        ("/kubepods/besteffort/pod1234/abcd", "/kubepods/besteffort/pod1234/abcd"),
        ("/docker/abcd", "/docker/abcd"),
        # systemd driver: slice:prefix:name, the slice expanded as systemd nests it
        (
            "kubepods-besteffort-pod1234.slice:cri-containerd:abcd",
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/"
            "cri-containerd-abcd.scope",
        ),
        ("kubepods-pod1234.slice:crio:abcd", "/kubepods.slice/kubepods-pod1234.slice/crio-abcd.scope"),
        ("system.slice:docker:abcd", "/system.slice/docker-abcd.scope"),
        ("-.slice:docker:abcd", "/docker-abcd.scope"),
        # no slice: runc's default parent
        (":cri-containerd:abcd", "/system.slice/cri-containerd-abcd.scope"),
        # a name asking for a slice is the unit itself
        ("kubepods.slice:x:kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"),
        ("", ""),
    ],
)
def test_cgroup_path_resolves_both_drivers(spec: str, path: str) -> None:
    assert cgroup_path(spec) == path


# -- a fake CRI runtime -----------------------------------------------------------------------------

CID_A = "a1" * 32
CID_B = "b2" * 32
CID_C = "c3" * 32
POD_1 = "p1" * 32
POD_2 = "p2" * 32
UID_1 = "0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11"
UID_2 = "5d0f1e2a-1111-4222-8333-944455556666"
STARTED_NS = 1_700_000_000_123_456_789


@dataclass
class FakeContainer:
    id: str
    sandbox: str
    name: str
    image: str
    pid: int
    cgroups_path: str
    state: int = cri.CONTAINER_RUNNING
    labels: dict[str, str] = field(default_factory=dict)
    spec_annotations: dict[str, str] = field(default_factory=dict)

    def status(self) -> cri.ContainerStatusResponse:
        # containerd's verbose info: one JSON document under "info" (containerd 1.6's containerInfo)
        info = {
            "sandboxID": self.sandbox,
            "pid": self.pid,
            "removing": False,
            "snapshotKey": self.id,
            "snapshotter": "native",
            "runtimeType": "io.containerd.runc.v2",
            "runtimeSpec": {
                "ociVersion": "1.0.2-dev",
                "process": {"args": ["sleep", "30"]},
                "annotations": {
                    "io.kubernetes.cri.container-type": "container",
                    "io.kubernetes.cri.sandbox-id": self.sandbox,
                    **self.spec_annotations,
                },
                "linux": {"cgroupsPath": self.cgroups_path, "namespaces": [{"type": "pid"}]},
            },
        }
        return cri.ContainerStatusResponse(
            status=cri.ContainerStatus(
                id=self.id,
                metadata=cri.ContainerMetadata(name=self.name),
                state=self.state,  # type: ignore[arg-type]
                created_at=STARTED_NS - 1000,
                started_at=STARTED_NS if self.state != cri.CONTAINER_CREATED else 0,
                image=cri.ImageSpec(image=self.image),
                image_ref="sha256:" + "e" * 64,
                labels=self.labels,
                annotations={"io.kubernetes.container.hash": "1234"},
            ),
            info={"info": json.dumps(info)},
        )


class FakeCri:
    """``runtime.v1.RuntimeService`` with what containerd 1.6 answers; ``fail`` maps an RPC name
    (or ``ContainerStatus:<id>``) to the status it fails with; ``calls`` counts the RPCs."""

    def __init__(self) -> None:
        self.sandboxes: list[cri.PodSandbox] = []
        self.containers: dict[str, FakeContainer] = {}
        self.fail: dict[str, Status] = {}
        self.calls: dict[str, int] = {}
        self.delay = 0.0

    def __mapping__(self) -> dict[str, Handler]:
        rpcs: dict[str, tuple[Callable[[Any], Coroutine[Any, Any, Any]], Any, Any]] = {
            "Version": (self.version, cri.VersionRequest, cri.VersionResponse),
            "ListPodSandbox": (self.list_sandboxes, cri.ListPodSandboxRequest, cri.ListPodSandboxResponse),
            "ListContainers": (self.list_containers, cri.ListContainersRequest, cri.ListContainersResponse),
            "ContainerStatus": (self.status, cri.ContainerStatusRequest, cri.ContainerStatusResponse),
        }
        return {
            f"/runtime.v1.RuntimeService/{name}": Handler(
                self._handler(name, fn), Cardinality.UNARY_UNARY, req, rep
            )
            for name, (fn, req, rep) in rpcs.items()
        }

    def _handler(
        self, name: str, fn: Callable[[Any], Coroutine[Any, Any, Any]]
    ) -> Callable[[Stream[Any, Any]], Coroutine[Any, Any, None]]:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.delay:
                await asyncio.sleep(self.delay)
            if name in self.fail:
                raise GRPCError(self.fail[name], f"{name} refused")
            await stream.send_message(await fn(request))

        return handle

    async def version(self, _: cri.VersionRequest) -> cri.VersionResponse:
        return cri.VersionResponse(
            version="0.1.0", runtime_name="containerd", runtime_version="1.6.20", runtime_api_version="v1"
        )

    async def list_sandboxes(self, _: cri.ListPodSandboxRequest) -> cri.ListPodSandboxResponse:
        return cri.ListPodSandboxResponse(items=self.sandboxes)

    async def list_containers(self, _: cri.ListContainersRequest) -> cri.ListContainersResponse:
        return cri.ListContainersResponse(
            containers=[
                cri.Container(
                    id=c.id,
                    pod_sandbox_id=c.sandbox,
                    metadata=cri.ContainerMetadata(name=c.name),
                    image=cri.ImageSpec(image=c.image),
                    state=c.state,  # type: ignore[arg-type]
                )
                for c in self.containers.values()
            ]
        )

    async def status(self, request: cri.ContainerStatusRequest) -> cri.ContainerStatusResponse:
        assert request.verbose, "the client must ask for the verbose info"
        failing = self.fail.get(f"ContainerStatus:{request.container_id}")
        if failing is not None:
            raise GRPCError(failing, f"container {request.container_id} refused")
        c = self.containers.get(request.container_id)
        if c is None:
            raise GRPCError(
                Status.NOT_FOUND, f"an error occurred when try to find container {request.container_id!r}"
            )
        return c.status()


def _sandbox(sid: str, name: str, namespace: str, uid: str, labels: dict[str, str]) -> cri.PodSandbox:
    return cri.PodSandbox(
        id=sid,
        metadata=cri.PodSandboxMetadata(name=name, namespace=namespace, uid=uid),
        state=cri.SANDBOX_READY,
        labels=labels,
    )


def _cluster() -> FakeCri:
    fake = FakeCri()
    fake.sandboxes = [
        _sandbox(
            POD_1,
            "web-7d9f",
            "shop",
            UID_1,
            {
                "app": "web",
                "tier": "front",
                "io.kubernetes.pod.name": "web-7d9f",
                "io.kubernetes.pod.namespace": "shop",
                "io.kubernetes.pod.uid": UID_1,
            },
        ),
        _sandbox(POD_2, "db-0", "data", UID_2, {"app": "db", "io.kubernetes.pod.name": "db-0"}),
    ]
    fake.containers = {
        CID_A: FakeContainer(
            CID_A,
            POD_1,
            "nginx",
            "docker.io/library/nginx:1.27",
            4242,
            f"/kubepods/besteffort/pod{UID_1}/{CID_A}",
            labels={"io.kubernetes.container.name": "nginx"},
        ),
        CID_B: FakeContainer(
            CID_B,
            POD_2,
            "postgres",
            "docker.io/library/postgres:16",
            4343,
            f"kubepods-besteffort-pod{UID_2.replace('-', '_')}.slice:cri-containerd:{CID_B}",
        ),
    }
    return fake


@asynccontextmanager
async def serving(fake: FakeCri, sock: Path) -> AsyncIterator[str]:
    """``fake`` served on ``sock``; leaving closes its connections too, as a runtime that exits
    does (grpclib's server would keep the idle ones open)."""
    server = Server([fake])
    transports: list[asyncio.BaseTransport] = []
    make = server._protocol_factory

    def protocol() -> H2Protocol:
        proto = make()
        made = proto.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            transports.append(transport)
            made(transport)

        proto.connection_made = connection_made  # type: ignore[method-assign]
        return proto

    server._protocol_factory = protocol  # type: ignore[method-assign]
    await server.start(path=str(sock))
    try:
        yield f"unix://{sock}"
    finally:
        server.close()
        await server.wait_closed()
        for transport in transports:
            transport.close()
        sock.unlink(missing_ok=True)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


# -- the client -------------------------------------------------------------------------------------


def test_client_reads_version_sandboxes_and_verbose_container_status(tmp_path: Path) -> None:
    fake = _cluster()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint)
            try:
                assert await client.version() == ("containerd", "1.6.20", "v1")
                pods = {s.id: s for s in await client.sandboxes()}
                assert pods[POD_1].name == "web-7d9f" and pods[POD_1].uid == UID_1
                assert sorted(await client.container_ids()) == [
                    (CID_A, POD_1, "CONTAINER_RUNNING"),
                    (CID_B, POD_2, "CONTAINER_RUNNING"),
                ]
                b = await client.container(CID_B)
            finally:
                client.close()
        assert b.sandbox_id == POD_2, "the sandbox comes from the verbose info when not given"
        assert b.pid == 4343
        assert b.state == "CONTAINER_RUNNING"
        assert b.cgroups_path == (
            "/kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{UID_2.replace('-', '_')}.slice/cri-containerd-{CID_B}.scope"
        )
        assert b.image == "docker.io/library/postgres:16" and b.image_ref == "sha256:" + "e" * 64
        assert b.started_at_ns == STARTED_NS
        # the OCI spec's annotations under the container's own
        assert b.annotations["io.kubernetes.cri.sandbox-id"] == POD_2
        assert b.annotations["io.kubernetes.container.hash"] == "1234"

    _run(main())


def test_client_survives_verbose_info_it_cannot_read(tmp_path: Path) -> None:
    fake = _cluster()
    statuses: list[dict[str, str]] = [
        {},
        {"info": "not json"},
        {"info": '["a list"]'},
        {"info": '{"pid": true}'},
    ]

    async def status(request: cri.ContainerStatusRequest) -> cri.ContainerStatusResponse:
        reply = fake.containers[CID_A].status()
        reply.info.clear()
        reply.info.update(statuses.pop(0))
        return reply

    fake.status = status  # type: ignore[method-assign]

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint)
            try:
                for _ in range(4):
                    c = await client.container(CID_A, POD_1)
                    assert (c.id, c.name, c.pid, c.cgroups_path) == (CID_A, "nginx", 0, "")
            finally:
                client.close()

    _run(main())


def test_client_errors_name_the_endpoint_and_the_call(tmp_path: Path) -> None:
    fake = _cluster()
    fake.fail["ListPodSandbox"] = Status.UNAVAILABLE

    async def main() -> None:
        missing = CriClient(f"unix://{tmp_path}/nothing.sock")
        with pytest.raises(
            CriError, match=rf"CRI Version on unix://{tmp_path}/nothing.sock: FileNotFoundError"
        ):
            await missing.version()
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint, timeout=0.5)
            try:
                with pytest.raises(
                    CriError, match=rf"CRI ListPodSandbox on {endpoint}: UNAVAILABLE: ListPodSandbox refused"
                ):
                    await client.sandboxes()
                with pytest.raises(CriError, match=rf"CRI ContainerStatus on {endpoint}: NOT_FOUND"):
                    await client.container("f" * 64)
                fake.delay = 2.0
                with pytest.raises(CriError, match=rf"CRI Version on {endpoint}: "):
                    await client.version()
                fake.delay = 0.0
                # the client reconnects after a failure
                assert (await client.version())[0] == "containerd"
            finally:
                client.close()

    _run(main())


def test_client_reconnects_after_the_runtime_restarts(tmp_path: Path) -> None:
    sock = tmp_path / "cri.sock"

    async def main() -> None:
        client = CriClient(f"unix://{sock}")
        try:
            async with serving(_cluster(), sock):
                assert (await client.version())[0] == "containerd"
            with pytest.raises(CriError, match="CRI Version on"):
                await client.version()
            async with serving(_cluster(), sock):
                assert (await client.version())[0] == "containerd"
        finally:
            client.close()

    _run(main())


# -- CriSync ----------------------------------------------------------------------------------------


def test_sync_records_containers_with_their_pods(tmp_path: Path) -> None:
    fake = _cluster()
    registry = ContainerRegistry()
    metrics = Registry()
    changes: list[int] = []

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry, metrics, on_change=lambda: changes.append(1))
            try:
                await sync.connect()
                assert sync.runtime == "containerd 1.6.20 (CRI v1)"
                assert await sync.poll() == 2
                # nothing new: one list call, no sandbox list nor status
                calls = dict(fake.calls)
                assert await sync.poll() == 0
                assert fake.calls["ListContainers"] == calls["ListContainers"] + 1
                assert fake.calls["ContainerStatus"] == calls["ContainerStatus"]
                assert fake.calls["ListPodSandbox"] == calls["ListPodSandbox"]
                assert sync.containers[CID_A].pid == 4242
                assert sync.containers[CID_B].pid == 4343
            finally:
                sync.client.close()

    _run(main())
    assert changes == [1]
    assert len(registry) == 2
    a = registry.get(CID_A)
    assert a is not None
    assert a.container_id == f"containerd://{CID_A}"
    assert (a.pod_name, a.pod_namespace, a.pod_uid) == ("web-7d9f", "shop", UID_1)
    assert dict(a.pod_labels) == {"app": "web", "tier": "front"}, "kubelet's io.kubernetes.* are dropped"
    assert a.container_name == "nginx"
    assert a.image == "docker.io/library/nginx:1.27"
    assert a.image_id == "sha256:" + "e" * 64
    assert a.cgroups_path == f"/kubepods/besteffort/pod{UID_1}/{CID_A}"
    assert a.start_time == "2023-11-14T22:13:20.123456789Z"
    b = registry.get(CID_B)
    assert b is not None
    assert (b.pod_name, b.pod_namespace, b.pod_uid, dict(b.pod_labels)) == (
        "db-0",
        "data",
        UID_2,
        {"app": "db"},
    )
    assert b.cgroups_path.endswith(f"/cri-containerd-{CID_B}.scope")
    # processes find it by the id their cgroup names (process.docker: 31 characters)
    pod = registry.pod(CID_B[:31], nspid=1)
    assert pod is not None and pod.name == "db-0" and pod.container is not None
    assert pod.container.id == f"containerd://{CID_B}" and pod.container.pid == 1
    assert metrics.counter("tetragon_cri_containers_total", "").get() == 2


def test_sync_learns_new_containers_and_a_created_one_once_it_runs(tmp_path: Path) -> None:
    fake = _cluster()
    registry = ContainerRegistry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry)
            try:
                await sync.connect()
                assert await sync.poll() == 2
                fake.containers[CID_C] = FakeContainer(
                    CID_C, POD_1, "sidecar", "docker.io/library/busybox:latest", 0,
                    f"/kubepods/besteffort/pod{UID_1}/{CID_C}", state=cri.CONTAINER_CREATED,
                )  # fmt: skip
                assert await sync.poll() == 1
                info = registry.get(CID_C)
                assert info is not None and info.pod_name == "web-7d9f" and info.start_time == ""
                assert sync.containers[CID_C].pid == 0
                statuses = fake.calls["ContainerStatus"]
                # still created: not asked again
                assert await sync.poll() == 0
                assert fake.calls["ContainerStatus"] == statuses
                # started: asked once more, for its pid and start time
                fake.containers[CID_C].state = cri.CONTAINER_RUNNING
                fake.containers[CID_C].pid = 5151
                assert await sync.poll() == 1
                assert sync.containers[CID_C].pid == 5151
                info = registry.get(CID_C)
                assert info is not None and info.start_time != ""
                assert await sync.poll() == 0
                assert fake.calls["ContainerStatus"] == statuses + 1
                # a removed container leaves the poller (the registry keeps it for late events)
                del fake.containers[CID_A]
                assert await sync.poll() == 0
                assert CID_A not in sync.containers and registry.get(CID_A) is not None
            finally:
                sync.client.close()

    _run(main())


def test_sync_counts_errors_and_carries_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = _cluster()
    fake.fail[f"ContainerStatus:{CID_A}"] = Status.INTERNAL
    registry = ContainerRegistry()
    metrics = Registry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry, metrics)
            try:
                await sync.connect()
                # one container's status fails: the other is recorded all the same
                assert await sync.poll() == 1
                assert registry.get(CID_B) is not None and registry.get(CID_A) is None
                assert sync.errors("ContainerStatus") == 1
                # retried each round, then given up on
                assert await sync.poll() == 0
                assert await sync.poll() == 0
                assert sync.errors("ContainerStatus") == 3
                with caplog.at_level(logging.WARNING):
                    assert await sync.poll() == 0
                assert sync.errors("ContainerStatus") == 3
                # a failing list call raises, counted
                fake.fail["ListContainers"] = Status.UNAVAILABLE
                with pytest.raises(CriError, match="ListContainers"):
                    await sync.poll()
                assert sync.errors("ListContainers") == 1
                del fake.fail["ListContainers"]
                fake.fail["ListPodSandbox"] = Status.UNAVAILABLE
                fake.containers[CID_C] = FakeContainer(
                    CID_C, POD_1, "sidecar", "busybox", 77, f"/kubepods/besteffort/pod{UID_1}/{CID_C}"
                )
                with pytest.raises(CriError, match="ListPodSandbox"):
                    await sync.poll()
                assert sync.errors("ListPodSandbox") == 1
                del fake.fail["ListPodSandbox"]
                assert await sync.poll() == 1
            finally:
                sync.client.close()

    _run(main())
    family = metrics.counter("tetragon_cri_errors_total", "", ("call",))
    assert family.samples() == {("ContainerStatus",): 3, ("ListContainers",): 1, ("ListPodSandbox",): 1}


def test_sync_records_a_container_whose_sandbox_is_not_listed_yet(tmp_path: Path) -> None:
    fake = _cluster()
    fake.containers[CID_A].spec_annotations = {
        "io.kubernetes.cri.sandbox-name": "web-7d9f",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.sandbox-uid": UID_1,
    }
    pod_1 = fake.sandboxes.pop(0)
    registry = ContainerRegistry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry)
            try:
                assert await sync.poll() == 2
                # from the OCI spec's annotations meanwhile, without labels
                a = registry.get(CID_A)
                assert a is not None and (a.pod_name, a.pod_namespace, a.pod_uid) == (
                    "web-7d9f",
                    "shop",
                    UID_1,
                )
                assert dict(a.pod_labels) == {}
                fake.sandboxes.append(pod_1)
                assert await sync.poll() == 1
                a = registry.get(CID_A)
                assert a is not None and dict(a.pod_labels) == {"app": "web", "tier": "front"}
                assert await sync.poll() == 0
            finally:
                sync.client.close()

    _run(main())


def test_sync_run_keeps_polling_through_an_outage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sock = tmp_path / "cri.sock"
    registry = ContainerRegistry()

    async def until(cond: Callable[[], bool]) -> None:
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def main() -> None:
        sync = CriSync(CriClient(f"unix://{sock}", timeout=1), registry, interval=0.02)
        task = asyncio.create_task(sync.run())
        try:
            # no runtime yet: Version fails, logged once, retried
            await until(lambda: sync.errors("Version") >= 3)
            assert not task.done()
            async with serving(_cluster(), sock):
                await until(lambda: len(registry) == 2)
            assert sync.runtime.startswith("containerd")
            # the runtime goes away: the list fails, run() carries on
            await until(lambda: sync.errors("ListContainers") >= 2)
            assert not task.done()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            sync.client.close()

    with caplog.at_level(logging.INFO, logger="tetragon_core.cri._sync"):
        _run(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per outage
    assert "CRI Version on" in warnings[0] and "CRI ListContainers on" in warnings[1]
    assert [r.getMessage() for r in caplog.records].count(f"CRI endpoint unix://{sock} answers again") == 1
