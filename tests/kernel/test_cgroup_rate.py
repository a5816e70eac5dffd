"""--cgroup-rate on a real cgroup v2: a burst of 200 execs in a cgroup of its own is throttled in
the kernel (dropped and counted), THROTTLE_START and THROTTLE_STOP name the cgroup, and the
cgroup's rmdir removes its entry from cgroup_rate_map."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.kernel.conftest import free_port
from tests.promtext import samples

N = 200


def _cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on a hybrid host)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def _rate_map_keys() -> set[int]:
    out = subprocess.run(
        ["bpftool", "-j", "map", "dump", "name", "cgroup_rate_map"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys: set[int] = set()
    for item in json.loads(out):
        raw = item.get("key") or []
        keys.add(int.from_bytes(bytes(int(b, 16) for b in raw), "little"))
    return keys


def _rate_map_dump() -> str:
    done = subprocess.run(
        ["bpftool", "-j", "map", "dump", "name", "cgroup_rate_map"], capture_output=True, text=True
    )
    return done.stdout[-3000:] + done.stderr[-500:]


def _dropped(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        dict(ls)["event"]: v
        for (n, ls), v in samples(body).items()
        if n == "tetragon_cgroup_rate_events_dropped_total"
    }


def _throttles(evs: list[dict], kind: str, cgroup: str) -> list[dict]:
    return [
        e
        for e in evs
        if e.get("process_throttle", {}).get("type") == kind and e["process_throttle"]["cgroup"] == cgroup
    ]


def test_a_burst_in_a_cgroup_is_throttled_and_released(start_agent, tmp_path: Path) -> None:
    root = _cgroup2_root()
    if root is None:
        pytest.skip("requires a cgroup v2 hierarchy (none is mounted)")
    token = uuid.uuid4().hex[:8]
    name = f"tg-rate-{token}"
    cg = root / name
    cg.mkdir()
    try:
        cgid = os.stat(cg).st_ino  # a cgroup v2 id is its directory's inode
        binary = tmp_path / f"true-{token}"
        shutil.copy("/bin/true", binary)
        port = free_port()
        agent = start_agent("--cgroup-rate", "20,1s", "--metrics-server", f"127.0.0.1:{port}")
        # only this burst's drops count: other cgroups (the runner's) may be throttled meanwhile
        baseline = _dropped(port)
        # the shell moves itself into the cgroup, then starts the burst there
        script = f"echo $$ > {cg}/cgroup.procs; i=0; while [ $i -lt {N} ]; do {binary}; i=$((i+1)); done"
        subprocess.run(["/bin/sh", "-c", script], check=True, timeout=120)
        deadline = time.monotonic() + 30
        while not _throttles(evs := agent.events(), "THROTTLE_START", name):
            seen = [e["process_throttle"] for e in evs if "process_throttle" in e]
            assert time.monotonic() < deadline, (f"no THROTTLE_START for {name}", seen, _dropped(port))
            time.sleep(0.1)
        (start,) = _throttles(evs, "THROTTLE_START", name)
        assert start["node_name"] and start["time"].endswith("Z")
        assert cgid in _rate_map_keys()
        # the kernel dropped what it did not send, and counted each one
        deadline = time.monotonic() + 20
        while True:
            exported = [
                e
                for e in agent.events()
                if e.get("process_exec", {}).get("process", {}).get("binary") == str(binary)
            ]
            dropped = {k: v - baseline.get(k, 0) for k, v in _dropped(port).items()}
            if len(exported) + dropped.get("exec", 0) == N or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print(f"cgroup rate: {len(exported)} of {N} execs exported, dropped {dropped}")
        assert 0 < len(exported) < N, len(exported)
        assert len(exported) + dropped["exec"] == N, (len(exported), dropped)
        assert dropped["clone"] > 0
        # calm for 5 s: the cgroup is released
        evs = agent.wait_for(lambda evs: bool(_throttles(evs, "THROTTLE_STOP", name)), timeout=20)
        (stop,) = _throttles(evs, "THROTTLE_STOP", name)
        assert stop["time"] > start["time"]
        # released: the next exec there is exported again
        before = _dropped(port)
        # exec, not a child of the shell: the shell was cloned in this test's own cgroup, which the
        # rate may be throttling too (20 execs/s is little for a busy runner), and a child whose
        # parent's events were dropped would wait in the event cache for that parent
        subprocess.run(["/bin/sh", "-c", f"echo $$ > {cg}/cgroup.procs; exec {binary} after"], check=True)
        deadline = time.monotonic() + 20
        while not any(
            e.get("process_exec", {}).get("process", {}).get("arguments") == "after"
            and e["process_exec"]["process"]["binary"] == str(binary)
            for e in agent.events()
        ):
            assert time.monotonic() < deadline, (
                "the exec after THROTTLE_STOP was not exported",
                {"dropped before": before, "after": _dropped(port)},
                _rate_map_dump(),
                agent.stderr.read_text()[-2000:],
            )
            time.sleep(0.1)
    finally:
        cg.rmdir()  # its processes have exited
    deadline = time.monotonic() + 10
    while cgid in _rate_map_keys():
        assert time.monotonic() < deadline, "cgroup_rmdir left the cgroup's entry in cgroup_rate_map"
        time.sleep(0.1)
