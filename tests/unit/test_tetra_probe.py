"""``tetra probe``: the feature table as printed, and the kernel config reader."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tetragon_core import probes
from tetragon_core.cli import tetra_probe


def fake(name: str, value: bool, *, root: bool = True) -> probes.Feature:
    return probes.Feature(name, f"{name} support", lambda: value, needs_root=root)


def test_every_feature_the_issue_names_is_probed() -> None:
    names = {f.name for f in probes.FEATURES}
    want = {"kprobe", "kprobe_multi", "kretprobe", "fentry", "fmodret", "override_return", "lsm"}
    assert want | {"signal", "uprobe", "ringbuf"} <= names


def test_probe_lines_and_unknown_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    feats = (fake("ringbuf", True), fake("kprobe", False), fake("uprobe", True, root=False))
    monkeypatch.setattr(probes, "FEATURES", feats)
    monkeypatch.setattr(probes, "is_root", lambda: True)
    out = io.StringIO()
    assert tetra_probe.print_probes(out) == 0
    assert out.getvalue().splitlines() == [
        "ringbuf: true    ringbuf support",
        "kprobe:  false   kprobe support",
        "uprobe:  true    uprobe support",
    ]
    monkeypatch.setattr(probes, "is_root", lambda: False)
    out = io.StringIO()
    tetra_probe.print_probes(out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ringbuf: unknown ringbuf support"
    assert lines[2] == "uprobe:  true    uprobe support"  # needs no root
    assert lines[-1] == "(unknown: BPF probes need root)"


def test_a_probe_that_raises_reads_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bool:
        raise OSError(2, "probe object missing")

    monkeypatch.setattr(probes, "FEATURES", (probes.Feature("fentry", "x", broken),))
    monkeypatch.setattr(probes, "is_root", lambda: True)
    assert probes.probe_all()[0][1] is None


def test_config_reads_proc_config_gz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "config.gz"
    with gzip.open(cfg, "wt") as f:
        f.write("# comment\nCONFIG_BPF=y\nCONFIG_KPROBES=y\n# CONFIG_FPROBE is not set\n")
    real_open = gzip.open
    monkeypatch.setattr(tetra_probe.gzip, "open", lambda p, m: real_open(cfg, m))
    assert tetra_probe.kernel_config() == {"CONFIG_BPF": "y", "CONFIG_KPROBES": "y"}
    out = io.StringIO()
    assert tetra_probe.run_probe("config", out) == 0
    lines = out.getvalue().splitlines()
    assert "CONFIG_KPROBES=y" in lines and "CONFIG_FPROBE=n" in lines
    assert len(lines) == len(tetra_probe.CONFIG_OPTIONS)
