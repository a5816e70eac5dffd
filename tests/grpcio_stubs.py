"""An independent client for the gRPC API: ``proto/`` compiled by grpcio-tools for grpcio.

The generated modules (``tetragon.*_pb2``, ``tetragon.sensors_pb2_grpc``) register the same proto
file names as ``tetragon_core.api.tetragon``, so they are imported in a child interpreter with
``out`` on its ``sys.path``, never in the test process.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compile_protos(out: Path) -> None:
    """Compile ``proto/tetragon/*.proto`` with grpcio-tools' protoc into ``out``."""
    import grpc_tools
    from grpc_tools import protoc  # independent implementation: google protobuf + grpcio

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    files = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tetragon").glob("*.proto")]
    rc = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
    )
    assert rc == 0
