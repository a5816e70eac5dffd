"""The families metrics_families.py registers, held to the seed's metrics reference: the same
names, help texts and label names; tetragon_build_info carries the build."""

from __future__ import annotations

import re
from pathlib import Path

from tests.promtext import families, value
from tetragon_core.grpc.info import BuildInfo
from tetragon_core.metrics import Registry
from tetragon_core.metrics_families import SENSOR_FAMILIES, UNBUILT, register_build_info, register_unbuilt

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_c4a706bb3b8a89d1.txt"


def seed_families() -> dict[str, tuple[str, set[str]]]:
    """name → (help, label names) of every tetragon_* family of the seed's reference."""
    lines = SEED.read_text().splitlines()
    out: dict[str, tuple[str, set[str]]] = {}
    for i, line in enumerate(lines):
        if not re.fullmatch(r"tetragon_\w+", line):
            continue
        help_text = lines[i + 2] if i + 2 < len(lines) else ""
        labels: set[str] = set()
        j = i + 3
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j < len(lines) and lines[j] == "label values":
            j += 1
            while j < len(lines) and lines[j].strip():
                labels.add(lines[j].split()[0])
                j += 1
        out[line] = (help_text, labels)
    return out


def test_unbuilt_families_match_the_seed() -> None:
    seed = seed_families()
    reg = Registry()
    register_unbuilt(reg)
    for name, kind, help_text, labels in UNBUILT:
        assert name in seed, name
        assert (help_text, set(labels)) == seed[name], name
        m = reg[name]
        assert (m.kind, m.labels, m.samples()) == (kind, labels, {})  # registered, at zero
        if name.endswith("_total"):
            assert kind == "counter", name


def test_build_info() -> None:
    seed = seed_families()
    reg = Registry()
    info: list[BuildInfo] = []
    register_build_info(reg, lambda: info[0] if info else None)
    assert reg["tetragon_build_info"].samples() == {}  # git not read yet
    info.append(BuildInfo("python3.11.7", "abc123", "2026-12-03T10:00:00Z", "false"))
    assert set(reg["tetragon_build_info"].labels) == seed["tetragon_build_info"][1]
    text = reg.exposition()
    assert families(text)["tetragon_build_info"].type == "gauge"
    labels = {"commit": "abc123", "go_version": "python3.11.7", "modified": "false"}
    assert value(text, "tetragon_build_info", **labels, time="2026-12-03T10:00:00Z", version="0.1.0") == 1


def test_sensor_families_agree_with_their_sensors() -> None:
    """The loader sensor's family, registered by the core at start, is the one the sensor
    registers when it loads (the registry would refuse other labels; the help is held here)."""
    from tetragon_sensor_loader.decode import LoaderDecoder

    seed = seed_families()
    reg = Registry()
    register_unbuilt(reg)
    before = {name: reg[name].help for name, *_ in SENSOR_FAMILIES}
    LoaderDecoder(reg)
    for name, _kind, help_text, labels in SENSOR_FAMILIES:
        assert reg[name].help == before[name] == help_text and (help_text, set(labels)) == seed[name], name
    for name in ("tetragon_generic_kprobe_merge_ok_total", "tetragon_generic_kprobe_merge_errors_total"):
        assert reg[name].help == seed[name][0] and set(reg[name].labels) == seed[name][1], name
