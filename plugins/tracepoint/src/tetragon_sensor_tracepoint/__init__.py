"""The generic_tracepoint sensor: TracingPolicy ``tracepoints`` with in-kernel selectors."""

from tetragon_sensor_tracepoint.sensor import TracepointSensor

__all__ = ["TracepointSensor"]
