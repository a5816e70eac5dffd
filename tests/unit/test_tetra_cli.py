"""tetra without an agent: rendering piped JSON export lines, and connection errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

TETRA = str(Path(sys.executable).with_name("tetra"))


def _line(kind: str, binary: str, args: str, **extra: object) -> str:
    proc = {"exec_id": "eA==", "pid": 7, "binary": binary, "arguments": args}
    body: dict[str, object] = {"process": proc, **extra}
    return json.dumps({kind: body, "node_name": "n1", "time": "2026-11-28T00:00:00Z"})


def test_piped_lines_are_filtered_and_rendered_like_the_stream() -> None:
    lines = "\n".join(
        [
            _line("process_exec", "/bin/echo", "hi"),
            _line("process_exec", "/bin/true", "x"),
            _line("process_exit", "/bin/echo", "hi", status=3),
            "not json",
        ]
    )
    r = subprocess.run(
        [TETRA, "getevents", "-o", "compact", "--color", "never", "--process", "echo$"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["🚀 process n1 /bin/echo hi", "💥 exit    n1 /bin/echo hi 3"]
    assert "malformed" in r.stderr

    r = subprocess.run(
        [TETRA, "getevents", "-o", "json", "-e", "PROCESS_EXIT", "-F", "process.arguments"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=30,
    )
    (only,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert only["process_exit"]["process"] == {"exec_id": "eA==", "pid": 7, "binary": "/bin/echo"}


def test_unknown_event_type_is_a_clear_error() -> None:
    r = subprocess.run([TETRA, "getevents", "-e", "PROCESS_NOPE"], input="", capture_output=True, text=True)
    assert r.returncode == 1 and "--event-types: unknown event type 'PROCESS_NOPE'" in r.stderr


def test_unreachable_agent_is_retried_then_reported() -> None:
    t0 = time.monotonic()
    r = subprocess.run(
        [TETRA, "--server-address", "127.0.0.1:1", "--retries", "1", "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "cannot reach the agent at 127.0.0.1:1" in r.stderr
    assert time.monotonic() - t0 >= 1.0  # one retry after a 1 s backoff
