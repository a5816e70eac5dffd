"""``--metrics-server``: aioprometheus' HTTP service, refreshing the families on each scrape."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tetragon_core.exceptions import ConfigError
from tetragon_core.metrics import Registry

if TYPE_CHECKING:
    from aioprometheus.service import Service


def parse_address(addr: str, flag: str = "--metrics-server") -> tuple[str, int]:
    """``host:port`` or ``:port`` (all interfaces), as Go's net.Listen takes it."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{flag}: {addr!r} is not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


async def serve_metrics(registry: Registry, addr: str, flag: str = "--metrics-server") -> Service:
    """Start serving ``GET /metrics`` on ``addr``; the caller awaits ``stop()`` of the result."""
    # aiohttp is imported only when metrics are served: a third of a second of start-up
    import aiohttp.web
    import anyio.to_thread
    from aioprometheus.service import Service

    from tetragon_core.metrics_prom import PromMirror

    mirror = PromMirror(registry)
    # aiohttp logs every request at INFO: a scrape every 15 s is no news
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    class _Service(Service):
        async def handle_metrics(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
            # ~20 µs a series in aioprometheus (docs/decisions.md): off the loop the ring shares
            accepts = request.headers.getall("Accept", [])
            body, headers = await anyio.to_thread.run_sync(mirror.render, accepts)
            return aiohttp.web.Response(body=body, headers=headers)

    host, port = parse_address(addr, flag)
    svc = _Service(mirror.prom)
    try:
        await svc.start(addr=host, port=port)
    except OSError as e:
        await svc.stop()
        raise ConfigError(f"{flag}: cannot listen on {addr}: {e.strerror}") from e
    return svc
