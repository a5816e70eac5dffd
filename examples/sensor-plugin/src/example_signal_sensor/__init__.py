"""An example out-of-tree sensor: every signal sent, reported as event ``example_signal``."""

from example_signal_sensor.sensor import ExampleSignal, SignalSensor, decode

__all__ = ["ExampleSignal", "SignalSensor", "decode"]
