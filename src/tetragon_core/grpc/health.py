"""The health server on ``--health-server-address``: the standard ``grpc.health.v1`` service.

Tetragon's Helm chart probes liveness with a gRPC health check of service ``liveness`` on port
6789. Both that service and the overall one (``""``) report SERVING while the agent's probe holds
(it is ready and its ring reader runs) and NOT_SERVING otherwise; the probe is re-evaluated every
``--health-server-interval`` seconds, as Tetragon polls its own GetHealth. An empty address
disables the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from grpclib.health.check import ServiceStatus
from grpclib.health.service import OVERALL, Health
from grpclib.server import Server

from tetragon_core.grpc.address import Address
from tetragon_core.grpc.server import listen

log = logging.getLogger(__name__)

FLAG = "--health-server-address"
#: the service name Tetragon's Helm chart asks for in its liveness probe
LIVENESS = "liveness"


class _Named:
    """An ICheckable standing for one service name in grpclib's Health configuration."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __mapping__(self) -> dict[str, Any]:
        return {f"/{self._name}/Check": None}


class HealthServer:
    """The running health service; :meth:`run` refreshes its status until cancelled."""

    def __init__(self, probe: Callable[[], bool], interval: float) -> None:
        self._probe = probe
        self.interval = max(interval, 0.1)
        self.status = ServiceStatus()
        self._server: Server | None = None
        self._addr: Address | None = None

    def refresh(self) -> bool:
        """Evaluate the probe now and publish the result; returns it."""
        try:
            ok = bool(self._probe())
        except Exception as e:  # a failing probe means unhealthy, never a dead health server
            log.warning("health probe failed: %r", e)
            ok = False
        self.status.set(ok)
        return ok

    async def start(self, text: str) -> None:
        """Listen on ``text`` (``host:port``, ``:port`` or ``unix:///path``)."""
        self.refresh()
        health = Health({OVERALL: [self.status], _Named(LIVENESS): [self.status]})
        server = Server([health])
        self._addr = await listen(server, text, FLAG)
        self._server = server

    async def run(self) -> None:
        """Re-evaluate the probe every interval."""
        while True:
            await asyncio.sleep(self.interval)
            self.refresh()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._addr is not None and self._addr.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._addr.path)
