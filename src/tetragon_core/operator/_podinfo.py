"""The PodInfo controller: one ``cilium.io/v1alpha1`` PodInfo per pod, as Tetragon's operator
writes them (same name and namespace as the pod, its labels and annotations, host network, IPs,
workload type and object, and an owner reference to the pod).

Every pod of the cluster is listed and watched (the shared informer loop). A pod is reconciled
once it has a uid and an IP; a PodInfo that already says the same is not written again. The
owner reference lets the cluster's garbage collector delete a PodInfo with its pod; the
controller deletes it too when it sees the pod go, and, after each list, deletes every PodInfo
whose pod is gone (pods deleted while the operator was down).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import httpx2
import msgspec
from lightkube import AsyncClient, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod

from tetragon_core.k8s._client import http_status, list_objects, translate, watch_objects
from tetragon_core.k8s._informer import Informer
from tetragon_core.k8s._pods import PodMeta, workload_of_meta
from tetragon_core.metrics import Registry

__all__ = ["PodInfoController", "PodInfoResource", "pod_info_of"]

log = logging.getLogger(__name__)

PodInfoResource: Any = create_namespaced_resource("cilium.io", "v1alpha1", "PodInfo", "podinfo")

WATCHER: Final = "podinfo"
#: API group/version of the workload kinds upstream reports (a kind not here: its owner's)
_KIND_API: Final = {
    "Pod": "v1",
    "Deployment": "apps/v1",
    "DaemonSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "DeploymentConfig": "apps.openshift.io/v1",
}


class _PodIP(msgspec.Struct, frozen=True):
    ip: str = ""


class _Spec(msgspec.Struct, frozen=True):
    nodeName: str = ""
    hostNetwork: bool = False


class _Status(msgspec.Struct, frozen=True):
    podIP: str = ""
    podIPs: list[_PodIP] = []


class PodFacts(msgspec.Struct, frozen=True):
    """The fields of a ``v1.Pod`` a PodInfo is made of."""

    metadata: PodMeta = PodMeta()
    spec: _Spec = _Spec()
    status: _Status = _Status()


class _Existing(msgspec.Struct, frozen=True):
    metadata: PodMeta = PodMeta()


def pod_info_of(pod: PodFacts) -> dict[str, Any] | None:
    """The PodInfo of ``pod``; None until the pod has a uid and an IP (upstream waits too)."""
    meta = pod.metadata
    if not (meta.uid and meta.name and meta.namespace and pod.status.podIP and pod.status.podIPs):
        return None
    workload, kind = workload_of_meta(meta)
    owner = next((r for r in meta.ownerReferences if r.controller), None)
    api = _KIND_API.get(kind) or (owner.apiVersion if owner is not None else "")
    info: dict[str, Any] = {
        "apiVersion": "cilium.io/v1alpha1",
        "kind": "PodInfo",
        "metadata": {
            "name": meta.name,
            "namespace": meta.namespace,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"hostNetwork": pod.spec.hostNetwork, "nodeName": pod.spec.nodeName},
        "status": {"podIP": pod.status.podIP, "podIPs": [{"IP": p.ip} for p in pod.status.podIPs]},
        "workloadType": {"apiVersion": api, "kind": kind},
        "workloadObject": {"name": workload, "namespace": meta.namespace},
    }
    if meta.labels:
        info["metadata"]["labels"] = dict(meta.labels)
    if meta.annotations:
        info["metadata"]["annotations"] = dict(meta.annotations)
    return info


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """What decides whether a PodInfo must be written again (server-set metadata left out)."""
    meta = obj.get("metadata") or {}
    owners = [
        {k: o.get(k) for k in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")}
        for o in meta.get("ownerReferences") or []
    ]
    return {
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "owners": owners,
        **{k: obj.get(k) for k in ("spec", "status", "workloadType", "workloadObject")},
    }


class PodInfoController(Informer[PodFacts]):
    """Keep one PodInfo per pod, cluster-wide."""

    def __init__(self, client: AsyncClient, registry: Registry) -> None:
        super().__init__(
            "podinfo",
            WATCHER,
            lambda: list_objects(client, Pod, PodFacts, what="pods"),
            lambda rv: watch_objects(client, Pod, PodFacts, rv, what="pods"),
            lambda p: p.metadata.resourceVersion,
            self._listed,
            self._event,
            registry,
        )
        self.client = client
        #: (namespace, name) -> what the cluster's PodInfo says (see _comparable)
        self._written: dict[tuple[str, str], dict[str, Any]] = {}
        self._ops = registry.counter(
            "tetragon_operator_podinfo_operations_total",
            "PodInfo resources written by the operator, by operation and outcome.",
            ("operation", "outcome"),
        )

    async def _listed(self, pods: Sequence[PodFacts]) -> None:
        existing = await self._existing()
        self._written = existing
        alive = {(p.metadata.namespace, p.metadata.name) for p in pods}
        for pod in pods:
            await self._reconcile(pod)
        for key in sorted(set(existing) - alive):
            await self._delete(key)

    async def _existing(self) -> dict[tuple[str, str], dict[str, Any]]:
        try:
            out: dict[tuple[str, str], dict[str, Any]] = {}
            async for obj in self.client.list(PodInfoResource, namespace="*"):
                d = obj.to_dict()
                m = d.get("metadata") or {}
                out[(m.get("namespace", ""), m.get("name", ""))] = _comparable(d)
            return out
        except (httpx2.HTTPError, OSError) as e:
            raise translate(e, "list PodInfo") from e

    async def _event(self, kind: str, pod: PodFacts) -> None:
        if kind == "DELETED":
            await self._delete((pod.metadata.namespace, pod.metadata.name))
        else:
            await self._reconcile(pod)

    async def _reconcile(self, pod: PodFacts) -> None:
        want = pod_info_of(pod)
        if want is None:
            return
        key = (pod.metadata.namespace, pod.metadata.name)
        have = self._written.get(key)
        if have == _comparable(want):
            return
        op = "update" if have is not None else "create"
        try:
            if have is None:
                try:
                    await self.client.create(codecs.from_dict(want))
                except httpx2.HTTPStatusError as e:
                    if http_status(e) != 409:  # 409: made meanwhile; replace it below
                        raise
                    op = "update"
            if op == "update":
                # the object as it is now, for its resourceVersion: a PUT replaces it whole
                current = await self.client.get(PodInfoResource, key[1], namespace=key[0])
                want["metadata"]["resourceVersion"] = current.metadata.resourceVersion
                await self.client.replace(codecs.from_dict(want))
        except (httpx2.HTTPError, OSError) as e:
            self._ops.inc(op, "error")
            # the next event of the pod (or the next list) tries again
            self._written.pop(key, None)
            log.warning("%s", translate(e, f"{op} PodInfo {key[0]}/{key[1]}"))
            return
        self._ops.inc(op, "ok")
        want["metadata"].pop("resourceVersion", None)
        self._written[key] = _comparable(want)

    async def _delete(self, key: tuple[str, str]) -> None:
        self._written.pop(key, None)
        try:
            await self.client.delete(PodInfoResource, key[1], namespace=key[0])
        except (httpx2.HTTPError, OSError) as e:
            if http_status(e) == 404:  # the garbage collector was first
                return
            self._ops.inc("delete", "error")
            log.warning("%s", translate(e, f"delete PodInfo {key[0]}/{key[1]}"))
            return
        self._ops.inc("delete", "ok")
