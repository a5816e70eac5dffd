"""grpcio-tools' protoc, as both proto generators run it (``-I proto``, Python modules and stubs)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"

_GENCODE_RE = re.compile(
    r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),"
)


def run_protoc(files: list[str]) -> dict[str, str]:
    """Compile ``proto/<files>``; returns each generated ``*_pb2.py`` and ``*_pb2.pyi`` by its path
    relative to the output root (``tetragon/tetragon_pb2.py``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *files,
        ]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT)
        return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*_pb2.py*"))}


def gencode_version(name: str, text: str) -> str:
    """The protobuf runtime version a generated module demands (its gencode version)."""
    m = _GENCODE_RE.search(text)
    if m is None:
        raise RuntimeError(f"{name}: no runtime version check found")
    return ".".join(m.groups())
