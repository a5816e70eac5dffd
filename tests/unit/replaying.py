"""Replaying a recorded ring through the agent's decoding path: the exec sensor's decoders and
a hook sensor's, the process cache and the hook handler, as the agent runs them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tetragon_core.bpf.replay import ReplayRing, load_records
from tetragon_core.events import GetEventsResponse
from tetragon_core.export.timefmt import KtimeClock
from tetragon_core.metrics import Registry
from tetragon_core.observer import Observer
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.hooks import HookHandler, HookMessage
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import ExecMessage, ExitMessage
from tetragon_core.sensors.api import Decoder
from tetragon_sensor_exec import ExecSensor


def replay_hooks(
    recording: Path, sensor: str, decoders: Mapping[int, Decoder], reg: Registry
) -> list[GetEventsResponse]:
    """The events the agent makes of ``recording`` with ``sensor``'s ``decoders``, in order."""
    cache = ProcessCache(1000, registry=reg)
    clock = KtimeClock(offset_ns=0).rfc3339
    mgr = ProcessManager(cache, "node1", clock, registry=reg, procfs=None)
    hooks = HookHandler(cache, mgr.exec_id, "node1", clock)
    out: list[GetEventsResponse] = []

    def listener(msg: object) -> None:
        if isinstance(msg, list):
            for m in msg:
                listener(m)
            return
        ev = None
        if isinstance(msg, ExecMessage):
            ev = mgr.handle_exec(msg)
        elif isinstance(msg, ExitMessage):
            ev = mgr.handle_exit(msg)
        elif isinstance(msg, HookMessage):
            ev = hooks(msg)
        if ev is not None:
            out.append(ev)

    obs = Observer(reg, listener)
    obs.add_decoders("execve", ExecSensor().decoders())
    obs.add_decoders(sensor, decoders)
    ring = ReplayRing(load_records(recording))
    while recs := ring.read_batch(64):
        obs.handle_records(recs)
    return out
