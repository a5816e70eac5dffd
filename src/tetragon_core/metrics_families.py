"""Seed metric families registered at start whatever the flags: the build; the policy filter's and
the pod watcher's (stay at zero without --enable-policy-filter / --enable-k8s-api: their owners
register the same families when on); and those of features not built yet (data events, the
enforcer). Names, types and labels are the seed's, so that dashboards find them."""

from __future__ import annotations

from collections.abc import Callable

from tetragon_core import __version__
from tetragon_core.grpc.info import BuildInfo
from tetragon_core.metrics import Registry
from tetragon_core.sensors.retmerge import merge_families

__all__ = ["SENSOR_FAMILIES", "UNBUILT", "register_build_info", "register_unbuilt"]

#: (name, kind, help, labels) of the families whose feature is off or not built yet
UNBUILT: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("tetragon_policyfilter_operations_total", "counter", "Number of policy filter operations.",
     ("subsys", "operation", "error")),
    ("tetragon_policyfilter_hook_container_name_missing_total", "counter",
     "The total number of operations when the container name was missing in the OCI hook", ()),
    ("tetragon_watcher_errors_total", "counter", "The total number of errors for a given watcher type.",
     ("watcher", "error")),
    ("tetragon_watcher_events_total", "counter", "The total number of events for a given watcher type.",
     ("watcher",)),
    ("tetragon_watcher_delete_pod_cache_hits", "counter",
     "The total hits for pod information in the deleted pod cache.", ()),
    ("tetragon_data_cache_capacity", "gauge", "The capacity of the data cache.", ()),
    ("tetragon_data_cache_size", "gauge", "The size of the data cache", ()),
    ("tetragon_data_cache_evictions_total", "counter", "Number of data cache LRU evictions.", ()),
    ("tetragon_data_cache_misses_total", "counter", "Number of data cache misses.", ("operation",)),
    ("tetragon_data_events_total", "counter", "The number of data events by type. For internal use only.",
     ("event",)),
    ("tetragon_enforcer_missed_notifications_total", "counter",
     "The number of missed notifications by the enforcer.", ("policy", "reason", "info")),
    ("tetragon_data_event_size", "histogram", "The size of received data events.", ("op",)),
)  # fmt: skip

#: data event sizes' buckets, as upstream's (powers of two from 32 bytes)
DATA_EVENT_SIZE_BUCKETS = tuple(float(2**i) for i in range(5, 16))

#: families of policy sensors that load only with a policy needing them (the loader sensor),
#: registered at start, at zero, so that dashboards find them before; the sensor's own
#: registration must agree (the registry refuses other labels; a unit test holds the help)
SENSOR_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("tetragon_process_loader_stats", "counter", "Process Loader event statistics. For internal use only.",
     ("count",)),
)  # fmt: skip


def register_build_info(registry: Registry, info: Callable[[], BuildInfo | None]) -> None:
    """``tetragon_build_info`` = 1 with the build's labels (``go_version`` holds the Python's);
    ``info`` returns None while the build is still being read (it runs git), and the family is
    empty until then."""

    def collect() -> dict[tuple[str, ...], float]:
        b = info()
        if b is None:
            return {}
        return {(b.commit, b.go_version, b.modified, b.time, __version__): 1.0}

    registry.gauge(
        "tetragon_build_info",
        "Build information about tetragon",
        ("commit", "go_version", "modified", "time", "version"),
        collect=collect,
    )


def register_unbuilt(registry: Registry) -> None:
    """The families of :data:`UNBUILT` and :data:`SENSOR_FAMILIES`, empty, and the merge counters."""
    for name, kind, help_text, labels in (*UNBUILT, *SENSOR_FAMILIES):
        if kind == "histogram":
            registry.histogram(name, help_text, labels, DATA_EVENT_SIZE_BUCKETS)
        else:
            (registry.counter if kind == "counter" else registry.gauge)(name, help_text, labels)
    merge_families(registry)
