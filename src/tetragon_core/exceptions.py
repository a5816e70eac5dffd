"""Every error tetragon-core raises on purpose.

Low-level failures (errno, libbpf) are translated into these types in exactly one layer,
``tetragon_core.bpf._libbpf``; nothing above it sees a raw ``OSError`` from the kernel.
"""

from __future__ import annotations


class TetragonError(Exception):
    """Base class of every tetragon-core error."""


class ConfigError(TetragonError):
    """A flag, config file or drop-in holds a value that cannot be used; the message names it."""


class UnsupportedFeatureError(TetragonError):
    """A requested feature is not built, or the running kernel lacks what it needs."""


class BpfError(TetragonError):
    """A BPF operation failed; ``errno`` holds the kernel's error number when there is one."""

    def __init__(self, message: str, errno: int = 0, log: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.log = log


class BpfLoadError(BpfError):
    """The kernel refused to load a BPF object; ``log`` holds libbpf's and the verifier's output."""


class BpfAttachError(BpfError):
    """A loaded BPF program could not be attached to its hook."""


class BpfMapError(BpfError):
    """A BPF map operation (create, lookup, update, delete) failed."""


class MapKeyNotFound(BpfMapError):
    """A map lookup or delete found no entry for the key."""


class SensorError(TetragonError):
    """A sensor plugin is malformed, duplicated, or failed to start."""


class DecodeError(TetragonError):
    """A raw ring-buffer record could not be decoded."""


class CriError(TetragonError):
    """A call to the container runtime's CRI endpoint failed; the message names the call."""


class KubernetesError(TetragonError):
    """A request to the Kubernetes API failed or returned what the agent cannot use."""
