"""The public sensor SDK: the built-in plugins use nothing else, and it ships its BPF headers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tetragon_core.sdk as sdk

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(ROOT.glob("plugins/*/src/**/*.py"))


def _core_imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tetragon_core":
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "tetragon_core"]
    return out


def test_built_in_plugins_import_only_the_public_sdk() -> None:
    assert len(PLUGINS) >= 12
    private = [
        f"{p.relative_to(ROOT)}:{line}: {mod}"
        for p in PLUGINS
        for line, mod in _core_imports(p)
        if mod != "tetragon_core.sdk"
    ]
    assert not private, "plugins must import tetragon_core.sdk only:\n" + "\n".join(private)


def test_every_exported_name_exists_and_plugins_declare_the_version() -> None:
    missing = [n for n in sdk.__all__ if not hasattr(sdk, n)]
    assert not missing
    assert sdk.SDK_VERSION == 1
    for p in ROOT.glob("plugins/*/src/*/sensor.py"):
        assert "\n    sdk_version = 1\n" in p.read_text(), p


def test_the_include_command_prints_the_bpf_headers() -> None:
    r = subprocess.run([sys.executable, "-m", "tetragon_core.sdk", "include"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    inc = Path(r.stdout.strip())
    assert inc == sdk.include_dir()
    assert {"tg_sdk.h", "common.h", "process.h", "generic_run.h"} <= {h.name for h in inc.glob("*.h")}
    for h in (ROOT / "bpf" / "lib").glob("*.h"):  # the same headers the built-in objects use
        assert (inc / h.name).read_bytes() == h.read_bytes(), h.name
    bad = subprocess.run([sys.executable, "-m", "tetragon_core.sdk"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage:" in bad.stderr
