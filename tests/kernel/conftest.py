"""Fixtures for tests that load BPF into the running kernel.

They need root and a kernel with BTF, tp_btf and the BPF ring buffer. Each missing feature is
probed once and the test is skipped with the feature's name; nothing else skips.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tetragon_core.probes import missing_base_features

ROOT = Path(__file__).resolve().parents[2]
TETRAGON = str(Path(sys.executable).with_name("tetragon"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_base_features()
    if not missing:
        return
    reason = "kernel lacks " + ", ".join(missing)
    print(f"\nkernel tests skipped: {reason}", file=sys.stderr)
    for item in items:
        if "tests/kernel" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class RunningAgent:
    """A ``tetragon`` process started for one test, with its JSON export."""

    proc: subprocess.Popen[bytes]
    export: Path
    stderr: Path
    _seen: list[dict[str, Any]] = field(default_factory=list)
    _offsets: dict[str, int] = field(default_factory=dict)

    def events(self) -> list[dict[str, Any]]:
        """Every exported event so far (backups first), parsed; a torn line fails the test."""
        files = sorted(self.export.parent.glob(self.export.stem + "-*" + self.export.suffix))
        files.append(self.export)
        out: list[dict[str, Any]] = []
        for f in files:
            if not f.exists():
                continue
            data = f.read_bytes()
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            for line in data[:end].splitlines():
                out.append(json.loads(line))
        return out

    def wait_for(
        self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Poll the export until ``pred(events)`` holds; fails with the agent's stderr otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            if pred(evs):
                return evs
            if self.proc.poll() is not None:
                pytest.fail(f"tetragon exited {self.proc.returncode}:\n{self.stderr.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout}s with {len(evs)} events; stderr:\n"
                    f"{self.stderr.read_text()[-3000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def launch(tmp_path: Path, n: int, *extra: str, ready: bool | str = True) -> RunningAgent:
    """Start ``tetragon`` with an export file in ``tmp_path`` (the ``n``-th agent there); waits
    until the procfs walk is out; with ``ready="log"`` until it logs that it runs (filters may
    hide the walk), with ``ready=False`` not at all."""
    export = tmp_path / f"export-{n}" / "tetragon.log"
    errf = tmp_path / f"stderr-{n}.txt"
    # a health port of its own: the default :6789 would clash with any other agent here
    health: tuple[str, ...] = ()
    if "--health-server-address" not in extra:
        health = ("--health-server-address", f"127.0.0.1:{free_port()}")
    cmd = [
        TETRAGON,
        "--export-filename",
        str(export),
        "--bpf-dir",
        f"tetragon-test-{os.getpid()}",
        *health,
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf.open("wb"))
    agent = RunningAgent(proc, export, errf)
    try:
        _wait_ready(agent, ready)
    except BaseException:
        agent.stop()
        raise
    return agent


def _wait_ready(agent: RunningAgent, ready: bool | str) -> None:
    errf = agent.stderr
    if ready is True:
        me = os.getpid()
        agent.wait_for(
            lambda evs: any(e.get("process_exec", {}).get("process", {}).get("pid") == me for e in evs),
            timeout=60,
        )
        ready = "log"  # and its servers listen: they start after the start-up snapshot
    if ready == "log":
        deadline = time.monotonic() + 60
        while agent.proc.poll() is None and "tetragon running" not in errf.read_text(errors="replace"):
            if time.monotonic() > deadline:
                pytest.fail(f"tetragon did not start in 60 s:\n{errf.read_text()[-3000:]}")
            time.sleep(0.05)


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    """Start ``tetragon`` with an export file in tmp_path (see :func:`launch`); stopped after."""
    agents: list[RunningAgent] = []

    def start(*extra: str, ready: bool | str = True) -> RunningAgent:
        agent = launch(tmp_path, len(agents), *extra, ready=ready)
        agents.append(agent)
        return agent

    yield start
    for a in agents:
        a.stop()


def execs(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["process_exec"] for e in evs if "process_exec" in e]


def exits(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["process_exit"] for e in evs if "process_exit" in e]


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tg_prog_ids() -> set[int]:
    """Ids of every loaded tetragon-core program (named tg_*)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out) if p.get("name", "").startswith("tg_")}


def wait_unloaded(ids: set[int], timeout: float = 10.0) -> set[int]:
    """Wait for the kernel to free these programs (it does so asynchronously); returns survivors."""
    deadline = time.monotonic() + timeout
    while (left := ids & tg_prog_ids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
