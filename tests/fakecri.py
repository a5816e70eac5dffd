"""A fake CRI runtime for the tests: an in-process ``runtime.v1.RuntimeService`` (grpclib's
server on a unix socket) replaying what containerd answers, with the ids and pods of a small
cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream

from tetragon_core.api.cri import api_pb2 as cri

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def sandbox(sid: str, name: str, namespace: str, uid: str, labels: dict[str, str]) -> cri.PodSandbox:
    return cri.PodSandbox(
        id=sid,
        metadata=cri.PodSandboxMetadata(name=name, namespace=namespace, uid=uid),
        state=cri.SANDBOX_READY,
        labels=labels,
    )


def fake_cluster() -> FakeCri:
    fake = FakeCri()
    fake.sandboxes = [
        sandbox(
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
        sandbox(POD_2, "db-0", "data", UID_2, {"app": "db", "io.kubernetes.pod.name": "db-0"}),
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


def run_coro(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))
