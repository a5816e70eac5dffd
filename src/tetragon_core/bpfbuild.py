"""The PEP 517 build backend of tetragon-core and of every sensor plugin: setuptools, plus the
compilation of the distribution's BPF C into CO-RE objects shipped as package data.

A plugin's ``pyproject.toml`` names it and lists its objects::

    [build-system]
    requires = ["tetragon-core", "setuptools>=77"]
    build-backend = "tetragon_core.bpfbuild"

    [[tool.tetragon-bpf.objects]]
    source = "bpf/my_sensor.c"                      # relative to pyproject.toml
    output = "src/my_sensor/bpf/my_sensor.o"        # inside the package, as package data

Sources are compiled with ``clang -target bpf -O2 -g`` against the SDK headers installed with
tetragon-core (``python -m tetragon_core.sdk include`` prints where) and a ``vmlinux.h`` dumped
from the build machine's BTF by bpftool; ``[tool.tetragon-bpf] include`` adds directories searched
first, ``vmlinux`` names an existing ``vmlinux.h``, and ``headers`` copies a directory of headers
into the package (tetragon-core ships bpf/lib that way). Wheels are tagged for the BPF target
architecture (``py3-none-linux_x86_64``), since CO-RE objects are portable across kernels but not
architectures. A missing clang, bpftool or BTF stops the build naming what to install.

Only the standard library and setuptools are imported here: the backend runs in an isolated build
environment, before tetragon-core's dependencies exist.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools  # type: ignore[import-untyped]

#: clang's architecture macro and the wheel platform tag, by ``uname -m``
_ARCHES = {"x86_64": ("x86", "linux_x86_64"), "aarch64": ("arm64", "linux_aarch64")}
_BTF = Path("/sys/kernel/btf/vmlinux")


class BpfBuildError(RuntimeError):
    """The BPF part of a build cannot be done; the message says what is missing."""


def _config(root: Path) -> dict[str, Any]:
    with open(root / "pyproject.toml", "rb") as f:
        tool: dict[str, Any] = tomllib.load(f).get("tool", {})
    return dict(tool.get("tetragon-bpf", {}))


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BpfBuildError(
            f"tetragon-core build: {name} is needed to compile the BPF objects and is not on PATH "
            f"(Debian: apt install {package})"
        )
    return path


def sdk_include_dir() -> Path | None:
    """The installed SDK headers (``tetragon_core/sdk/include``), if tetragon-core is installed."""
    try:
        from importlib.resources import files

        path = Path(str(files("tetragon_core") / "sdk" / "include"))
    except ModuleNotFoundError:
        return None
    return path if (path / "tg_sdk.h").is_file() else None


def _vmlinux(root: Path, cfg: dict[str, Any], scratch: Path) -> Path:
    """The directory holding the ``vmlinux.h`` to compile against."""
    given = str(cfg.get("vmlinux", ""))
    if given and (root / given).is_file():
        return (root / given).parent
    if not _BTF.is_file():
        raise BpfBuildError(
            f"tetragon-core build: {_BTF} is missing: vmlinux.h is generated from the build machine's "
            "BTF (a kernel with CONFIG_DEBUG_INFO_BTF)"
        )
    bpftool = _tool("bpftool", "bpftool")
    out = scratch / "vmlinux.h"
    with open(out, "wb") as f:
        r = subprocess.run(
            [bpftool, "btf", "dump", "file", str(_BTF), "format", "c"], stdout=f, stderr=subprocess.PIPE
        )
    if r.returncode != 0:
        raise BpfBuildError(
            f"tetragon-core build: bpftool btf dump failed: {r.stderr.decode(errors='replace')}"
        )
    return scratch


def compile_objects(root: Path | str = ".") -> list[Path]:
    """Copy the configured headers and compile every configured object of the distribution at
    ``root``; returns the objects written. Nothing configured is nothing done."""
    root = Path(root).resolve()
    cfg = _config(root)
    headers = cfg.get("headers")
    if headers:
        src, dst = root / headers["from"], root / headers["to"]
        dst.mkdir(parents=True, exist_ok=True)
        for h in sorted(src.glob("*.h")):
            target = dst / h.name
            if not target.is_file() or target.read_bytes() != h.read_bytes():
                shutil.copy2(h, target)
    objects = cfg.get("objects", [])
    if not objects:
        return []
    clang = _tool("clang", "clang llvm")
    arch, _ = _ARCHES.get(platform.machine(), ("x86", ""))
    includes = [root / d for d in cfg.get("include", [])]
    sdk = sdk_include_dir()
    if sdk is not None:
        includes.append(sdk)
    if not includes:
        raise BpfBuildError(
            "tetragon-core build: no BPF headers: install tetragon-core in the build environment "
            "(build-system.requires) or name [tool.tetragon-bpf] include"
        )
    deps = [h for d in includes for h in d.glob("*.h")]
    given = root / str(cfg.get("vmlinux", "")) if cfg.get("vmlinux") else None
    if given is not None and given.is_file():
        deps.append(given)
    todo = [o for o in objects if not _fresh(root / o["output"], [*_sources(root / o["source"]), *deps])]
    out: list[Path] = []
    if not todo:
        return out
    with tempfile.TemporaryDirectory(prefix="tg-bpfbuild-") as tmp:
        vmlinux_dir = _vmlinux(root, cfg, Path(tmp))
        for obj in todo:
            source, output = root / obj["source"], root / obj["output"]
            if not source.is_file():
                raise BpfBuildError(f"tetragon-core build: BPF source {source} does not exist")
            output.parent.mkdir(parents=True, exist_ok=True)
            cmd = [clang, "-target", "bpf", "-g", "-O2", f"-D__TARGET_ARCH_{arch}", "-Wall", "-Werror"]
            cmd += [f"-I{d}" for d in (*includes, vmlinux_dir)]
            cmd += ["-c", str(source), "-o", str(output)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise BpfBuildError(f"tetragon-core build: compiling {source} failed:\n{r.stderr}")
            out.append(output)
    return out


def _sources(source: Path) -> list[Path]:
    """A source and its sibling C files, which it may include (a variant defining a macro)."""
    return [source, *(p for p in source.parent.glob("*.c") if p != source)]


def _fresh(output: Path, inputs: list[Path]) -> bool:
    """An object newer than its source and every header it may include is not rebuilt."""
    if not output.is_file():
        return False
    built = output.stat().st_mtime
    return all(not p.is_file() or p.stat().st_mtime <= built for p in inputs)


def _with_platform(config_settings: dict[str, Any] | None) -> dict[str, Any]:
    settings = dict(config_settings or {})
    _, tag = _ARCHES.get(platform.machine(), ("", ""))
    if tag and "--build-option" not in settings:
        settings["--build-option"] = ["--plat-name", tag]
    return settings


# --- PEP 517 / PEP 660 hooks ------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return list(_setuptools.get_requires_for_build_wheel(config_settings))


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    return list(_setuptools.get_requires_for_build_sdist(config_settings))


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return list(_setuptools.get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    return str(_setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    return str(_setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings))


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    """Compile the BPF objects, then build the wheel with them as package data."""
    compile_objects(os.getcwd())
    return str(_setuptools.build_wheel(wheel_directory, _with_platform(config_settings), metadata_directory))


def build_editable(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    """An editable install compiles the objects in place too."""
    compile_objects(os.getcwd())
    return str(_setuptools.build_editable(wheel_directory, config_settings, metadata_directory))


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    return str(_setuptools.build_sdist(sdist_directory, config_settings))
