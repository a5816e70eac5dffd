"""The build backend's BPF step: what it compiles, what it skips, and its errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tetragon_core import bpfbuild


def _project(tmp: Path, objects: str = "") -> Path:
    (tmp / "bpf").mkdir()
    (tmp / "bpf" / "x.c").write_text(
        '#include "vmlinux.h"\n#include "tg_sdk.h"\nchar LICENSE[] SEC("license") = "GPL";\n'
    )
    (tmp / "pyproject.toml").write_text(
        "[project]\nname = 'x'\nversion = '0'\n"
        + (objects or '[[tool.tetragon-bpf.objects]]\nsource = "bpf/x.c"\noutput = "src/x/bpf/x.o"\n')
    )
    return tmp


def test_missing_clang_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        bpfbuild.BpfBuildError, match=r"clang is needed .* \(Debian: apt install clang llvm\)"
    ):
        bpfbuild.compile_objects(root)


def test_missing_btf_and_missing_source_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setattr(bpfbuild, "_BTF", tmp_path / "no-btf")
    with pytest.raises(bpfbuild.BpfBuildError, match=r"no-btf is missing: vmlinux\.h is generated"):
        bpfbuild.compile_objects(root)
    (root / "bpf" / "x.c").unlink()
    with pytest.raises(bpfbuild.BpfBuildError, match=r"x\.c does not exist"):
        monkeypatch.setattr(bpfbuild, "_vmlinux", lambda *a: tmp_path)
        bpfbuild.compile_objects(root)


def test_fresh_objects_are_not_rebuilt_and_nothing_configured_is_nothing_done(tmp_path: Path) -> None:
    root = _project(tmp_path)
    out = root / "src" / "x" / "bpf" / "x.o"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"built")
    later = (root / "bpf" / "x.c").stat().st_mtime + 10
    os.utime(out, (later, later))
    assert bpfbuild.compile_objects(root) == []  # newer than its source and the SDK headers
    assert out.read_bytes() == b"built"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "pyproject.toml").write_text("[project]\nname = 'y'\nversion = '0'\n")
    assert bpfbuild.compile_objects(bare) == []


def test_wheels_are_tagged_for_the_bpf_architecture() -> None:
    settings = bpfbuild._with_platform(None)
    assert settings["--build-option"] == ["--plat-name", "linux_x86_64"]
    assert bpfbuild._with_platform({"--build-option": ["x"]}) == {"--build-option": ["x"]}
    assert bpfbuild.sdk_include_dir() is not None
