"""The CRI client behind ``--enable-cri`` / ``--cri-endpoint``: containers and pod sandboxes from
the container runtime, for pod information without runtime hooks or the Kubernetes API."""

from tetragon_core.cri._client import (
    DEFAULT_ENDPOINTS,
    ContainerRecord,
    CriClient,
    SandboxRecord,
    cgroup_path,
    default_endpoint,
    parse_endpoint,
)
from tetragon_core.cri._sync import POLL_INTERVAL_S, CriSync

__all__ = [
    "DEFAULT_ENDPOINTS",
    "POLL_INTERVAL_S",
    "ContainerRecord",
    "CriClient",
    "CriSync",
    "SandboxRecord",
    "cgroup_path",
    "default_endpoint",
    "parse_endpoint",
]
