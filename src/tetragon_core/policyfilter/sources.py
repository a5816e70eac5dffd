"""Pods as the policy filter sees them, from each source: the Kubernetes API's pods and the
containers the runtime told (``--enable-cri``, RuntimeHook)."""

from __future__ import annotations

from collections.abc import Iterable

from tetragon_core.k8s import K8sPod
from tetragon_core.policyfilter import PodContainer, PodView
from tetragon_core.process.containers import ContainerInfo

__all__ = ["view_of_containers", "view_of_pod"]


def _bare(container_id: str) -> str:
    return container_id.rpartition("://")[2]


def view_of_pod(pod: K8sPod) -> PodView:
    """A pod from the API: its containers are those whose status has an id (started)."""
    meta = pod.metadata
    return PodView(
        uid=meta.uid,
        namespace=meta.namespace,
        name=meta.name,
        labels=dict(meta.labels),
        containers=tuple(
            PodContainer(st.name, _bare(st.containerID)) for st in pod.statuses() if st.containerID
        ),
    )


def view_of_containers(uid: str, infos: Iterable[ContainerInfo]) -> PodView | None:
    """The pod ``uid`` from the containers recorded for it (None if none is)."""
    mine = [i for i in infos if i.pod_uid == uid]
    if not mine:
        return None
    first = mine[-1]
    return PodView(
        uid=uid,
        namespace=first.pod_namespace,
        name=first.pod_name,
        labels=dict(first.pod_labels),
        containers=tuple(PodContainer(i.container_name, _bare(i.container_id), i.cgroups_path) for i in mine),
    )
