"""The health server on ``--health-server-address``: the standard ``grpc.health.v1`` service.

Tetragon's Helm chart probes liveness with a gRPC health check of service ``liveness`` on port
6789. Both that service and the overall one (``""``) report SERVING while the agent's probe holds
and NOT_SERVING otherwise; the probe is re-evaluated every ``--health-server-interval`` seconds,
as Tetragon polls its own GetHealth. An empty address disables the server.

The server runs on a thread of its own, with its own event loop, so that it can answer while the
agent's loop is stuck: the agent's loop beats a heartbeat, and a heartbeat older than the
interval is NOT_SERVING (a stalled loop handles no events, whatever its state says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
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
    """The health service. :meth:`start` runs it on its thread; the agent's loop calls
    :meth:`beat` (through :meth:`heartbeat`); :meth:`stop` ends it."""

    def __init__(self, probe: Callable[[], str], interval: float) -> None:
        """``probe`` returns "" when the agent is healthy, else why it is not."""
        self._probe = probe
        self.interval = max(interval, 0.1)
        self.status: ServiceStatus | None = None
        self.reason = "starting"
        self._beat = time.monotonic()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self._addr: Address | None = None

    def beat(self) -> None:
        """The agent's loop is alive now."""
        self._beat = time.monotonic()

    async def heartbeat(self) -> None:
        """Beat a few times per interval, on the agent's loop, until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(self.interval / 4)

    def evaluate(self) -> str:
        """ "" when healthy, else the reason: the probe's, or a stalled agent loop."""
        stalled = time.monotonic() - self._beat
        if stalled > self.interval:
            return f"the agent's event loop has not run for {stalled:.1f} s"
        try:
            return self._probe()
        except Exception as e:  # a failing probe means unhealthy, never a dead health server
            return f"health probe failed: {e!r}"

    def _refresh(self) -> None:
        reason = self.evaluate()
        if reason != self.reason:
            if reason:
                log.warning("health: NOT_SERVING: %s", reason)
            elif self.reason != "starting":
                log.info("health: SERVING again")
        self.reason = reason
        assert self.status is not None
        self.status.set(not reason)

    def refresh(self) -> None:
        """Re-evaluate now (from the agent's loop, e.g. once it is ready)."""
        self.beat()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._refresh)

    async def start(self, text: str) -> None:
        """Listen on ``text`` (``host:port``, ``:port`` or ``unix:///path``) on the server's own
        thread; returns once it listens, or raises what listening raised."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        main = asyncio.get_running_loop()

        def report(exc: BaseException | None) -> None:
            if not started.done():
                if exc is None:
                    started.set_result(None)
                else:
                    started.set_exception(exc)

        async def serve() -> None:
            try:
                self._loop = asyncio.get_running_loop()
                self._done = asyncio.Event()
                self.status = ServiceStatus()
                self._refresh()
                server = Server([Health({OVERALL: [self.status], _Named(LIVENESS): [self.status]})])
                self._addr = await listen(server, text, FLAG)
            except BaseException as e:
                main.call_soon_threadsafe(report, e)
                return
            main.call_soon_threadsafe(report, None)
            try:
                while not self._done.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._done.wait(), self.interval)
                    self._refresh()
            finally:
                server.close()
                await server.wait_closed()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="health", daemon=True)
        self._thread.start()
        await started

    async def stop(self) -> None:
        loop, done, thread = self._loop, self._done, self._thread
        if loop is not None and done is not None and thread is not None:
            loop.call_soon_threadsafe(done.set)
            await anyio.to_thread.run_sync(thread.join, 10)
        self._thread = None
        if self._addr is not None and self._addr.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._addr.path)
