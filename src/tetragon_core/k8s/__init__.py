"""Kubernetes: this node's pods from the API (``--enable-k8s-api``), for ``process.pod`` and the
policy filter."""

from tetragon_core.k8s._client import (
    KUBECONFIG_FLAG,
    ResourceExpired,
    kube_config,
    list_pods,
    make_client,
    watch_pods,
)
from tetragon_core.k8s._pods import DELETED_POD_CACHE, K8sPod, PodStore, decode_pod, workload_of
from tetragon_core.k8s._policies import DOMAIN_K8S, CrPolicy, PolicyWatcher
from tetragon_core.k8s._watch import PodWatcher, register_watcher_metrics

__all__ = [
    "DELETED_POD_CACHE",
    "DOMAIN_K8S",
    "KUBECONFIG_FLAG",
    "CrPolicy",
    "K8sPod",
    "PodStore",
    "PodWatcher",
    "PolicyWatcher",
    "ResourceExpired",
    "decode_pod",
    "kube_config",
    "list_pods",
    "make_client",
    "register_watcher_metrics",
    "watch_pods",
    "workload_of",
]
