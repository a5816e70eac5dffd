"""/metrics of a running agent, read by an independent parser (prometheus_client): every family of
the seed's metrics reference is there with its type and labels, and the counts agree with the
processes and events this test causes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.kernel.conftest import RunningAgent, free_port
from tests.kernel.test_tracepoint_policies import openat_policy
from tests.promtext import families, samples
from tests.unit.test_metric_families import seed_families
from tetragon_core.metrics_docs import metrics_document
from tetragon_core.progstats import STATS_SYSCTL

N = 20
#: the families whose seed names do not end in _total but are histograms
HISTOGRAMS = {"tetragon_handling_latency", "tetragon_data_event_size"}


@pytest.fixture
def bpf_stats() -> Iterator[None]:
    """The kernel counts BPF program runs and time while the test runs (restored after)."""
    before = Path(STATS_SYSCTL).read_text().strip()
    Path(STATS_SYSCTL).write_text("1\n")
    yield
    Path(STATS_SYSCTL).write_text(before + "\n")


def _scrape(port: int) -> str:
    deadline = time.monotonic() + 30  # the server starts after the procfs walk is exported
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _sum(text: str, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= ls)


def _live_processes() -> int:
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def _policy(tmp_path: Path, prefix: str) -> Path:
    f = tmp_path / "metrics-openat.yaml"
    f.write_text(openat_policy("metrics-openat", prefix))
    return f


def test_every_seed_family_with_counts_that_agree(start_agent, tmp_path: Path, bpf_stats: None) -> None:
    token = uuid.uuid4().hex[:8]
    binary = tmp_path / f"true-{token}"
    shutil.copy("/bin/true", binary)
    target = tmp_path / f"opened-{token}"
    target.write_text("x")
    port = free_port()
    agent: RunningAgent = start_agent(
        "--metrics-server", f"127.0.0.1:{port}", "--tracing-policy", str(_policy(tmp_path, str(target)))
    )
    before = _scrape(port)
    for _ in range(N):
        subprocess.run([str(binary)], check=True)
    subprocess.run(["/bin/cat", str(target)], check=True, capture_output=True)
    evs = agent.wait_for(
        lambda evs: (
            sum(1 for e in evs if e.get("process_exit", {}).get("process", {}).get("binary") == str(binary))
            == N
            and any(e.get("process_tracepoint", {}).get("policy_name") == "metrics-openat" for e in evs)
        )
    )
    live = _live_processes()
    text = _scrape(port)
    fams = families(text)

    # every family of the seed, with its type and its label names
    for name, (_help, labels) in seed_families().items():
        assert name in fams, f"{name} missing from /metrics"
        fam = fams[name]
        kind = "histogram" if name in HISTOGRAMS else "counter" if name.endswith("_total") else None
        if kind is not None:
            assert fam.type == kind, (name, fam.type)
        else:
            assert fam.type in ("gauge", "counter"), (name, fam.type)
        for s in fam.samples:
            got = set(s.labels) - {"le"}
            assert got == labels, (name, got, labels)

    # the reference --generate-docs emits (docs/metrics.md) is what a running agent serves
    reference = {f["name"]: f for f in metrics_document()}
    for fam in text_string_to_metric_families(text):
        name = fam.name if fam.name in reference else fam.name + "_total"
        assert name in reference, f"{name} is served but missing from the metrics reference"
        ref = reference[name]
        assert fam.type == ref["type"], (name, fam.type, ref["type"])
        for s in fam.samples:
            assert set(s.labels) - {"le"} == set(ref["labels"]), (name, s.labels, ref["labels"])

    # the counts agree with what happened
    exported = [e for e in evs if e.get("process_exec", {}).get("process", {}).get("binary") == str(binary)]
    assert len(exported) == N
    for etype in ("PROCESS_EXEC", "PROCESS_EXIT"):
        assert _sum(text, "tetragon_events_total", type=etype, binary=str(binary)) == N, etype
    assert _sum(text, "tetragon_events_total", type="PROCESS_TRACEPOINT", binary="/bin/cat") == 1
    assert _sum(text, "tetragon_policy_events_total", policy="metrics-openat", binary="/bin/cat") == 1
    # every exec event counts its flags (ours carry "execve"; procfs-walked ones "procFS")
    grew = _sum(text, "tetragon_flags_total", type="execve") - _sum(
        before, "tetragon_flags_total", type="execve"
    )
    assert grew >= N + 1  # our N, the cat, and whatever else ran meanwhile
    assert (
        _sum(text, "tetragon_msg_op_total", msg_op="5") - _sum(before, "tetragon_msg_op_total", msg_op="5")
        >= N
    )
    # execve_map holds one entry per live process (give or take what started or ended meanwhile)
    entries = _sum(text, "tetragon_map_entries", map="execve_map")
    assert abs(entries - live) <= 10, (entries, live)
    assert _sum(text, "tetragon_map_errors_total", map="execve_map") == 0
    # program statistics: the policy's program ran (and took time) at least for the cat's openat
    runs = _sum(
        text, "tetragon_overhead_program_runs_total", policy="metrics-openat", sensor="generic_tracepoint"
    )
    secs = _sum(text, "tetragon_overhead_program_seconds_total", policy="metrics-openat")
    assert runs >= 1 and secs > 0, (runs, secs)
    (series,) = [s for s in fams["tetragon_overhead_program_runs_total"].samples if s.labels["policy"]]
    assert series.labels["attach"] == "syscalls/sys_enter_openat"
    assert series.labels["section"].startswith("tracepoint")
    # the exec sensor's own programs are there too, with no policy
    assert _sum(text, "tetragon_overhead_program_runs_total", policy="", sensor="execve") >= N
    assert _sum(text, "tetragon_observer_ringbuf_errors_total") == 0
    assert _sum(text, "tetragon_events_missing_process_info_total") == 0
