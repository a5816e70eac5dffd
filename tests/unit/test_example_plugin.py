"""examples/sensor-plugin from the source tree: its own tests pass, and the core accepts it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sensor-plugin"


def test_the_example_plugins_own_tests_pass() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_core_registers_it_and_its_event_type() -> None:
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        from example_signal_sensor import SignalSensor
        from tetragon_core.plugin_events import by_name, register
        from tetragon_core.sensors.registry import validate

        assert validate(SignalSensor, "example_signal", "example-signal-sensor") is SignalSensor
        (etype,) = SignalSensor.events
        assert register(etype, "example_signal") is by_name("EXAMPLE_SIGNAL")
    finally:
        sys.path.remove(str(EXAMPLE / "src"))
