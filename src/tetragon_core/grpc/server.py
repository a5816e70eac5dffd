"""Starting and stopping the gRPC server on ``--server-address``."""

from __future__ import annotations

import contextlib
import os

from grpclib.server import Server

from tetragon_core.exceptions import ConfigError
from tetragon_core.grpc.address import Address, parse_address
from tetragon_core.grpc.hub import EventHub
from tetragon_core.grpc.service import FineGuidanceSensors
from tetragon_core.grpc.state import AgentState


async def start_server(text: str, hub: EventHub, state: AgentState | None = None) -> tuple[Server, Address]:
    """Listen on ``text``; a unix socket is created with mode 0660, replacing a stale one."""
    server = Server([FineGuidanceSensors(hub, state)])
    return server, await listen(server, text, "--server-address")


async def listen(server: Server, text: str, flag: str) -> Address:
    """Start ``server`` on ``text`` (``host:port``, ``:port`` or ``unix:///path``, a stale socket
    replaced, the new one 0660); a failure is a ConfigError naming ``flag``."""
    addr = parse_address(text, flag)
    try:
        if addr.path:
            os.makedirs(os.path.dirname(addr.path), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(addr.path)
            await server.start(path=addr.path)
            os.chmod(addr.path, 0o660)
        else:
            await server.start(addr.host, addr.port)
    except OSError as e:
        raise ConfigError(f"{flag}: cannot listen on {text}: {e.strerror or e}") from e
    return addr


async def stop_server(server: Server, addr: Address) -> None:
    server.close()
    await server.wait_closed()
    if addr.path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(addr.path)
