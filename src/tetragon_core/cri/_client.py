"""A CRI (``runtime.v1.RuntimeService``) client over grpclib, for what the agent asks a container
runtime: its version, its pod sandboxes and containers, and a container's status with the
runtime's verbose info (its pid and OCI spec, hence its cgroup)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from grpclib.client import Channel
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from tetragon_core.api.cri import api_pb2 as cri
from tetragon_core.exceptions import ConfigError, CriError

__all__ = [
    "DEFAULT_ENDPOINTS",
    "ContainerRecord",
    "CriClient",
    "SandboxRecord",
    "cgroup_path",
    "default_endpoint",
    "parse_endpoint",
]

_Reply = TypeVar("_Reply")

SERVICE: Final = "/runtime.v1.RuntimeService/"
#: tried in this order when --cri-endpoint is empty, as upstream does
DEFAULT_ENDPOINTS: Final = (
    "unix:///run/containerd/containerd.sock",
    "unix:///run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
)


def parse_endpoint(endpoint: str) -> str:
    """The socket path of a ``unix://`` endpoint (a bare absolute path is taken too); anything else
    raises :class:`ConfigError` naming ``--cri-endpoint``."""
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
    elif endpoint.startswith("/"):
        path = endpoint
    else:
        scheme = endpoint.partition("://")[0] if "://" in endpoint else "no scheme"
        raise ConfigError(f"--cri-endpoint: {endpoint!r}: only unix:// endpoints are supported, got {scheme}")
    if not path.startswith("/"):
        raise ConfigError(f"--cri-endpoint: {endpoint!r}: the socket path must be absolute")
    return path


def default_endpoint() -> str:
    """The first of :data:`DEFAULT_ENDPOINTS` whose socket exists; :class:`ConfigError` if none."""
    for ep in DEFAULT_ENDPOINTS:
        if os.path.exists(parse_endpoint(ep)):
            return ep
    raise ConfigError(f"--cri-endpoint: empty, and no CRI socket at any of {', '.join(DEFAULT_ENDPOINTS)}")


def cgroup_path(spec_path: str) -> str:
    """The cgroup a runtime's OCI ``linux.cgroupsPath`` names, as a path under the hierarchy root.

    The systemd driver writes ``slice:prefix:name`` (``kubepods-besteffort-pod<uid>.slice:
    cri-containerd:<id>``): the unit is ``<prefix>-<name>.scope`` inside the slice, and a slice
    ``a-b-c.slice`` lives in ``a.slice/a-b.slice/a-b-c.slice``. The cgroupfs driver's is a path.
    """
    if spec_path.startswith("/") or spec_path.count(":") != 2:
        return spec_path
    slice_, prefix, name = spec_path.split(":")
    if not name:
        return spec_path
    parts: list[str] = []
    # runc puts a unit without a slice in system.slice; "-.slice" is the root slice
    slice_ = slice_ or "system.slice"
    if slice_ != "-.slice":
        acc = ""
        for piece in slice_.removesuffix(".slice").split("-"):
            acc = f"{acc}-{piece}" if acc else piece
            parts.append(f"{acc}.slice")
    # as runc names the unit: a scope unless the name asks for a slice
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return "/" + "/".join([*parts, unit])


@dataclass(frozen=True)
class SandboxRecord:
    """One pod sandbox: its id and the pod's name, namespace, uid and labels."""

    id: str
    name: str
    namespace: str
    uid: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerRecord:
    """One container with what its verbose status says: pid, cgroup path and image.

    ``state`` is the CRI state's name (``CONTAINER_RUNNING``…); ``pid`` is 0 until the container
    runs. ``annotations`` are the container's CRI annotations over its OCI spec's (where containerd
    and CRI-O write ``io.kubernetes.cri.*``/``io.kubernetes.*``: the pod, container and image names).
    """

    id: str
    sandbox_id: str
    name: str
    image: str
    image_ref: str
    pid: int
    cgroups_path: str
    started_at_ns: int
    state: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


