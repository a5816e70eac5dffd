"""Kernel feature probes, run once and cached (as cilium/ebpf does).

Each probe answers one question about the running kernel; callers name the missing feature in
their errors ("requires BPF ring buffer") and tests skip with that name.
"""

from __future__ import annotations

import functools
import os
from importlib.resources import files

from tetragon_core.exceptions import BpfError

BPF_MAP_TYPE_RINGBUF = 27


@functools.cache
def is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def has_btf() -> bool:
    """The kernel exposes its own BTF, which CO-RE relocations need."""
    return os.path.exists("/sys/kernel/btf/vmlinux")


@functools.cache
def has_ringbuf() -> bool:
    """BPF_MAP_TYPE_RINGBUF (5.8+)."""
    from tetragon_core.bpf import _libbpf

    return _libbpf.probe_map_type(BPF_MAP_TYPE_RINGBUF)


@functools.cache
def has_tp_btf() -> bool:
    """BTF-typed tracepoints (tp_btf) load, which the base sensor uses."""
    from tetragon_core.bpf import _libbpf

    path = str(files("tetragon_core") / "bpf" / "probes" / "probe_tp_btf.o")
    if not os.path.exists(path):
        raise BpfError(f"probe object {path} is missing (was `make` run?)")
    obj = _libbpf.open_object(path)
    try:
        _libbpf.load_object(obj, "probe_tp_btf.o")
        return True
    except BpfError:
        return False
    finally:
        _libbpf.close_object(obj)


@functools.cache
def has_kprobes() -> bool:
    """The kernel has kprobes (CONFIG_KPROBES with kprobe events: the ``kprobe`` perf PMU)."""
    return os.path.isdir("/sys/bus/event_source/devices/kprobe")


@functools.cache
def has_uprobes() -> bool:
    """The kernel has uprobes (the ``uprobe`` perf PMU)."""
    return os.path.isdir("/sys/bus/event_source/devices/uprobe")


@functools.cache
def has_bpf_lsm() -> bool:
    """BPF LSM is active (``bpf`` in the kernel's LSM list, which needs ``lsm=...,bpf``)."""
    for path in ("/sys/kernel/security/lsm",):
        try:
            with open(path) as f:
                return "bpf" in f.read().split(",")
        except OSError:
            pass
    # securityfs not mounted: the boot command line is the next best witness
    try:
        with open("/proc/cmdline") as f:
            for word in f.read().split():
                if word.startswith("lsm="):
                    return "bpf" in word[4:].split(",")
    except OSError:
        pass
    return False


#: spec section → (probe, what it needs), for the kernel features a policy section depends on
_SECTION_FEATURES = {
    "kprobes": (has_kprobes, "kprobes (CONFIG_KPROBES; this kernel has no kprobe PMU)"),
    "enforcers": (has_kprobes, "an enforcer: bpf_override_return needs kprobes (CONFIG_KPROBES)"),
    "lsmhooks": (has_bpf_lsm, "BPF LSM (boot with lsm=...,bpf)"),
    "uprobes": (has_uprobes, "uprobes (CONFIG_UPROBES)"),
    "usdts": (has_uprobes, "uprobes (CONFIG_UPROBES)"),
}


def missing_for_section(section: str) -> str | None:
    """The kernel feature a TracingPolicy section needs and this kernel lacks, or None."""
    probe = _SECTION_FEATURES.get(section)
    if probe is None or probe[0]():
        return None
    return probe[1]


def missing_base_features() -> list[str]:
    """What the base (exec/exit) sensor needs and this machine lacks, by name."""
    if not is_root():
        return ["root privileges (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)"]
    missing = []
    if not has_btf():
        return ["kernel BTF (/sys/kernel/btf/vmlinux)"]
    if not has_ringbuf():
        missing.append("BPF ring buffer")
    if not has_tp_btf():
        missing.append("tp_btf programs")
    return missing
