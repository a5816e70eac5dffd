"""The gRPC API against the live agent: upstream-style tetra, and an independent grpcio client."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.grpcio_stubs import compile_protos as _compile_protos

TETRA = str(Path(sys.executable).with_name("tetra"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(proc: subprocess.Popen[bytes], pred: Any, timeout: float = 20) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines.extend(x.decode() for x in done)
            if pred(lines):
                return lines
    pytest.fail(f"timed out; got {len(lines)} lines, last: {lines[-5:]}")


def test_tetra_getevents_compact_against_the_live_agent(start_agent) -> None:
    port = _port()
    addr = f"127.0.0.1:{port}"
    agent = start_agent("--server-address", addr)
    node = agent.events()[0]["node_name"]
    tetra = subprocess.Popen(
        [TETRA, "--server-address", addr, "getevents", "-o", "compact", "--color", "never"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)  # let the stream subscribe
        token = "grpc" + uuid.uuid4().hex[:8]
        subprocess.run(["/bin/echo", token], stdout=subprocess.DEVNULL, check=True)
        lines = _read_until(tetra, lambda ls: any(token in x and x.startswith("💥") for x in ls))
    finally:
        tetra.kill()
        tetra.wait()
    mine = [x for x in lines if token in x]
    assert f"🚀 process {node} /bin/echo {token}" in mine
    assert f"💥 exit    {node} /bin/echo {token} 0" in mine

    st = subprocess.run(
        [TETRA, "--server-address", addr, "status"], capture_output=True, text=True, timeout=30
    )
    assert st.returncode == 0 and st.stdout.strip() == "Health Status: HEALTH_STATUS_RUNNING"
    ver = subprocess.run(
        [TETRA, "--server-address", addr, "version", "--server"], capture_output=True, text=True
    )
    assert ver.returncode == 0 and "Server version: " in ver.stdout


def test_unix_socket_mode_and_info_file(start_agent, tmp_path: Path) -> None:
    sock = tmp_path / "tetragon.sock"
    start_agent("--server-address", f"unix://{sock}")
    # the export shows the procfs walk before the server is up: wait for the info file
    want = {"server_address": f"unix://{sock}"}
    deadline = time.monotonic() + 20
    info: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(Path("/var/run/tetragon/tetragon-info.json").read_text())
        if info == want and sock.exists():
            break
        time.sleep(0.1)
    assert info == want
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    # tetra without --server-address finds it through tetragon-info.json
    st = subprocess.run([TETRA, "status"], capture_output=True, text=True, timeout=30)
    assert st.returncode == 0 and "HEALTH_STATUS_RUNNING" in st.stdout


def test_independent_grpcio_client(start_agent, tmp_path: Path) -> None:
    port = _port()
    start_agent("--server-address", f"127.0.0.1:{port}")
    _compile_protos(tmp_path)
    code = f"""
import sys, subprocess, threading, uuid, json
sys.path.insert(0, {str(tmp_path)!r})
import grpc
from google.protobuf import json_format
from tetragon import events_pb2, sensors_pb2, tetragon_pb2, sensors_pb2_grpc
ch = grpc.insecure_channel("127.0.0.1:{port}")
stub = sensors_pb2_grpc.FineGuidanceSensorsStub(ch)
h = stub.GetHealth(tetragon_pb2.GetHealthStatusRequest())
print(json.dumps({{"health": tetragon_pb2.HealthStatusResult.Name(h.health_status[0].status)}}))
print(json.dumps({{"version": stub.GetVersion(sensors_pb2.GetVersionRequest()).version}}))
try:
    stub.AddTracingPolicy(sensors_pb2.AddTracingPolicyRequest(yaml="x"))
except grpc.RpcError as e:
    print(json.dumps({{"add": e.code().name, "details": e.details()}}))
