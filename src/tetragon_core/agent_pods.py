"""Pod identity in the agent: ``--enable-k8s-api`` (this node's pods from the API server),
``--enable-cri`` (containers and sandboxes from the runtime) and ``--enable-policy-filter`` (the
kernel's table of where scoped policies act), built from the configuration and run as supervised
parts.

Containers recorded by the RuntimeHook gRPC call or the CRI and the pods from the API are both
sources of ``process.pod`` (the API's first: it knows workloads and probes); with either of the
first two flags an exec event of a containerised process waits in the event cache until its pod
is known. The policy filter follows both sources.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from tetragon_core.bpf.maps import BPF_MAP_TYPE_HASH, Map
from tetragon_core.config.agent_config import AgentConfig
from tetragon_core.exceptions import ConfigError
from tetragon_core.metrics import Registry
from tetragon_core.policyfilter import (
    PODCGROUPS_ENTRIES,
    POLFILTER_ENTRIES,
    SUBSYS_PODS,
    SUBSYS_RTHOOKS,
    PolicyFilter,
)
from tetragon_core.process.containers import ContainerInfo, ContainerRegistry, PodSource, PodSources
from tetragon_core.supervisor import Part

__all__ = ["PodIdentity", "PodSettings", "validate_pod_flags"]

log = logging.getLogger(__name__)

_BPF_F_NO_PREALLOC = 1


@dataclass(frozen=True)
class PodSettings:
    """What the pod flags resolve to, read once at start: the API client's configuration (a
    lightkube KubeConfig) and the CRI endpoint."""

    kube: Any = None
    cri_endpoint: Any = None


def validate_pod_flags(cfg: AgentConfig) -> PodSettings:
    """Refuse, naming the flag, what cannot work: a setting of a feature that is off, a missing
    kubeconfig or CRI socket. Returns what the flags resolved to, for :class:`PodIdentity`."""
    if cfg.k8s_kubeconfig_path and not cfg.enable_k8s_api:
        raise ConfigError("--k8s-kubeconfig-path: set, but --enable-k8s-api is off, so nothing would read it")
    if cfg.enable_policy_filter_debug and not cfg.enable_policy_filter:
        raise ConfigError("--enable-policy-filter-debug: set, but --enable-policy-filter is off")
    if cfg.enable_pod_info and not cfg.enable_k8s_api:
        raise ConfigError(
            "--enable-pod-info: set, but --enable-k8s-api is off, so the PodInfo CRD is never read"
        )
    if cfg.cri_endpoint and not cfg.enable_cri:
        raise ConfigError("--cri-endpoint: set, but --enable-cri is off, so nothing would connect to it")
    kube = endpoint = None
    if cfg.enable_k8s_api:
        from tetragon_core.k8s import kube_config

        kube = kube_config(cfg.k8s_kubeconfig_path)
    if cfg.enable_cri:
        from tetragon_core.cri import default_endpoint, parse_endpoint

        endpoint = parse_endpoint(cfg.cri_endpoint) if cfg.cri_endpoint else default_endpoint()
    return PodSettings(kube, endpoint)


async def _wait_for_pod_info_crd(client: Any, started: Callable[[], None]) -> None:
    """--enable-pod-info: the agent is started once the PodInfo CRD is Established, as upstream's
    agent waits for it (tetragon-operator creates it, and writes the PodInfo resources)."""
    from tetragon_core.exceptions import KubernetesError
    from tetragon_core.operator import PODINFO_CRD, wait_established

    while True:
        try:
            await wait_established(client, PODINFO_CRD, timeout_s=5.0)
            break
        except KubernetesError as e:
            log.warning("--enable-pod-info: waiting for CRD %s: %s", PODINFO_CRD, e)
    log.info("--enable-pod-info: CRD %s is Established", PODINFO_CRD)
    started()
    await anyio.sleep_forever()


class PodIdentity:
    """The pod sources, the policy filter and their parts, for one agent run."""

    def __init__(
        self, cfg: AgentConfig, registry: Registry, node_name: str, settings: PodSettings | None = None
    ) -> None:
        self.cfg = cfg
        self.settings = settings if settings is not None else validate_pod_flags(cfg)
        self.registry = registry
        self.node_name = node_name
        #: containers told by the runtime (RuntimeHook, --enable-cri)
        self.containers = ContainerRegistry()
        self.store: Any = None  # tetragon_core.k8s.PodStore with --enable-k8s-api
        self.filter: PolicyFilter | None = None
        self._maps: list[Map] = []
        if cfg.enable_k8s_api:
            from tetragon_core.k8s import PodStore

            self.store = PodStore()
            # a container the runtime told of but the API not yet is no miss: the chain of
            # sources (see source) counts a miss once, when none knows the container
            self.store.count_misses = False

    @property
    def waits_for_pods(self) -> bool:
        """Whether pods arrive after their containers start (an exec waits for its pod)."""
        return bool(self.cfg.enable_k8s_api or self.cfg.enable_cri)

    @property
    def source(self) -> PodSource:
        """Where ``process.pod`` comes from."""
        if self.store is not None:
            return PodSources(self.store, self.containers, on_miss=self.store.miss)
        return self.containers

    def create_maps(self) -> list[Map]:
        """The policy filter's kernel maps (shared by every hook object), with the filter on."""
        if not self.cfg.enable_policy_filter:
            return []
        polfilter = Map.create(
            BPF_MAP_TYPE_HASH, "tg_polfilter", 16, 1, POLFILTER_ENTRIES, flags=_BPF_F_NO_PREALLOC
        )
        self._maps.append(polfilter)
        podcgroups = Map.create(
            BPF_MAP_TYPE_HASH, "tg_podcgroups", 8, 1, PODCGROUPS_ENTRIES, flags=_BPF_F_NO_PREALLOC
        )
        self._maps.append(podcgroups)
        self.filter = PolicyFilter(
            polfilter, podcgroups, self.registry, debug=self.cfg.enable_policy_filter_debug
        )
        self.containers.on_record = self._container_recorded
        return [polfilter, podcgroups]

    def _container_recorded(self, info: ContainerInfo) -> None:
        from tetragon_core.policyfilter.sources import view_of_containers

        if self.filter is None or not info.pod_uid:
            return
        view = view_of_containers(info.pod_uid, self.containers.containers())
        if view is not None:
            self.filter.pod_upsert(view, SUBSYS_RTHOOKS)

    def _pods_changed(self) -> None:
        from tetragon_core.policyfilter.sources import view_of_pod

        if self.filter is not None and self.store is not None:
            self.filter.pods_replace([view_of_pod(p) for p in self.store.pods()], SUBSYS_PODS)

    def parts(self, policies: Any = None) -> list[Part]:
        """The policy filter, the pod watcher, the CRI poller and (with ``policies``, the agent's
        PolicyRegistry, and --enable-tracing-policy-crd) the policy resources' watchers, as
        supervised parts."""
        out: list[Part] = []
        cfg = self.cfg
        if self.filter is not None:
            out.append(Part.loop("policy-filter", self.filter.run))
        if cfg.enable_k8s_api:
            from tetragon_core.k8s import PodWatcher, make_client

            client = make_client(self.settings.kube)
            watcher = PodWatcher(
                client, self.node_name, self.store, self.registry, on_change=self._pods_changed
            )
            out.append(Part("k8s-pod-watcher", watcher.run))
            if cfg.enable_pod_info:
                out.append(Part("k8s-podinfo-crd", functools.partial(_wait_for_pod_info_crd, client)))
            if cfg.enable_tracing_policy_crd and policies is not None:
                from tetragon_core.k8s import PolicyWatcher

                for namespaced in (False, True):
                    pw = PolicyWatcher(client, self.node_name, policies, self.registry, namespaced)
                    out.append(Part(f"k8s-{pw.kind.lower()}-watcher", pw.run))
        if cfg.enable_cri:
            from tetragon_core.cri import CriClient, CriSync

            sync = CriSync(CriClient(self.settings.cri_endpoint), self.containers, self.registry)
            out.append(Part.loop("cri", sync.run))
        return out
