"""The agent's servers and watchers as supervised parts (:mod:`tetragon_core.supervisor`).

Each server part listens, reports ``started``, serves until cancelled and then closes, shielded
from the cancellation so that the port or socket is released before the agent goes on; a part
restarted after a failure listens again. The sinks' part watches the exporters' writer threads:
a dead writer cannot be restarted without losing its queue, so it fails the agent, which stops
cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio

from tetragon_core.gops import GopsServer
from tetragon_core.grpc.address import write_info
from tetragon_core.grpc.health import HealthServer
from tetragon_core.grpc.hub import EventHub
from tetragon_core.grpc.server import start_server, stop_server
from tetragon_core.grpc.state import AgentState
from tetragon_core.metrics import Registry
from tetragon_core.metrics_server import serve_metrics
from tetragon_core.supervisor import Part

__all__ = ["gops_part", "grpc_part", "health_part", "metrics_part", "sinks_part"]

Started = Callable[[], None]


def metrics_part(registry: Registry, addr: str) -> Part:
    """``--metrics-server``."""

    async def run(started: Started) -> None:
        svc = await serve_metrics(registry, addr)
        started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await svc.stop()

    return Part("metrics-server", run)


def grpc_part(addr: str, hub: EventHub, state: AgentState, log: Any) -> Part:
    """``--server-address``: tetragon.FineGuidanceSensors, and tetragon-info.json."""

    async def run(started: Started) -> None:
        server = await start_server(addr, hub, state)
        write_info(addr)
        log.info("gRPC server listening on %s", addr)
        started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await stop_server(*server)

    return Part("grpc-server", run)


def health_part(health: HealthServer, addr: str, log: Any) -> Part:
    """``--health-server-address``: the server on its own thread, beaten from the agent's loop."""

    async def run(started: Started) -> None:
        await health.start(addr)
        log.info("health server listening on %s", addr)
        started()
        try:
            await health.heartbeat()
        finally:
            with anyio.CancelScope(shield=True):
                await health.stop()

    return Part("health-server", run)


def gops_part(addr: str, log: Any) -> Part:
    """``--gops-address``: the gops diagnostics listener."""

    async def run(started: Started) -> None:
        server = GopsServer(addr)
        await server.start()
        log.info("gops diagnostics listening on %s:%d", server.host, server.port)
        started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await server.stop()

    return Part("gops", run)


def sinks_part(sinks: Sequence[object], every: float = 1.0) -> Part:
    """The exporters' writer threads: one that died fails the agent (not restartable)."""

    async def run() -> None:
        while True:
            for s in sinks:
                alive = getattr(s, "alive", None)
                if alive is not None and not alive():
                    raise RuntimeError(f"the {type(s).__name__} writer thread has stopped")
            await anyio.sleep(every)

    return Part.loop("exporters", run, restart=False)
