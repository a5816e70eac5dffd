"""The typed surface a sensor plugin implements.

A sensor is a distribution that registers a :class:`Sensor` subclass in the entry-point group
``tetragon.sensors`` and ships its compiled BPF objects as package data. The core discovers it,
imports it only when it is enabled, validates it, then calls :meth:`Sensor.load`. Records whose
first byte is one of the sensor's op codes are handed to its decoders.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.exceptions import SensorError
from tetragon_core.metrics import Registry

#: Turns one raw ring-buffer record (starting with the 16-byte msg_common) into a message.
Decoder = Callable[[bytes], object]


@dataclass
class SensorContext:
    """What the core lends a sensor while it loads: shared maps, settings and metrics."""

    shared: SharedMaps
    registry: Registry
    procfs: str = "/proc"
    pin_dir: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    objects: list[BpfObject] = field(default_factory=list)

    def load_object(self, path: str, **kwargs: Any) -> BpfObject:
        """Load one BPF object with the core's shared maps; the core frees it on unload."""
        obj = BpfObject.load(path, self.shared, **kwargs)
        self.objects.append(obj)
        return obj


class PolicyHandle(abc.ABC):
    """One TracingPolicy's programs inside a sensor, as :meth:`Sensor.load_policy` returns them.

    The handle starts enabled (attached). Every method may raise a TetragonError; the registry
    turns it into the policy's error state without touching other policies.
    """

    @abc.abstractmethod
    def enable(self) -> None:
        """Attach the policy's programs."""

    @abc.abstractmethod
    def disable(self) -> None:
        """Detach them; maps and state stay."""

    @abc.abstractmethod
    def set_mode(self, mode: str) -> None:
        """``enforce`` or ``monitor`` (enforcement is counted but not performed)."""

    @abc.abstractmethod
    def unload(self) -> None:
        """Detach and free everything (programs and maps)."""

    def kernel_memory(self) -> int:
        """Bytes of kernel memory the policy's programs and maps use."""
        return 0

    def stats(self) -> Mapping[str, int]:
        """Kernel-side counters (calls, filtered, posted, ...), summed over the hooks."""
        return {}


class Sensor(abc.ABC):
    """Base class of every sensor plugin.

    Class attributes are checked when the plugin registers: ``name`` is the sensor's unique
    name (Tetragon's, e.g. ``execve``), ``ops`` the op codes its decoders own, and ``sections``
    the TracingPolicy spec sections it serves (``tracepoints``, ...), if any.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    ops: ClassVar[Sequence[int]] = ()
    sections: ClassVar[Sequence[str]] = ()

    def load_policy(self, ctx: SensorContext, policy: Any, policy_id: int, mode: str) -> PolicyHandle:
        """Compile and load ``policy`` (a :class:`~tetragon_core.policy.TracingPolicy`); raise
        PolicyError naming the YAML path for what cannot be served."""
        raise SensorError(f"sensor {self.name!r} serves no TracingPolicy sections")

    @abc.abstractmethod
    def decoders(self) -> Mapping[int, Decoder]:
        """One decoder per op code in ``ops``."""

    @abc.abstractmethod
    def load(self, ctx: SensorContext) -> None:
        """Load and attach the sensor's BPF programs (through ``ctx.load_object``)."""

    def initial_messages(self, ctx: SensorContext) -> Sequence[object]:
        """Messages to publish once after load (the exec sensor's procfs walk)."""
        return ()

    def unload(self, ctx: SensorContext, *, keep: bool = False) -> None:
        """Detach and free this sensor's objects; with ``keep`` pinned programs stay."""
        for obj in ctx.objects:
            if keep and ctx.pin_dir:
                obj.pin_links(os.path.join(ctx.pin_dir, self.name))
            obj.close(keep_links=keep)
        ctx.objects.clear()
