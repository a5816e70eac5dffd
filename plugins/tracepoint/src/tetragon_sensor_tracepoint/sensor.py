"""The generic_tracepoint sensor: one BPF object per policy hook, selectors evaluated in the kernel."""

from __future__ import annotations

import itertools
import logging
import struct
import threading
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from tetragon_core.bpf import _libbpf as lb
from tetragon_core.bpf.maps import Map
from tetragon_core.bpf.objects import BpfObject
from tetragon_core.exceptions import TetragonError
from tetragon_core.policy import PolicyError, TracingPolicy
from tetragon_core.policy.kernel import HostInfo, compile_hook
from tetragon_core.policy.metrics import OUTCOMES
from tetragon_core.process.messages import MSG_OP_GENERIC_TRACEPOINT
from tetragon_core.process.namespaces import read_host_namespaces
from tetragon_core.sensors.api import Decoder, PolicyHandle, Sensor, SensorContext
from tetragon_sensor_tracepoint import follow
from tetragon_sensor_tracepoint.args import program_for, resolve_args
from tetragon_sensor_tracepoint.decode import HookInfo, decode_record
from tetragon_sensor_tracepoint.follow import MbsetBits
from tetragon_sensor_tracepoint.lists import list_resolver

log = logging.getLogger(__name__)

_ZERO = struct.pack("<I", 0)
_HOOK_RAW = 0x1
#: struct tg_hook_stats, in order: the run count, then the outcomes the core exports
STATS = ("calls", *OUTCOMES)


