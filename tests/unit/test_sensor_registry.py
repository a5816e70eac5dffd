"""Sensor discovery through entry points: separate discovery, import and validation steps."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint

import pytest

from tetragon_core.exceptions import SensorError
from tetragon_core.sensors.api import Decoder, Sensor, SensorContext
from tetragon_core.sensors.registry import GROUP, discover, load_enabled, validate


class ThirdParty(Sensor):
    """A plugin as a third party would write it."""

    name = "third_party"
    sdk_version = 1
    ops = (200,)

    def decoders(self) -> Mapping[int, Decoder]:
        return {200: bytes}

    def load(self, ctx: SensorContext) -> None:
        pass


class Incomplete(Sensor):
    name = "incomplete"


class BadName(ThirdParty):
    name = "Bad-Name"


class MissingDecoder(ThirdParty):
    name = "missing_decoder"
    ops = (200, 201)


def _ep(name: str, obj: str) -> EntryPoint:
    return EntryPoint(name, f"{__name__}:{obj}", GROUP)


def test_installed_exec_sensor_is_discovered_without_import() -> None:
    found = discover()
    assert found["execve"].value == "tetragon_sensor_exec:ExecSensor"
    assert found["execve"].distribution == "tetragon-sensor-exec"


def test_duplicate_names_fail_loudly() -> None:
    with pytest.raises(SensorError, match="duplicate sensor name 'third_party'"):
        discover([_ep("third_party", "ThirdParty"), _ep("third_party", "BadName")])


def test_only_enabled_sensors_are_imported() -> None:
    broken = EntryPoint("broken", "no_such_module_xyz:Sensor", GROUP)
    avail = discover([_ep("third_party", "ThirdParty"), broken])
    (s,) = load_enabled(["third_party"], avail)  # the broken one is never imported
    assert isinstance(s, ThirdParty)
    with pytest.raises(SensorError, match="importing no_such_module_xyz:Sensor failed"):
        load_enabled(["broken"], avail)
    with pytest.raises(SensorError, match="'nope' is not installed"):
        load_enabled(["nope"], avail)


@pytest.mark.parametrize(
    ("obj", "name", "msg"),
    [
        (Incomplete, "incomplete", "does not implement decoders, load"),
        (BadName, "Bad-Name", "must match"),
        (ThirdParty, "other", "differs from ThirdParty.name"),
        (object, "x", "does not name a Sensor subclass"),
    ],
)
def test_validation_names_the_problem(obj: object, name: str, msg: str) -> None:
    with pytest.raises(SensorError, match=msg):
        validate(obj, name)


def test_decoders_must_cover_declared_ops() -> None:
    avail = discover([_ep("missing_decoder", "MissingDecoder")])
    with pytest.raises(SensorError, match="decoders cover ops"):
        load_enabled(["missing_decoder"], avail)


def test_two_sensors_claiming_one_op_are_refused() -> None:
    class Clash(ThirdParty):
        name = "clash"

    globals()["Clash"] = Clash
    avail = discover([_ep("third_party", "ThirdParty"), _ep("clash", "Clash")])
    with pytest.raises(SensorError, match="op code 200 is already decoded by sensor 'third_party'"):
        load_enabled(["third_party", "clash"], avail)


class OldSdk(ThirdParty):
    name = "old_sdk"
    sdk_version = 0


class Undeclared(Sensor):
    name = "undeclared"

    def decoders(self) -> Mapping[int, Decoder]:
        return {}

    def load(self, ctx: SensorContext) -> None:
        pass


def test_a_plugin_of_another_sdk_version_is_refused_naming_both() -> None:
    with pytest.raises(SensorError) as e:
        validate(OldSdk, "old_sdk", "acme-sensor-old")
    assert str(e.value) == (
        "sensor 'old_sdk' (acme-sensor-old) was built for SDK API version 0; "
        "this tetragon-core provides SDK API version 1"
    )
    with pytest.raises(SensorError, match=r"'undeclared' \(acme\): Undeclared declares no sdk_version"):
        validate(Undeclared, "undeclared", "acme")


def test_a_missing_base_sensor_names_the_standard_set() -> None:
    with pytest.raises(SensorError, match=r"'execve' is not installed \(installed: none\); the standard set"):
        load_enabled(["execve"], {})