class CriClient:
    """Calls to one CRI endpoint; each call raises :class:`CriError` naming the call and why."""

    def __init__(self, endpoint: str, timeout: float = 5.0) -> None:
        """``endpoint`` as ``--cri-endpoint`` takes it (``unix:///path``); a bad one raises ConfigError."""
        self.endpoint = endpoint
        self.path = parse_endpoint(endpoint)
        self.timeout = timeout
        self._channel: Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        channel, loop = self._channel, self._loop
        self._channel = self._loop = None
        if channel is not None and loop is not None and not loop.is_closed():
            channel.close()

    def _connection(self) -> Channel:
        # a grpclib channel belongs to the event loop it was made on
        loop = asyncio.get_running_loop()
        if self._channel is None or self._loop is not loop:
            self.close()
            self._channel, self._loop = Channel(path=self.path), loop
        return self._channel

    async def call(self, rpc: str, request: Any, reply_type: type[_Reply]) -> _Reply:
        """One unary ``runtime.v1.RuntimeService`` call: ``rpc`` (``"Version"``) with ``request``, a
        message of :mod:`tetragon_core.api.cri.api_pb2`, answered by a ``reply_type``. Raises
        :class:`CriError` naming the endpoint and the call when it fails, whatever the reason."""
        channel = self._connection()
        try:
            async with channel.request(
                SERVICE + rpc, Cardinality.UNARY_UNARY, type(request), reply_type, timeout=self.timeout
            ) as stream:
                await stream.send_message(request, end=True)
                reply = await stream.recv_message()
                await stream.recv_trailing_metadata()
        except GRPCError as e:
            detail = f"{e.status.name}: {e.message}" if e.message else e.status.name
            raise CriError(f"CRI {rpc} on {self.endpoint}: {detail}") from e
        except (OSError, TimeoutError, StreamTerminatedError, ProtocolError) as e:
            self.close()
            why = str(e) or ("timed out" if isinstance(e, TimeoutError) else "connection lost")
            raise CriError(f"CRI {rpc} on {self.endpoint}: {type(e).__name__}: {why}") from e
        if reply is None:
            raise CriError(f"CRI {rpc} on {self.endpoint}: no reply")
        return reply

    async def version(self) -> tuple[str, str, str]:
        """The runtime's name, version and CRI API version."""
        reply = await self.call("Version", cri.VersionRequest(version="v1"), cri.VersionResponse)
        return reply.runtime_name, reply.runtime_version, reply.runtime_api_version

    async def sandboxes(self) -> list[SandboxRecord]:
        """Every pod sandbox the runtime knows."""
        reply = await self.call("ListPodSandbox", cri.ListPodSandboxRequest(), cri.ListPodSandboxResponse)
        return [
            SandboxRecord(
                id=s.id,
                name=s.metadata.name,
                namespace=s.metadata.namespace,
                uid=s.metadata.uid,
                labels=dict(s.labels),
                annotations=dict(s.annotations),
            )
            for s in reply.items
        ]

    async def container_ids(self) -> list[tuple[str, str, str]]:
        """``(container id, sandbox id, state)`` of every container the runtime knows, the state
        as :attr:`ContainerRecord.state` names it."""
        reply = await self.call("ListContainers", cri.ListContainersRequest(), cri.ListContainersResponse)
        return [(c.id, c.pod_sandbox_id, _state(c.state)) for c in reply.containers]

    async def container(self, container_id: str, sandbox_id: str = "") -> ContainerRecord:
        """One container's verbose status: name, image, labels, and from the runtime's info its
        pid and the cgroup of its OCI spec (``linux.cgroupsPath``, resolved by :func:`cgroup_path`)."""
        reply = await self.call(
            "ContainerStatus",
            cri.ContainerStatusRequest(container_id=container_id, verbose=True),
            cri.ContainerStatusResponse,
        )
        st = reply.status
        info = _verbose_info(reply.info)
        spec = _mapping(info.get("runtimeSpec"))
        raw_cgroup = _mapping(spec.get("linux")).get("cgroupsPath", "")
        spec_notes = {k: v for k, v in _mapping(spec.get("annotations")).items() if isinstance(v, str)}
        pid = info.get("pid", 0)
        sandbox = info.get("sandboxID", "")
        return ContainerRecord(
            id=st.id or container_id,
            sandbox_id=sandbox_id or (sandbox if isinstance(sandbox, str) else ""),
            name=st.metadata.name,
            image=st.image.image,
            image_ref=st.image_ref,
            # bool is an int too, and a JSON true is no pid
            pid=pid if type(pid) is int and pid > 0 else 0,
            cgroups_path=cgroup_path(raw_cgroup) if isinstance(raw_cgroup, str) else "",
            started_at_ns=st.started_at,
            state=_state(st.state),
            labels=dict(st.labels),
            annotations={**spec_notes, **st.annotations},
        )


_STATES: Final = frozenset(cri.ContainerState.values())


def _state(state: int) -> str:
    return cri.ContainerState.Name(state) if state in _STATES else str(state)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _verbose_info(info: Mapping[str, str]) -> Mapping[str, Any]:
    # containerd and CRI-O put one JSON document under "info"; other keys are runtime-specific.
    raw = info.get("info", "")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return _mapping(doc)
