"""The sensor plugin surface: what a plugin implements and how the core finds it."""

from tetragon_core.sensors.api import Decoder, Sensor, SensorContext

__all__ = ["Decoder", "Sensor", "SensorContext"]
