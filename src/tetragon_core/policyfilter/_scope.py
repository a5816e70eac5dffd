"""Which processes a scoped policy applies to: its namespace, pod and container selectors, and
whether host processes (those in no known container) are included.

As upstream: a TracingPolicyNamespaced applies to the pods of its namespace; ``podSelector``
matches the pod's labels, to which the pod's namespace is added as
``k8s:io.kubernetes.pod.namespace``; ``containerSelector`` matches the container's name (key
``name``). ``hostSelector: {}`` includes the host's processes; a policy with only a
hostSelector applies to the host alone. A policy with none of these is not scoped: it applies to
everything and needs no filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from tetragon_core.policy.model import LabelSelector, TracingPolicy

__all__ = ["NAMESPACE_LABEL", "PodContainer", "PodView", "Scope", "scope_of", "selector_matches"]

#: the label upstream adds to a pod's labels for podSelector matching
NAMESPACE_LABEL: Final = "k8s:io.kubernetes.pod.namespace"


@dataclass(frozen=True, slots=True)
class PodContainer:
    """One container of a pod: its name, its bare id (no ``containerd://``), and where its cgroup
    is when the source knows it (the CRI's OCI cgroups path)."""

    name: str
    id: str
    cgroup_path: str = ""


@dataclass(frozen=True, slots=True)
class PodView:
    """A pod as the policy filter sees it, from the Kubernetes API or the container runtime."""

    uid: str
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[PodContainer, ...] = ()


@dataclass(frozen=True, slots=True)
class Scope:
    """The processes one policy may act on."""

    namespace: str | None = None
    pod_selector: LabelSelector | None = None
    container_selector: LabelSelector | None = None
    host: bool = False
    pods: bool = True

    def applies(self, pod: PodView, container: PodContainer) -> bool:
        """Does the policy act on the processes of ``container`` of ``pod``?"""
        if not self.pods:
            return False
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        if self.pod_selector is not None:
            labels = {**pod.labels, NAMESPACE_LABEL: pod.namespace}
            if not selector_matches(self.pod_selector, labels):
                return False
        if self.container_selector is not None:
            return selector_matches(self.container_selector, {"name": container.name})
        return True


def scope_of(policy: TracingPolicy) -> Scope | None:
    """The scope of ``policy``, or None when it applies to every process (no filter)."""
    spec = policy.spec
    pods, containers, host = spec.pod_selector, spec.container_selector, spec.host_selector
    if not policy.namespaced and pods is None and containers is None and host is None:
        return None
    return Scope(
        namespace=policy.namespace if policy.namespaced else None,
        pod_selector=pods,
        container_selector=containers,
        host=host is not None,
        pods=policy.namespaced or pods is not None or containers is not None,
    )


def selector_matches(sel: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: every matchLabels pair and every matchExpressions
    requirement (In, NotIn, Exists, DoesNotExist) holds; an empty selector matches everything."""
    for k, v in sel.match_labels.items():
        if labels.get(k) != v:
            return False
    for req in sel.match_expressions:
        op = req.operator
        present = req.key in labels
        if op == "In":
            if not present or labels[req.key] not in req.values:
                return False
        elif op == "NotIn":
            if present and labels[req.key] in req.values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif op == "DoesNotExist":
            if present:
                return False
        else:  # validation refuses other operators; never match on one
            return False
    return True
