"""Containers announced by the runtime hook (``RuntimeHook`` ``createContainer``), and the pod info
they give the processes that run in them.

Tetragon learns pods from the Kubernetes API and uses the runtime hook only for policy filtering.
Without a Kubernetes watcher, this build takes the pod and container details from the hook itself
(the explicit fields, else the CRI annotations containerd and CRI-O set), keyed by container id, and
the process builder gives every process whose cgroup names that container ``process.pod``.

The registry is bounded (least recently recorded containers go first) and not thread-safe: the
gRPC handler and the process manager both run on the agent's event loop.
"""

from __future__ import annotations

import posixpath
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from tetragon_core.events import Container, Image, Pod
from tetragon_core.process.args import BPF_CONTAINER_ID_LENGTH, docker_id

__all__ = [
    "DEFAULT_CAPACITY",
    "ContainerError",
    "ContainerInfo",
    "ContainerRegistry",
    "PodSource",
    "PodSources",
    "container_id_from_cgroup_path",
    "pod_uid_from_cgroup_path",
]

DEFAULT_CAPACITY: Final = 4096
_UID_LENGTH: Final = len("00000000-0000-0000-0000-000000000000")
_UID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# CRI annotations, by the field they stand in for: containerd's first, then CRI-O's.
_ANNOTATIONS: Final[dict[str, tuple[str, ...]]] = {
    "container_name": ("io.kubernetes.cri.container-name", "io.kubernetes.container.name"),
    "pod_name": ("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
    "pod_namespace": ("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"),
    "pod_uid": ("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"),
    "image": ("io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName"),
}


class PodSource(Protocol):
    """Where ``process.pod`` comes from: the Kubernetes API's pods, or recorded containers."""

    def pod(self, docker: str, nspid: int = 0, binary: str = "", arguments: str = "") -> Pod | None:
        """The pod of a process whose ``docker`` field is ``docker`` (``nspid``: its pid in the
        container; ``binary`` and ``arguments`` tell an exec probe), or None if not known (yet)."""
        ...


class PodSources:
    """Several sources, asked in order; the first that knows the container answers. ``on_miss``
    is called when none does (a container id that no source knows)."""

    def __init__(self, *sources: PodSource, on_miss: Callable[[], None] | None = None) -> None:
        self.sources = sources
        self.on_miss = on_miss

    def pod(self, docker: str, nspid: int = 0, binary: str = "", arguments: str = "") -> Pod | None:
        for source in self.sources:
            found = source.pod(docker, nspid, binary, arguments)
            if found is not None:
                return found
        if docker and self.on_miss is not None:
            self.on_miss()
        return None


class ContainerError(ValueError):
    """A createContainer request the registry cannot use; ``field`` names the offending field."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class ContainerInfo:
    """What one createContainer told us. ``container_id`` is as the runtime gave it."""

    container_id: str
    container_name: str = ""
    pod_name: str = ""
    pod_namespace: str = ""
    pod_uid: str = ""
    image: str = ""
    cgroups_path: str = ""
    root_dir: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    image_id: str = ""
    start_time: str = ""

    @property
    def key(self) -> str:
        """The bare id (a ``containerd://`` style runtime prefix removed)."""
        return self.container_id.rpartition("://")[2]

    def pod(self, nspid: int = 0) -> Pod:
        """The ``process.pod`` of a process in this container (``nspid``: its pid in the container)."""
        return Pod(
            namespace=self.pod_namespace,
            name=self.pod_name,
            uid=self.pod_uid,
            container=Container(
                id=self.container_id,
                name=self.container_name,
                image=Image(id=self.image_id, name=self.image) if self.image or self.image_id else None,
                start_time=self.start_time or None,
                pid=nspid or None,
            ),
            pod_labels=dict(self.pod_labels),
        )


def _leaf(path: str) -> str:
    # Go's filepath.Base: trailing slashes do not count.
    return posixpath.basename(path.rstrip("/"))


def container_id_from_cgroup_path(path: str) -> str:
    """The container id in a cgroup path's leaf, as upstream's hook reads it: ``crio-<id>.scope``,
    ``cri-containerd-<id>.scope``, ``docker-<id>.scope`` or a bare ``<id>``."""
    leaf = _leaf(path).rpartition("-")[2]
    return leaf.removesuffix(".scope")


def pod_uid_from_cgroup_path(path: str) -> str:
    """The pod uid in the cgroup path's parent directory (``…/kubepods-pod<uid>.slice/<ctr>``), or "".

    systemd's cgroup names spell the uid with ``_`` for ``-``; it is returned as Kubernetes spells it.
    A parent that does not end in a uid (``/docker/<id>``) gives "".
    """
    parent = _leaf(posixpath.dirname(path.rstrip("/"))).removesuffix(".slice")
    uid = parent[-_UID_LENGTH:].replace("_", "-")
    return uid if _UID_RE.fullmatch(uid) else ""


def _annotation(annotations: Mapping[str, str], what: str) -> str:
    for key in _ANNOTATIONS[what]:
        value = annotations.get(key, "")
        if value:
            return value
    return ""


class ContainerRegistry:
    """Containers recorded by the runtime hook, looked up by the container id a process's cgroup
    names (``process.docker``: the id's first 31 characters)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Keep at most ``capacity`` containers; recording one more forgets the oldest."""
        if capacity < 1:
            raise ValueError(f"container registry capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._by_key: OrderedDict[str, ContainerInfo] = OrderedDict()
        self._by_prefix: dict[str, ContainerInfo] = {}
        #: containers forgotten because the registry was full
        self.evicted = 0
        #: called after each record (the policy filter learns the container's pod)
        self.on_record: Callable[[ContainerInfo], None] | None = None

    def __len__(self) -> int:
        return len(self._by_key)

    def record(
        self,
        *,
        container_id: str = "",
        cgroups_path: str = "",
        root_dir: str = "",
        container_name: str = "",
        pod_name: str = "",
        pod_namespace: str = "",
        pod_uid: str = "",
        image: str = "",
        annotations: Mapping[str, str] | None = None,
        pod_labels: Mapping[str, str] | None = None,
        image_id: str = "",
        start_time: str = "",
    ) -> ContainerInfo:
        """Record one createContainer; raises :class:`ContainerError` naming the field at fault.

        A missing container id is read from the cgroup path's leaf and a missing pod uid from its
        parent directory, as upstream does; missing names come from the CRI annotations.
        """
        notes = dict(annotations or {})
        if not container_id:
            if not cgroups_path:
                raise ContainerError("containerID", "required when cgroupsPath is empty")
            container_id = container_id_from_cgroup_path(cgroups_path)
            if not container_id:
                raise ContainerError("cgroupsPath", f"no container id in {cgroups_path!r}")
        elif not container_id.rpartition("://")[2]:
            raise ContainerError("containerID", f"{container_id!r} has no id after the runtime prefix")
        info = ContainerInfo(
            container_id=container_id,
            container_name=container_name or _annotation(notes, "container_name"),
            pod_name=pod_name or _annotation(notes, "pod_name"),
            pod_namespace=pod_namespace or _annotation(notes, "pod_namespace"),
            pod_uid=pod_uid
            or _annotation(notes, "pod_uid")
            or (pod_uid_from_cgroup_path(cgroups_path) if cgroups_path else ""),
            image=image or _annotation(notes, "image"),
            cgroups_path=cgroups_path,
            root_dir=root_dir,
            annotations=notes,
            pod_labels=dict(pod_labels or {}),
            image_id=image_id,
            start_time=start_time,
        )
        self._forget(info.key)
        self._by_key[info.key] = info
        for prefix in self._prefixes(info):
            self._by_prefix[prefix] = info
        while len(self._by_key) > self._capacity:
            _, old = self._by_key.popitem(last=False)
            self._unindex(old)
            self.evicted += 1
        if self.on_record is not None:
            self.on_record(info)
        return info

    def get(self, container_id: str) -> ContainerInfo | None:
        """The container recorded under this id (full, runtime-prefixed, or its 31-character prefix)."""
        key = container_id.rpartition("://")[2]
        found = self._by_key.get(key)
        return found if found is not None else self._by_prefix.get(key[:BPF_CONTAINER_ID_LENGTH])

    def pod(self, docker: str, nspid: int = 0, binary: str = "", arguments: str = "") -> Pod | None:
        """``process.pod`` for a process whose ``docker`` field is ``docker``, if it was recorded
        (``binary`` and ``arguments`` are not used: a record has no probes)."""
        info = self._by_prefix.get(docker)
        return info.pod(nspid) if info is not None else None

    def containers(self) -> list[ContainerInfo]:
        """Every recorded container, oldest first."""
        return list(self._by_key.values())

    @staticmethod
    def _prefixes(info: ContainerInfo) -> set[str]:
        out = {info.key[:BPF_CONTAINER_ID_LENGTH]}
        if info.cgroups_path:
            # What the kernel reports for this cgroup, should it differ from the id we were given.
            from_cgroup = docker_id(info.cgroups_path, from_bpf=False)
            if from_cgroup:
                out.add(from_cgroup)
        return out

    def _forget(self, key: str) -> None:
        old = self._by_key.pop(key, None)
        if old is not None:
            self._unindex(old)

    def _unindex(self, info: ContainerInfo) -> None:
        for prefix in self._prefixes(info):
            if self._by_prefix.get(prefix) is info:
                del self._by_prefix[prefix]
