"""Feature probes on this host's kernel, checked against independent witnesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tetragon_core import probes

TETRA = str(Path(sys.executable).with_name("tetra"))


def test_tetra_probe_answers_every_feature_as_root() -> None:
    r = subprocess.run([TETRA, "probe"], capture_output=True, text=True, check=True)
    got = {line.split(":")[0]: line.split()[1] for line in r.stdout.splitlines()}
    assert set(got) == {f.name for f in probes.FEATURES}
    assert "unknown" not in got.values(), r.stdout
    # the base sensor runs on this kernel (the other kernel tests show it), so these hold
    assert got["btf"] == got["ringbuf"] == got["tp_btf"] == got["signal"] == "true"


def test_probes_agree_with_the_kernel_s_own_witnesses() -> None:
    pmu = "/sys/bus/event_source/devices/"
    if not os.path.exists("/sys/kernel/security/lsm"):  # the LSM list and lockdown live there
        subprocess.run(["mount", "-t", "securityfs", "securityfs", "/sys/kernel/security"], check=True)
    assert probes.has_uprobes() == os.path.isdir(pmu + "uprobe")
    if not os.path.isdir(pmu + "kprobe"):  # no kprobe PMU: nothing built on kprobes can run
        assert not probes.has_kprobes() and not probes.has_kretprobes()
        assert not probes.has_override_return()
        assert probes.missing_for_section("enforcers") is not None
    with open("/sys/kernel/security/lsm") as f:
        if "bpf" not in f.read().split(","):
            assert not probes.has_bpf_lsm()
    lockdown = Path("/sys/kernel/security/lockdown")
    if lockdown.exists() and "[integrity]" in lockdown.read_text():
        # trampolines are refused, and BPF LSM programs are trampolines too
        assert not probes.has_fentry() and not probes.has_fmod_ret() and not probes.has_bpf_lsm()
