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


async def unary(address: str, rpc: str, request: Any, reply_type: Any, timeout: float) -> Any:
    """Call one unary RPC."""
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


async def health(address: str, timeout: float) -> Any:
    return await unary(
        address,
        "GetHealth",
        tetragon_pb2.GetHealthStatusRequest(),
        tetragon_pb2.GetHealthStatusResponse,
        timeout,
    )


async def version(address: str, timeout: float) -> str:
    reply = await unary(
        address, "GetVersion", sensors_pb2.GetVersionRequest(), sensors_pb2.GetVersionResponse, timeout
    )
    return str(reply.version)
