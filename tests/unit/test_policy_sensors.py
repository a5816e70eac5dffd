"""A sensor plugin that fails with its own bug while loading a policy: the policy fails to load
with the sensor named, earlier sensors' handles are unloaded, and nothing escapes as an
internal error."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tetragon_core.exceptions import SensorError
from tetragon_core.sensors.policies import PolicySensors


class _Handle:
    def __init__(self) -> None:
        self.unloaded = False

    def unload(self) -> None:
        self.unloaded = True


class _Sensor:
    def __init__(self, name: str, fail: Exception | None) -> None:
        self.name, self.fail, self.handle = name, fail, _Handle()

    def load_policy(self, ctx: Any, policy: Any, policy_id: int, mode: str) -> _Handle:
        if self.fail is not None:
            raise self.fail
        return self.handle


def test_a_plugin_bug_is_a_load_error_naming_the_sensor() -> None:
    ps = PolicySensors(lambda: None, lambda n, d: None, lambda s, c: None, available={})  # type: ignore[arg-type,return-value]
    good, bad = _Sensor("generic_a", None), _Sensor("generic_b", KeyError("tg_stack_map"))
    ps.preloaded(good, None)  # type: ignore[arg-type]
    ps.preloaded(bad, None)  # type: ignore[arg-type]
    entry = SimpleNamespace(
        sensors=["generic_a", "generic_b"], policy=SimpleNamespace(name="p"), id=1, mode="enforce"
    )
    with pytest.raises(
        SensorError, match=r"sensor generic_b failed while loading the policy: KeyError: 'tg_stack_map'"
    ):
        ps(entry)  # type: ignore[arg-type]
    assert good.handle.unloaded
    bad.fail = SensorError("requires BPF LSM")
    with pytest.raises(SensorError, match=r"^requires BPF LSM$"):
        ps(entry)  # type: ignore[arg-type]
