"""The policy registry: every TracingPolicy the agent was given, with its state.

Each hook section maps to the sensor that serves it (Tetragon's sensor names). A section whose
sensor is not installed leaves the policy in ``load_error`` with the reason; it is never ignored.
A failure of one policy never touches another.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import TracingPolicy
from tetragon_core.policy.parse import parse_policy

#: spec section → the sensor that serves it
SECTION_SENSORS: dict[str, str] = {
    "kprobes": "generic_kprobe",
    "tracepoints": "generic_tracepoint",
    "uprobes": "generic_uprobe",
    "lsmhooks": "generic_lsm",
    "usdts": "generic_usdt",
    "fentries": "generic_fentry",
    "loader": "loader",
    "enforcers": "enforcer",
}

ENABLED, DISABLED, LOAD_ERROR, ERROR = "enabled", "disabled", "load_error", "error"


class PolicyNotFound(PolicyError):
    """No policy with that name (and namespace) is registered."""


class PolicyExists(PolicyError):
    """A policy with that name (and namespace) is already registered."""


class PolicyStateError(PolicyError):
    """The operation does not apply to the policy's current state."""


def sections(policy: TracingPolicy) -> list[str]:
    """The spec sections that need a sensor, in Tetragon's order."""
    spec = policy.spec
    out = [
        s for s in ("kprobes", "tracepoints", "uprobes", "lsmhooks", "usdts", "fentries") if getattr(spec, s)
    ]
    if spec.loader:
        out.append("loader")
    if spec.enforcers:
        out.append("enforcers")
    return out


@dataclass
class PolicyEntry:
    """One registered policy and its state."""

    id: int
    policy: TracingPolicy
    sensors: list[str]
    state: str
    mode: str
    error: str = ""
    kernel_memory_bytes: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.policy.namespace, self.policy.name)


class PolicyRegistry:
    """Add, list, enable, disable, configure and delete policies."""

    def __init__(self, installed_sensors: Callable[[], set[str]]) -> None:
        self._installed = installed_sensors
        self._entries: dict[tuple[str, str], PolicyEntry] = {}
        self._ids = itertools.count(1)

    def add(self, yaml_text: str) -> PolicyEntry:
        """Parse, validate and register a policy; raises PolicyError naming path and reason."""
        policy = parse_policy(yaml_text)
        key = (policy.namespace, policy.name)
        if key in self._entries:
            where = f" in namespace {policy.namespace!r}" if policy.namespace else ""
            raise PolicyExists("metadata.name", f"policy {policy.name!r} already exists{where}")
        needed = sections(policy)
        sensors = [SECTION_SENSORS[s] for s in needed]
        installed = self._installed()
        missing = [(s, SECTION_SENSORS[s]) for s in needed if SECTION_SENSORS[s] not in installed]
        mode = policy.option("policy-mode") or "enforce"
        entry = PolicyEntry(next(self._ids), policy, sensors, ENABLED, mode)
        if missing:
            entry.state = LOAD_ERROR
            entry.error = "; ".join(
                f"spec.{s}: no installed sensor serves this section (requires the {sensor} sensor plugin)"
                for s, sensor in missing
            )
        self._entries[key] = entry
        return entry

    def get(self, name: str, namespace: str = "") -> PolicyEntry:
        entry = self._entries.get((namespace, name))
        if entry is None:
            where = f" in namespace {namespace!r}" if namespace else ""
            raise PolicyNotFound("name", f"policy {name!r} not found{where}")
        return entry

    def delete(self, name: str, namespace: str = "") -> PolicyEntry:
        return self._entries.pop(self.get(name, namespace).key)

    def set_enabled(self, name: str, namespace: str, enabled: bool) -> PolicyEntry:
        entry = self.get(name, namespace)
        if entry.state in (LOAD_ERROR, ERROR):
            verb = "enable" if enabled else "disable"
            raise PolicyStateError("name", f"cannot {verb} policy {name!r}: {entry.state}: {entry.error}")
        entry.state = ENABLED if enabled else DISABLED
        return entry

    def set_mode(self, name: str, namespace: str, mode: str) -> PolicyEntry:
        if mode not in ("enforce", "monitor"):
            raise PolicyError("mode", f"unknown policy mode {mode!r} (enforce or monitor)")
        entry = self.get(name, namespace)
        entry.mode = mode
        return entry

    def list(self) -> list[PolicyEntry]:
        return sorted(self._entries.values(), key=lambda e: e.id)
