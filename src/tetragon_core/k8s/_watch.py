"""``--enable-k8s-api``: this node's pods, listed then watched (the informer loop of
:mod:`tetragon_core.k8s._informer`) into a :class:`PodStore`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from lightkube import AsyncClient

from tetragon_core.k8s._client import list_pods, watch_pods
from tetragon_core.k8s._informer import BACKOFF_MAX_S, BACKOFF_MIN_S, Informer, errors_metric
from tetragon_core.k8s._pods import K8sPod, PodStore
from tetragon_core.metrics import Registry

__all__ = ["BACKOFF_MAX_S", "BACKOFF_MIN_S", "WATCHER", "PodWatcher", "register_watcher_metrics"]

WATCHER: Final = "k8s"
#: the seed's error label: a process's container has no known pod
ERR_POD_MISSING: Final = "failed_to_get_pod"


def register_watcher_metrics(registry: Registry, store: PodStore) -> None:
    """The watcher families with the seed's names and labels (lookups are counted by the store)."""
    registry.counter(
        "tetragon_watcher_delete_pod_cache_hits",
        "The total hits for pod information in the deleted pod cache.",
        collect=lambda: {(): float(store.deleted_hits)},
    )
    errors = errors_metric(registry)
    store.on_miss = lambda: errors.inc(WATCHER, ERR_POD_MISSING)


class PodWatcher(Informer[K8sPod]):
    """Keeps one :class:`PodStore` in step with this node's pods."""

    def __init__(
        self,
        client: AsyncClient,
        node: str,
        store: PodStore,
        registry: Registry,
        on_change: Callable[[], None] | None = None,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
        watch_timeout_s: int = 300,
    ) -> None:
        """``on_change`` runs after the store changed (the policy filter follows then)."""
        self.client = client
        self.node = node
        self.store = store
        self._on_change = on_change or (lambda: None)
        register_watcher_metrics(registry, store)
        super().__init__(
            "pod",
            WATCHER,
            lambda: list_pods(client, node),
            lambda rv: watch_pods(client, node, rv, watch_timeout_s),
            lambda pod: pod.metadata.resourceVersion,
            self._listed,
            self._event,
            registry,
            backoff,
        )

    async def _listed(self, pods: Sequence[K8sPod]) -> None:
        self.store.replace(pods)
        self._on_change()

    async def _event(self, kind: str, pod: K8sPod) -> None:
        if kind == "DELETED":
            self.store.delete(pod)
        else:
            self.store.upsert(pod)
        self._on_change()
