"""Feature probes on Debian's 6.1 kernel booted with lsm=lockdown,capability,bpf."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from tetragon_core import probes

TETRA = str(Path(sys.executable).with_name("tetra"))

# Debian bookworm's config: CONFIG_KPROBES, CONFIG_BPF_LSM, trampolines; no
# CONFIG_BPF_KPROBE_OVERRIDE; kprobe.multi does not attach there either
EXPECTED = {
    "btf": True,
    "ringbuf": True,
    "tp_btf": True,
    "kprobe": True,
    "kretprobe": True,
    "kprobe_multi": False,
    "fentry": True,
    "fmodret": True,
    "override_return": False,
    "lsm": True,
    "signal": True,
    "uprobe": True,
    "probe_write_user": True,  # the lockdown LSM runs, at its default level: none
}


def test_the_guest_runs_debian_6_1() -> None:
    assert platform.release().startswith("6.1."), platform.release()


def test_probes_see_the_vm_kernel_features() -> None:
    assert {f.name: ok for f, ok in probes.probe_all()} == EXPECTED


def test_tetra_probe_prints_them() -> None:
    r = subprocess.run([TETRA, "probe"], capture_output=True, text=True, check=True)
    got = {line.split(":")[0]: line.split()[1] for line in r.stdout.splitlines()}
    assert got == {k: str(v).lower() for k, v in EXPECTED.items()}


def test_kprobe_and_lsm_sections_are_not_refused_for_a_missing_feature() -> None:
    assert probes.missing_for_section("enforcers") is None
    assert probes.missing_for_section("lsmhooks") is None