def _memlock(fd: int) -> int:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("memlock:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Hook:
    """One tracepoint of a policy: its loaded object and where it attaches."""

    def __init__(
        self, obj: BpfObject, program: str, subsys: str, event: str, raw: bool, shared: set[str]
    ) -> None:
        self.obj = obj
        self.own_maps = [m for name, m in obj.maps.items() if name not in shared]
        self.program = program
        self.subsys = subsys
        self.event = event
        self.raw = raw

    def attach(self) -> None:
        if self.obj.links:
            return
        if self.raw:
            self.obj.attach_raw_tracepoint(self.program, self.event)
        else:
            self.obj.attach_tracepoint(self.program, self.subsys, self.event)


class _Follow:
    """A policy's followChildren bits and binary sets."""

    def __init__(self, bits: MbsetBits, paths: Map | None, execve_map: Map | None) -> None:
        self.bits = bits
        self.paths = paths
        self.execve_map = execve_map
        self.taken: list[int] = []
        self.entries: list[tuple[str, int]] = []

    def take(self) -> int:
        bit = self.bits.take()
        self.taken.append(bit)
        return bit

    def install(self, entries: list[tuple[str, int]]) -> None:
        if self.paths is not None and entries:
            self.entries += entries
            follow.install(self.paths, self.execve_map, entries)

    def release(self) -> None:
        if self.paths is not None and self.entries:
            follow.remove(self.paths, self.execve_map, self.entries)
        self.bits.give_back(self.taken)
        self.taken, self.entries = [], []


class TracepointPolicy(PolicyHandle):
    """A policy's tracepoint hooks."""

    def __init__(
        self, sensor: TracepointSensor, hooks: list[_Hook], ids: list[int], follow: _Follow | None = None
    ) -> None:
        self._sensor = sensor
        self._hooks = hooks
        self._ids = ids
        self._follow = follow

    def enable(self) -> None:
        for h in self._hooks:
            h.attach()

    def disable(self) -> None:
        for h in self._hooks:
            h.obj.detach()

    def set_mode(self, mode: str) -> None:
        value = struct.pack("<II", 1 if mode == "monitor" else 0, 0)
        for h in self._hooks:
            h.obj.maps["tg_hook_mode_map"].update(_ZERO, value)

    def unload(self) -> None:
        for h in self._hooks:
            h.obj.close()
        self._hooks = []
        self._sensor.forget(self._ids)
        if self._follow is not None:
            self._follow.release()
            self._follow = None

    def kernel_memory(self) -> int:
        total = 0
        for h in self._hooks:
            total += sum(_memlock(m.fd) for m in h.own_maps) + _memlock(h.obj.program_fd(h.program))
        return total

    def stats(self) -> Mapping[str, int]:
        out = dict.fromkeys(STATS, 0)
        for h in self._hooks:
            for cpu in h.obj.maps["tg_hook_stats_map"].lookup_percpu(_ZERO):
                for name, v in zip(STATS, struct.unpack(f"<{len(STATS)}Q", cpu), strict=True):
                    out[name] += v
        return out


class TracepointSensor(Sensor):
    """process_tracepoint events from TracingPolicy ``tracepoints`` (classic and raw)."""

    name = "generic_tracepoint"
    description = "TracingPolicy tracepoints and raw tracepoints, selectors evaluated in the kernel"
    ops = (MSG_OP_GENERIC_TRACEPOINT,)
    sections = ("tracepoints",)

    def __init__(self) -> None:
        self._hooks: dict[int, HookInfo] = {}
        self._next_id = itertools.count(1)
        self._lock = threading.Lock()
        self._bits = MbsetBits()

    def decoders(self) -> Mapping[int, Decoder]:
        hooks = self._hooks
        return {MSG_OP_GENERIC_TRACEPOINT: lambda rec: decode_record(rec, hooks)}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a tracepoint."""

    def forget(self, ids: Sequence[int]) -> None:
        with self._lock:
            for i in ids:
                self._hooks.pop(i, None)

    def load_policy(self, ctx: SensorContext, policy: Any, policy_id: int, mode: str) -> PolicyHandle:
        """Compile every tracepoint of ``policy`` first (errors name the YAML path), then load."""
        assert isinstance(policy, TracingPolicy)
        spec = policy.spec
        host = HostInfo(namespaces=read_host_namespaces(ctx.procfs) or ())
        lists = list_resolver(spec.lists)
        paths = ctx.shared.get("tg_mbset_paths")
        fol = _Follow(self._bits, paths, ctx.shared.get("execve_map"))
        try:
            return self._load(ctx, policy, mode, host, lists, fol)
        except BaseException:
            fol.release()
            raise

    def _load(
        self, ctx: SensorContext, policy: TracingPolicy, mode: str, host: HostInfo, lists: Any, fol: _Follow
    ) -> PolicyHandle:
        spec = policy.spec
        plans = []
        for i, tp in enumerate(spec.tracepoints):
            path = f"spec.tracepoints[{i}]"
            resolved = resolve_args(path, tp)
            with self._lock:
                hook_id = next(self._next_id)
            compiled = compile_hook(
                path,
                hook_id,
                [r.spec for r in resolved],
                tp.selectors,
                macros=spec.selectors_macros,
                host=host,
                lists=lists,
                flags=_HOOK_RAW if tp.raw else 0,
                mbset_bit=fol.take if fol.paths is not None else None,
            )
            info = HookInfo(policy.name, tp.subsystem, tp.event, resolved, tp.message, list(tp.tags))
            plans.append((tp, hook_id, compiled, info))
        obj_path = str(files("tetragon_sensor_tracepoint") / "bpf" / "bpf_generic_tracepoint.o")
        hooks: list[_Hook] = []
        ids = [p[1] for p in plans]
        try:
            for tp, hook_id, compiled, info in plans:
                program = program_for(tp)
                obj = BpfObject.load(
                    obj_path,
                    ctx.shared,
                    autoload={program},
                    max_entries={"tg_heap_map": lb.num_possible_cpus()},
                    rodata={".rodata.hook": compiled.cfg},
                )
                shared = {m.name for m in ctx.shared}
                hooks.append(_Hook(obj, program, tp.subsystem, tp.event, tp.raw, shared))
                obj.maps["tg_hook_mode_map"].update(
                    _ZERO, struct.pack("<II", 1 if mode == "monitor" else 0, 0)
                )
                for map_name, entries in compiled.maps.items():
                    m = obj.maps[map_name]
                    for k, v in entries.items():
                        m.update(k, v)
                with self._lock:
                    self._hooks[hook_id] = info  # before attach: the first record may come at once
            for _tp, _id, compiled, _info in plans:
                fol.install(compiled.mbset)  # before attach: no event may miss a set bit
            handle = TracepointPolicy(self, hooks, ids, fol)
            handle.enable()
        except (TetragonError, OSError) as e:
            for h in hooks:
                h.obj.close()
            self.forget(ids)
            if isinstance(e, PolicyError):
                raise
            raise PolicyError("spec.tracepoints", f"loading failed: {e}") from e
        return handle
