"""``--enable-k8s-api``: this node's pods, listed then watched into a :class:`PodStore`.

The informer pattern, as client-go runs it: list (``fieldSelector=spec.nodeName=<node>``), then
watch from the list's resourceVersion with bookmarks (which only move the version on), reopening
each watch the server closes from the last version seen. ``410 Gone`` (as a watch ERROR event or
as the HTTP status) means that version is compacted away: list again. Any other failure backs
off (0.5 s doubling to 30 s) and reopens the watch from the last version; a failing list backs
off the same way. Every failure is counted in ``tetragon_watcher_errors_total{watcher="k8s"}``,
every pod event in ``tetragon_watcher_events_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import anyio
from lightkube import AsyncClient

from tetragon_core.exceptions import KubernetesError
from tetragon_core.k8s._client import ResourceExpired, list_pods, watch_pods
from tetragon_core.k8s._pods import K8sPod, PodStore
from tetragon_core.metrics import Registry

__all__ = ["BACKOFF_MAX_S", "BACKOFF_MIN_S", "WATCHER", "PodWatcher", "register_watcher_metrics"]

log = logging.getLogger(__name__)

WATCHER: Final = "k8s"
BACKOFF_MIN_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0

#: error label values: the seed's lookup miss, and this watcher's own request failures
ERR_POD_MISSING: Final = "failed_to_get_pod"
ERR_LIST: Final = "list_failed"
ERR_WATCH: Final = "watch_failed"
ERR_EXPIRED: Final = "resource_expired"


def register_watcher_metrics(registry: Registry, store: PodStore) -> None:
    """The watcher families with the seed's names and labels (lookups are counted by the store)."""
    registry.counter(
        "tetragon_watcher_delete_pod_cache_hits",
        "The total hits for pod information in the deleted pod cache.",
        collect=lambda: {(): float(store.deleted_hits)},
    )
    errors = registry.counter(
        "tetragon_watcher_errors_total",
        "The total number of errors for a given watcher type.",
        ("watcher", "error"),
    )
    # a container whose pod the store does not have (yet): upstream's failed_to_get_pod
    store.on_miss = lambda: errors.inc(WATCHER, ERR_POD_MISSING)


class PodWatcher:
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
        """``on_change`` runs after the store changed (events waiting for a pod retry then)."""
        self.client = client
        self.node = node
        self.store = store
        self._on_change = on_change or (lambda: None)
        self._backoff = backoff
        self._watch_timeout_s = watch_timeout_s
        #: resourceVersion the next watch starts from ("" until the first list)
        self.resource_version = ""
        self.lists = 0
        self._got = 0
        register_watcher_metrics(registry, store)
        self._events = registry.counter(
            "tetragon_watcher_events_total",
            "The total number of events for a given watcher type.",
            ("watcher",),
        )
        self._errors = registry["tetragon_watcher_errors_total"]

    def _error(self, label: str, e: Exception) -> None:
        self._errors.inc(WATCHER, label)
        log.warning("kubernetes pod watcher: %s", e)

    async def run(self, started: Callable[[], None]) -> None:
        """List and watch until cancelled. ``started`` is called after the first list, or after
        the first failure (the agent starts; events wait for their pods meanwhile)."""
        delay = self._backoff[0]
        told = False
        while True:
            try:
                await self.relist()
            except KubernetesError as e:
                self._error(ERR_LIST, e)
                if not told:
                    started()
                    told = True
                await anyio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            if not told:
                started()
                told = True
            delay = self._backoff[0]
            while True:  # watch until the version expires
                self._got = 0
                try:
                    await self._watch()
                except ResourceExpired as e:
                    self._error(ERR_EXPIRED, e)
                    break  # relist at once: nothing is wrong with the server
                except KubernetesError as e:
                    self._error(ERR_WATCH, e)
                    if self._got:
                        delay = self._backoff[0]
                    await anyio.sleep(delay)
                    delay = min(delay * 2, self._backoff[1])

    async def relist(self) -> None:
        """List every pod of the node: the store becomes exactly that list."""
        pods, rv = await list_pods(self.client, self.node)
        self.store.replace(pods)
        self.resource_version = rv
        self.lists += 1
        self._on_change()

    async def _watch(self) -> None:
        async for kind, pod in watch_pods(
            self.client, self.node, self.resource_version, self._watch_timeout_s
        ):
            if pod.metadata.resourceVersion:
                self.resource_version = pod.metadata.resourceVersion
            if kind == "BOOKMARK":
                continue
            self._got += 1
            self._events.inc(WATCHER)
            self._apply(kind, pod)

    def _apply(self, kind: str, pod: K8sPod) -> None:
        if kind == "DELETED":
            self.store.delete(pod)
        elif kind in ("ADDED", "MODIFIED"):
            self.store.upsert(pod)
        else:
            return
        self._on_change()
