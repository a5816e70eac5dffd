"""The agent: composes the ring buffer, sensors, process cache and sinks, and runs them.

Start-up follows Tetragon's order: base sensor → process cache → exporters → procfs walk →
reader loop. SIGTERM/SIGINT stop it; links are detached and pins removed unless
``--keep-sensors-on-exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.to_thread

from tetragon_core.agent_parts import gops_part, grpc_part, health_part, metrics_part, sinks_part
from tetragon_core.agent_pods import PodIdentity, validate_pod_flags
from tetragon_core.aggregation import export_admission
from tetragon_core.bpf import _libbpf
from tetragon_core.bpf.bpffs import ensure_bpffs, is_bpffs, remove_pins
from tetragon_core.bpf.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, Map
from tetragon_core.bpf.objects import SharedMaps
from tetragon_core.bpf.ringbuf import RingBuffer, ring_size
from tetragon_core.cgrouprate import CgroupRate, parse_cgroup_rate
from tetragon_core.config import AgentConfig
from tetragon_core.config.agent_config import DEFAULT_SOURCE
from tetragon_core.eventmetrics import EventMetrics, label_filter
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError, SensorError, UnsupportedFeatureError
from tetragon_core.export.console import ConsoleSink
from tetragon_core.export.jsonexport import JsonExporter
from tetragon_core.export.pipeline import Transform, build_export_transform
from tetragon_core.export.timefmt import KtimeClock
from tetragon_core.fieldfilters import Redactor, parse_redaction_lines
from tetragon_core.gops import parse_gops_address
from tetragon_core.grpc.address import parse_address as parse_grpc_address
from tetragon_core.grpc.health import FLAG as HEALTH_FLAG, HealthServer
from tetragon_core.grpc.hub import EventHub
from tetragon_core.grpc.info import build_info
from tetragon_core.grpc.stacktree import StackTraceTrees
from tetragon_core.grpc.state import AgentState, SensorInfo
from tetragon_core.metrics import Registry
from tetragon_core.metrics_families import register_build_info, register_unbuilt
from tetragon_core.metrics_server import parse_address
from tetragon_core.observer import Observer, RingReader
from tetragon_core.policy.metrics import register_policy_metrics
from tetragon_core.policy.registry import PolicyRegistry
from tetragon_core.policy.startup import load_startup_policies
from tetragon_core.probes import missing_for_section
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.eventcache import EventCache
from tetragon_core.process.execid import node_name as default_node_name
from tetragon_core.process.hooks import HookHandler, HookMessage
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import (
    CloneMessage,
    ExecMessage,
    ExitMessage,
    ProcfsSnapshot,
    ThrottleMessage,
)
from tetragon_core.progstats import bpf_stats_enabled, loaded_programs, register_program_metrics
from tetragon_core.runtime_metrics import register_runtime_metrics
from tetragon_core.sensors.api import Sensor, SensorContext
from tetragon_core.sensors.faults import SensorFaults
from tetragon_core.sensors.policies import PolicySensors
from tetragon_core.sensors.registry import discover, discover_sections
from tetragon_core.sensors.startup import BASE_SENSOR, import_sensors
from tetragon_core.supervisor import Part, Supervisor

log = logging.getLogger("tetragon")

BPF_FS = "/sys/fs/bpf"
_CONF = struct.Struct("<QII")  # struct tg_conf
SOCKTRACK_ENTRIES = 32768  # tg_socktrack (bpf/lib/generic_run.h)
_STATS_VALUE_SIZE = 256 * 7 * 8  # struct tg_stats


# Young-generation GC every 50,000 allocations instead of 700: the pipeline allocates several
# objects per event and creates no cycles on its hot path (docs/decisions.md).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Apply the agent's garbage-collector thresholds."""
    gc.set_threshold(*GC_THRESHOLDS)


class Sink(Protocol):
    def submit(self, event: GetEventsResponse) -> bool: ...
    def submit_many(self, events: list[GetEventsResponse]) -> int: ...
    def close(self, timeout: float | None = ...) -> None: ...


@dataclass
class LoadedSensor:
    sensor: Sensor
    ctx: SensorContext


