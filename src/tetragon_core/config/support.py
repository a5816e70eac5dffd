"""Which daemon flags this agent implements.

Every flag is accepted and parsed, but a flag listed in :data:`UNSUPPORTED` may only keep its
default value: setting it to anything else is a configuration error carrying the reason below.
To mark a flag as built, delete its line; to withdraw one, add ``"flag-name": "reason"``.
"""

from __future__ import annotations

_K8S = "Kubernetes integration is not built in this agent"
_POLICY_FILTER = "policy filtering (pod/namespace selectors) is not built in this agent"
_AGGREGATION = "JSON export aggregation is not built in this agent"
_PROFILING = "Go runtime profiling has no equivalent in this agent"
_PROG_SIZE = "BPF program variants are chosen by kernel probing only"
_SERVERS = "gRPC/health servers not built yet"

UNSUPPORTED: dict[str, str] = {
    "btf": "loading BTF from a custom file is not built yet",
    "cgroup-rate": "cgroup rate throttling is not built yet",
    "cpuprofile": _PROFILING,
    "cri-endpoint": "the CRI client is not built in this agent",
    "enable-cgidmap": _K8S,
    "enable-cgidmap-debug": _K8S,
    "enable-compatibility-syscall64-size-type": "the syscall64 compatibility output is not built",
    "enable-cri": "the CRI client is not built in this agent",
    "enable-export-aggregation": _AGGREGATION,
    "enable-k8s-api": "Kubernetes API integration is not built in this agent",
    "enable-pod-info": _K8S,
    "enable-policy-filter": _POLICY_FILTER,
    "enable-policy-filter-cgroup-map": _POLICY_FILTER,
    "enable-policy-filter-debug": _POLICY_FILTER,
    "export-aggregation-buffer-size": _AGGREGATION,
    "export-aggregation-window-size": _AGGREGATION,
    "force-large-progs": _PROG_SIZE,
    "force-small-progs": _PROG_SIZE,
    "gops-address": _PROFILING,
    "health-server-address": _SERVERS,
    "health-server-interval": _SERVERS,
    "k8s-kubeconfig-path": _K8S,
    "kernel": "overriding the detected kernel version is not built yet",
    "memprofile": _PROFILING,
    "netns-dir": "network namespace resolution is not built yet",
    "pprof-address": _PROFILING,
}


def unsupported_reason(name: str) -> str | None:
    """The reason flag ``name`` cannot be changed from its default, or None if it is supported."""
    return UNSUPPORTED.get(name)
