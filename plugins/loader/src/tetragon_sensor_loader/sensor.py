"""The loader sensor: one BPF object, loaded while at least one policy has ``loader: true``.

Route: with kprobes, upstream's (a kprobe on perf_event_mmap_output, the kernel's own build id);
without, the syscall tracepoint sys_exit_mmap and sched_process_exec (build id read in user
space). The route is logged and shown in ``tetra sensors list``.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable, Mapping

from tetragon_core.sdk import (
    BpfObject,
    Decoder,
    PolicyError,
    PolicyHandle,
    Registry,
    Sensor,
    SensorContext,
    TetragonError,
    UnsupportedFeatureError,
    probes,
    tracefs,
)
from tetragon_sensor_loader.decode import MSG_OP_LOADER, LoaderDecoder
from tetragon_sensor_loader.perf import MmapEvents

log = logging.getLogger(__name__)

ROUTE_KPROBE = "kprobe perf_event_mmap_output"
ROUTE_TRACEPOINT = "tracepoint syscalls/sys_exit_mmap + sched_process_exec"
_ZERO = struct.pack("<I", 0)
_STATS = ("sent", "output_failed", "no_file")


class _Loaded:
    """The object and its perf events, while any policy uses them."""

    def __init__(self, ctx: SensorContext, route: str) -> None:
        obj_path = ctx.object_path("tetragon_sensor_loader", "bpf_loader.o")
        progs = {"loader_kprobe"} if route == ROUTE_KPROBE else {"loader_mmap", "loader_exec"}
        if route == ROUTE_TRACEPOINT:  # libbpf attaches tracepoints through tracefs
            events = tracefs.events_dir()
            if not os.path.isdir(os.path.join(events, "syscalls", "sys_exit_mmap")):
                raise UnsupportedFeatureError(
                    "the tracepoint syscalls/sys_exit_mmap is missing (CONFIG_FTRACE_SYSCALLS)"
                )
        self.obj: BpfObject = ctx.load_untracked(obj_path, autoload=progs)
        self.events: MmapEvents | None = None
        self.enabled = 0
        try:
            if route == ROUTE_KPROBE:
                self.events = MmapEvents()
                ids = self.obj.maps["tg_loader_ids"]
                for i in self.events.ids:
                    ids.update(struct.pack("<Q", i), b"\x01")
        except BaseException:
            self.close()
            raise

    def attach(self) -> None:
        self.obj.attach()

    def detach(self) -> None:
        self.obj.detach()

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
        self.obj.close()

    def stats(self) -> dict[str, int]:
        out = dict.fromkeys(_STATS, 0)
        for cpu in self.obj.maps["tg_loader_stats_map"].lookup_percpu(_ZERO):
            for name, v in zip(_STATS, struct.unpack_from(f"<{len(_STATS)}Q", cpu), strict=True):
                out[name] += v
        return out


class _Handle(PolicyHandle):
    def __init__(self, sensor: LoaderSensor) -> None:
        self._sensor = sensor
        self._enabled = True

    def enable(self) -> None:
        if not self._enabled:
            self._enabled = True
            self._sensor._enable(+1)

    def disable(self) -> None:
        if self._enabled:
            self._enabled = False
            self._sensor._enable(-1)

    def set_mode(self, mode: str) -> None:
        """The loader only observes: nothing to enforce."""

    def unload(self) -> None:
        self.disable()
        self._sensor._release(self)

    def stats(self) -> Mapping[str, int]:
        return self._sensor.kernel_stats()


def _kernel_family(reg: Registry, collect: Callable[[], dict[tuple[str, ...], float]] | None) -> None:
    reg.counter(
        "tetragon_process_loader_kernel_total",
        "Loader records by their outcome in the kernel (sent, output_failed: the ring was full, "
        "no_file: an executable mapping without a file).",
        ("outcome",),
        collect=collect,
    )


class LoaderSensor(Sensor):
    """process_loader events for ``spec.loader: true``."""

    name = "loader"
    sdk_version = 1
    description = "ProcessLoader: every executable mapping of a file with a build id"
    ops = (MSG_OP_LOADER,)
    sections = ("loader",)

    def __init__(self) -> None:
        self._decoder = LoaderDecoder()
        self._loaded: _Loaded | None = None
        self._users: set[_Handle] = set()
        self.route = ""

    def decoders(self) -> Mapping[int, Decoder]:
        return {MSG_OP_LOADER: self._decoder}

    def load(self, ctx: SensorContext) -> None:
        """Nothing until a policy asks for the loader; the decoder's metrics are registered."""
        self._decoder = LoaderDecoder(ctx.registry)
        _kernel_family(ctx.registry, lambda: {(k,): float(v) for k, v in self.kernel_stats().items()})

    def describe_metrics(self, registry: Registry) -> None:
        LoaderDecoder(registry)
        _kernel_family(registry, None)

    def status(self) -> str:
        return f"route: {self.route}" if self.route else ""

    def kernel_stats(self) -> dict[str, int]:
        return self._loaded.stats() if self._loaded is not None else dict.fromkeys(_STATS, 0)

    def load_policy(self, ctx: SensorContext, policy: object, policy_id: int, mode: str) -> PolicyHandle:
        """Load (first policy) and attach the loader; later policies share it."""
        if self._loaded is None:
            route = ROUTE_KPROBE if probes.has_kprobes() else ROUTE_TRACEPOINT
            try:
                self._loaded = _Loaded(ctx, route)
            except TetragonError as e:
                raise PolicyError("spec.loader", f"the loader ({route}) could not be loaded: {e}") from e
            self.route = route
            log.info("loader: %s", route)
        handle = _Handle(self)
        self._users.add(handle)
        self._enable(+1)
        return handle

    def _enable(self, delta: int) -> None:
        loaded = self._loaded
        if loaded is None:
            return
        before = loaded.enabled
        loaded.enabled += delta
        if before == 0 and loaded.enabled == 1:
            loaded.attach()
        elif before == 1 and loaded.enabled == 0:
            loaded.detach()

    def _release(self, handle: _Handle) -> None:
        self._users.discard(handle)
        if not self._users and self._loaded is not None:
            self._loaded.close()
            self._loaded = None
            self.route = ""

    def unload(self, ctx: SensorContext, *, keep: bool = False) -> None:
        """Close the object if policies still hold it (agent shutdown)."""
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None
        super().unload(ctx, keep=keep)
