"""The policy registry: every TracingPolicy the agent was given, with its state.

Each hook section maps to the sensor that serves it (Tetragon's sensor names). A section whose
sensor is not installed leaves the policy in ``load_error`` with the reason; it is never ignored.
So does a scope (namespace, pod, container, host or node selector) this agent cannot enforce
(policy/scope.py): such a policy never reaches the kernel.
A failure of one policy never touches another.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tetragon_core.exceptions import TetragonError
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import TracingPolicy
from tetragon_core.policy.parse import parse_policy
from tetragon_core.policy.scope import scope_error
from tetragon_core.policyfilter import Scope, scope_of

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

log = logging.getLogger(__name__)

ENABLED, DISABLED, LOAD_ERROR, ERROR = "enabled", "disabled", "load_error", "error"

#: policy domains (where a policy came from), as upstream names them
DOMAIN_GRPC, DOMAIN_STATIC = "grpc", "static"


class PolicyNotFound(PolicyError):
    """No policy with that name (and namespace) is registered."""


class PolicyExists(PolicyError):
    """A policy with that name (and namespace) is already registered."""


class PolicyStateError(PolicyError):
    """The operation does not apply to the policy's current state."""


def sections(policy: TracingPolicy) -> list[str]:
    """The spec sections that need a sensor, in Tetragon's order, then the plugins' sections."""
    spec = policy.spec
    out = [
        s for s in ("kprobes", "tracepoints", "uprobes", "lsmhooks", "usdts", "fentries") if getattr(spec, s)
    ]
    if spec.loader:
        out.append("loader")
    if spec.enforcers:
        out.append("enforcers")
    return out + list(spec.plugin_sections)


@dataclass
class PolicyEntry:
    """One registered policy and its state."""

    id: int
    policy: TracingPolicy
    sensors: list[str]
    state: str
    mode: str
    error: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: who added it: ``grpc`` (the API), ``static`` (--tracing-policy and --tracing-policy-dir)
    domain: str = DOMAIN_GRPC
    #: the loaded programs, one handle per sensor
    handles: list[PolicyHandleLike] = field(default_factory=list)
    #: its id in the kernel's policy filter (a scoped policy, --enable-policy-filter); 0: none
    filter_id: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.policy.namespace, self.policy.name)


class PolicyHandleLike(Protocol):
    """What the registry needs of a loaded policy (:class:`tetragon_core.sensors.api.PolicyHandle`)."""

    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def set_mode(self, mode: str) -> None: ...
    def unload(self) -> None: ...
    def kernel_memory(self) -> int: ...
    def stats(self) -> Mapping[str, int]: ...


class PolicyFilterLike(Protocol):
    """What the registry needs of the policy filter (:class:`tetragon_core.policyfilter.PolicyFilter`)."""

    def add_policy(self, policy_id: int, scope: Scope) -> None: ...
    def remove_policy(self, policy_id: int) -> None: ...


#: Loads an entry's programs (its sensors' ``load_policy``); raises PolicyError or TetragonError.
PolicyLoader = Callable[[PolicyEntry], list[PolicyHandleLike]]


