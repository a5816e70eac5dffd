"""The informer loop every watcher here runs, as client-go's reflector does.

List, then watch from the list's resourceVersion with bookmarks (which only move the version on),
reopening each watch the server closes from the last version seen. ``410 Gone`` (as a watch
ERROR event or as the HTTP status) means that version is compacted away: list again at once. Any
other failure backs off (doubling from the minimum to the maximum) and reopens the watch from the
last version; a failing list backs off the same way. Every failure is counted in
``tetragon_watcher_errors_total{watcher, error}``, every object event in
``tetragon_watcher_events_total{watcher}``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

import anyio

from tetragon_core.exceptions import KubernetesError
from tetragon_core.k8s._client import ResourceExpired
from tetragon_core.metrics import Metric, Registry

__all__ = ["BACKOFF_MAX_S", "BACKOFF_MIN_S", "Informer", "errors_metric", "events_metric"]

log = logging.getLogger(__name__)

BACKOFF_MIN_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0

ERR_LIST: Final = "list_failed"
ERR_WATCH: Final = "watch_failed"
ERR_EXPIRED: Final = "resource_expired"

T = TypeVar("T")


def errors_metric(registry: Registry) -> Metric:
    return registry.counter(
        "tetragon_watcher_errors_total",
        "The total number of errors for a given watcher type.",
        ("watcher", "error"),
    )


def events_metric(registry: Registry) -> Metric:
    return registry.counter(
        "tetragon_watcher_events_total",
        "The total number of events for a given watcher type.",
        ("watcher",),
    )


class Informer(Generic[T]):
    """List and watch one kind of object; hands lists and events to its owner."""

    def __init__(
        self,
        name: str,
        watcher_label: str,
        list_objects: Callable[[], Awaitable[tuple[Sequence[T], str]]],
        watch_objects: Callable[[str], AsyncIterator[tuple[str, T]]],
        version_of: Callable[[T], str],
        on_list: Callable[[Sequence[T]], Awaitable[None]],
        on_event: Callable[[str, T], Awaitable[None]],
        registry: Registry,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ) -> None:
        self.name = name
        self._label = watcher_label
        self._list = list_objects
        self._watch_fn = watch_objects
        self._version_of = version_of
        self._on_list = on_list
        self._on_event = on_event
        self._backoff = backoff
        #: resourceVersion the next watch starts from ("" until the first list)
        self.resource_version = ""
        self.lists = 0
        self._got = 0
        self._errors = errors_metric(registry)
        self._events = events_metric(registry)

    def _error(self, label: str, e: Exception) -> None:
        self._errors.inc(self._label, label)
        log.warning("kubernetes %s watcher: %s", self.name, e)

    async def run(self, started: Callable[[], None]) -> None:
        """List and watch until cancelled. ``started`` is called after the first list, or after
        the first failure (the agent starts; the owner copes with not knowing yet)."""
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
        """List every object: the owner's view becomes exactly that list."""
        objects, rv = await self._list()
        await self._on_list(objects)
        self.resource_version = rv
        self.lists += 1

    async def _watch(self) -> None:
        async for kind, obj in self._watch_fn(self.resource_version):
            version = self._version_of(obj)
            if version:
                self.resource_version = version
            if kind == "BOOKMARK":
                continue
            self._got += 1
            self._events.inc(self._label)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                await self._on_event(kind, obj)
