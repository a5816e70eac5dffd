"""``--metrics-server``: Prometheus text exposition over HTTP, served from the event loop."""

from __future__ import annotations

import asyncio
import contextlib

from tetragon_core.exceptions import ConfigError
from tetragon_core.metrics import Registry


def parse_address(addr: str) -> tuple[str, int]:
    """``host:port`` or ``:port`` (all interfaces), as Go's net.Listen takes it."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--metrics-server: {addr!r} is not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


async def serve_metrics(registry: Registry, addr: str) -> asyncio.Server:
    """Start serving ``GET /metrics``; the caller closes the returned server."""
    host, port = parse_address(addr)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body = registry.exposition().encode()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            else:
                body = b"not found\n"
                head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    try:
        return await asyncio.start_server(handle, host, port)
    except OSError as e:
        raise ConfigError(f"--metrics-server: cannot listen on {addr}: {e.strerror}") from e
