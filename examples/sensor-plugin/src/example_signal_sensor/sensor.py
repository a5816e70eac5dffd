"""The sensor, its event type and its decoder; written against ``tetragon_core.sdk`` only."""

from __future__ import annotations

import signal
import struct
from collections.abc import Mapping

from tetragon_core.sdk import (
    DecodeError,
    Decoder,
    EventType,
    ExecKey,
    HookMessage,
    PluginEvent,
    Sensor,
    SensorContext,
    UInt32,
)

OP = 150  # example_signal.c's EXAMPLE_SIGNAL_OP: a plugin op code (100..199)
EVENT_NUMBER = 50001  # GetEventsResponse field / EventType number, in the plugin range

# struct example_signal_msg: msg_common, msg_execve_key, then the signal's fields
_RECORD = struct.Struct("<BB2xIQ I4xQ I iiii I 16s")
_RESULTS = ("delivered", "ignored", "already_pending", "overflow_fail", "lose_info")


class ExampleSignal(PluginEvent):
    """A signal sent: ``process`` (and ``parent``) is the sender, from the process cache."""

    signal: str = ""  # SIGTERM, SIGKILL ... (the number if it has no name)
    target_pid: UInt32 = 0
    target_comm: str = ""
    code: int = 0  # si_code (SI_USER for kill(2), SI_KERNEL ...)
    result: str = ""  # what the kernel did with it: delivered, ignored, ...
    group: bool = False  # sent to the thread group rather than one thread


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def render(ev: ExampleSignal, info: str) -> str:
    """The ``--console compact`` line: ``📶 signal  <node> <sender> SIGTERM → <pid> (<comm>)``."""
    return f"📶 signal  {info} {ev.signal} → {ev.target_pid} ({ev.target_comm})"


def decode(rec: bytes) -> HookMessage:
    """One ``example_signal_msg`` record → the event, for the core to enrich with the sender."""
    if len(rec) < _RECORD.size:
        raise DecodeError(f"example_signal record of {len(rec)} bytes, expected {_RECORD.size}")
    (_op, _flags, _size, ktime, pid, exec_ktime, _tid, sig, target, code, result, group, comm) = (
        _RECORD.unpack_from(rec)
    )
    event = ExampleSignal(
        signal=_signal_name(sig),
        target_pid=max(target, 0),
        target_comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"),
        code=code,
        result=_RESULTS[result] if 0 <= result < len(_RESULTS) else str(result),
        group=bool(group),
    )
    return HookMessage(ExecKey(pid, exec_ktime), ktime, "example_signal", event, "EXAMPLE_SIGNAL")


class SignalSensor(Sensor):
    """Loads example_signal.o and attaches it to signal:signal_generate."""

    name = "example_signal"
    sdk_version = 1
    description = "every signal sent (signal:signal_generate)"
    ops = (OP,)
    events = (EventType("example_signal", ExampleSignal, EVENT_NUMBER, render),)

    def decoders(self) -> Mapping[int, Decoder]:
        return {OP: decode}

    def load(self, ctx: SensorContext) -> None:
        obj = ctx.load_object(ctx.object_path("example_signal_sensor", "example_signal.o"))
        obj.attach()  # by its SEC("tracepoint/signal/signal_generate")
