"""The agent's task tree on the real kernel, in this process under the loop watchdog: a ring
reader that fails is restarted (health says so meanwhile, no event is lost); a part that fails
for good stops the agent cleanly, every BPF program detached."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.conftest import free_port, tg_prog_ids, wait_unloaded
from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args
from tetragon_core.export.jsonexport import JsonExporter
from tetragon_core.observer import RingReader
from tetragon_core.supervisor import PartFailed


def _agent(tmp_path: Path) -> tuple[Agent, Path]:
    export = tmp_path / "t.log"
    cfg = parse_agent_args(
        [
            "--export-filename",
            str(export),
            "--bpf-dir",
            f"tetragon-sup-{os.getpid()}",
            "--health-server-address",
            f"127.0.0.1:{free_port()}",
            "--server-address",
            "",
        ]
    )
    return Agent(cfg), export


async def _execs(token: str, n: int) -> None:
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec("/bin/true", token)
        await proc.wait()


async def _exported(export: Path, token: str, want: int) -> None:
    for _ in range(400):
        await asyncio.sleep(0.05)
        if export.exists() and export.read_text().count(token) >= want:
            return
    raise AssertionError(f"fewer than {want} events of {token} exported")


def test_a_failed_ring_reader_is_restarted_and_nothing_is_lost(
    loop_watchdog: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, export = _agent(tmp_path)
    token = "sup" + uuid.uuid4().hex[:8]
    original = RingReader.run
    runs: list[int] = []
    fail = asyncio.Event()

    async def flaky(self: RingReader) -> None:
        runs.append(1)
        if len(runs) == 1:
            reading = asyncio.ensure_future(original(self))
            await fail.wait()  # read normally until the test says so, then fail once
            reading.cancel()
            raise RuntimeError("injected reader failure")
        await original(self)

    monkeypatch.setattr(RingReader, "run", flaky)
    health: list[str] = []

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), 60)
        await _execs(token, 10)
        fail.set()
        await asyncio.sleep(0.02)
        assert agent.health is not None
        health.append(agent.health.evaluate())  # during the restart pause
        await _execs(token, 10)  # while the reader is down, these wait in the ring
        await _exported(export, token, 40)
        health.append(agent.health.evaluate())
        agent.stop()
        await asyncio.wait_for(task, 60)

    asyncio.run(scenario())
    assert len(runs) == 2
    assert health[0].startswith("restarting: ring-reader (RuntimeError: injected reader failure)"), health
    assert health[1] == ""
    evs = [json.loads(line) for line in export.read_text().splitlines()]
    ours = [e for e in evs if token in json.dumps(e)]
    assert sum("process_exec" in e for e in ours) == 20 and sum("process_exit" in e for e in ours) == 20
    assert agent.registry["tetragon_supervisor_restarts_total"].get("ring-reader") == 1


def test_a_part_failing_for_good_stops_the_agent_cleanly(
    loop_watchdog: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, export = _agent(tmp_path)
    token = "sup" + uuid.uuid4().hex[:8]
    writer_dead = [False]
    monkeypatch.setattr(JsonExporter, "alive", lambda self: not writer_dead[0])
    before = tg_prog_ids()
    ours: set[int] = set()

    async def scenario() -> None:
        nonlocal ours
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), 60)
        ours = tg_prog_ids() - before
        await _execs(token, 5)
        await _exported(export, token, 10)
        writer_dead[0] = True  # the export's writer thread "died": not restartable
        with pytest.raises(PartFailed, match=r"^exporters failed: RuntimeError: the JsonExporter writer"):
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert len(ours) >= 3  # exec, fork, exit (and cgroup_rmdir) were attached
    assert wait_unloaded(ours) == set(), "programs left attached after the agent stopped"