class PolicyRegistry:
    """Add, list, enable, disable, configure and delete policies.

    With a ``loader`` every operation acts on the kernel: add loads and attaches, disable and
    enable detach and attach, set_mode switches enforcement, delete frees programs and maps.
    Calls block (BPF loading); the gRPC layer runs them in a worker thread, one at a time.
    """

    def __init__(
        self,
        installed_sensors: Callable[[], set[str]],
        loader: PolicyLoader | None = None,
        claimed_sections: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self._installed = installed_sensors
        #: spec keys installed plugins claim → their sensors (sensors.registry.discover_sections)
        self.claimed_sections = claimed_sections
        self._entries: dict[tuple[str, str], PolicyEntry] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.loader = loader
        #: section → the kernel feature it lacks, or None (the agent sets the real probes)
        self.missing_feature: Callable[[str], str | None] = lambda section: None
        #: --enable-policy-filter: scoped policies load with a filter id (else they are refused)
        self.policy_filter: PolicyFilterLike | None = None

    def add(self, yaml_text: str, domain: str = DOMAIN_GRPC) -> PolicyEntry:
        """Parse, validate, register and load a policy in ``domain``.

        A malformed policy raises PolicyError naming path and reason and is not registered; one
        that parses but cannot be loaded here is registered in ``load_error`` with the reason.
        """
        claims = self.claimed_sections()
        policy = parse_policy(yaml_text, claims)
        with self._lock:
            key = (policy.namespace, policy.name)
            if key in self._entries:
                where = f" in namespace {policy.namespace!r}" if policy.namespace else ""
                raise PolicyExists("metadata.name", f"policy {policy.name!r} already exists{where}")
            needed = sections(policy)
            owners = {**SECTION_SENSORS, **claims}
            sensors = [owners[s] for s in needed]
            installed = self._installed()
            missing = [(s, owners[s]) for s in needed if owners[s] not in installed]
            mode = policy.option("policy-mode") or "enforce"
            entry = PolicyEntry(next(self._ids), policy, sensors, ENABLED, mode, domain=domain)
            lacking = [(s, f) for s in needed if (f := self.missing_feature(s)) is not None]
            # checked first: a scope the kernel cannot be told about never loads host-wide
            pf = self.policy_filter
            scope = scope_error(policy, policy_filter=pf is not None)
            if scope is not None:
                entry.state = LOAD_ERROR
                entry.error = scope
            elif lacking:
                entry.state = LOAD_ERROR
                entry.error = "; ".join(
                    f"spec.{s}: requires {f}, which this kernel lacks" for s, f in lacking
                )
            elif missing:
                entry.state = LOAD_ERROR
                entry.error = "; ".join(
                    f"spec.{s}: no installed sensor serves this section (requires the {sensor} sensor plugin)"
                    for s, sensor in missing
                )
            elif self.loader is not None:
                filtered = scope_of(policy) if pf is not None else None
                try:
                    if pf is not None and filtered is not None:
                        # the kernel's table holds the policy before its hooks attach
                        entry.filter_id = entry.id
                        pf.add_policy(entry.id, filtered)
                    entry.handles = self.loader(entry)
                except TetragonError as e:
                    entry.state = LOAD_ERROR
                    entry.error = str(e)
                    if pf is not None and entry.filter_id:
                        pf.remove_policy(entry.filter_id)
            self._entries[key] = entry
            return entry

    def get(self, name: str, namespace: str = "") -> PolicyEntry:
        entry = self._entries.get((namespace, name))
        if entry is None:
            where = f" in namespace {namespace!r}" if namespace else ""
            raise PolicyNotFound("name", f"policy {name!r} not found{where}")
        return entry

    def delete(self, name: str, namespace: str = "") -> PolicyEntry:
        """Unregister a policy and free its programs and maps."""
        with self._lock:
            entry = self._entries.pop(self.get(name, namespace).key)
            self._unload(entry)
            if self.policy_filter is not None and entry.filter_id:
                self.policy_filter.remove_policy(entry.filter_id)
            return entry

    def _unload(self, entry: PolicyEntry) -> None:
        for h in entry.handles:
            try:
                h.unload()
            except TetragonError as e:  # the others must still be freed
                log.error("policy %s: unloading: %s", entry.policy.name, e)
        entry.handles = []

    def set_enabled(self, name: str, namespace: str, enabled: bool) -> PolicyEntry:
        with self._lock:
            entry = self.get(name, namespace)
            verb = "enable" if enabled else "disable"
            if entry.state in (LOAD_ERROR, ERROR):
                raise PolicyStateError("name", f"cannot {verb} policy {name!r}: {entry.state}: {entry.error}")
            if entry.state == (ENABLED if enabled else DISABLED):
                return entry
            try:
                for h in entry.handles:
                    h.enable() if enabled else h.disable()
            except TetragonError as e:
                entry.state, entry.error = ERROR, f"{verb}: {e}"
                raise PolicyStateError("name", f"cannot {verb} policy {name!r}: {e}") from e
            entry.state = ENABLED if enabled else DISABLED
            return entry

    def set_mode(self, name: str, namespace: str, mode: str) -> PolicyEntry:
        if mode not in ("enforce", "monitor"):
            raise PolicyError("mode", f"unknown policy mode {mode!r} (enforce or monitor)")
        with self._lock:
            entry = self.get(name, namespace)
            try:
                for h in entry.handles:
                    h.set_mode(mode)
            except TetragonError as e:
                entry.state, entry.error = ERROR, f"set mode {mode}: {e}"
                raise PolicyStateError("mode", f"cannot set mode of policy {name!r}: {e}") from e
            entry.mode = mode
            return entry

    def kernel_memory(self, entry: PolicyEntry) -> int:
        """Bytes of kernel memory the entry's programs and maps use now."""
        return sum(h.kernel_memory() for h in entry.handles)

    def stats(self, entry: PolicyEntry) -> dict[str, int]:
        """The entry's kernel-side counters, summed over its hooks."""
        out: dict[str, int] = {}
        for h in entry.handles:
            for k, v in h.stats().items():
                out[k] = out.get(k, 0) + v
        return out

    def unload_all(self) -> None:
        """Free every policy's programs (agent shutdown); entries stay listed."""
        with self._lock:
            for entry in self._entries.values():
                self._unload(entry)

    def domains(self) -> list[str]:
        """The domains of the registered policies, sorted (upstream's list is dynamic too)."""
        return sorted({e.domain for e in self._entries.values()})

    @contextlib.contextmanager
    def reading(self) -> Iterator[bool]:
        """Hold the lock if it is free now and yield whether it was: a scrape on the event loop
        must not wait for a policy load, nor read objects a delete is freeing."""
        got = self._lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                self._lock.release()

    def list(self) -> list[PolicyEntry]:
        """Every entry by id; lock-free (a copy), so the event loop never waits on a load."""
        return sorted(list(self._entries.values()), key=lambda e: e.id)
