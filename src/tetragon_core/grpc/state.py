"""What the gRPC service may see of the running agent, as a narrow interface."""

from __future__ import annotations

from dataclasses import dataclass, field

from tetragon_core.policy.registry import PolicyRegistry
from tetragon_core.process.cache import ProcessCache


@dataclass
class SensorInfo:
    """One row of ListSensors."""

    name: str
    enabled: bool
    collection: str


@dataclass
class AgentState:
    """Filled by the agent as it starts; read by the RPC handlers."""

    sensors: list[SensorInfo] = field(default_factory=list)
    cache: ProcessCache | None = None
    #: sensors the agent cannot run without (the base exec/exit sensor)
    required: frozenset[str] = frozenset({"execve"})
    policies: PolicyRegistry = field(
        default_factory=lambda: PolicyRegistry(lambda: set())  # replaced by the agent's
    )
