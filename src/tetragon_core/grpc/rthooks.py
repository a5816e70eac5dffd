"""``RuntimeHook``: container runtime hooks (``createContainer``) recorded for pod info."""

from __future__ import annotations

import logging
from typing import Any

from grpclib import GRPCError, Status

from tetragon_core.api.tetragon import tetragon_pb2
from tetragon_core.process.containers import ContainerError, ContainerRegistry

log = logging.getLogger(__name__)


def runtime_hook(containers: ContainerRegistry, req: Any) -> Any:
    """Record a ``createContainer`` hook; a request without one, or whose container cannot be
    identified, is INVALID_ARGUMENT naming the field."""
    if req is None or req.WhichOneof("event") is None:
        raise GRPCError(
            Status.INVALID_ARGUMENT, "RuntimeHook: createContainer: required (the request names no event)"
        )
    cc = req.createContainer
    try:
        info = containers.record(
            container_id=cc.containerID,
            cgroups_path=cc.cgroupsPath,
            root_dir=cc.rootDir,
            container_name=cc.containerName,
            pod_name=cc.podName,
            pod_namespace=cc.podNamespace,
            pod_uid=cc.podUID,
            image=cc.containerImage,
            annotations=dict(cc.annotations),
        )
    except ContainerError as e:
        raise GRPCError(Status.INVALID_ARGUMENT, f"RuntimeHook: createContainer.{e}") from e
    log.debug(
        "runtime hook: container %s (%s) of pod %s/%s recorded",
        info.container_id,
        info.container_name,
        info.pod_namespace,
        info.pod_name,
    )
    return tetragon_pb2.RuntimeHookResponse()
