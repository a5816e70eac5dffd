"""Run statistics of every attached BPF program, as Tetragon's overhead and missed-probe metrics.

The kernel keeps, per program, the number of runs and their total time (only while BPF statistics
are enabled: ``sysctl kernel.bpf_stats_enabled=1``, as upstream requires too) and the runs it
skipped because the program was already running on that CPU (recursion misses, always counted).
They are read with BPF_OBJ_GET_INFO_BY_FD when a scrape arrives: nothing is added to the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from tetragon_core.bpf import _libbpf as lb
from tetragon_core.exceptions import BpfError
from tetragon_core.metrics import Registry

__all__ = [
    "STATS_SYSCTL",
    "ProgramSource",
    "bpf_stats_enabled",
    "loaded_programs",
    "register_program_metrics",
]

log = logging.getLogger(__name__)

STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"

#: (policy namespace, policy name, sensor name, loaded object) of every object whose programs are
#: attached (the base sensors' objects come with an empty policy); None when they cannot be read
#: now, and the last values stand
ProgramSource = Callable[[], Iterable[tuple[str, str, str, Any]] | None]

_LABELS = ("policy_namespace", "policy", "sensor", "attach", "section")
_Series = dict[tuple[str, ...], float]


def bpf_stats_enabled() -> bool:
    """Does the kernel count program runs and run time now?"""
    try:
        with open(STATS_SYSCTL) as f:
            return f.read().strip() not in ("", "0")
    except OSError:
        return False


class _Snapshot:
    """One read of every program per scrape, shared by the three families (a new scrape, or 1 s,
    reads again)."""

    def __init__(self, registry: Registry, source: ProgramSource) -> None:
        self._registry = registry
        self._source = source
        self._scrape = -1
        self._at = -1.0
        self.runs: _Series = {}
        self.seconds: _Series = {}
        self.missed: _Series = {}

    def take(self) -> _Snapshot:
        now = time.monotonic()
        if self._registry.scrapes == self._scrape and now - self._at < 1.0:
            return self
        self._scrape = self._registry.scrapes
        objects = self._source()
        if objects is None:
            return self
        runs: _Series = {}
        seconds: _Series = {}
        missed: _Series = {}
        for ns, policy, sensor, obj in objects:
            for _prog, attach, section, fd in obj.attached():
                try:
                    run_ns, count, misses = lb.prog_stats(fd)
                except BpfError as e:  # closed under us by a policy delete: it simply leaves
                    log.debug("program stats of %s: %s", section, e)
                    continue
                key = (ns, policy, sensor, attach, section)
                runs[key] = runs.get(key, 0.0) + count
                seconds[key] = seconds.get(key, 0.0) + run_ns / 1e9
                mkey = (policy, attach)
                missed[mkey] = missed.get(mkey, 0.0) + misses
        self.runs, self.seconds, self.missed, self._at = runs, seconds, missed, now
        return self


def loaded_programs(loaded: Iterable[Any], policies: Any) -> list[tuple[str, str, str, Any]] | None:
    """The agent's :data:`ProgramSource`: every loaded sensor's own objects (no policy), then each
    policy's; None while a policy is being loaded or freed (the scrape keeps its last read)."""
    out: list[tuple[str, str, str, Any]] = [
        ("", "", ls.sensor.name, obj) for ls in list(loaded) for obj in list(ls.ctx.objects)
    ]
    with policies.reading() as free:
        if not free:
            return None
        for e in policies.list():
            for sensor, h in zip(dict.fromkeys(e.sensors), e.handles, strict=False):
                objs: Iterable[Any] = getattr(h, "objects", tuple)()
                out += [(e.policy.namespace, e.policy.name, sensor, o) for o in objs]
        return out


def register_program_metrics(registry: Registry, source: ProgramSource) -> None:
    """``tetragon_overhead_program_runs_total``, ``tetragon_overhead_program_seconds_total`` and
    ``tetragon_missed_prog_probes_total`` over the programs ``source`` yields."""
    snap = _Snapshot(registry, source)
    registry.counter(
        "tetragon_overhead_program_runs_total",
        "The total number of times BPF program was executed.",
        _LABELS,
        collect=lambda: snap.take().runs,
    )
    registry.counter(
        "tetragon_overhead_program_seconds_total",
        "The total time of BPF program running.",
        _LABELS,
        collect=lambda: snap.take().seconds,
    )
    registry.counter(
        "tetragon_missed_prog_probes_total",
        "The total number of Tetragon probe missed by program.",
        ("policy", "attach"),
        collect=lambda: snap.take().missed,
    )
