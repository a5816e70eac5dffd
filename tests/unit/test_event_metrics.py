"""tetragon_events_total and its siblings, and --metrics-label-filter choosing their labels."""

from __future__ import annotations

import logging

import pytest

from tests.unit import samples, samples_tracing
from tetragon_core.eventmetrics import OVERFLOW, EventMetrics, label_filter
from tetragon_core.events import KprobeArgument, ProcessTracepoint
from tetragon_core.metrics import Registry


def test_every_event_counts_by_type_with_its_workload_labels() -> None:
    reg = Registry()
    m = EventMetrics(reg)
    assert m.submit_many([samples.exec_in_pod(), samples.exec_in_pod(), samples.exit_status()]) == 3
    pod = samples.exec_in_pod().process_exec.process  # type: ignore[union-attr]
    assert reg["tetragon_events_total"].labels == ("type", "namespace", "workload", "pod", "binary")
    assert reg["tetragon_events_total"].get("PROCESS_EXEC", "default", "web", pod.pod.name, pod.binary) == 2
    ex = samples.exit_status().process_exit.process  # type: ignore[union-attr]
    assert reg["tetragon_events_total"].get("PROCESS_EXIT", "", "", "", ex.binary) == 1


def test_policy_events_and_raw_syscalls() -> None:
    reg = Registry()
    m = EventMetrics(reg, ("binary",))
    kp = samples_tracing.kprobe_write()
    m.submit(kp)
    binary = kp.process_kprobe.process.binary  # type: ignore[union-attr]
    assert reg["tetragon_policy_events_total"].get("file-write", "__x64_sys_write", binary) == 1
    tp = samples_tracing.tracepoint_openat()
    tp.process_tracepoint = ProcessTracepoint(
        process=tp.process_tracepoint.process,  # type: ignore[union-attr]
        subsys="raw_syscalls",
        event="sys_enter",
        args=[KprobeArgument(long_arg="257")],
        policy_name="syscalls",
    )
    m.submit(tp)
    assert reg["tetragon_events_total"].get("PROCESS_TRACEPOINT", tp.process_tracepoint.process.binary) == 1  # type: ignore[union-attr]
    assert reg["tetragon_syscalls_total"].labels == ("syscall", "binary")
    assert sum(reg["tetragon_syscalls_total"].samples().values()) == 1
    assert (
        reg["tetragon_policy_events_total"].get(
            "syscalls",
            "raw_syscalls/sys_enter",
            tp.process_tracepoint.process.binary,  # type: ignore[union-attr]
        )
        == 1
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (("namespace", "workload", "pod", "binary"), ("namespace", "workload", "pod", "binary")),
        (("binary", "namespace"), ("namespace", "binary")),
        ((), ()),
        (("pod", "bogus"), ("pod",)),
    ],
)
def test_the_label_filter_keeps_known_labels_in_order(
    given: tuple[str, ...], kept: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert label_filter(given) == kept
    assert ("bogus" in caplog.text) == ("bogus" in given)
    reg = Registry()
    EventMetrics(reg, kept).submit(samples.exec_in_pod())
    assert reg["tetragon_events_total"].labels == ("type", *kept)
    ((key, value),) = reg["tetragon_events_total"].samples().items()
    assert len(key) == 1 + len(kept) and value == 1


def test_series_are_bounded_and_the_rest_counts_under_other() -> None:
    reg = Registry()
    m = EventMetrics(reg, ("binary",), max_series=3)
    evs = []
    for i in range(5):
        ev = samples.exit_status()
        ev.process_exit.process.binary = f"/tmp/bin-{i}"  # type: ignore[union-attr]
        evs.append(ev)
    m.submit_many(evs)
    m.submit(samples_tracing.kprobe_write())  # the general path: a new series past the bound too
    series = reg["tetragon_events_total"].samples()
    assert series == {
        ("PROCESS_EXIT", "/tmp/bin-0"): 1,
        ("PROCESS_EXIT", "/tmp/bin-1"): 1,
        ("PROCESS_EXIT", "/tmp/bin-2"): 1,
        ("PROCESS_EXIT", OVERFLOW): 2,
        ("PROCESS_KPROBE", OVERFLOW): 1,
    }
