"""The exec/exit sensor: loads bpf_execve.o and seeds execve_map from procfs."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping, Sequence

from tetragon_core.sdk import (
    BPF_ANY,
    BPF_NOEXIST,
    CGROUP_RATE_MAX_ENTRIES,
    MSG_OP_CLONE,
    MSG_OP_EXECVE,
    MSG_OP_EXIT,
    MSG_OP_THROTTLE,
    BpfMapError,
    Decoder,
    ExecveMapEntry,
    ProcfsSnapshot,
    Registry,
    Sensor,
    SensorContext,
    execve_map_entries,
    walk_procfs,
)
from tetragon_sensor_exec.decode import decode_clone, decode_exec, decode_exit, decode_throttle

log = logging.getLogger(__name__)

# struct execve_map_value (bpf/lib/process.h)
_MAP_VALUE = struct.Struct("<I4xQ I4xQ II 10I 3Q iI256s Q")
_KEY = struct.Struct("<I")


def execve_map_value(e: ExecveMapEntry) -> bytes:
    """The kernel's view of one process image, as the exec program would have written it."""
    path = e.binary.encode("utf-8", "replace")[:255]
    return _MAP_VALUE.pack(
        e.pid,
        e.ktime,
        e.parent_pid,
        e.parent_ktime,
        e.flags,
        e.nspid,
        *e.ns,
        e.cap_permitted,
        e.cap_effective,
        e.cap_inheritable,
        len(path),
        0,
        path,
        0,  # mbset: set by execs of followChildren binaries
    )


Collect = Callable[[], dict[tuple[str, ...], float]]

#: the families this sensor registers: (name, kind, help, labels)
FAMILIES = (
    ("tetragon_cgroup_rate_events_dropped_total", "counter",
     "Exec and clone events the kernel dropped because their cgroup was over --cgroup-rate.", ("event",)),
    ("tetragon_map_errors_update_total", "counter", "Number of failed updates per map.", ("map",)),
    ("tetragon_map_errors_delete_total", "counter", "Number of failed deletes per map.", ("map",)),
    ("tetragon_map_errors_total", "counter", "The number of errors per map.", ("map",)),
    ("tetragon_map_entries", "gauge", "The total number of in-use entries per map.", ("map",)),
    ("tetragon_map_capacity", "gauge", "Capacity of a BPF map.", ("map",)),
)  # fmt: skip


def _register(reg: Registry, collect: dict[str, Collect]) -> None:
    for name, kind, help_text, labels in FAMILIES:
        (reg.counter if kind == "counter" else reg.gauge)(name, help_text, labels, collect=collect.get(name))


# execve_map_stats slots (bpf/lib/process.h MAP_STATS_*)
_EUPDATE, _EDELETE, _COUNT = 0, 1, 2


class ExecSensor(Sensor):
    """process_exec / process_exit from sched_process_{fork,exec,exit} (tp_btf)."""

    name = "execve"
    sdk_version = 1
    description = "process lifecycle: exec, fork (clone) and exit"
    ops = (MSG_OP_EXECVE, MSG_OP_EXIT, MSG_OP_CLONE, MSG_OP_THROTTLE)

    def decoders(self) -> Mapping[int, Decoder]:
        return {
            MSG_OP_EXECVE: decode_exec,
            MSG_OP_EXIT: decode_exit,
            MSG_OP_CLONE: decode_clone,
            MSG_OP_THROTTLE: decode_throttle,
        }

    def load(self, ctx: SensorContext) -> None:
        path = ctx.object_path("tetragon_sensor_exec", "bpf_execve.o")
        entries = int(ctx.options.get("execve_map_entries", 32768))
        # --cgroup-rate: (events, interval ns), or None; the rate map holds one entry while off
        rate = ctx.options.get("cgroup_rate")
        obj = ctx.load_object(
            path,
            max_entries={"execve_map": entries, "cgroup_rate_map": CGROUP_RATE_MAX_ENTRIES if rate else 1},
        )
        # Later sensors look processes up in the same map.
        ctx.shared.register(obj.maps["execve_map"])
        ctx.shared.register(obj.maps["tg_mbset_paths"])  # filled by policies' followChildren
        ctx.shared.register(obj.maps["cgroup_rate_map"])  # the core's throttle tracker reads it
        if rate:
            events, interval = rate
            obj.maps["cgroup_rate_options_map"].update(_KEY.pack(0), struct.pack("<QQ", events, interval))
        drops = obj.maps["cgroup_rate_drops"]
        stats = obj.maps["execve_map_stats"]
        seeded = self._seeded = [0]  # the procfs walk's inserts, made from here

        def stat(which: int) -> int:
            # signed: the entry count goes below zero on a CPU whose exits outnumber its inserts
            per_cpu = stats.lookup_percpu(struct.pack("<I", which))
            return sum(struct.unpack("<q", v)[0] for v in per_cpu)

        def dropped(i: int) -> float:
            return float(sum(struct.unpack("<Q", v)[0] for v in drops.lookup_percpu(_KEY.pack(i))))

        collect: dict[str, Collect] = {
            "tetragon_cgroup_rate_events_dropped_total": lambda: {
                ("exec",): dropped(0),
                ("clone",): dropped(1),
            },
            "tetragon_map_errors_update_total": lambda: {("execve_map",): float(stat(_EUPDATE))},
            "tetragon_map_errors_delete_total": lambda: {("execve_map",): float(stat(_EDELETE))},
            "tetragon_map_errors_total": lambda: {("execve_map",): float(stat(_EUPDATE) + stat(_EDELETE))},
            "tetragon_map_entries": lambda: {("execve_map",): float(stat(_COUNT) + seeded[0])},
            "tetragon_map_capacity": lambda: {("execve_map",): float(entries)},
        }
        _register(ctx.registry, collect)
        obj.attach()

    def describe_metrics(self, registry: Registry) -> None:
        _register(registry, {})

    def initial_messages(self, ctx: SensorContext) -> Sequence[object]:
        """Walk procfs, seed execve_map with every running process, and return the snapshot."""
        msgs = walk_procfs(ctx.procfs)
        emap = ctx.shared.get("execve_map")
        if emap is not None:
            for e in execve_map_entries(msgs):
                try:
                    # NOEXIST: an entry the kernel wrote since the walk began is newer than ours;
                    # the <kernel> root (pid 0) is ours alone.
                    emap.update(_KEY.pack(e.pid), execve_map_value(e), BPF_ANY if e.pid == 0 else BPF_NOEXIST)
                    self._seeded[0] += 1
                except BpfMapError as err:
                    log.debug("execve_map seed for pid %d skipped: %s", e.pid, err)
        return [ProcfsSnapshot(msgs)]
