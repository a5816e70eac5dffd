"""The process cache bound and the JSON export's rotation, under real process bursts."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
import uuid

from tests.kernel.conftest import execs, exits
from tests.promtext import samples


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    got = [v for (n, _), v in samples(body).items() if n == name]
    assert got, f"metric {name} not exposed:\n{body[:2000]}"
    return got[0]


def test_process_cache_honours_its_size_bound(start_agent) -> None:
    port = _free_port()
    size = 150
    agent = start_agent("--process-cache-size", str(size), "--metrics-server", f"127.0.0.1:{port}")
    token = "cache" + uuid.uuid4().hex[:8]
    n = 400
    subprocess.run(
        ["/bin/sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true {token}; i=$((i+1)); done"], check=True
    )
    agent.wait_for(
        lambda evs: sum(1 for e in exits(evs) if e["process"].get("arguments") == token) == n, timeout=60
    )
    assert _metric(port, "tetragon_process_cache_capacity") == size
    assert 0 < _metric(port, "tetragon_process_cache_size") <= size
    assert _metric(port, "tetragon_process_cache_evictions_total") > 0
    # the kernel's process map had room for every process of the burst
    assert _metric(port, "tetragon_map_capacity") == 32768
    assert _metric(port, "tetragon_map_errors_update_total") == 0


def test_json_export_survives_rotation_without_lost_or_torn_lines(start_agent) -> None:
    agent = start_agent("--export-file-max-size-mb", "1", "--export-file-max-backups", "50")
    token = "rot" + uuid.uuid4().hex[:8]
    n = 1500
    subprocess.run(
        [
            "/bin/sh",
            "-c",
            f"i=0; while [ $i -lt {n} ]; do i=$((i+1)); /bin/echo {token}-$i > /dev/null; done",
        ],
        check=True,
    )

    def ours(es: list[dict]) -> list[str]:
        return [
            e["process"]["arguments"]
            for e in es
            if e["process"].get("binary") == "/bin/echo"
            and e["process"].get("arguments", "").startswith(token)
        ]

    def complete(evs: list[dict]) -> bool:
        return len(ours(exits(evs))) >= n

    agent.wait_for(complete, timeout=60)
    agent.stop()
    files = [*sorted(agent.export.parent.glob("tetragon-*.log")), agent.export]
    assert len(files) >= 3, f"expected several rotations, got {files}"
    lines = [line for f in files for line in f.read_bytes().split(b"\n") if line]
    evs = [json.loads(line) for line in lines]  # a torn line fails here
    seen_exec = ours(execs(evs))
    seen_exit = ours(exits(evs))
    expected = sorted(f"{token}-{i}" for i in range(1, n + 1))
    assert sorted(seen_exec) == expected  # each exactly once
    assert sorted(seen_exit) == expected
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o600
        assert f.read_bytes().endswith(b"\n")
