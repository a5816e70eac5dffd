"""What the benchmarks share: the recorded exec/exit records and a manager seeded for them."""

from __future__ import annotations

import struct
from pathlib import Path

from tetragon_core.bpf.replay import load_records
from tetragon_core.export.timefmt import KtimeClock
from tetragon_core.metrics import Registry
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import ExecKey, ExecMessage
from tetragon_sensor_exec.decode import decode_exec

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "data" / "exec_ring.bin"


def echo_records() -> tuple[bytes, bytes]:
    """The recorded `/bin/echo` exec record and its exit record."""
    recs = load_records(RECORDING)
    exec_rec = next(r for r in recs if r[0] == 5 and b"/bin/echo" in r)
    key = struct.unpack_from("<I", exec_rec, 324)[0]
    exit_rec = next(r for r in recs if r[0] == 7 and struct.unpack_from("<I", r, 16)[0] == key)
    return exec_rec, exit_rec


def seeded_manager(reg: Registry, cache_size: int = 65536) -> ProcessManager:
    """A manager whose cache holds the recorded echo's parent, as the procfs walk would."""
    first = decode_exec(echo_records()[0])
    parent = first.parent
    mgr = ProcessManager(
        ProcessCache(cache_size, registry=reg), "bench-node", KtimeClock().rfc3339, registry=reg
    )
    seed = ExecMessage(
        ktime=parent.ktime,
        pid=parent.pid,
        tid=parent.pid,
        nspid=0,
        flags=0x04,
        parent=ExecKey(0, 1),
        parent_flags=0,
        cleanup_key=None,
        filename="/bin/sh",
        args=[],
        cwd="/",
        auid=0,
        creds=first.creds,
        ns=first.ns,
    )
    mgr.handle_procfs([seed])
    return mgr


def machine() -> dict[str, object]:
    """What a result was measured on."""
    import os
    import platform

    return {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}


def save(name: str, out: dict[str, object]) -> None:
    """Write a benchmark's result to bench/out/<name>.json and print it (bench/all.py reads it)."""
    import json

    path = ROOT / "bench" / "out"
    path.mkdir(exist_ok=True)
    text = json.dumps(out, indent=2)
    (path / f"{name}.json").write_text(text)
    print(text)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
