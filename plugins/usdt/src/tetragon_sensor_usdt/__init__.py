"""The generic_usdt sensor: TracingPolicy ``usdts`` on SystemTap SDT probes of user binaries."""

from tetragon_sensor_usdt.sensor import UsdtSensor

__all__ = ["UsdtSensor"]
