"""The decoder on records laid out as the BPF program writes them: no root, no kernel."""

from __future__ import annotations

import struct

import pytest

from example_signal_sensor import ExampleSignal, SignalSensor, decode
from tetragon_core.sdk import DecodeError, ExecKey, ReplayRing

_RECORD = struct.Struct("<BB2xIQ I4xQ I iiii I 16s")


def _record(sig: int, target: int, result: int = 0, comm: bytes = b"sleep") -> bytes:
    return _RECORD.pack(150, 0, _RECORD.size, 123456789, 4242, 111, 4243, sig, target, 0, result, 1, comm)


def test_a_kill_record_decodes_into_the_event_and_its_sender() -> None:
    ring = ReplayRing([_record(15, 777), _record(64, 778, result=1, comm=b"x" * 16)])
    first, second = (decode(r) for r in ring.read_batch())
    assert first.key == ExecKey(4242, 111) and first.ktime == 123456789
    assert first.field == "example_signal" and first.event_type == "EXAMPLE_SIGNAL"
    assert first.event == ExampleSignal(
        signal="SIGTERM", target_pid=777, target_comm="sleep", code=0, result="delivered", group=True
    )
    assert second.event.signal == "SIGRTMAX" and second.event.result == "ignored"
    assert second.event.target_comm == "x" * 16


def test_a_short_record_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="expected 72"):
        decode(_record(15, 1)[:40])


def test_the_sensor_declares_what_registration_checks() -> None:
    assert SignalSensor.name == "example_signal" and SignalSensor.sdk_version == 1
    assert set(SignalSensor().decoders()) == set(SignalSensor.ops) == {150}
    (etype,) = SignalSensor.events
    assert (etype.name, etype.number, etype.type_name) == ("example_signal", 50001, "EXAMPLE_SIGNAL")
