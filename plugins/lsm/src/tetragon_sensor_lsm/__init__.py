"""The generic_lsm sensor plugin: TracingPolicy ``lsmhooks`` on BPF LSM."""

from tetragon_sensor_lsm.sensor import LsmSensor

__all__ = ["LsmSensor"]
