"""The typed surface a sensor plugin implements.

A sensor is a distribution that registers a :class:`Sensor` subclass in the entry-point group
``tetragon.sensors`` and ships its compiled BPF objects as package data. The core discovers it,
imports it only when it is enabled, validates it, then calls :meth:`Sensor.load`. Records whose
first byte is one of the sensor's op codes are handed to its decoders.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, ClassVar

from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.exceptions import ConfigError, SensorError
from tetragon_core.metrics import Registry

log = logging.getLogger(__name__)

#: The sensor SDK's API version (tetragon_core.sdk). A plugin declares the version it was written
#: for in ``Sensor.sdk_version``; registration refuses any other.
SDK_VERSION = 1

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
    #: ``--bpf-lib`` when it was set: the directory every sensor object is read from instead of
    #: the sensor's own package
    bpf_lib: str = ""
    #: ``--verbose``: 0 no verifier log, 1 the verifier's log truncated to its end, 2 all of it
    verifier_log_level: int = 0
    #: while a scoped policy loads (``--enable-policy-filter``): its id in the kernel's policy
    #: filter, 0 otherwise. ``load_hooks`` writes it into each hook's mode map, so the hooks act
    #: only in the cgroups the filter lists; a sensor that loads its programs otherwise must do
    #: the same and say so with ``supports_policy_filter``, and its handle's ``policy_filter``
    #: must equal it (the core checks, and refuses the policy otherwise)
    policy_filter: int = 0

    def object_path(self, package: str, filename: str) -> str:
        """Where the BPF object ``filename`` of the sensor package ``package`` is loaded from:
        ``--bpf-lib`` when set (the file must be there), else the package's own ``bpf/`` data."""
        if not self.bpf_lib:
            return str(files(package) / "bpf" / filename)
        path = os.path.join(self.bpf_lib, filename)
        if not os.path.isfile(path):
            raise ConfigError(
                f"--bpf-lib: {self.bpf_lib} has no {filename} (the BPF object of {package}); "
                "copy the sensor objects there or leave --bpf-lib unset"
            )
        return path

    def load_object(self, path: str, **kwargs: Any) -> BpfObject:
        """Load one BPF object with the core's shared maps; the core frees it on unload."""
        obj = self.load_untracked(path, **kwargs)
        self.objects.append(obj)
        return obj

    def load_untracked(self, path: str, **kwargs: Any) -> BpfObject:
        """Load one BPF object with the core's shared maps; the caller closes it (a policy's
        hooks). With ``verifier_log_level`` set, the verifier's log of each program is logged."""
        level = self.verifier_log_level
        obj = BpfObject.load(path, self.shared, verifier_log_level=level, **kwargs)
        for prog, text in obj.verifier_logs.items():
            shown = text if level >= 2 else _tail(text, TRUNCATED_LOG)
            log.info(
                "verifier log of %s program %s (%d bytes):\n%s",
                os.path.basename(path),
                prog,
                len(text),
                shown,
            )
        return obj


#: bytes of a program's verifier log that ``--verbose 1`` shows: the end, with the verdict and
#: the statistics
TRUNCATED_LOG = 16384


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.find("\n", len(text) - limit)
    return f"[... {len(text) - limit} bytes truncated; --verbose 2 shows all]\n" + text[cut + 1 :]


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

    def objects(self) -> Sequence[BpfObject]:
        """The policy's loaded objects, whose programs' run statistics the core exports
        (``tetragon_overhead_program_*``, ``tetragon_missed_prog_probes_total``)."""
        return ()


class Sensor(abc.ABC):
    """Base class of every sensor plugin.

    Class attributes are checked when the plugin registers: ``name`` is the sensor's unique
    name (Tetragon's, e.g. ``execve``), ``sdk_version`` the SDK API version it was written for
    (:data:`SDK_VERSION`), ``ops`` the op codes its decoders own, and ``sections`` the
    TracingPolicy spec sections it serves (``tracepoints``, ...), if any.
    """

    name: ClassVar[str]
    sdk_version: ClassVar[int]
    #: event types of the plugin's own (tetragon_core.sdk.EventType), registered when it loads
    events: ClassVar[Sequence[Any]] = ()
    description: ClassVar[str] = ""
    ops: ClassVar[Sequence[int]] = ()
    sections: ClassVar[Sequence[str]] = ()
    #: the sensor's hooks honour ``SensorContext.policy_filter`` (scoped policies may load)
    supports_policy_filter: ClassVar[bool] = False

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

    def describe_metrics(self, registry: Registry) -> None:
        """Register, at zero, the families :meth:`load` registers (same names, types, labels),
        without loading anything: the metrics reference (``--generate-docs``) is built from it."""
        return None

    def status(self) -> str:
        """A short note on the sensor's state, shown after its collection in ListSensors (e.g.
        which kernel route it uses); "" for none."""
        return ""

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