@dataclass
class Agent:
    """One running agent. ``run`` blocks until ``stop`` (or a signal)."""

    cfg: AgentConfig
    console: str = "none"
    sensors: Sequence[str] = ("execve",)
    node_name: str = field(default_factory=default_node_name)
    registry: Registry = field(default_factory=Registry)
    sinks: list[Sink] = field(default_factory=list)
    loaded: list[LoadedSensor] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _event_cache: EventCache | None = None
    policies: PolicyRegistry = field(default_factory=lambda: PolicyRegistry(lambda: set(discover())))
    _export_transform: Transform | None = None
    _installed: tuple[str, ...] = ()
    _start_sensors: list[Sensor] = field(default_factory=list)
    _redactor: Redactor | None = None
    _cgroup_rate: tuple[int, int] | None = None
    #: --cgroup-rate's tracker (THROTTLE_START/STOP), once the exec sensor is loaded
    throttle: CgroupRate | None = None
    #: the task tree of the running agent (ring reader, servers, periodic tasks)
    supervisor: Supervisor | None = None
    #: the health server while it runs (``--health-server-address``)
    health: HealthServer | None = None
    #: the ring reader while the agent runs
    reader: RingReader | None = None
    #: plugin failures: counted, and the sensors that could not be brought up
    faults: SensorFaults = field(init=False)

    def __post_init__(self) -> None:
        self.faults = SensorFaults(self.registry)
        self.policies.claimed_sections = self._claimed_sections

    def _claimed_sections(self) -> dict[str, str]:
        """Spec keys installed plugins claim; a malformed claim is logged and counted, and no
        plugin section is routed until it is fixed (the core's sections still are)."""
        try:
            return discover_sections()
        except SensorError as e:
            self.faults.record("?", "import", e)
            return {}

    def stop(self) -> None:
        """Ask ``run`` to shut down cleanly."""
        self._stop.set()

    @property
    def pin_dir(self) -> str:
        """Where pins live: always a directory inside the BPF filesystem, as Tetragon does."""
        d = self.cfg.bpf_dir or "tetragon"
        path = os.path.normpath(os.path.join(BPF_FS, d.lstrip("/")))
        if not path.startswith(BPF_FS + "/"):
            raise ConfigError(f"--bpf-dir: {d!r} must name a directory inside {BPF_FS}")
        return path

    def _check_privileges(self) -> None:
        if os.geteuid() != 0:
            raise UnsupportedFeatureError(
                "tetragon must run as root: loading BPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
            )

    def _build_sinks(self) -> None:
        cfg = self.cfg
        if cfg.export_filename:
            os.makedirs(os.path.dirname(os.path.abspath(cfg.export_filename)), exist_ok=True)
            self.sinks.append(
                JsonExporter(
                    cfg.export_filename,
                    registry=self.registry,
                    queue_size=cfg.event_queue_size,
                    max_size_mb=cfg.export_file_max_size_mb,
                    max_backups=cfg.export_file_max_backups,
                    compress=cfg.export_file_compress,
                    perm=cfg.export_file_perm,
                    rotation_interval=cfg.export_file_rotation_interval,
                    transform=self._export_transform,
                    aggregation=export_admission(cfg, self.registry),
                )
            )
        if self.console != "none":
            self.sinks.append(ConsoleSink(self.console, self.registry, queue_size=cfg.event_queue_size))

    def _dispatcher(
        self, manager: ProcessManager, hooks: HookHandler
    ) -> tuple[Callable[[object], None], Callable[[], None]]:
        """The observer's listener (message → events, buffered) and its end-of-batch flush."""
        sinks = self.sinks
        handlers: dict[type, Callable[[Any], GetEventsResponse | list[GetEventsResponse] | None]] = {
            ExecMessage: manager.handle_exec,
            ExitMessage: manager.handle_exit,
            CloneMessage: manager.handle_clone,
            ProcfsSnapshot: lambda snap: manager.handle_procfs(snap.messages),
            HookMessage: hooks,
            # --cgroup-rate: the tracker exists once the exec sensor's rate map does
            ThrottleMessage: lambda m: self.throttle.check(m) if self.throttle is not None else None,
        }
        unknown = self.registry.counter(
            "tetragon_errors_total", "The total number of Tetragon errors.", ("type",)
        )
        pending: list[GetEventsResponse] = []
        append = pending.append

        def dispatch(msg: object) -> None:
            h = handlers.get(type(msg))
            if h is None:
                if msg is None:  # a decoder holds the record (a kprobe entry awaiting its return)
                    return
                if type(msg) is list:  # a decoder let go of several (waiting entries given up)
                    for m in msg:
                        dispatch(m)
                    return
                unknown.inc("unhandled_message")
                return
            ev = h(msg)
            if ev is None:
                return
            if type(ev) is list:
                pending.extend(ev)
            else:
                append(ev)  # type: ignore[arg-type]

        def flush() -> None:
            if pending:
                batch = pending[:]
                pending.clear()
                for s in sinks:
                    s.submit_many(batch)

        return dispatch, flush

    def _sensor_options(self) -> dict[str, object]:
        """Settings the sensors read from their SensorContext."""
        return {
            "expose_stack_addresses": self.cfg.expose_stack_addresses,
            "disable_kprobe_multi": self.cfg.disable_kprobe_multi,
            "cgroup_rate": self._cgroup_rate,
        }

    def _sensor_context(self, shared: SharedMaps, procfs: str) -> SensorContext:
        cfg = self.cfg
        return SensorContext(
            shared,
            self.registry,
            procfs=procfs,
            pin_dir=self.pin_dir,
            options=self._sensor_options(),
            bpf_lib=self._bpf_lib(),
            verifier_log_level=cfg.verbose,
        )

    def _bpf_lib(self) -> str:
        """``--bpf-lib`` when it was set anywhere; unset, objects come from the sensor packages."""
        return self.cfg.bpf_lib if self.cfg.source("bpf-lib") != DEFAULT_SOURCE else ""

    async def _load_start_sensors(self, observer: Observer, shared: SharedMaps, procfs: str) -> None:
        """Load the sensors enabled at start (imported by ``run``). A plugin that fails is
        contained (logged, counted, listed as failed) and the others load; the base must load."""
        for sensor in self._start_sensors:
            name = sensor.name
            ctx = self._sensor_context(shared, procfs)
            ls = LoadedSensor(sensor, ctx)
            self.loaded.append(ls)  # unloaded in teardown whatever happens
            try:
                await anyio.to_thread.run_sync(sensor.load, ctx)
                observer.add_decoders(sensor.name, sensor.decoders())
            except Exception as e:
                if name == BASE_SENSOR:
                    raise
                self.faults.record(name, "load", e, disabled=True)
                self.loaded.remove(ls)
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(sensor.unload, ctx)
                continue
            log.info("sensor %s loaded", sensor.name)

    def _sensor_rows(self) -> list[SensorInfo]:
        """ListSensors: every installed sensor; a loaded one's collection is "base" for the start-up
        sensors and the names of the policies it serves otherwise (upstream's collections)."""
        loaded = {ls.sensor.name: ls for ls in self.loaded}
        rows = []
        for n in sorted(set(self._installed) | set(loaded)):
            if n in self.faults.failed:
                rows.append(SensorInfo(n, False, f"failed: {self.faults.failed[n]}"))
            elif n not in loaded:
                rows.append(SensorInfo(n, False, ""))
            elif n in self.sensors:
                rows.append(SensorInfo(n, True, "base"))
            else:
                users = [e.policy.name for e in self.policies.list() if n in e.sensors and e.handles]
                note = loaded[n].sensor.status()
                collection = ", ".join(users) + (f" ({note})" if note and users else "")
                rows.append(SensorInfo(n, bool(users), collection))
        return rows

    def _health_probe(self, sup: Supervisor) -> Callable[[], str]:
        """What the health server checks (on its own thread): "" when healthy, else why not."""

        def probe() -> str:
            if not self.ready.is_set():
                return "not ready: the sensors are loading or the procfs walk is not done"
            if sup.restarting:
                return "restarting: " + "; ".join(f"{n} ({why})" for n, why in sorted(sup.restarting.items()))
            if "ring-reader" not in sup.running:
                return "the ring buffer reader has stopped"
            if self.faults.failed:
                return "sensor failed: " + "; ".join(
                    f"{n}: {why}" for n, why in sorted(self.faults.failed.items())
                )
            return ""

        return probe

    def _release_pins(self) -> None:
        # Only ever delete inside a real bpffs mount: a pin dir is never ordinary files.
        if self.cfg.release_pinned_bpf and os.path.isdir(self.pin_dir) and is_bpffs(BPF_FS):
            remove_pins(self.pin_dir)

    def _validate(self) -> None:
        """Check what the config names on this machine before anything is loaded."""
        cfg = self.cfg
        if self._bpf_lib() and not os.path.isdir(cfg.bpf_lib):
            raise ConfigError(f"--bpf-lib: {cfg.bpf_lib} is not a directory (set by {cfg.source('bpf-lib')})")
        if not os.path.isdir(cfg.procfs):
            raise ConfigError(f"--procfs: {cfg.procfs} is not a directory")
        if cfg.event_queue_size < 1:
            raise ConfigError("--event-queue-size: must be at least 1")
        if cfg.metrics_server:
            parse_address(cfg.metrics_server)
        self._cgroup_rate = parse_cgroup_rate(cfg.cgroup_rate)
        export_admission(cfg, Registry())  # a bad setting stops the start, naming the flag
        if cfg.health_server_address:
            parse_grpc_address(cfg.health_server_address, HEALTH_FLAG)
        if cfg.export_filename and os.path.isdir(cfg.export_filename):
            raise ConfigError(f"--export-filename: {cfg.export_filename} is a directory")
        # Filter JSON is parsed here, so a malformed line fails the start naming flag and line.
        self._export_transform = build_export_transform(cfg, self.registry, self.node_name)
        rules = parse_redaction_lines(cfg.redaction_filters, "--redaction-filters")
        self._redactor = Redactor(rules) if rules else None
        self._pod_settings = validate_pod_flags(cfg)
        if cfg.gops_address:
            parse_gops_address(cfg.gops_address)

    async def run(self) -> None:
        """Load everything, stream events until stopped, then tear down in reverse order."""
        self._check_privileges()
        # imported first: their event types must be known when the export filters are parsed
        available, self._start_sensors = await anyio.to_thread.run_sync(
            import_sensors, self.sensors, self.faults
        )
        self._installed = tuple(available)
        self._validate()
        self._install_signals()  # first, so that Ctrl-C during start-up is a clean stop
        tune_gc()
        cfg = self.cfg
        if cfg.keep_sensors_on_exit:
            ensure_bpffs(BPF_FS)
        self._release_pins()
        ncpu = _libbpf.num_possible_cpus()
        ring = RingBuffer(ring_size(cfg.rb_size, cfg.rb_size_total, ncpu))
        maps: list[Map] = []
        reader: RingReader | None = None
        hub = EventHub(self.registry, cfg.event_queue_size)
        sup = self.supervisor = Supervisor(self.registry)
        try:
            async with sup:
                conf = Map.create(BPF_MAP_TYPE_ARRAY, "tg_conf_map", 4, _CONF.size, 1)
                maps.append(conf)
                stats = Map.create(BPF_MAP_TYPE_PERCPU_ARRAY, "tg_stats_map", 4, _STATS_VALUE_SIZE, 1)
                maps.append(stats)
                # Wake the reader early once a quarter of the ring is waiting; otherwise it polls.
                conf.update(b"\0\0\0\0", _CONF.pack(ring.size // 4, os.getpid(), 0))
                # TrackSock's socket → owner table: one for every hook object (each its own ELF)
                socktrack = Map.create(BPF_MAP_TYPE_LRU_HASH, "tg_socktrack", 8, 16, SOCKTRACK_ENTRIES)
                maps.append(socktrack)
                shared = SharedMaps()
                pods = PodIdentity(cfg, self.registry, self.node_name, self._pod_settings)
                filter_maps = pods.create_maps()  # --enable-policy-filter's, before any hook loads
                maps.extend(filter_maps)
                for m in (ring.map, conf, stats, socktrack, *filter_maps):
                    shared.register(m)
                self.policies.policy_filter = pods.filter
                procfs = cfg.procfs.rstrip("/") or "/proc"

                clock = KtimeClock()
                cache = ProcessCache(cfg.process_cache_size, registry=self.registry)
                # Events whose process or parent is not cached yet wait here, as in Tetragon.
                event_cache = EventCache(cfg.event_cache_retries, registry=self.registry)
                self._event_cache = event_cache
                # pods (Kubernetes API, CRI, RuntimeHook's containers) and GetStackTraceTree's trees
                pod_source = pods.source if cfg.server_address or pods.waits_for_pods else None
                stack_traces = StackTraceTrees()
                manager = ProcessManager(
                    cache,
                    self.node_name,
                    clock.rfc3339,
                    enable_process_cred=cfg.enable_process_cred,
                    enable_process_ns=cfg.enable_process_ns,
                    username_metadata=cfg.username_metadata == "unix",
                    registry=self.registry,
                    procfs=procfs,
                    event_cache=event_cache,
                    redact=self._redactor.redact_args if self._redactor is not None else None,
                    containers=pod_source,
                    cluster_name=cfg.cluster_name,
                    wait_for_pods=pods.waits_for_pods,
                )
                self.sinks.append(EventMetrics(self.registry, label_filter(cfg.metrics_label_filter)))
                if cfg.server_address:
                    self.sinks.append(hub)
                    self.sinks.append(stack_traces)
                try:
                    self._build_sinks()
                except OSError as e:
                    raise ConfigError(
                        f"--export-filename: cannot open {cfg.export_filename}: {e.strerror}"
                    ) from e
                hooks = HookHandler(
                    cache, manager.exec_id, self.node_name, clock.rfc3339, event_cache, cfg.cluster_name
                )
                dispatch, flush = self._dispatcher(manager, hooks)
                observer = Observer(
                    self.registry, dispatch, flush, handling_latency=cfg.enable_msg_handling_latency
                )
                observer.set_stats_map(stats)
                exporters = [s for s in self.sinks if isinstance(s, JsonExporter)]
                reader = self.reader = RingReader(
                    ring,
                    observer,
                    registry=self.registry,
                    queue_size=cfg.rb_queue_size,
                    backlogged=lambda: any(e.backlogged() for e in exporters) if exporters else False,
                )

                # Loading BPF and walking procfs block; they run in a worker thread, not on the loop.
                observer.on_decode_error = lambda name, e: self.faults.record(name, "decode", e)
                await self._load_start_sensors(observer, shared, procfs)
                # The start-up snapshot is handled before the ring: events since attach wait there,
                # and their parents are then already in the cache (Tetragon's order).
                for ls in list(self.loaded):
                    try:
                        msgs = await anyio.to_thread.run_sync(ls.sensor.initial_messages, ls.ctx)
                    except Exception as e:  # a plugin's start-up snapshot; the base sensor's is needed
                        if ls.sensor.name == BASE_SENSOR:
                            raise
                        self.faults.record(ls.sensor.name, "load", e)
                        continue
                    for msg in msgs:
                        dispatch(msg)
                    flush()
                await sup.start(Part.loop("ring-reader", reader.run))
                if self._cgroup_rate is not None:
                    self.throttle = CgroupRate.for_maps(
                        shared, self._cgroup_rate, self.node_name, clock.rfc3339, self.registry
                    )
                    tracker = self.throttle
                    await sup.start(Part.loop("cgroup-rate", lambda: tracker.run(self._submit)))
                # Tetragon's order: policies from the directory, then --tracing-policy, after the sensors.
                self.policies.loader = PolicySensors(
                    lambda: self._sensor_context(shared, procfs),
                    observer.add_decoders,
                    lambda sensor, ctx: self.loaded.append(LoadedSensor(sensor, ctx)),
                    faults=self.faults,
                )
                self.policies.missing_feature = missing_for_section
                register_policy_metrics(self.registry, self.policies)
                register_program_metrics(self.registry, lambda: loaded_programs(self.loaded, self.policies))
                if cfg.metrics_server and not bpf_stats_enabled():
                    log.info(
                        "tetragon_overhead_program_* stay 0 while the kernel does not count BPF runs "
                        "(sysctl kernel.bpf_stats_enabled=1 turns it on)"
                    )
                # the build is read (git) off the loop and off the start-up path
                build = asyncio.ensure_future(anyio.to_thread.run_sync(build_info))
                register_build_info(self.registry, lambda: build.result() if build.done() else None)
                register_unbuilt(self.registry)
                for part in pods.parts(self.policies):  # before the files' policies: pods reach the filter
                    await sup.start(part)
                register_runtime_metrics(self.registry)
                await anyio.to_thread.run_sync(
                    load_startup_policies, self.policies, cfg.tracing_policy, cfg.tracing_policy_dir
                )
                # What start-up built lives as long as the agent: keep it out of every future collection.
                gc.freeze()
                await sup.start(Part.loop("process-cache-gc", lambda: self._gc_loop(cache)))
                await sup.start(Part.loop("clock-resync", lambda: _resync_loop(clock)))
                await sup.start(Part.loop("event-cache-retry", lambda: self._event_cache_loop(event_cache)))
                await sup.start(sinks_part(self.sinks))
                if cfg.metrics_server:
                    await sup.start(metrics_part(self.registry, cfg.metrics_server))
                if cfg.server_address:
                    state = AgentState(
                        cache=cache,
                        policies=self.policies,
                        containers=pods.containers,
                        stack_traces=stack_traces,
                        config=cfg,
                    )
                    state.sensors_source = self._sensor_rows
                    await sup.start(grpc_part(cfg.server_address, hub, state, log))
                if cfg.gops_address:
                    await sup.start(gops_part(cfg.gops_address, log))
                if cfg.health_server_address:
                    self.health = HealthServer(self._health_probe(sup), cfg.health_server_interval)
                    await sup.start(health_part(self.health, cfg.health_server_address, log))
                self.ready.set()
                if self.health is not None:
                    self.health.refresh()
                log.info("tetragon running: %d sensors, ring %d KiB", len(self.loaded), ring.size // 1024)
                # until stopped; a part that fails for good cancels this and raises PartFailed
                await self._stop.wait()
        finally:
            hub.close()  # streams end; the final drain below runs off the loop
            # every part is cancelled by now: detach, drain and flush in a worker thread
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._teardown, maps, ring, reader)

    def _teardown(self, maps: list[Map], ring: RingBuffer, reader: RingReader | None) -> None:
        """Detach first, so that nothing is written after the final drain; then flush the sinks."""
        keep = self.cfg.keep_sensors_on_exit
        try:
            self.policies.unload_all()
            for ls in reversed(self.loaded):
                try:
                    ls.sensor.unload(ls.ctx, keep=keep)
                except Exception as e:  # one sensor failing to unload must not leak the others
                    log.error("unloading sensor %s: %s", ls.sensor.name, e)
            self.loaded.clear()
            if reader is not None:
                try:
                    reader.drain()
                except Exception as e:
                    log.error("final ring drain: %s", e)
            if self._event_cache is not None and len(self._event_cache):
                parked = self._event_cache.flush()  # sent incomplete rather than lost
                for s in self.sinks:
                    s.submit_many(parked)
        finally:
            for s in self.sinks:
                s.close(10.0)
            if not keep:
                self._release_pins()
            for m in maps:
                m.close()
            ring.close()

    def _submit(self, events: list[GetEventsResponse]) -> None:
        for s in self.sinks:
            s.submit_many(events)

    async def _event_cache_loop(self, event_cache: EventCache) -> None:
        interval = max(self.cfg.event_cache_retry_delay, 0.01)
        while True:
            await asyncio.sleep(interval)
            if len(event_cache):
                events = event_cache.retry_tick()
                if events:
                    self._submit(events)

    async def _gc_loop(self, cache: ProcessCache) -> None:
        interval = max(self.cfg.process_cache_gc_interval, 0.01)
        while True:
            await asyncio.sleep(interval)
            cache.gc_tick()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)


async def _resync_loop(clock: KtimeClock, interval: float = 10.0) -> None:
    """Follow wall-clock steps (NTP, settimeofday): ktime is boot time, exported times are wall."""
    while True:
        await asyncio.sleep(interval)
        clock.resync()
