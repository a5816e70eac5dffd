"""This node's pods, as the Kubernetes API reports them, and the ``process.pod`` they give the
processes of their containers (looked up by the container id the process's cgroup names).

Only the fields the agent uses are decoded (msgspec Structs, unknown fields skipped). The pod
info follows upstream: namespace, name, uid, labels, annotations, the workload (the controlling
owner, with a ReplicaSet named after its pod-template-hash taken for its Deployment and a Job
named ``<cronjob>-<8..10 digits>`` for its CronJob, else the pod itself), and the container's id,
name, image (name and id), start time and ``maybe_exec_probe`` (the process runs the container's
exec liveness or readiness probe command).
"""

from __future__ import annotations

import posixpath
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import msgspec

from tetragon_core.events import Container, Image, Pod
from tetragon_core.process.args import BPF_CONTAINER_ID_LENGTH

__all__ = [
    "DELETED_POD_CACHE",
    "K8sPod",
    "PodMeta",
    "PodStore",
    "decode_pod",
    "workload_of",
    "workload_of_meta",
]

#: pods deleted from the API stay this many deletions for late events (upstream's deleted pod cache)
DELETED_POD_CACHE: Final = 1024
_CRONJOB_RE: Final = re.compile(r"(.+)-\d{8,10}$")


class _Owner(msgspec.Struct, frozen=True):
    apiVersion: str = ""  # the API's spelling
    kind: str = ""
    name: str = ""
    controller: bool | None = None


