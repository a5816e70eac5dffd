"""The agent in this process, under the loop watchdog: no blocking call on the event loop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

from tests.kernel.conftest import free_port
from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args


def test_agent_streams_without_blocking_the_loop(loop_watchdog, tmp_path: Path) -> None:
    export = tmp_path / "t.log"
    cfg = parse_agent_args(
        [
            "--export-filename",
            str(export),
            "--bpf-dir",
            f"tetragon-inproc-{os.getpid()}",
            "--health-server-address",
            f"127.0.0.1:{free_port()}",
        ]
    )
    agent = Agent(cfg)
    token = "inproc" + uuid.uuid4().hex[:8]

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), 60)
        for _ in range(20):
            proc = await asyncio.create_subprocess_exec("/bin/true", token)
            await proc.wait()
        for _ in range(200):  # wait until all 20 exits are exported
            await asyncio.sleep(0.05)
            if export.exists() and export.read_text().count(token) >= 40:
                break
        agent.stop()
        await asyncio.wait_for(task, 60)

    asyncio.run(scenario())
    evs = [json.loads(line) for line in export.read_text().splitlines()]
    ours = [e for e in evs if token in json.dumps(e)]
    assert sum(1 for e in ours if "process_exec" in e) == 20
    assert sum(1 for e in ours if "process_exit" in e) == 20
    # the metric counters saw them too
    assert agent.registry["tetragon_events_exported_total"].get() == len(evs)
    assert subprocess.run(["true"]).returncode == 0
