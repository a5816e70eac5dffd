"""Containment of sensor plugin failures: logged with the plugin's name, counted, and shown.

A plugin that raises while it is imported, loaded, decoding a record or loading a policy never
takes the agent down (the base sensor excepted: without it the agent cannot run). The failure is
logged naming the sensor, counted in ``tetragon_sensor_errors_total{sensor, stage}``, and a sensor
that could not be brought up is listed as failed by ListSensors (``tetra sensors list``).
"""

from __future__ import annotations

import logging

from tetragon_core.metrics import Registry

log = logging.getLogger("tetragon.sensors")

#: where a plugin failed
STAGES = ("import", "load", "decode", "policy_load", "unload")


class SensorFaults:
    """The agent's record of plugin failures."""

    def __init__(self, registry: Registry) -> None:
        self._errors = registry.counter(
            "tetragon_sensor_errors_total",
            "Errors raised by sensor plugins, by sensor and stage.",
            ("sensor", "stage"),
        )
        #: sensor → why it is not running (import or load failures)
        self.failed: dict[str, str] = {}

    def record(self, sensor: str, stage: str, err: BaseException, *, disabled: bool = False) -> None:
        """Count one failure of ``sensor`` at ``stage``; ``disabled`` marks the sensor failed."""
        self._errors.inc(sensor, stage)
        if stage != "decode":  # decode failures are logged by the observer, once per record
            log.error("sensor %s: %s failed: %s", sensor, stage, err)
        if disabled:
            self.failed[sensor] = f"{stage}: {err}"

    def count(self, sensor: str, stage: str) -> float:
        return self._errors.get(sensor, stage)
