"""The health server against the agent, with a real gRPC health client (grpclib's): SERVING once
ready, NOT_SERVING while the agent's event loop is stalled and when a sensor has failed, and
back; the health server answers meanwhile, from its own thread."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from tests.kernel.conftest import free_port
from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args


class Poller(threading.Thread):
    """Asks the health service for ``liveness`` every 50 ms on its own loop; keeps each answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        async def poll() -> None:
            ch = Channel("127.0.0.1", self.port)
            try:
                while not self.halt.is_set():
                    try:
                        r = await asyncio.wait_for(
                            HealthStub(ch).Check(HealthCheckRequest(service="liveness")), 1
                        )
                        self.seen.append((time.monotonic(), HealthCheckResponse.ServingStatus.Name(r.status)))
                    except (TimeoutError, OSError, GRPCError) as e:
                        self.seen.append((time.monotonic(), f"error {e!r}"))
                    await asyncio.sleep(0.05)
            finally:
                ch.close()

        asyncio.run(poll())

    def states_since(self, t: float) -> list[str]:
        return [s for when, s in self.seen if when >= t]

    def wait_for(self, state: str, since: float, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.states_since(since):
            assert time.monotonic() < deadline, (state, self.states_since(since)[-10:])
            time.sleep(0.05)


def test_serving_stall_and_failed_sensor_transitions(tmp_path: Path) -> None:
    port = free_port()
    cfg = parse_agent_args(
        [
            "--export-filename", str(tmp_path / "t.log"),
            "--bpf-dir", f"tetragon-health-{os.getpid()}",
            "--server-address", "",
            "--health-server-address", f"127.0.0.1:{port}",
            "--health-server-interval", "1",
        ]
    )  # fmt: skip
    agent = Agent(cfg)
    poller = Poller(port)

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), 60)
        poller.start()
        t0 = time.monotonic()
        await asyncio.to_thread(poller.wait_for, "SERVING", t0)
        # the agent's loop stuck for 3 s (the interval is 1 s): the health thread still answers
        t1 = time.monotonic()
        time.sleep(3)
        stalled = poller.states_since(t1)
        assert "NOT_SERVING" in stalled, stalled
        assert not any(s.startswith("error") for s in stalled), stalled
        t2 = time.monotonic()
        await asyncio.to_thread(poller.wait_for, "SERVING", t2)
        # a failed sensor (as the fault isolation records one) is NOT_SERVING too
        agent.faults.failed["example"] = "decode: boom"
        t3 = time.monotonic()
        await asyncio.to_thread(poller.wait_for, "NOT_SERVING", t3)
        del agent.faults.failed["example"]
        t4 = time.monotonic()
        await asyncio.to_thread(poller.wait_for, "SERVING", t4)
        agent.stop()
        await asyncio.wait_for(task, 60)

    try:
        asyncio.run(scenario())
    finally:
        poller.halt.set()
        poller.join(5)

    # stopped: nothing listens any more
    async def check() -> None:
        ch = Channel("127.0.0.1", port)
        try:
            await HealthStub(ch).Check(HealthCheckRequest(service="liveness"), timeout=2)
        finally:
            ch.close()

    try:
        asyncio.run(check())
    except (ConnectionRefusedError, OSError):
        pass
    else:
        raise AssertionError("the health server still answers after the agent stopped")
