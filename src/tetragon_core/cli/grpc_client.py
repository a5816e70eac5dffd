"""tetra's side of the gRPC API: connect to the agent and call FineGuidanceSensors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from grpclib.client import Channel
from grpclib.const import Cardinality

from tetragon_core.api.tetragon import events_pb2, sensors_pb2, tetragon_pb2
from tetragon_core.grpc.address import parse_address

SERVICE = "/tetragon.FineGuidanceSensors/"


def channel(address: str) -> Channel:
    """A channel to ``host:port`` or ``unix:///path`` (not yet connected)."""
    addr = parse_address(address, flag="--server-address")
    if addr.path:
        return Channel(path=addr.path)
    host = "127.0.0.1" if addr.host in ("0.0.0.0", "") else addr.host
    return Channel(host, addr.port)


async def unary(
    address: str, rpc: str, request: Any, reply_type: Any, timeout: float, retries: int = 1
) -> Any:
    """Call one unary RPC; a refused or timed-out connection is retried ``retries`` times with
    exponential backoff (1 s, 2 s, …), as tetra's ``--retries``."""
    for attempt in range(retries + 1):
        try:
            return await _unary_once(address, rpc, request, reply_type, timeout)
        except (TimeoutError, OSError):
            if attempt == retries:
                raise
            await asyncio.sleep(2**attempt)
    raise AssertionError("unreachable")


async def _unary_once(address: str, rpc: str, request: Any, reply_type: Any, timeout: float) -> Any:
    ch = channel(address)
    try:
        async with ch.request(
            SERVICE + rpc, Cardinality.UNARY_UNARY, type(request), reply_type, timeout=timeout
        ) as stream:
            await stream.send_message(request, end=True)
            reply = await stream.recv_message()
            await stream.recv_trailing_metadata()
            return reply
    finally:
        ch.close()


async def get_events(
    address: str, request: events_pb2.GetEventsRequest, connect_timeout: float
) -> AsyncIterator[events_pb2.GetEventsResponse]:
    """Stream GetEvents until the server ends it."""
    ch = channel(address)
    try:
        async with ch.request(
            SERVICE + "GetEvents",
            Cardinality.UNARY_STREAM,
            events_pb2.GetEventsRequest,
            events_pb2.GetEventsResponse,
        ) as stream:
            await asyncio.wait_for(stream.send_message(request, end=True), connect_timeout)
            while (msg := await stream.recv_message()) is not None:
                yield msg
    finally:
        ch.close()


async def health(address: str, timeout: float, retries: int = 1) -> Any:
    req = tetragon_pb2.GetHealthStatusRequest()
    return await unary(address, "GetHealth", req, tetragon_pb2.GetHealthStatusResponse, timeout, retries)


async def version(address: str, timeout: float, retries: int = 1) -> str:
    req = sensors_pb2.GetVersionRequest()
    reply = await unary(address, "GetVersion", req, sensors_pb2.GetVersionResponse, timeout, retries)
    return str(reply.version)