token = "indep" + uuid.uuid4().hex[:8]
it = stub.GetEvents(events_pb2.GetEventsRequest())
threading.Timer(1.0, lambda: subprocess.run(["/bin/true", token])).start()
for msg in it:
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    ev = d.get("process_exec") or d.get("process_exit")
    if ev and ev["process"].get("arguments") == token:
        print(json.dumps(d))
        if "process_exit" in d:
            break
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert out[0] == {"health": "HEALTH_STATUS_RUNNING"}
    assert out[1]["version"]
    assert out[2]["add"] == "INVALID_ARGUMENT" and "AddTracingPolicy" in out[2]["details"]
    exec_ev, exit_ev = out[3], out[4]
    p = exec_ev["process_exec"]["process"]
    assert p["binary"] == "/bin/true" and p["flags"] == "execve clone"
    assert exec_ev["process_exec"]["parent"]["exec_id"] == p["parent_exec_id"]
    assert exit_ev["process_exit"]["process"]["exec_id"] == p["exec_id"]
    assert exit_ev["process_exit"].get("status", 0) == 0


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.05)


def test_a_client_that_never_reads_loses_events_alone(start_agent) -> None:
    port, mport = _port(), _port()
    addr = f"127.0.0.1:{port}"
    start_agent(
        "--server-address", addr, "--event-queue-size", "2000", "--metrics-server", f"127.0.0.1:{mport}"
    )
    cmd = [TETRA, "--server-address", addr, "getevents", "-o", "compact", "--color", "never"]
    reader = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    # opens GetEvents with the smallest HTTP/2 windows the spec allows, then never reads
    stuck_code = f"""
import asyncio
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Cardinality
from tetragon_core.api.tetragon import events_pb2
async def main():
    cfg = Configuration(http2_connection_window_size=65535, http2_stream_window_size=65535)
    ch = Channel("127.0.0.1", {port}, config=cfg)
    async with ch.request("/tetragon.FineGuidanceSensors/GetEvents", Cardinality.UNARY_STREAM,
                          events_pb2.GetEventsRequest, events_pb2.GetEventsResponse) as st:
        await st.send_message(events_pb2.GetEventsRequest(), end=True)
        await asyncio.sleep(600)
asyncio.run(main())
"""
    _wait_listening(port)  # the gRPC server starts after the start-up snapshot is exported
    stuck = subprocess.Popen([sys.executable, "-c", stuck_code])
    try:
        time.sleep(1.0)
        token = "slow" + uuid.uuid4().hex[:8]
        n = 3000  # 6,000 events: more than the stuck client's queue, pipe and HTTP/2 window hold
        script = f"i=0; while [ $i -lt {n} ]; do /bin/true {token}; i=$((i+1)); done"
        subprocess.run(["/bin/sh", "-c", script], check=True)
        lines = _read_until(
            reader,
            lambda ls: sum(1 for x in ls if x.startswith("💥") and x.endswith(f"/bin/true {token} 0")) == n,
            timeout=60,
        )
    finally:
        reader.kill()
        stuck.kill()
        reader.wait()
        stuck.wait()
    assert stuck.returncode == -9, "the stuck client died on its own"
    assert sum(1 for x in lines if x.startswith("🚀") and x.endswith(f"/bin/true {token}")) == n
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    dropped = [
        float(x.split()[-1])
        for x in body.splitlines()
        if x.startswith("tetragon_notify_overflowed_events_total")
    ]
    assert dropped and dropped[0] > 0, body[:1500]


def test_getevents_filters_on_the_stream(start_agent) -> None:
    port = _port()
    addr = f"127.0.0.1:{port}"
    start_agent("--server-address", addr)
    token = "gf" + uuid.uuid4().hex[:8]
    cmd = [
        TETRA,
        "--server-address",
        addr,
        "getevents",
        "-o",
        "json",
        "--process",
        "^/bin/echo$",
        "-e",
        "PROCESS_EXEC",
        "-F",
        "parent",
    ]
    tetra = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        time.sleep(1.0)
        subprocess.run(["/bin/true", token], check=True)
        subprocess.run(["/bin/echo", token], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["/bin/echo", "last", token], stdout=subprocess.DEVNULL, check=True)
        lines = _read_until(tetra, lambda ls: any("last" in x for x in ls))
    finally:
        tetra.kill()
        tetra.wait()
    evs = [json.loads(x) for x in lines if x]
    assert all(set(e) == {"process_exec", "node_name", "time"} for e in evs)  # no exits
    assert all(e["process_exec"]["process"]["binary"] == "/bin/echo" for e in evs)  # no /bin/true
    assert all("parent" not in e["process_exec"] for e in evs)  # -F parent
    assert [e["process_exec"]["process"]["arguments"] for e in evs if token in json.dumps(e)] == [
        token,
        f"last {token}",
    ]


