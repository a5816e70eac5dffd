"""The metrics reference: every family the agent registers, built from the code itself.

:func:`reference_registry` registers the families the way a running agent does, by building the
same components (observer, ring reader, process cache and manager, event cache, sinks, servers'
counters, policy and program statistics, the supervisor, runtime families) against an empty
registry, without the kernel, and by asking each installed sensor for the families it registers
when it loads (:meth:`Sensor.describe_metrics`). ``tetragon --generate-docs`` emits it under
``metrics:``, and docs/metrics.md is rendered from that; a kernel test holds a running agent's
/metrics to the same names, types and labels, so docs and code cannot drift.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from tetragon_core.metrics import Histogram, Registry

__all__ = ["FAMILY_NOTES", "metrics_document", "metrics_markdown", "reference_registry"]

log = logging.getLogger(__name__)

#: label values worth stating (the rest are open: binaries, policies, hooks...)
FAMILY_NOTES: dict[str, str] = {
    "tetragon_events_total": "at most 16,384 series (label tuples before --metrics-label-filter); "
    "further workloads count under `_other`",
    "tetragon_policy_events_total": "bounded as tetragon_events_total",
    "tetragon_syscalls_total": "bounded as tetragon_events_total",
    "tetragon_overhead_program_runs_total": "counts only while `sysctl kernel.bpf_stats_enabled=1`",
    "tetragon_overhead_program_seconds_total": "counts only while `sysctl kernel.bpf_stats_enabled=1`",
    "tetragon_handling_latency": "observed with --enable-msg-handling-latency",
}


def reference_registry() -> Registry:
    """A registry holding every family of the agent, at zero."""
    from tetragon_core.aggregation import dropped_metric
    from tetragon_core.bpf.replay import ReplayRing
    from tetragon_core.cgrouprate import CgroupRate
    from tetragon_core.cri import CriClient, CriSync
    from tetragon_core.eventmetrics import EventMetrics
    from tetragon_core.export.console import ConsoleSink
    from tetragon_core.export.jsonexport import JsonExporter
    from tetragon_core.fieldfilters.ratelimit import ExportRateLimiter
    from tetragon_core.grpc.hub import EventHub
    from tetragon_core.k8s import PodStore, register_watcher_metrics
    from tetragon_core.metrics_families import register_build_info, register_unbuilt
    from tetragon_core.observer import Observer, RingReader
    from tetragon_core.policy.metrics import register_policy_metrics
    from tetragon_core.policy.registry import PolicyRegistry
    from tetragon_core.policyfilter import PolicyFilter
    from tetragon_core.process.cache import ProcessCache
    from tetragon_core.process.containers import ContainerRegistry
    from tetragon_core.process.eventcache import EventCache
    from tetragon_core.process.manager import ProcessManager
    from tetragon_core.progstats import register_program_metrics
    from tetragon_core.runtime_metrics import register_runtime_metrics
    from tetragon_core.sensors.faults import SensorFaults
    from tetragon_core.sensors.registry import discover, load_sensor
    from tetragon_core.sensors.useractions import UserActions
    from tetragon_core.supervisor import Supervisor

    reg = Registry()
    obs = Observer(reg, lambda msg: None)
    RingReader(ReplayRing([]), obs, registry=reg)
    cache = ProcessCache(16, registry=reg)
    ProcessManager(cache, "node", lambda k: "", registry=reg, event_cache=EventCache(registry=reg))
    EventMetrics(reg)
    EventHub(reg, 1)
    dropped_metric(reg)
    ExportRateLimiter(1, reg)
    with tempfile.TemporaryDirectory() as d:
        JsonExporter(Path(d) / "reference.log", registry=reg).close(timeout=5)
    ConsoleSink("compact", reg, stream=io.StringIO()).close(timeout=5)
    register_policy_metrics(reg, PolicyRegistry(lambda: set()))
    register_program_metrics(reg, lambda: [])
    register_build_info(reg, lambda: None)
    register_unbuilt(reg)
    register_runtime_metrics(reg)
    SensorFaults(reg)
    UserActions(reg)
    Supervisor(reg)
    CgroupRate(_NoMap(), 1, "node", lambda k: "", reg)
    # pod identity: --enable-cri, --enable-k8s-api, --enable-policy-filter
    CriSync(CriClient("unix:///nonexistent/cri.sock"), ContainerRegistry(), reg)
    register_watcher_metrics(reg, PodStore())
    PolicyFilter(_NoMap(), _NoMap(), reg)
    for name, entry in sorted(discover().items()):
        try:
            load_sensor(entry).describe_metrics(reg)
        except Exception as e:  # a broken plugin is reported, the reference goes on
            log.warning("metrics reference: sensor %s: %s", name, e)
    return reg


class _NoMap:
    def update(self, key: bytes, value: bytes) -> None:
        raise KeyError(key)

    def lookup_percpu(self, key: bytes) -> list[bytes]:
        raise KeyError(key)

    def update_percpu(self, key: bytes, values: list[bytes]) -> None:
        raise KeyError(key)

    def delete(self, key: bytes) -> None:
        raise KeyError(key)

    def keys(self) -> list[bytes]:
        return []


def metrics_document(reg: Registry | None = None) -> list[dict[str, Any]]:
    """The families as data, sorted by name: name, type, help, labels (and a note)."""
    out: list[dict[str, Any]] = []
    for m in sorted(reg or reference_registry(), key=lambda m: m.name):
        fam: dict[str, Any] = {
            "name": m.name,
            "type": "histogram" if isinstance(m, Histogram) else m.kind,
            "help": m.help,
            "labels": list(m.labels),
        }
        if m.name in FAMILY_NOTES:
            fam["note"] = FAMILY_NOTES[m.name]
        out.append(fam)
    return out


def metrics_markdown(families: list[dict[str, Any]]) -> str:
    """docs/metrics.md."""
    lines = [
        "# Metrics",
        "",
        "Generated from `tetragon --generate-docs` (its `metrics:` list) by `make docs-metrics`; do",
        "not edit by hand. Every family the agent registers, served on `--metrics-server` at",
        "`/metrics` (Prometheus text format, aioprometheus). Families of features built later are",
        "registered at zero; the names, types and labels of `tetragon_*` are Tetragon's.",
        "",
        "| family | type | labels | help |",
        "|---|---|---|---|",
    ]
    for f in families:
        labels = ", ".join(f"`{x}`" for x in f["labels"])
        text = str(f["help"]).replace("|", "\\|")
        if f.get("note"):
            text += f" ({f['note']})"
        lines.append(f"| `{f['name']}` | {f['type']} | {labels} | {text} |")
    lines += ["", f"{len(families)} families.", ""]
    return "\n".join(lines)
