"""Kernel feature probes, run once and cached (as cilium/ebpf does).

Each probe answers one question about the running kernel, by loading (and for the kprobe kinds,
attaching for a moment) a tiny program from ``bpf/probes/``, or by asking libbpf about a helper.
Callers name the missing feature in their errors ("requires kprobes") and tests skip with that name.
``FEATURES`` lists them all, as ``tetra probe`` and GetInfo print them.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from tetragon_core.exceptions import BpfError

log = logging.getLogger(__name__)

BPF_MAP_TYPE_RINGBUF = 27
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_FUNC_override_return = 58
BPF_FUNC_send_signal = 109


@functools.cache
def is_root() -> bool:
    return os.geteuid() == 0


def _object(name: str) -> str:
    path = str(files("tetragon_core") / "bpf" / "probes" / name)
    if not os.path.exists(path):
        raise BpfError(f"probe object {path} is missing (was `make` run?)")
    return path


def _runs(obj_name: str, program: str, *, attach: bool = False) -> bool:
    """Does ``program`` of probe object ``obj_name`` load (and attach, if asked) here?"""
    from tetragon_core.bpf.objects import BpfObject, SharedMaps

    try:
        obj = BpfObject.load(_object(obj_name), SharedMaps(), autoload={program})
    except BpfError as e:
        log.debug("probe %s: %s", program, e)
        return False
    try:
        if attach:
            obj.attach(program)
        return True
    except BpfError as e:
        log.debug("probe %s: %s", program, e)
        return False
    finally:
        obj.close()


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
    return _runs("probe_tp_btf.o", "probe_tp_btf")


@functools.cache
def has_kprobes() -> bool:
    """kprobes attach (CONFIG_KPROBES: the ``kprobe`` perf PMU, and a kprobe program on a function)."""
    return os.path.isdir("/sys/bus/event_source/devices/kprobe") and _runs(
        "probe_features.o", "probe_kprobe", attach=True
    )


@functools.cache
def has_kretprobes() -> bool:
    """kretprobes attach."""
    return has_kprobes() and _runs("probe_features.o", "probe_kretprobe", attach=True)


@functools.cache
def has_kprobe_multi() -> bool:
    """kprobe.multi links (5.18+, CONFIG_FPROBE) attach."""
    return _runs("probe_features.o", "probe_kprobe_multi", attach=True)


@functools.cache
def has_fentry() -> bool:
    """fentry and fexit (BPF trampolines) load: lockdown integrity mode refuses them."""
    return _runs("probe_features.o", "probe_fentry") and _runs("probe_features.o", "probe_fexit")


@functools.cache
def has_fmod_ret() -> bool:
    """fmod_ret programs load on a ``security_*`` function (the Override fallback)."""
    return _runs("probe_features.o", "probe_fmod_ret")


@functools.cache
def has_override_return() -> bool:
    """The bpf_override_return helper (CONFIG_BPF_KPROBE_OVERRIDE), which kprobe Override uses."""
    from tetragon_core.bpf import _libbpf

    return has_kprobes() and _libbpf.probe_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_override_return)


@functools.cache
def has_send_signal() -> bool:
    """The bpf_send_signal helper (5.3+), which Sigkill and Signal use."""
    from tetragon_core.bpf import _libbpf

    return _libbpf.probe_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal)


@functools.cache
def has_probe_write_user() -> bool:
    """The bpf_probe_write_user helper, which the USDT Set action uses: kernel lockdown
    (integrity and above) removes it. A uprobe program that calls it must load: libbpf's helper
    probe misreads the verifier's refusal on newer kernels ("cannot use helper")."""
    return _runs("probe_features.o", "probe_write_user")


@functools.cache
def has_uprobes() -> bool:
    """The kernel has uprobes (the ``uprobe`` perf PMU)."""
    return os.path.isdir("/sys/bus/event_source/devices/uprobe")


def _lsm_active() -> bool:
    """``bpf`` is in the kernel's active LSM list (boot with ``lsm=...,bpf``)."""
    try:
        with open("/sys/kernel/security/lsm") as f:
            return "bpf" in f.read().strip().split(",")
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


@functools.cache
def has_bpf_lsm() -> bool:
    """BPF LSM runs: ``bpf`` is an active LSM and an LSM program loads."""
    return _lsm_active() and _runs("probe_features.o", "probe_lsm")


@dataclass(frozen=True)
class Feature:
    """One probed kernel feature: its name (as ``tetra probe`` prints it), what it is, its probe."""

    name: str
    needs: str
    probe: Callable[[], bool]
    needs_root: bool = True


FEATURES: tuple[Feature, ...] = (
    Feature("btf", "kernel BTF (/sys/kernel/btf/vmlinux)", has_btf, needs_root=False),
    Feature("ringbuf", "the BPF ring buffer", has_ringbuf),
    Feature("tp_btf", "BTF tracepoints (tp_btf)", has_tp_btf),
    Feature("kprobe", "kprobes (CONFIG_KPROBES)", has_kprobes),
    Feature("kretprobe", "kretprobes (CONFIG_KPROBES)", has_kretprobes),
    Feature("kprobe_multi", "kprobe.multi links (CONFIG_FPROBE)", has_kprobe_multi),
    Feature("fentry", "fentry/fexit programs (BPF trampolines, refused by lockdown)", has_fentry),
    Feature("fmodret", "fmod_ret programs", has_fmod_ret),
    Feature("override_return", "bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE)", has_override_return),
    Feature("lsm", "BPF LSM (CONFIG_BPF_LSM, boot with lsm=...,bpf)", has_bpf_lsm),
    Feature("signal", "bpf_send_signal", has_send_signal),
    Feature("uprobe", "uprobes (CONFIG_UPROBES)", has_uprobes, needs_root=False),
    Feature("probe_write_user", "bpf_probe_write_user (refused by lockdown)", has_probe_write_user),
)


def probe_all() -> list[tuple[Feature, bool | None]]:
    """Every feature with its answer; None when it cannot be told (a BPF probe needs root)."""
    out: list[tuple[Feature, bool | None]] = []
    for f in FEATURES:
        if f.needs_root and not is_root():
            out.append((f, None))
            continue
        try:
            out.append((f, bool(f.probe())))
        except (BpfError, OSError) as e:
            log.debug("probe %s failed: %s", f.name, e)
            out.append((f, None))
    return out


#: spec section → (probe, what it needs), for the kernel features a whole section depends on
#: (kprobes are decided per hook by the kprobe sensor: syscall hooks run without them)
_SECTION_FEATURES = {
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
