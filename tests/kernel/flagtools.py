"""The harness of the flag cases: an agent per case, its export, /metrics and tetra."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from tests.kernel.conftest import RunningAgent, execs, free_port
from tests.promtext import samples

TETRA = str(Path(sys.executable).with_name("tetra"))
ROOT = Path(__file__).resolve().parents[2]
OBJECTS = sorted(ROOT.glob("plugins/*/src/*/bpf/*.o"))
TOKEN = "flag" + uuid.uuid4().hex[:8]


@dataclass
class Flags:
    """What a check gets: a way to start agents with a metrics and a gRPC endpoint of their own."""

    tmp: Path
    start_agent: Callable[..., RunningAgent]
    mport: int = 0
    addr: str = ""

    def start(self, *args: str) -> RunningAgent:
        """Start an agent with ``args`` and wait until it is ready: its health server says
        SERVING (or, with the health server off, it logged that it runs)."""
        self.mport, self.addr = free_port(), f"127.0.0.1:{free_port()}"
        base = ["--metrics-server", f"127.0.0.1:{self.mport}", "--server-address", self.addr]
        health = 0
        if "--health-server-address" not in args:
            health = free_port()
            base += ["--health-server-address", f"127.0.0.1:{health}"]
        agent = self.start_agent(*base, *args, ready=False)
        if health:
            _wait(lambda: agent.proc.poll() is not None or serving(health), 60, "health SERVING")
        else:
            _wait(lambda: agent.proc.poll() is not None or "tetragon running" in agent.stderr.read_text(), 60)
        assert agent.proc.poll() is None, agent.stderr.read_text()[-3000:]
        return agent

    def metrics(self) -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics", timeout=5).read().decode()

    def metric(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(dict(labels), v) for (n, labels), v in samples(self.metrics()).items() if n == name]

    def tetra(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TETRA, "--server-address", self.addr, *args], capture_output=True, text=True, timeout=60
        )

    def child(self, *argv: str) -> None:
        """Run a short process of ours, tagged with TOKEN."""
        subprocess.run([*argv, TOKEN], stdout=subprocess.DEVNULL, check=True, timeout=30)

    def policy(self, name: str, spec: str) -> Path:
        f = self.tmp / f"{name}.yaml"
        f.write_text(
            f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
        return f


def serving(port: int) -> bool:
    """Whether the health server on ``port`` reports the agent SERVING."""

    async def check() -> bool:
        ch = Channel("127.0.0.1", port)
        try:
            r = await asyncio.wait_for(HealthStub(ch).Check(HealthCheckRequest(service="liveness")), 2)
            return bool(r.status == HealthCheckResponse.SERVING)
        except (TimeoutError, OSError, GRPCError):
            return False
        finally:
            ch.close()

    return asyncio.run(check())


def attached_programs() -> set[str]:
    """Names of the programs that BPF links hold attached now."""
    links = json.loads(
        subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, check=True).stdout
    )
    progs = json.loads(
        subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, check=True).stdout
    )
    ids = {lk.get("prog_id") for lk in links}
    return {p.get("name", "") for p in progs if p.get("id") in ids}


def _ours(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in execs(evs) if TOKEN in e["process"].get("arguments", "")]


def _wait(pred: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _our_exec(f: Flags, agent: RunningAgent) -> dict[str, Any]:
    f.child("/bin/true")
    return _ours(agent.wait_for(lambda e: bool(_ours(e))))[0]


# --- the cases, by flag --------------------------------------------------------------------------
