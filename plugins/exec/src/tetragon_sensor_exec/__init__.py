"""The base sensor: process exec, fork and exit, from tracepoints."""

from tetragon_sensor_exec.sensor import ExecSensor

__all__ = ["ExecSensor"]
