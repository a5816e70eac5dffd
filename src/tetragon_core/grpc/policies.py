"""The tracing-policy RPCs, backed by the policy registry.

Policies carry their domain (``grpc`` for AddTracingPolicy, unless the request names another;
``static`` for the start-up ones) and ListDomains lists the domains in use, as upstream; the other
RPCs are not scoped to a domain yet.
"""

from __future__ import annotations

from typing import Any

from grpclib import GRPCError, Status

from tetragon_core.api.tetragon import sensors_pb2
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.registry import (
    DOMAIN_GRPC,
    LOAD_ERROR,
    PolicyEntry,
    PolicyExists,
    PolicyNotFound,
    PolicyRegistry,
    PolicyStateError,
)

_STATES = {
    "enabled": sensors_pb2.TP_STATE_ENABLED,
    "disabled": sensors_pb2.TP_STATE_DISABLED,
    LOAD_ERROR: sensors_pb2.TP_STATE_LOAD_ERROR,
    "error": sensors_pb2.TP_STATE_ERROR,
}
_MODES = {"enforce": sensors_pb2.TP_MODE_ENFORCE, "monitor": sensors_pb2.TP_MODE_MONITOR}
_MODE_NAMES = {v: k for k, v in _MODES.items()}


def _status(registry: PolicyRegistry, e: PolicyEntry) -> Any:
    return sensors_pb2.TracingPolicyStatus(
        id=e.id,
        name=e.policy.name,
        namespace=e.policy.namespace,
        sensors=e.sensors,
        enabled=e.state == "enabled",
        error=e.error,
        state=_STATES[e.state],
        kernel_memory_bytes=registry.kernel_memory(e),
        mode=_MODES.get(e.mode, sensors_pb2.TP_MODE_UNKNOWN),
        domain=e.domain,
    )


def _grpc_error(rpc: str, err: PolicyError) -> GRPCError:
    if isinstance(err, PolicyNotFound):
        return GRPCError(Status.NOT_FOUND, f"{rpc}: {err}")
    if isinstance(err, PolicyExists):
        return GRPCError(Status.ALREADY_EXISTS, f"{rpc}: {err}")
    if isinstance(err, PolicyStateError):
        return GRPCError(Status.FAILED_PRECONDITION, f"{rpc}: {err}")
    return GRPCError(Status.INVALID_ARGUMENT, f"{rpc}: {err}")


def handle(registry: PolicyRegistry, rpc: str, req: Any) -> Any:
    """Run one tracing-policy RPC against the registry; errors become gRPC statuses.

    It blocks (loading BPF): the service runs it in a worker thread.
    """
    try:
        if rpc == "AddTracingPolicy":
            entry = registry.add(req.yaml, req.domain or DOMAIN_GRPC)
            if entry.state == LOAD_ERROR:  # listed with its error, and the caller is told
                raise GRPCError(
                    Status.FAILED_PRECONDITION,
                    f"{rpc}: policy {entry.policy.name!r} failed to load: {entry.error}",
                )
            return sensors_pb2.AddTracingPolicyResponse()
        if rpc == "DeleteTracingPolicy":
            registry.delete(req.name, req.namespace)
            return sensors_pb2.DeleteTracingPolicyResponse()
        if rpc == "ListDomains":
            return sensors_pb2.ListDomainsResponse(domains=registry.domains())
        if rpc == "ListTracingPolicies":
            return sensors_pb2.ListTracingPoliciesResponse(
                policies=[_status(registry, e) for e in registry.list()]
            )
        if rpc == "EnableTracingPolicy":
            registry.set_enabled(req.name, req.namespace, True)
            return sensors_pb2.EnableTracingPolicyResponse()
        if rpc == "DisableTracingPolicy":
            registry.set_enabled(req.name, req.namespace, False)
            return sensors_pb2.DisableTracingPolicyResponse()
        if rpc == "ConfigureTracingPolicy":
            if req.HasField("mode"):
                if req.mode not in _MODE_NAMES:
                    raise PolicyError("mode", f"unknown policy mode {req.mode}")
                registry.set_mode(req.name, req.namespace, _MODE_NAMES[req.mode])
            if req.HasField("enable"):
                registry.set_enabled(req.name, req.namespace, req.enable)
            if not req.HasField("mode") and not req.HasField("enable"):
                registry.get(req.name, req.namespace)  # a no-op still names a missing policy
            return sensors_pb2.ConfigureTracingPolicyResponse()
    except PolicyError as err:
        raise _grpc_error(rpc, err) from err
    raise GRPCError(Status.UNIMPLEMENTED, f"{rpc}: unknown")
