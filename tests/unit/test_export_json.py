"""``JsonExporter``: JSON lines in order, off the event loop, with counted drops."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tetragon_core import events as ev
from tetragon_core.export.backups import list_backups
from tetragon_core.export.jsonexport import QUEUE_DROPPED_METRIC, JsonExporter
from tetragon_core.export.rotate import RotatingFile
from tetragon_core.export.timefmt import rfc3339_nanos
from tetragon_core.metrics import Registry

BASE_NS = 1_713_061_094_376_304_204  # 2024-04-14T02:18:14.376304204Z


def exec_event(i: int) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(
            process=ev.Process(
                exec_id=f"bm9kZTox{i}",
                pid=1000 + i,
                uid=0,
                cwd="/",
                binary="/bin/sh",
                arguments=f"-c 'echo {i}'",
                flags="execve clone",
                start_time=rfc3339_nanos(BASE_NS + i),
                tid=1000 + i,
            )
        ),
        node_name="kind-control-plane",
        time=rfc3339_nanos(BASE_NS + i * 1_000_000_000),
    )


def exit_event(i: int) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(process=ev.Process(pid=1000 + i, binary="/bin/sh"), status=i % 3),
        node_name="kind-control-plane",
        time=rfc3339_nanos(BASE_NS + i * 1_000_000_000),
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


class GatedFile(RotatingFile):
    """A disk that blocks in ``write_lines`` until the test opens the gate."""

    gate = threading.Event()
    entered = threading.Event()

    def write_lines(self, data: bytes) -> None:
        GatedFile.entered.set()
        GatedFile.gate.wait()
        super().write_lines(data)


class SlowFile(RotatingFile):
    """A disk where every write takes 20 ms."""

    def write_lines(self, data: bytes) -> None:
        time.sleep(0.02)
        super().write_lines(data)


@pytest.fixture
def gated() -> Iterator[type[GatedFile]]:
    GatedFile.gate.clear()
    GatedFile.entered.clear()
    yield GatedFile
    GatedFile.gate.set()


def test_one_json_object_per_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    reg = Registry()
    events = [exec_event(i) if i % 2 == 0 else exit_event(i) for i in range(2500)]
    with JsonExporter(path, registry=reg, queue_size=10000, batch_size=64) as exp:
        for e in events:
            assert exp.submit(e)
        assert exp.flush(10)
        data = path.read_bytes()
        assert data == b"".join(ev.encode_json(e) + b"\n" for e in events)
        assert exp.pending == 0
    objs = read_lines(path)
    assert len(objs) == len(events)
    for i, obj in enumerate(objs):
        key = "process_exec" if i % 2 == 0 else "process_exit"
        assert list(obj) == [key, "node_name", "time"]
        assert obj[key]["process"]["pid"] == 1000 + i
    assert reg["tetragon_events_exported_total"].get() == 2500
    assert reg["tetragon_events_exported_bytes_total"].get() == len(data)
    assert reg["tetragon_events_last_exported_timestamp"].get() == (BASE_NS // 10**9) + 2499
    assert reg[QUEUE_DROPPED_METRIC].get() == 0
    assert stat_mode(path) == 0o600


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o7777


def test_close_drains_the_queue_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    reg = Registry()
    exp = JsonExporter(path, registry=reg, queue_size=5000, writer_cls=SlowFile, batch_size=100)
    assert exp.submit_many(exec_event(i) for i in range(1000)) == 1000
    exp.close()
    assert [o["process_exec"]["process"]["pid"] for o in read_lines(path)] == list(range(1000, 2000))
    assert not exp._thread.is_alive()
    assert not exp.submit(exec_event(0))
    assert exp.submit_many([exec_event(0)]) == 0
    exp.close()  # idempotent
    assert exp.flush(1)


def test_full_queue_drops_are_counted_and_never_block(tmp_path: Path, gated: type[GatedFile]) -> None:
    path = tmp_path / "tetragon.log"
    reg = Registry()
    exp = JsonExporter(path, registry=reg, queue_size=10, writer_cls=gated)
    try:
        assert exp.submit(exec_event(0))
        assert gated.entered.wait(5)  # the writer holds event 0 and is stuck on the disk
        slowest = 0.0
        results = []
        for i in range(1, 101):
            t0 = time.perf_counter()
            results.append(exp.submit(exec_event(i)))
            slowest = max(slowest, time.perf_counter() - t0)
        assert results == [True] * 10 + [False] * 90
        assert slowest < 0.05
        assert exp.submit_many([exec_event(200), exec_event(201)]) == 0
        assert reg[QUEUE_DROPPED_METRIC].get() == 92
        assert not exp.flush(timeout=0.1)  # the disk is still stuck
    finally:
        gated.gate.set()
    assert exp.flush(10)
    exp.close()
    assert [o["process_exec"]["process"]["pid"] for o in read_lines(path)] == list(range(1000, 1011))
    assert reg["tetragon_events_exported_total"].get() == 11
    assert QUEUE_DROPPED_METRIC in reg.exposition()


def test_submit_many_accepts_what_fits(tmp_path: Path, gated: type[GatedFile]) -> None:
    reg = Registry()
    exp = JsonExporter(tmp_path / "t.log", registry=reg, queue_size=8, writer_cls=gated, batch_size=1)
    try:
        exp.submit(exec_event(0))
        assert gated.entered.wait(5)
        assert exp.submit_many([exec_event(i) for i in range(1, 6)]) == 5
        assert exp.submit_many(iter([exec_event(i) for i in range(6, 12)])) == 3
        assert reg[QUEUE_DROPPED_METRIC].get() == 3
    finally:
        gated.gate.set()
    exp.close()
    pids = [o["process_exec"]["process"]["pid"] for o in read_lines(tmp_path / "t.log")]
    assert pids == list(range(1000, 1009))


def test_event_loop_stays_responsive_with_a_slow_disk(tmp_path: Path) -> None:
    reg = Registry()
    exp = JsonExporter(tmp_path / "t.log", registry=reg, queue_size=200, writer_cls=SlowFile, batch_size=8)

    async def produce() -> float:
        worst = 0.0
        for i in range(3000):
            t0 = time.perf_counter()
            exp.submit(exec_event(i))
            worst = max(worst, time.perf_counter() - t0)
            if i % 100 == 0:
                await asyncio.sleep(0)
        return worst

    worst = asyncio.run(produce())
    assert worst < 0.05
    exp.close()
    dropped = reg[QUEUE_DROPPED_METRIC].get()
    written = reg["tetragon_events_exported_total"].get()
    assert dropped > 0
    assert written + dropped == 3000
    pids = [o["process_exec"]["process"]["pid"] for o in read_lines(tmp_path / "t.log")]
    assert pids == sorted(pids) and len(pids) == written


def test_rotation_through_the_exporter_keeps_every_event(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    reg = Registry()
    with JsonExporter(
        path, registry=reg, max_size_mb=8 / 1024, max_backups=0, compress=True, batch_size=50
    ) as exp:
        exp.submit_many(exec_event(i) for i in range(2000))
        assert exp.flush(10)
        assert exp.file.wait_idle(30)
    chunks = []
    for _, name in reversed(list_backups(str(path))):
        assert name.endswith(".gz")
        chunks.append(gzip.decompress((tmp_path / name).read_bytes()))
    chunks.append(path.read_bytes())
    assert len(chunks) > 5
    lines = b"".join(chunks).splitlines()
    assert [json.loads(x)["process_exec"]["process"]["pid"] for x in lines] == list(range(1000, 3000))


def test_idle_writer_does_not_spin_and_still_rotates_on_interval(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    with JsonExporter(path, registry=Registry(), rotation_interval=0.3) as exp:
        exp.submit(exec_event(0))
        assert exp.flush(5)
        cpu0 = time.process_time()
        time.sleep(0.8)
        cpu = time.process_time() - cpu0
        assert cpu < 0.1, f"idle exporter used {cpu:.3f}s of CPU"
        backups = exp.file.backups()
        assert len(backups) == 1  # rotated once; the then-empty file is not rotated again
        assert b'"pid":1000' in Path(backups[0]).read_bytes()


def test_flush_with_nothing_submitted(tmp_path: Path) -> None:
    with JsonExporter(tmp_path / "t.log", registry=Registry()) as exp:
        assert exp.flush(1)
    assert (tmp_path / "t.log").read_bytes() == b""


def test_missing_time_sets_zero_timestamp(tmp_path: Path) -> None:
    reg = Registry()
    with JsonExporter(tmp_path / "t.log", registry=reg) as exp:
        exp.submit(
            ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="5"))
        )
        assert exp.flush(5)
    assert reg["tetragon_events_last_exported_timestamp"].get() == 0
    assert read_lines(tmp_path / "t.log") == [{"rate_limit_info": {"number_of_dropped_process_events": "5"}}]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        JsonExporter(tmp_path / "t.log", registry=Registry(), queue_size=0)
    with pytest.raises(ValueError):
        JsonExporter(tmp_path / "t.log", registry=Registry(), perm="abc")


class BrokenOnceFile(RotatingFile):
    """A disk whose first write fails."""

    failed = False

    def write_lines(self, data: bytes) -> None:
        if not BrokenOnceFile.failed:
            BrokenOnceFile.failed = True
            raise OSError(28, "No space left on device")
        super().write_lines(data)


def test_write_errors_are_survived(tmp_path: Path) -> None:
    BrokenOnceFile.failed = False
    reg = Registry()
    with JsonExporter(tmp_path / "t.log", registry=reg, writer_cls=BrokenOnceFile) as exp:
        exp.submit(exec_event(0))
        assert exp.flush(5)  # handled, though lost
        exp.submit(exec_event(1))
        assert exp.flush(5)
    assert [o["process_exec"]["process"]["pid"] for o in read_lines(tmp_path / "t.log")] == [1001]
    assert reg["tetragon_events_exported_total"].get() == 1


def test_idle_exporter_writes_due_reports(tmp_path: Path) -> None:
    """With no events arriving, the writer still asks the transform for due reports (rate_limit_info)."""
    report = ev.GetEventsResponse(
        rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="7"), node_name="n"
    )
    calls: list[int] = []

    def transform(batch: list[ev.GetEventsResponse]) -> list[ev.GetEventsResponse]:
        calls.append(len(batch))
        return [*batch, report] if not batch and len(calls) == 1 else batch

    path = tmp_path / "t.log"
    with JsonExporter(path, registry=Registry(), queue_size=10, transform=transform):
        deadline = time.monotonic() + 5
        while not path.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"rate_limit_info": {"number_of_dropped_process_events": "7"}, "node_name": "n"}
    ]
    assert calls[0] == 0
