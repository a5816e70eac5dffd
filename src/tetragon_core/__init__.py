"""tetragon-core: Cilium Tetragon rebuilt in Python.

The public surface is small: the exceptions, the sensor plugin API and the agent entry point.
Everything else lives in private modules and may change.
"""

from tetragon_core.exceptions import (
    BpfAttachError,
    BpfError,
    BpfLoadError,
    BpfMapError,
    ConfigError,
    DecodeError,
    MapKeyNotFound,
    SensorError,
    TetragonError,
    UnsupportedFeatureError,
)

__version__ = "0.1.0"

__all__ = [
    "BpfAttachError",
    "BpfError",
    "BpfLoadError",
    "BpfMapError",
    "ConfigError",
    "DecodeError",
    "MapKeyNotFound",
    "SensorError",
    "TetragonError",
    "UnsupportedFeatureError",
    "__version__",
]
