"""GetDebug/SetDebug and the sensor RPCs: log level, process-cache dump, sensor states."""

from __future__ import annotations

import logging
from typing import Any

from grpclib import GRPCError, Status

from tetragon_core.api.convert import struct_to_proto
from tetragon_core.api.tetragon import sensors_pb2, tetragon_pb2
from tetragon_core.grpc.state import AgentState
from tetragon_core.policy.errors import PolicyError

_TO_PY = {
    sensors_pb2.LOG_LEVEL_PANIC: logging.CRITICAL,
    sensors_pb2.LOG_LEVEL_FATAL: logging.CRITICAL,
    sensors_pb2.LOG_LEVEL_ERROR: logging.ERROR,
    sensors_pb2.LOG_LEVEL_WARN: logging.WARNING,
    sensors_pb2.LOG_LEVEL_INFO: logging.INFO,
    sensors_pb2.LOG_LEVEL_DEBUG: logging.DEBUG,
    sensors_pb2.LOG_LEVEL_TRACE: logging.DEBUG,
}


def _from_py(level: int) -> Any:
    if level <= logging.DEBUG:
        return sensors_pb2.LOG_LEVEL_DEBUG
    if level <= logging.INFO:
        return sensors_pb2.LOG_LEVEL_INFO
    if level <= logging.WARNING:
        return sensors_pb2.LOG_LEVEL_WARN
    if level <= logging.ERROR:
        return sensors_pb2.LOG_LEVEL_ERROR
    return sensors_pb2.LOG_LEVEL_FATAL


def get_debug(state: AgentState, req: Any) -> Any:
    """The log level, or a dump of the process cache with refcnt and refcnt_ops."""
    if req.flag == sensors_pb2.CONFIG_FLAG_LOG_LEVEL:
        return sensors_pb2.GetDebugResponse(flag=req.flag, level=_from_py(logging.getLogger().level))
    if req.flag == sensors_pb2.CONFIG_FLAG_DUMP_PROCESS_CACHE:
        if state.cache is None:
            raise GRPCError(Status.UNAVAILABLE, "the process cache is not running yet")
        skip = req.dump.skip_zero_refcnt if req.HasField("dump") else False
        out = sensors_pb2.DumpProcessCacheResArgs()
        for row in state.cache.dump(skip_zero_refcnt=skip):
            pi = out.processes.add()
            pi.process.CopyFrom(struct_to_proto(row.process, tetragon_pb2.Process))
            pi.color = row.color
            pi.refcnt.value = row.refcnt
            for op, n in row.refcnt_ops.items():
                pi.refcnt_ops[op] = n
        return sensors_pb2.GetDebugResponse(flag=req.flag, processes=out)
    raise GRPCError(Status.INVALID_ARGUMENT, f"GetDebug: unknown flag {req.flag}")


def set_debug(req: Any) -> Any:
    """Set the agent's log level at run time."""
    if req.flag != sensors_pb2.CONFIG_FLAG_LOG_LEVEL:
        raise GRPCError(Status.INVALID_ARGUMENT, f"SetDebug: flag {req.flag} cannot be set")
    if req.level not in _TO_PY:
        raise GRPCError(Status.INVALID_ARGUMENT, f"SetDebug: unknown log level {req.level}")
    logging.getLogger().setLevel(_TO_PY[req.level])
    return sensors_pb2.SetDebugResponse(flag=req.flag, level=req.level)


def list_sensors(state: AgentState) -> Any:
    return sensors_pb2.ListSensorsResponse(
        sensors=[
            sensors_pb2.SensorStatus(name=s.name, enabled=s.enabled, collection=s.collection)
            for s in state.current_sensors()
        ]
    )


def change_sensor(state: AgentState, rpc: str, name: str) -> None:
    """Enable/Disable/RemoveSensor: validated against the real registry.

    The base sensor cannot be disabled or removed. For a policy sensor, Disable and Enable detach
    and attach the programs of every policy it serves, and Remove deletes those policies (their
    programs and maps go with them). It blocks: the service runs it in a worker thread.
    """
    known = {s.name: s for s in state.current_sensors()}
    if name not in known:
        raise GRPCError(
            Status.NOT_FOUND, f"{rpc}: sensor {name!r} not found (known: {', '.join(sorted(known))})"
        )
    if name in state.required and rpc != "EnableSensor":
        raise GRPCError(Status.FAILED_PRECONDITION, f"{rpc}: {name!r} is the base sensor; the agent needs it")
    # A policy sensor's programs are its policies': the RPC acts on every policy it serves.
    entries = [e for e in state.policies.list() if name in e.sensors and e.state in ("enabled", "disabled")]
    try:
        for e in entries:
            if rpc == "RemoveSensor":
                state.policies.delete(e.policy.name, e.policy.namespace)
            else:
                state.policies.set_enabled(e.policy.name, e.policy.namespace, rpc == "EnableSensor")
    except PolicyError as err:
        raise GRPCError(Status.FAILED_PRECONDITION, f"{rpc}: {err}") from err
