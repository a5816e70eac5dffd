"""Runtime metrics in Python's terms, where Tetragon's reference lists Go's: the standard
``process_*`` families (as Prometheus clients export them, read from /proc at scrape time) and
``python_gc_*`` / ``python_info`` in place of ``go_*``."""

from __future__ import annotations

import gc
import os
import platform
import resource

from tetragon_core.metrics import Registry

__all__ = ["register_runtime_metrics"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(proc: str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3, state, is index 0)."""
    with open(f"{proc}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _boot_time(proc_root: str) -> float:
    with open(f"{proc_root}/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def register_runtime_metrics(registry: Registry, proc_root: str = "/proc") -> None:
    """Register the families; each reads its value when scraped."""
    me = f"{proc_root}/self"
    start = _boot_time(proc_root) + int(_stat(me)[19]) / _TICKS

    def cpu() -> dict[tuple[str, ...], float]:
        t = os.times()  # every thread's, as /proc/self/stat's utime + stime, without the read
        return {(): t.user + t.system}

    def rss() -> dict[tuple[str, ...], float]:
        return {(): float(int(_stat(me)[21]) * _PAGE)}

    def vms() -> dict[tuple[str, ...], float]:
        return {(): float(_stat(me)[20])}

    def fds() -> dict[tuple[str, ...], float]:
        return {(): float(len(os.listdir(f"{me}/fd")))}

    def max_fds() -> dict[tuple[str, ...], float]:
        return {(): float(resource.getrlimit(resource.RLIMIT_NOFILE)[0])}

    registry.counter(
        "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", collect=cpu
    )
    registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", collect=rss)
    registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", collect=vms)
    registry.gauge("process_open_fds", "Number of open file descriptors.", collect=fds)
    registry.gauge("process_max_fds", "Maximum number of open file descriptors.", collect=max_fds)
    registry.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        collect=lambda: {(): start},
    )

    def gc_stat(key: str) -> dict[tuple[str, ...], float]:
        return {(str(i),): float(s[key]) for i, s in enumerate(gc.get_stats())}

    registry.counter(
        "python_gc_objects_collected_total",
        "Objects collected during gc",
        ("generation",),
        collect=lambda: gc_stat("collected"),
    )
    registry.counter(
        "python_gc_objects_uncollectable_total",
        "Uncollectable objects found during GC",
        ("generation",),
        collect=lambda: gc_stat("uncollectable"),
    )
    registry.counter(
        "python_gc_collections_total",
        "Number of times this generation was collected",
        ("generation",),
        collect=lambda: gc_stat("collections"),
    )
    major, minor, patch = platform.python_version_tuple()
    info = (platform.python_implementation(), major, minor, patch, platform.python_version())
    registry.gauge(
        "python_info",
        "Python platform information",
        ("implementation", "major", "minor", "patchlevel", "version"),
        collect=lambda: {info: 1.0},
    )
