"""The generic_uprobe sensor: TracingPolicy ``uprobes`` on user binaries."""

from tetragon_sensor_uprobe.sensor import UprobeSensor

__all__ = ["UprobeSensor"]
