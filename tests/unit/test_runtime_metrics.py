"""The runtime families, against what the kernel and the interpreter say of this process."""

from __future__ import annotations

import gc
import os
import resource
import time

from tests.promtext import families
from tetragon_core.metrics import Registry
from tetragon_core.runtime_metrics import register_runtime_metrics


def _value(reg: Registry, name: str) -> float:
    (v,) = reg[name].samples().values()
    return v


def test_process_families_read_this_process() -> None:
    reg = Registry()
    register_runtime_metrics(reg)
    with open("/proc/self/status") as f:
        rss_kb = int(next(x for x in f if x.startswith("VmRSS:")).split()[1])
    assert abs(_value(reg, "process_resident_memory_bytes") - rss_kb * 1024) < 64 * 1024 * 1024
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        with_fd = _value(reg, "process_open_fds")
    finally:
        os.close(fd)
    assert with_fd == _value(reg, "process_open_fds") + 1  # one more while it was open
    assert _value(reg, "process_max_fds") == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cpu = os.times()
    assert abs(_value(reg, "process_cpu_seconds_total") - (cpu.user + cpu.system)) < 0.5
    started = _value(reg, "process_start_time_seconds")
    assert 0 < time.time() - started < 24 * 3600  # started today, in the past
    assert _value(reg, "process_virtual_memory_bytes") > _value(reg, "process_resident_memory_bytes")
    text = reg.exposition()
    assert families(text)["process_cpu_seconds_total"].type == "counter"


def test_python_families() -> None:
    reg = Registry()
    register_runtime_metrics(reg)
    before = reg["python_gc_collections_total"].samples()[("2",)]
    gc.collect()
    assert reg["python_gc_collections_total"].samples()[("2",)] == before + 1
    assert set(reg["python_gc_objects_collected_total"].samples()) == {("0",), ("1",), ("2",)}
    (labels,) = reg["python_info"].samples()
    assert labels[0] == "CPython" and labels[4].startswith(labels[1] + "." + labels[2])
