"""The base of sensors whose TracingPolicy sections become generic hooks (tracepoint, kprobe,
LSM): the hook table their decoder reads, hook ids, and a policy load that releases its
followChildren bits when it fails. A plugin supplies ``_load``: placing, compiling and planning
its hooks, then :func:`~tetragon_core.sensors.generic.load_hooks`."""

from __future__ import annotations

import abc
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tetragon_core.bpf.objects import BpfObject
from tetragon_core.policy import TracingPolicy
from tetragon_core.policy.kernel import HostInfo, ListResolver
from tetragon_core.policy.lists import list_resolver
from tetragon_core.process.namespaces import read_host_namespaces
from tetragon_core.sensors.api import PolicyHandle, Sensor, SensorContext
from tetragon_core.sensors.generic import Follow

__all__ = ["HookSensor", "PolicyEnv"]

I = TypeVar("I")  # noqa: E741 — what the decoder knows of one hook


@dataclass(frozen=True)
class PolicyEnv:
    """What compiling a policy's hooks needs besides the hooks: the host, lists, followChildren."""

    host: HostInfo
    lists: ListResolver
    follow: Follow


class HookSensor(Sensor, Generic[I]):
    """A policy sensor of generic hooks; ``self._hooks`` maps a hook id to its decoding info."""

    def __init__(self) -> None:
        self._hooks: dict[int, I] = {}
        self._next_id = itertools.count(1)
        self._lock = threading.Lock()

    def new_hook_id(self) -> int:
        """A hook id, unique in this sensor: the records of the hook carry it."""
        with self._lock:
            return next(self._next_id)

    def forget(self, ids: Sequence[int]) -> None:
        """Drop hooks (their policy was deleted or failed to load)."""
        with self._lock:
            for i in ids:
                self._hooks.pop(i, None)

    def register(self, hook_id: int, info: I) -> Callable[[BpfObject], None]:
        """The ``on_loaded`` of a hook's plan: its records decode from then on."""

        def on_loaded(_obj: BpfObject) -> None:
            with self._lock:
                self._hooks[hook_id] = info

        return on_loaded

    def load_policy(self, ctx: SensorContext, policy: Any, policy_id: int, mode: str) -> PolicyHandle:
        """Compile every hook of ``policy`` first (errors name the YAML path), then load."""
        assert isinstance(policy, TracingPolicy)
        env = PolicyEnv(
            HostInfo(namespaces=read_host_namespaces(ctx.procfs) or ()),
            list_resolver(policy.spec.lists),
            Follow(ctx.shared.get("tg_mbset_paths"), ctx.shared.get("execve_map")),
        )
        try:
            return self._load(ctx, policy, mode, env)
        except BaseException:
            env.follow.release()
            raise

    @abc.abstractmethod
    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        """Plan and load the policy's hooks of this sensor's section."""
