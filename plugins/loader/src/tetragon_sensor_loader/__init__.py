"""The loader sensor: ``spec.loader: true``, a ProcessLoader event for every executable mapping
of a file that has a build id."""

from tetragon_sensor_loader.sensor import LoaderSensor

__all__ = ["LoaderSensor"]
