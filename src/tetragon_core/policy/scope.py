"""Which processes a policy may act on, and the scopes this agent cannot enforce yet.

A TracingPolicyNamespaced, or a TracingPolicy with ``podSelector``, ``containerSelector`` or
``hostSelector``, applies to a subset of the host's processes that only the policy filter
(Tetragon's ``--enable-policy-filter``: Kubernetes pod identity → cgroup ids checked in the
kernel) can tell apart. Without it such a policy must never reach the kernel, where it would act
on every process of the host: a namespaced Sigkill policy would kill host processes belonging to
no pod. With it (tetragon_core.policyfilter) such a policy loads with its filter id.
``nodeSelector`` decides whether this node loads the policy, from Kubernetes node labels
this agent does not read. Such policies are registered in ``load_error`` with the reason below.
"""

from __future__ import annotations

from tetragon_core.policy.model import TracingPolicy

_NEEDS = (
    "which needs the policy filter (--enable-policy-filter) with pod information "
    "(--enable-k8s-api or --enable-cri), and the filter is off"
)
_NOT_LOADED = "not loaded, so it matches no process (it is never applied to the whole host)"


def scope_errors(policy: TracingPolicy, policy_filter: bool = False) -> list[str]:
    """One message per field that restricts the policy to workloads this agent cannot identify;
    with the policy filter (``policy_filter``) only ``nodeSelector`` remains."""
    spec = policy.spec
    out: list[str] = []
    if policy_filter:
        pass
    elif policy.namespaced:
        out.append(
            f"metadata.namespace: a TracingPolicyNamespaced applies only to the pods of namespace "
            f"{policy.namespace!r}, {_NEEDS}"
        )
    if spec.pod_selector is not None and not policy_filter:
        out.append(f"spec.podSelector: the policy applies only to the pods it selects, {_NEEDS}")
    if spec.container_selector is not None and not policy_filter:
        out.append(f"spec.containerSelector: the policy applies only to the containers it selects, {_NEEDS}")
    if spec.host_selector is not None and not policy_filter:
        out.append(
            "spec.hostSelector: telling host processes from pod processes apart needs the policy "
            "filter (--enable-policy-filter), which is off"
        )
    if spec.node_selector is not None:
        out.append(
            "spec.nodeSelector: whether this node loads the policy depends on its Kubernetes node "
            "labels, which this agent does not read (--enable-k8s-api)"
        )
    return out


def scope_error(policy: TracingPolicy, policy_filter: bool = False) -> str | None:
    """The load error of a policy whose scope cannot be enforced here, or None."""
    errors = scope_errors(policy, policy_filter)
    if not errors:
        return None
    return "; ".join(errors) + f"; {_NOT_LOADED}"
