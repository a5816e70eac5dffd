"""The generic_kprobe sensor plugin: TracingPolicy ``kprobes``."""

from tetragon_sensor_kprobe.sensor import KprobeSensor

__all__ = ["KprobeSensor"]
