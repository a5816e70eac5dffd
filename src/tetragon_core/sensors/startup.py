"""The sensors enabled at start: imported (and their event types registered) before anything is
loaded, so that the export filters can name those event types."""

from __future__ import annotations

from collections.abc import Sequence

from tetragon_core.exceptions import SensorError
from tetragon_core.sensors.api import Sensor
from tetragon_core.sensors.faults import SensorFaults
from tetragon_core.sensors.registry import SensorEntry, discover, load_sensor

#: the exec/exit sensor: the process cache, and so every event, needs it
BASE_SENSOR = "execve"


def import_sensors(names: Sequence[str], faults: SensorFaults) -> tuple[dict[str, SensorEntry], list[Sensor]]:
    """Every installed sensor, and instances of ``names`` in order. An unknown name is an error;
    a plugin that fails to import is contained (counted, listed failed) unless it is the base."""
    available = discover()
    out: list[Sensor] = []
    for name in names:
        if name not in available:
            have = ", ".join(sorted(available)) or "none"
            hint = "; the standard set: pip install 'tetragon-core[sensors]'" if name == BASE_SENSOR else ""
            raise SensorError(f"sensor {name!r} is not installed (installed: {have}){hint}")
        try:
            out.append(load_sensor(available[name]))
        except SensorError as e:
            if name == BASE_SENSOR:
                raise
            faults.record(name, "import", e, disabled=True)
    return available, out