class _Meta(msgspec.Struct, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generateName: str = ""  # the API's spelling
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    ownerReferences: list[_Owner] = []
    resourceVersion: str = ""


#: a pod's metadata as the agent reads it
PodMeta = _Meta


class _Exec(msgspec.Struct, frozen=True):
    command: list[str] = []


class _Probe(msgspec.Struct, frozen=True):
    exec: _Exec | None = None


class _ContainerSpec(msgspec.Struct, frozen=True):
    name: str = ""
    image: str = ""
    livenessProbe: _Probe | None = None
    readinessProbe: _Probe | None = None
    startupProbe: _Probe | None = None


class _Spec(msgspec.Struct, frozen=True):
    nodeName: str = ""
    containers: list[_ContainerSpec] = []
    initContainers: list[_ContainerSpec] = []
    ephemeralContainers: list[_ContainerSpec] = []


class _Running(msgspec.Struct, frozen=True):
    startedAt: str = ""


class _State(msgspec.Struct, frozen=True):
    running: _Running | None = None


class _ContainerStatus(msgspec.Struct, frozen=True):
    name: str = ""
    containerID: str = ""
    image: str = ""
    imageID: str = ""
    state: _State | None = None


class _Status(msgspec.Struct, frozen=True):
    phase: str = ""
    containerStatuses: list[_ContainerStatus] = []
    initContainerStatuses: list[_ContainerStatus] = []
    ephemeralContainerStatuses: list[_ContainerStatus] = []


class K8sPod(msgspec.Struct, frozen=True):
    """The fields of a ``v1.Pod`` the agent reads."""

    metadata: _Meta = _Meta()
    spec: _Spec = _Spec()
    status: _Status = _Status()

    def statuses(self) -> Iterable[_ContainerStatus]:
        s = self.status
        return (*s.containerStatuses, *s.initContainerStatuses, *s.ephemeralContainerStatuses)

    def container_spec(self, name: str) -> _ContainerSpec | None:
        for c in (*self.spec.containers, *self.spec.initContainers, *self.spec.ephemeralContainers):
            if c.name == name:
                return c
        return None


_decoder = msgspec.json.Decoder(K8sPod)


def decode_pod(obj: Mapping[str, Any] | bytes) -> K8sPod:
    """A pod from the API's JSON (bytes) or its decoded dict."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return _decoder.decode(obj)
    return msgspec.convert(obj, K8sPod, strict=False)


def workload_of(pod: K8sPod) -> tuple[str, str]:
    """``(workload, workload_kind)`` of a pod, as upstream derives them."""
    return workload_of_meta(pod.metadata)


def workload_of_meta(meta: _Meta) -> tuple[str, str]:
    """``(workload, workload_kind)`` from a pod's metadata (see :func:`workload_of`)."""
    if meta.generateName:
        ref = next((r for r in meta.ownerReferences if r.controller), None)
        if ref is not None:
            template_hash = meta.labels.get("pod-template-hash", "")
            if ref.kind == "ReplicaSet" and template_hash and ref.name.endswith(template_hash):
                return ref.name.removesuffix("-" + template_hash), "Deployment"
            if ref.kind == "ReplicationController" and meta.labels.get("deploymentconfig"):
                return meta.labels["deploymentconfig"], "DeploymentConfig"
            if ref.kind == "Job" and (m := _CRONJOB_RE.fullmatch(ref.name)):
                return m.group(1), "CronJob"
            return ref.name, ref.kind
    return meta.name, "Pod"


def _bare(container_id: str) -> str:
    return container_id.rpartition("://")[2]


def _probes(spec: _ContainerSpec | None) -> list[list[str]]:
    if spec is None:
        return []
    return [
        p.exec.command
        for p in (spec.livenessProbe, spec.readinessProbe, spec.startupProbe)
        if p is not None and p.exec is not None and p.exec.command
    ]


def maybe_exec_probe(binary: str, arguments: str, probes: list[list[str]]) -> bool:
    """Does ``binary arguments`` run one of the container's exec probe commands? A relative
    command is compared by base name, as upstream does."""
    for command in probes:
        first = command[0]
        same = first == binary if posixpath.isabs(first) else posixpath.basename(binary) == first
        if same and arguments == " ".join(command[1:]):
            return True
    return False


def _nothing() -> None:
    pass


class _Entry:
    __slots__ = ("container", "pod", "probes", "template")

    def __init__(self, pod: K8sPod, st: _ContainerStatus) -> None:
        self.pod = pod
        spec = pod.container_spec(st.name)
        self.probes = _probes(spec)
        workload, kind = workload_of(pod)
        started = st.state.running.startedAt if st.state is not None and st.state.running is not None else ""
        self.container = Container(
            id=st.containerID,
            name=st.name,
            image=Image(id=st.imageID, name=st.image or (spec.image if spec else "")),
            start_time=started or None,
        )
        meta = pod.metadata
        self.template = Pod(
            namespace=meta.namespace,
            name=meta.name,
            uid=meta.uid,
            container=self.container,
            pod_labels=dict(meta.labels),
            workload=workload,
            workload_kind=kind,
            pod_annotations=dict(meta.annotations),
        )


class PodStore:
    """Pods by uid and their containers by id; deleted pods kept a while (bounded) for the events
    that arrive after the API said they were gone."""

    def __init__(self, deleted_capacity: int = DELETED_POD_CACHE) -> None:
        self._pods: dict[str, K8sPod] = {}
        self._by_prefix: dict[str, _Entry] = {}
        self._deleted: OrderedDict[str, _Entry] = OrderedDict()
        self._deleted_capacity = deleted_capacity
        #: lookups answered from the deleted pods (tetragon_watcher_delete_pod_cache_hits)
        self.deleted_hits = 0
        #: called on each lookup of a container no pod has (yet)
        self.on_miss: Callable[[], None] = _nothing
        #: False when the store is one of several sources: the chain counts a miss once, when
        #: no source knows the container (PodSources' on_miss)
        self.count_misses = True

    def __len__(self) -> int:
        return len(self._pods)

    def pods(self) -> list[K8sPod]:
        return list(self._pods.values())

    def get(self, uid: str) -> K8sPod | None:
        return self._pods.get(uid)

    def upsert(self, pod: K8sPod) -> None:
        """A pod was added or changed."""
        old = self._pods.get(pod.metadata.uid)
        if old is not None:
            self._unindex(old, keep=False)
        self._pods[pod.metadata.uid] = pod
        for st in pod.statuses():
            if st.containerID:
                entry = _Entry(pod, st)
                prefix = _bare(st.containerID)[:BPF_CONTAINER_ID_LENGTH]
                self._by_prefix[prefix] = entry
                self._deleted.pop(prefix, None)

    def delete(self, pod: K8sPod) -> None:
        """A pod was deleted: its containers move to the deleted pod cache."""
        old = self._pods.pop(pod.metadata.uid, None)
        self._unindex(old if old is not None else pod, keep=True)

    def replace(self, pods: Iterable[K8sPod]) -> None:
        """A fresh list: pods not in it are deleted."""
        fresh = {p.metadata.uid: p for p in pods}
        for uid, old in list(self._pods.items()):
            if uid not in fresh:
                self.delete(old)
        for p in fresh.values():
            self.upsert(p)

    def _unindex(self, pod: K8sPod, keep: bool) -> None:
        for st in pod.statuses():
            if not st.containerID:
                continue
            prefix = _bare(st.containerID)[:BPF_CONTAINER_ID_LENGTH]
            entry = self._by_prefix.get(prefix)
            if entry is not None and entry.pod.metadata.uid == pod.metadata.uid:
                del self._by_prefix[prefix]
                if keep:
                    self._deleted[prefix] = entry
                    while len(self._deleted) > self._deleted_capacity:
                        self._deleted.popitem(last=False)

    def pod(self, docker: str, nspid: int = 0, binary: str = "", arguments: str = "") -> Pod | None:
        """``process.pod`` for a process whose ``docker`` field is ``docker``, or None."""
        entry = self._by_prefix.get(docker)
        if entry is None:
            entry = self._deleted.get(docker)
            if entry is None:
                if docker and self.count_misses:
                    self.on_miss()
                return None
            self.deleted_hits += 1
        probe = bool(entry.probes) and maybe_exec_probe(binary, arguments, entry.probes)
        if not nspid and not probe:
            return entry.template
        container = msgspec.structs.replace(entry.container, pid=nspid or None, maybe_exec_probe=probe)
        return msgspec.structs.replace(entry.template, container=container)

    def miss(self) -> None:
        """Count a container no source knows (see :attr:`count_misses`)."""
        self.on_miss()

    def pod_of_uid(self, uid: str) -> K8sPod | None:
        return self._pods.get(uid)
