"""Policy sensors, loaded on demand: the policy registry's loader.

A sensor that serves TracingPolicy sections (``generic_tracepoint``, ...) is imported and loaded
the first time a policy needs it, as Tetragon loads its tracing sensors with their first policy;
its decoders join the observer then. Each policy is then handed to the sensors of its sections.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from tetragon_core.exceptions import SensorError, TetragonError
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.registry import PolicyEntry, PolicyHandleLike, sections
from tetragon_core.sensors.api import Decoder, Sensor, SensorContext
from tetragon_core.sensors.faults import SensorFaults
from tetragon_core.sensors.registry import SensorEntry, discover, load_sensor

log = logging.getLogger(__name__)


class PolicySensors:
    """Loads policy sensors lazily and loads each policy into them."""

    def __init__(
        self,
        new_context: Callable[[], SensorContext],
        add_decoders: Callable[[str, dict[int, Decoder]], None],
        on_loaded: Callable[[Sensor, SensorContext], None],
        available: dict[str, SensorEntry] | None = None,
        faults: SensorFaults | None = None,
    ) -> None:
        self._new_context = new_context
        self._add_decoders = add_decoders
        self._on_loaded = on_loaded
        self._available = available
        self._faults = faults
        self._sensors: dict[str, tuple[Sensor, SensorContext]] = {}
        self._lock = threading.Lock()

    def _fault(self, name: str, stage: str, err: BaseException, *, disabled: bool = False) -> None:
        if self._faults is not None:
            self._faults.record(name, stage, err, disabled=disabled)

    def preloaded(self, sensor: Sensor, ctx: SensorContext) -> None:
        """Make an already loaded sensor (loaded at start) serve policies too."""
        self._sensors[sensor.name] = (sensor, ctx)

    def _get(self, name: str) -> tuple[Sensor, SensorContext]:
        with self._lock:
            if name in self._sensors:
                return self._sensors[name]
            available = self._available if self._available is not None else discover()
            if name not in available:
                raise SensorError(f"sensor {name!r} is not installed")
            try:
                sensor = load_sensor(available[name])
            except SensorError as e:
                self._fault(name, "import", e, disabled=True)
                raise
            if not sensor.sections:
                raise SensorError(f"sensor {name!r} serves no TracingPolicy sections")
            ctx = self._new_context()
            try:
                sensor.load(ctx)
                self._add_decoders(sensor.name, dict(sensor.decoders()))
            except Exception as e:
                self._fault(name, "load", e, disabled=True)
                sensor.unload(ctx)
                if isinstance(e, TetragonError):
                    raise
                raise SensorError(f"sensor {name} failed to load: {type(e).__name__}: {e}") from e
            if self._faults is not None:
                self._faults.failed.pop(name, None)  # up now
            self._on_loaded(sensor, ctx)
            self._sensors[name] = (sensor, ctx)
            log.info("sensor %s loaded for policies", name)
            return sensor, ctx

    def __call__(self, entry: PolicyEntry) -> list[PolicyHandleLike]:
        handles: list[Any] = []
        name = ""
        try:
            for name in dict.fromkeys(entry.sensors):
                sensor, ctx = self._get(name)
                fid = getattr(entry, "filter_id", 0)
                if fid and not getattr(sensor, "supports_policy_filter", False):
                    raise PolicyError(
                        f"spec.{_section_of(entry, name)}",
                        f"sensor {name} does not support the policy filter, so this scoped policy "
                        "would act on every process",
                    )
                if fid:
                    ctx.policy_filter = fid
                try:
                    handle = sensor.load_policy(ctx, entry.policy, entry.id, entry.mode)
                finally:
                    if fid:
                        ctx.policy_filter = 0
                handles.append(handle)
                if fid and getattr(handle, "policy_filter", 0) != fid:
                    raise PolicyError(
                        f"spec.{_section_of(entry, name)}",
                        f"sensor {name} loaded the policy without its policy filter id",
                    )
        except BaseException as e:
            for h in handles:
                h.unload()
            if isinstance(e, TetragonError) or not isinstance(e, Exception):
                raise
            # a plugin's bug: the policy fails to load, naming the sensor; the agent runs on
            log.exception("sensor %s failed while loading policy %s", name, entry.policy.name)
            self._fault(name, "policy_load", e)
            raise SensorError(
                f"sensor {name} failed while loading the policy: {type(e).__name__}: {e}"
            ) from e
        return handles


def _section_of(entry: PolicyEntry, sensor: str) -> str:
    """The policy section served by ``sensor`` (for the error's path)."""
    for section, owner in zip(sections(entry.policy), entry.sensors, strict=False):
        if owner == sensor:
            return section
    return sensor
