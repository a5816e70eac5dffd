"""The loader sensor (``spec.loader: true``) on this host's kernel: a ProcessLoader event with
the build id for the executable, its interpreter and each library a real process maps (at exec
and through dlopen), the route in use, the stats, the compact line and the event-type filter;
a file without a build id is not reported, and counted. The VM covers the kprobe route
(tests/vm/test_loader.py)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.kernel.test_grpc import TETRA, _read_until
from tests.kernel.test_tracepoint_policies import Tetra, start
from tetragon_core.probes import has_kprobes

ROOT = Path(__file__).resolve().parent
LOADER = "  loader: true\n"


def build_id(path: str) -> str:
    """readelf's build id of ``path``, base64 as protojson writes bytes ("" if none)."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return base64.b64encode(bytes.fromhex(line.split(":", 1)[1].strip())).decode()
    return ""


def loads(evs: list[dict[str, Any]], pid: int) -> dict[str, dict[str, Any]]:
    """path → the loader event of process ``pid``. (On the kprobe route what execve maps comes
    before the exec event, so it is the pre-exec image's: the same pid, the parent's binary.)"""
    out = {}
    for e in evs:
        ev = e.get("process_loader")
        if ev and ev.get("process", {}).get("pid") == pid:
            out[ev["path"]] = ev
    return out


def run(*argv: str) -> int:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    assert p.wait(60) == 0
    return p.pid


def add_loader(tetra: Tetra, tmp: Path, name: str = "loader") -> None:
    f = tmp / f"{name}.yaml"
    f.write_text(
        f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n{LOADER}"
    )
    r = tetra("tp", "add", str(f))
    assert r.returncode == 0, r.stderr


def metric(port: int, name: str) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in body.splitlines():
        if line.startswith(name + "{"):
            head, value = line.rsplit(" ", 1)
            out[head[len(name) :]] = float(value)
    return out


def test_exec_and_dlopen_mappings_with_their_build_ids(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    add_loader(tetra, tmp_path)
    target = tmp_path / "loader_true"
    subprocess.run(
        ["gcc", "-O1", "-o", str(target), "-x", "c", "-"], input=b"int main(void){return 0;}", check=True
    )
    pid = run(str(target))
    libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
    ldso = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    evs = agent.wait_for(lambda e: {str(target), libc, ldso} <= set(loads(e, pid)))
    got = loads(evs, pid)
    for path in (str(target), libc, ldso):
        assert got[path]["buildid"] == build_id(path), path
    assert got[libc]["process"]["binary"] == str(target)  # mapped by ld.so, after the exec
    assert got[libc]["parent"]["pid"] == os.getpid()
    # dlopen: an mmap of the library's text by the running process
    libelf = os.path.realpath("/usr/lib/x86_64-linux-gnu/libelf.so.1")
    py = "/usr/bin/python3.11"
    pid = run(py, "-S", "-c", "import ctypes; ctypes.CDLL('libelf.so.1')")
    evs = agent.wait_for(lambda e: libelf in loads(e, pid))
    assert loads(evs, pid)[libelf]["buildid"] == build_id(libelf)
    assert loads(evs, pid)[libelf]["process"]["binary"] == py
    stats = metric(mport, "tetragon_process_loader_stats")
    assert stats['{count="LoaderReceived"}'] >= 4 and stats['{count="LoaderResolvedImm"}'] >= 4
    rows = tetra("sensors", "list").stdout
    route = "kprobe perf_event_mmap_output" if has_kprobes() else "tracepoint syscalls/sys_exit_mmap"
    line = next(x for x in rows.splitlines() if x.split() and x.split()[0] == "loader")
    assert line.split()[1] == "true" and f"loader (route: {route}" in line, rows


def test_a_file_without_a_build_id_is_counted_not_reported(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    add_loader(tetra, tmp_path)
    target = tmp_path / "no_build_id"
    src = b"int main(void){return 0;}"
    subprocess.run(["gcc", "-Wl,--build-id=none", "-o", str(target), "-x", "c", "-"], input=src, check=True)
    assert build_id(str(target)) == ""
    pid = run(str(target))
    libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
    evs = agent.wait_for(lambda e: libc in loads(e, pid))
    assert str(target) not in loads(evs, pid)
    if not has_kprobes():  # on the kprobe route the kernel sends only mappings with a build id
        assert metric(mport, "tetragon_process_loader_unresolved_total")['{reason="no_build_id"}'] >= 1


def test_compact_line_and_the_event_type_filter(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    add_loader(tetra, tmp_path)
    cmd = [TETRA, "--server-address", tetra.addr, "getevents", "-o", "compact", "--color", "never"]
    reader = subprocess.Popen([*cmd, "--event-types", "PROCESS_LOADER"], stdout=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let the stream subscribe
        binary = tmp_path / ("ld" + uuid.uuid4().hex[:8])  # compact lines show the binary alone
        shutil.copy("/bin/true", binary)
        libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
        subprocess.run([str(binary)], check=True)
        lines = _read_until(reader, lambda ls: any(str(binary) in x and libc in x for x in ls))
    finally:
        reader.kill()
        reader.wait()
    node = agent.wait_for(bool)[0]["node_name"]
    bid = base64.b64decode(build_id(libc)).hex()
    assert f"🧬 loader  {node} {binary} {bid} {libc}" in lines
    assert all(x.startswith("🧬 loader") for x in lines if x.strip())  # the filter kept loader events only


def test_the_shared_loader_example_loads(start_agent) -> None:
    _agent, tetra, _ = start(start_agent)
    shared = ROOT.parents[2] / "shared" / "reference" / "policies"
    r = tetra("tp", "add", str(shared / "loader.yaml"))
    assert r.returncode == 0, r.stderr
    assert tetra.policies()["loader"]["state"] == "TP_STATE_ENABLED"
