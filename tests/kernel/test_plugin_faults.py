"""A plugin that raises on import, load, decode or policy load is contained: logged, counted in
tetragon_sensor_errors_total, listed as failed, and the agent runs on with its other sensors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.conftest import free_port
from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args
from tetragon_core.sdk import Decoder, PolicyHandle, Sensor, SensorContext
from tetragon_core.sensors import policies, registry, startup

BAD_OP = 199


class LoadFails(Sensor):
    name = "load_fails"
    sdk_version = 1

    def decoders(self) -> Mapping[int, Decoder]:
        return {}

    def load(self, ctx: SensorContext) -> None:
        raise RuntimeError("the plugin's own bug")


class DecodeFails(Sensor):
    name = "decode_fails"
    sdk_version = 1
    ops = (BAD_OP,)

    def decoders(self) -> Mapping[int, Decoder]:
        def boom(rec: bytes) -> object:
            raise ZeroDivisionError("decoder bug")

        return {BAD_OP: boom}

    def load(self, ctx: SensorContext) -> None:
        pass


class PolicyFails(Sensor):
    name = "policy_fails"
    sdk_version = 1
    sections = ("faultyThings",)

    def decoders(self) -> Mapping[int, Decoder]:
        return {}

    def load(self, ctx: SensorContext) -> None:
        pass

    def load_policy(self, ctx: SensorContext, policy: Any, policy_id: int, mode: str) -> PolicyHandle:
        raise KeyError("policy bug")


def _eps() -> list[EntryPoint]:
    mod = __name__
    return [
        *[ep for ep in registry.entry_points(group=registry.GROUP) if ep.name == "execve"],
        EntryPoint("import_fails", "no_such_plugin_module_xyz:Sensor", registry.GROUP),
        EntryPoint("load_fails", f"{mod}:LoadFails", registry.GROUP),
        EntryPoint("decode_fails", f"{mod}:DecodeFails", registry.GROUP),
        EntryPoint("policy_fails", f"{mod}:PolicyFails", registry.GROUP),
    ]


def test_failing_plugins_are_contained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = registry.discover
    fake = lambda eps=None: real(_eps() if eps is None else eps)  # noqa: E731
    for module in (startup, policies, registry):
        monkeypatch.setattr(module, "discover", fake)
    claims = [EntryPoint("faultyThings", f"{__name__}:PolicyFails", registry.SECTIONS_GROUP)]
    monkeypatch.setattr(
        "tetragon_core.agent.discover_sections", lambda: registry.discover_sections(claims, fake())
    )
    monkeypatch.setattr("tetragon_core.agent.discover", fake)
    export = tmp_path / "t.log"
    cfg = parse_agent_args(
        [
            "--export-filename",
            str(export),
            "--bpf-dir",
            f"tg-faults-{os.getpid()}",
            "--server-address",
            "",
            "--health-server-address",
            f"127.0.0.1:{free_port()}",
        ]
    )
    agent = Agent(cfg, sensors=("execve", "import_fails", "load_fails", "decode_fails"))
    token = "faults" + uuid.uuid4().hex[:8]
    rows: dict[str, Any] = {}

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.ready.wait(), 60)
            assert agent.reader is not None
            agent.reader.observer.handle_records([bytes([BAD_OP]) + b"\0" * 15])  # a decoder that raises
            policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: faulty}\n"
            policy += "spec:\n  faultyThings: {x: 1}\n"
            entry = await asyncio.to_thread(agent.policies.add, policy)
            assert entry.state == "load_error"
            assert (
                entry.error == "sensor policy_fails failed while loading the policy: KeyError: 'policy bug'"
            )
            proc = await asyncio.create_subprocess_exec("/bin/true", token)
            await proc.wait()
            for _ in range(200):  # the base sensor still reports
                await asyncio.sleep(0.05)
                if export.exists() and token in export.read_text():
                    break
            rows.update({r.name: r for r in agent._sensor_rows()})  # what ListSensors shows
        finally:
            agent.stop()
            await asyncio.wait_for(task, 60)

    asyncio.run(scenario())
    assert any(
        json.loads(x).get("process_exec", {}).get("process", {}).get("arguments") == token
        for x in export.read_text().splitlines()
    )
    errors = agent.registry["tetragon_sensor_errors_total"]
    assert errors.get("import_fails", "import") == 1
    assert errors.get("load_fails", "load") == 1
    assert errors.get("decode_fails", "decode") == 1
    assert errors.get("policy_fails", "policy_load") == 1
    assert not rows["import_fails"].enabled and rows["import_fails"].collection.startswith("failed: import: ")
    assert rows["load_fails"].collection == "failed: load: the plugin's own bug"
    assert rows["decode_fails"].enabled and rows["execve"].enabled  # still running
    assert subprocess.run(["true"]).returncode == 0
