"""The tetragon.FineGuidanceSensors service: the RPCs this build serves.

RPCs whose backing feature is not built yet answer UNIMPLEMENTED with the reason, never a silent
empty success.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from grpclib import GRPCError, Status
from grpclib.const import Cardinality, Handler
from grpclib.server import Stream

from tetragon_core import __version__
from tetragon_core.aggregation import Admission, AggregationOptions
from tetragon_core.api.tetragon import events_pb2, sensors_pb2, tetragon_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters import compile_field_filters
from tetragon_core.filters import EventFilter
from tetragon_core.grpc.debug import change_sensor, get_debug, list_sensors, set_debug
from tetragon_core.grpc.eventstream import send_aggregated, send_events
from tetragon_core.grpc.hub import EventHub
from tetragon_core.grpc.info import gather_info
from tetragon_core.grpc.policies import handle
from tetragon_core.grpc.rthooks import runtime_hook
from tetragon_core.grpc.stacktree import get_stack_trace_tree
from tetragon_core.grpc.state import AgentState

log = logging.getLogger(__name__)

SERVICE = "tetragon.FineGuidanceSensors"


def _msg(name: str) -> Any:
    for mod in (events_pb2, sensors_pb2, tetragon_pb2):
        if hasattr(mod, name):
            return getattr(mod, name)
    raise LookupError(name)


# RPC name -> what is missing (every RPC of the API is served now; kept for the next one)
_NOT_YET: dict[str, str] = {}


class FineGuidanceSensors:
    """grpclib service object; ``__mapping__`` routes method paths to handlers."""

    def __init__(self, hub: EventHub, state: AgentState | None = None) -> None:
        self.hub = hub
        self.state = state or AgentState()

    async def get_events(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        try:
            event_filter = EventFilter(req.allow_list, req.deny_list) if req is not None else EventFilter()
            fields = compile_field_filters(req.field_filters) if req is not None else None
            aggregation = None
            if req is not None and req.HasField("aggregation_options"):
                opts = AggregationOptions.from_request(req.aggregation_options)
                aggregation = Admission(opts, self.hub.aggregation_dropped, "getevents")
        except ConfigError as e:
            raise GRPCError(Status.INVALID_ARGUMENT, str(e)) from e
        # Several queued events go out per DATA write; one bad event is skipped and counted.
        with self.hub.subscribe() as q:
            if aggregation is not None:
                await send_aggregated(
                    stream, q, event_filter, fields or None, self.hub.conversion_errors, aggregation
                )
            else:
                await send_events(stream, q, event_filter, fields or None, self.hub.conversion_errors)

    async def get_health(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        status = tetragon_pb2.HealthStatus(
            event=tetragon_pb2.HEALTH_STATUS_TYPE_STATUS,
            status=tetragon_pb2.HEALTH_STATUS_RUNNING,
            details="running",
        )
        await stream.send_message(tetragon_pb2.GetHealthStatusResponse(health_status=[status]))

    async def get_version(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(_msg("GetVersionResponse")(version=__version__))

    async def _list_sensors(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(list_sensors(self.state))

    def _sensor_rpc(self, rpc: str) -> Any:
        async def handler(stream: Stream[Any, Any]) -> None:
            req = await stream.recv_message()
            await anyio.to_thread.run_sync(
                change_sensor, self.state, rpc, req.name if req is not None else ""
            )
            await stream.send_message(_msg(f"{rpc}Response")())

        return handler

    def _policy_rpc(self, rpc: str) -> Any:
        async def handler(stream: Stream[Any, Any]) -> None:
            req = await stream.recv_message()
            # BPF loading blocks: off the event loop, which the ring reader shares.
            await stream.send_message(await anyio.to_thread.run_sync(handle, self.state.policies, rpc, req))

        return handler

    async def _get_debug(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        await stream.send_message(get_debug(self.state, req))

    async def _set_debug(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        await stream.send_message(set_debug(req))

    async def _get_info(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        # Feature probes and the build's git lookup block: they run off the event loop.
        await stream.send_message(await anyio.to_thread.run_sync(gather_info, self.state.config))

    async def _runtime_hook(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        await stream.send_message(runtime_hook(self.state.containers, req))

    async def _get_stack_trace_tree(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        await stream.send_message(get_stack_trace_tree(self.state.stack_traces, self.state.policies, req))

    def __mapping__(self) -> dict[str, Handler]:
        def unary(rpc: str, fn: Any) -> tuple[str, Handler]:
            path = f"/{SERVICE}/{rpc}"
            return path, Handler(fn, Cardinality.UNARY_UNARY, _msg(f"{rpc}Request"), _msg(f"{rpc}Response"))

        extra = dict(
            [
                unary("ListSensors", self._list_sensors),
                unary("EnableSensor", self._sensor_rpc("EnableSensor")),
                unary("DisableSensor", self._sensor_rpc("DisableSensor")),
                unary("RemoveSensor", self._sensor_rpc("RemoveSensor")),
                unary("GetDebug", self._get_debug),
                unary("GetInfo", self._get_info),
                unary("RuntimeHook", self._runtime_hook),
                unary("GetStackTraceTree", self._get_stack_trace_tree),
                *(
                    unary(rpc, self._policy_rpc(rpc))
                    for rpc in (
                        "AddTracingPolicy",
                        "DeleteTracingPolicy",
                        "ListTracingPolicies",
                        "EnableTracingPolicy",
                        "DisableTracingPolicy",
                        "ConfigureTracingPolicy",
                        "ListDomains",
                    )
                ),
                unary("SetDebug", self._set_debug),
            ]
        )
        m = {
            **extra,
            f"/{SERVICE}/GetEvents": Handler(
                self.get_events,
                Cardinality.UNARY_STREAM,
                events_pb2.GetEventsRequest,
                events_pb2.GetEventsResponse,
            ),
            f"/{SERVICE}/GetHealth": Handler(
                self.get_health,
                Cardinality.UNARY_UNARY,
                _msg("GetHealthStatusRequest"),
                _msg("GetHealthStatusResponse"),
            ),
            f"/{SERVICE}/GetVersion": Handler(
                self.get_version,
                Cardinality.UNARY_UNARY,
                _msg("GetVersionRequest"),
                _msg("GetVersionResponse"),
            ),
        }
        for rpc, why in _NOT_YET.items():
            m[f"/{SERVICE}/{rpc}"] = Handler(
                _unimplemented(rpc, why),
                Cardinality.UNARY_UNARY,
                _msg(f"{rpc}Request"),
                _msg(f"{rpc}Response"),
            )
        return m


def _unimplemented(rpc: str, why: str) -> Any:
    async def handler(stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        raise GRPCError(Status.UNIMPLEMENTED, f"{rpc}: {why}")

    return handler
