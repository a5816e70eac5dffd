"""What the gRPC service may see of the running agent, as a narrow interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tetragon_core.config import AgentConfig
from tetragon_core.grpc.stacktree import StackTraceTrees
from tetragon_core.policy.registry import PolicyRegistry
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.containers import ContainerRegistry


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
    #: containers recorded by RuntimeHook; the agent shares it with its ProcessManager
    containers: ContainerRegistry = field(default_factory=ContainerRegistry)
    #: GetStackTraceTree's trees; the agent feeds it as one of its sinks
    stack_traces: StackTraceTrees = field(default_factory=StackTraceTrees)
    #: the agent's configuration (GetInfo's ``conf``); None outside an agent
    config: AgentConfig | None = None
    #: recomputes ``sensors`` (policy sensors load with their first policy); None: a fixed list
    sensors_source: Callable[[], list[SensorInfo]] | None = None

    def current_sensors(self) -> list[SensorInfo]:
        """ListSensors' rows now."""
        if self.sensors_source is not None:
            self.sensors = self.sensors_source()
        return self.sensors
