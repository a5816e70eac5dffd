"""Flag cases of the JSON export and its filters, the event queue and the CLI's own flags."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.kernel.conftest import TETRAGON, RunningAgent, execs, exits
from tests.kernel.flagtools import (
    TOKEN,
    Flags,
    _our_exec,
    _wait,
)


def enable_export_aggregation(f: Flags) -> None:
    agent = f.start("--enable-export-aggregation")
    _our_exec(f, agent)  # every event type passes through the aggregation buffer, unaggregated
    assert f.metric("tetragon_aggregation_events_dropped_total") == []  # none dropped
    r = subprocess.run(
        [
            TETRAGON,
            "--enable-export-aggregation",
            "--export-aggregation-buffer-size",
            "0",
            "--server-address",
            "",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "--export-aggregation-buffer-size:" in r.stderr, r.stderr


def export_aggregation_buffer_size(f: Flags) -> None:
    agent = f.start("--enable-export-aggregation", "--export-aggregation-buffer-size", "1")
    subprocess.run(["sh", "-c", "for i in $(seq 200); do /bin/true; done"], check=True, timeout=60)
    # a one-event buffer drops what a burst brings at once, and counts it
    drops = lambda: {d.get("sink"): v for d, v in f.metric("tetragon_aggregation_events_dropped_total")}  # noqa: E731
    _wait(lambda: drops().get("export", 0) > 0, what="drops")
    assert agent.proc.poll() is None


def event_queue_size(f: Flags) -> None:
    agent = f.start("--event-queue-size", "1")  # the export's queue holds one event
    subprocess.run(["sh", "-c", "for i in $(seq 200); do /bin/true; done"], check=True, timeout=60)
    _wait(lambda: sum(v for _, v in f.metric("tetragon_export_queue_events_dropped_total")) > 0, what="drops")
    assert agent.proc.poll() is None


def export_allowlist(f: Flags) -> None:
    agent = f.start("--export-allowlist", '{"event_set":["PROCESS_EXIT"]}')
    f.child("/bin/true")
    evs = agent.wait_for(lambda e: any(TOKEN in x["process"].get("arguments", "") for x in exits(e)))
    assert all(set(e) - {"node_name", "time"} == {"process_exit"} for e in evs)


def export_denylist(f: Flags) -> None:
    agent = f.start("--export-denylist", '{"event_set":["PROCESS_EXIT"]}')
    _our_exec(f, agent)  # its exit is handled before the next child's exec (ring order)
    subprocess.run(["/bin/echo", "second"], stdout=subprocess.DEVNULL, check=True)
    evs = agent.wait_for(lambda e: any(x["process"].get("arguments") == "second" for x in execs(e)))
    assert not exits(evs)


def _rotation(f: Flags, *args: str) -> tuple[RunningAgent, list[Path]]:
    agent = f.start("--export-file-rotation-interval", "1s", *args)
    for _ in range(4):
        f.child("/bin/true")
        time.sleep(1.0)
    return agent, sorted(agent.export.parent.glob("tetragon-*"))


def export_file_compress(f: Flags) -> None:
    _, backups = _rotation(f, "--export-file-compress")
    assert backups and all(b.name.endswith(".gz") for b in backups), backups


def export_file_max_backups(f: Flags) -> None:
    _, backups = _rotation(f, "--export-file-max-backups", "1")
    assert len(backups) == 1, backups


def export_file_rotation_interval(f: Flags) -> None:
    _, backups = _rotation(f)
    assert len(backups) >= 2 and not any(b.name.endswith(".gz") for b in backups), backups


def export_file_max_size_mb(f: Flags) -> None:
    agent = f.start("--export-file-max-size-mb", "1")
    subprocess.run(["sh", "-c", "for i in $(seq 1500); do /bin/true; done"], check=True, timeout=120)
    _wait(lambda: bool(list(agent.export.parent.glob("tetragon-*"))), 60, "a rotation at 1 MB")
    assert all(p.stat().st_size <= (1 << 20) + 65536 for p in agent.export.parent.glob("tetragon-*"))


def export_file_perm(f: Flags) -> None:
    agent = f.start("--export-file-perm", "640")
    assert stat.S_IMODE(agent.export.stat().st_mode) == 0o640


def export_filename(f: Flags) -> None:
    other = f.tmp / "elsewhere" / "events.log"
    agent = f.start("--export-filename", str(other))
    f.child("/bin/true")
    _wait(lambda: other.exists() and TOKEN in other.read_text(), what=str(other))
    assert not agent.export.exists()


def export_rate_limit(f: Flags) -> None:
    agent = f.start("--export-rate-limit", "5")
    _wait(
        lambda: sum(v for _, v in f.metric("tetragon_export_ratelimit_events_dropped_total")) > 0,
        what="drops",
    )
    assert 0 < len(agent.events()) <= 5


def expose_stack_addresses(f: Flags) -> None:
    agent = f.start("--expose-stack-addresses")
    spec = (
        "  kprobes:\n  - call: sys_getppid\n    syscall: true\n    selectors:\n"
        f"    - matchBinaries: [{{operator: In, values: [{sys.executable}]}}]\n"
        "      matchActions: [{action: Post, kernelStackTrace: true}]\n"
    )
    assert f.tetra("tp", "add", str(f.policy("stacks", spec))).returncode == 0
    subprocess.run([sys.executable, "-S", "-c", "import os; os.getppid()"], check=True)
    evs = agent.wait_for(lambda e: any("process_kprobe" in x for x in e))
    frames = next(e["process_kprobe"] for e in evs if "process_kprobe" in e)["kernel_stack_trace"]
    assert frames and all(int(fr["address"]) > 0 for fr in frames), frames  # hidden (0) by default


def field_filters(f: Flags) -> None:
    agent = f.start(
        "--field-filters",
        '{"event_set":["PROCESS_EXEC"],"fields":"process.binary,process.arguments","action":"INCLUDE"}',
    )
    f.child("/bin/true")
    evs = agent.wait_for(lambda e: any(TOKEN in x.get("process", {}).get("arguments", "") for x in execs(e)))
    (ex,) = [x for x in execs(evs) if TOKEN in x["process"].get("arguments", "")]
    assert ex == {"process": {"binary": "/bin/true", "arguments": TOKEN}}


def generate_docs(f: Flags) -> None:
    r = subprocess.run([TETRAGON, "--generate-docs"], capture_output=True, text=True, timeout=60)
    doc = yaml.safe_load(r.stdout)
    assert r.returncode == 0 and len(doc["options"]) == 73 and doc["options"][0]["name"] == "bpf-dir"
    # and the metrics reference, with the families a dashboard needs first
    families = {m["name"]: m for m in doc["metrics"]}
    assert families["tetragon_events_total"]["labels"] == ["type", "namespace", "workload", "pod", "binary"]
    assert families["tetragon_handling_latency"]["type"] == "histogram"


def help_(f: Flags) -> None:
    r = subprocess.run([TETRAGON, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--rb-queue-size" in r.stdout