def test_bad_filter_is_invalid_argument(start_agent) -> None:
    port = _port()
    addr = f"127.0.0.1:{port}"
    start_agent("--server-address", addr)
    r = subprocess.run(
        [TETRA, "--server-address", addr, "getevents", "--process", "("],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "INVALID_ARGUMENT" in r.stderr and "binary_regex" in r.stderr


def test_sensor_and_debug_rpcs_through_tetra(start_agent) -> None:
    port = _port()
    addr = f"127.0.0.1:{port}"
    start_agent("--server-address", addr)

    def tetra(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TETRA, "--server-address", addr, *a], capture_output=True, text=True, timeout=30
        )

    r = tetra("sensors", "list")
    assert r.returncode == 0
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert ["execve", "true", "base"] in rows
    r = tetra("sensors", "disable", "execve")
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "base sensor" in r.stderr
    r = tetra("sensors", "enable", "nope")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr

    assert tetra("loglevel", "get").stdout.strip() == "Current log level: info"
    assert tetra("loglevel", "set", "debug").returncode == 0
    assert tetra("loglevel", "get").stdout.strip() == "Current log level: debug"

    proc = subprocess.Popen(["/bin/sleep", "5"])
    try:
        time.sleep(0.3)
        r = tetra("debug", "processcache", "--skip-zero-refcnt")
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0
    dump = [json.loads(x) for x in r.stdout.splitlines()]
    (mine,) = [d for d in dump if d["process"].get("pid") == proc.pid]
    assert mine["process"]["binary"] == "/bin/sleep"
    assert mine["refcnt"] >= 1 and mine["refcnt_ops"]["process++"] == 1
    assert mine["color"]
    assert all(d["refcnt"] > 0 for d in dump)


def test_tracing_policy_rpcs_through_tetra(start_agent, tmp_path: Path) -> None:
    port = _port()
    addr = f"127.0.0.1:{port}"
    start_agent("--server-address", addr)

    def tetra(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TETRA, "--server-address", addr, *a], capture_output=True, text=True, timeout=30
        )

    policy = tmp_path / "unloadable.yaml"  # valid, but this kernel has no such tracepoint
    policy.write_text(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: unloadable}\nspec:\n"
        "  tracepoints:\n  - {subsystem: sched, event: sched_no_such_event}\n"
    )
    r = tetra("tp", "add", str(policy))
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "failed to load" in r.stderr
    assert "sched_no_such_event" in r.stderr, r.stderr
    again = tetra("tp", "add", str(policy))
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: bad}\nspec:\n"
        "  tracepoints:\n  - {subsystem: raw_syscalls, event: sys_enter, selectors: "
        "[{matchArgs: [{index: 4, operator: Equl, values: ['1']}]}]}\n"
    )
    r = tetra("tp", "add", str(bad))
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr
    assert "spec.tracepoints[0].selectors[0].matchArgs[0].operator: unknown operator 'Equl'" in r.stderr

    listed = json.loads(tetra("tp", "list", "-o", "json").stdout)["policies"]
    (p,) = listed
    name = p["name"]
    assert p["state"] == "TP_STATE_LOAD_ERROR" and p["sensors"] == ["generic_tracepoint"]
    assert p["error"].startswith("spec.tracepoints[0]") and "sched_no_such_event" in p["error"], p
    r = tetra("tp", "enable", name)
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr
    assert tetra("tp", "set-mode", name, "monitor").returncode == 0
    (p,) = json.loads(tetra("tp", "list", "-o", "json").stdout)["policies"]
    assert p["mode"] == "TP_MODE_MONITOR"
    assert tetra("tp", "delete", name).returncode == 0
    assert json.loads(tetra("tp", "list", "-o", "json").stdout).get("policies", []) == []
    gone = tetra("tp", "delete", name)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr
