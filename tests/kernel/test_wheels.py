"""The pip path: wheels built from a clean tree, installed into a fresh venv outside any checkout,
and the installed agent run from ``/`` with neither clang nor bpftool on its PATH.

The wheels compile their BPF C at build time through tetragon-core's build backend
(``tetragon_core.bpfbuild``); the plugins build against the tetragon-core wheel only (found
through ``--find-links``), with its installed SDK headers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.grpcio_stubs import compile_protos
from tests.kernel.conftest import ROOT, free_port

PLUGINS = ("exec", "tracepoint", "kprobe", "lsm", "uprobe", "usdt", "loader")


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{cmd}:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every distribution's wheel, built from a copy of the tracked tree (no built objects)."""
    tree = tmp_path_factory.mktemp("clean-tree")
    files = _run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout
    listing = tree.parent / "files.txt"
    listing.write_text(files)
    _run(["tar", "-cf", str(tree.parent / "tree.tar"), "-T", str(listing)], cwd=ROOT)
    _run(["tar", "-xf", str(tree.parent / "tree.tar"), "-C", str(tree)])
    assert not list(tree.glob("plugins/*/src/*/bpf/*.o")) and not (tree / "bpf/include/vmlinux.h").exists()
    dist = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PIP_FIND_LINKS=str(dist))
    _run([sys.executable, "-m", "build", "--wheel", "-o", str(dist), str(tree)], env=env)
    for p in PLUGINS:
        _run([sys.executable, "-m", "build", "--wheel", "-o", str(dist), str(tree / "plugins" / p)], env=env)
    return dist


def test_each_wheel_carries_its_compiled_bpf(wheels: Path) -> None:
    names = {w.name.split("-")[0]: w for w in wheels.glob("*.whl")}
    assert set(names) == {"tetragon_core", *(f"tetragon_sensor_{p}" for p in PLUGINS)}
    for w in names.values():
        assert w.name.endswith("-py3-none-linux_x86_64.whl"), w.name  # CO-RE objects: one arch
    core = zipfile.ZipFile(names["tetragon_core"]).namelist()
    assert "tetragon_core/bpf/probes/probe_features.o" in core
    assert {"tetragon_core/sdk/include/tg_sdk.h", "tetragon_core/sdk/include/common.h"} <= set(core)
    for p in PLUGINS:
        objs = [n for n in zipfile.ZipFile(names[f"tetragon_sensor_{p}"]).namelist() if n.endswith(".o")]
        assert len(objs) == (2 if p == "usdt" else 1), objs  # usdt: read-only and Set variants
        for o in objs:
            head = zipfile.ZipFile(names[f"tetragon_sensor_{p}"]).read(o)[:20]
            assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 247  # EM_BPF


def test_the_installed_agent_runs_from_root_without_a_checkout(wheels: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(["python3", "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "pip"), "install", "-q", "--find-links", str(wheels), "tetragon-core[sensors]"])
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import tetragon_core, tetragon_sensor_exec as e; print(tetragon_core.__file__, e.__file__)",
        ],
        cwd="/",
    ).stdout
    assert str(ROOT) not in where and where.count(str(venv)) == 2, where
    export, addr, env, cmd = _agent_cmd(venv, tmp_path, "wheel")
    err = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(cmd, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=err)
    token = "wheel" + uuid.uuid4().hex[:8]
    try:
        deadline = time.monotonic() + 60
        while "tetragon running" not in (tmp_path / "stderr").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()
            time.sleep(0.1)
        subprocess.run(["/bin/true", token], check=True)
        while True:
            lines = export.read_text().splitlines() if export.exists() else []
            ours = [json.loads(x) for x in lines if token in x]
            if any("process_exec" in e for e in ours):
                break
            assert time.monotonic() < deadline, (tmp_path / "stderr").read_text()
            time.sleep(0.1)
        (ex,) = [e["process_exec"] for e in ours if "process_exec" in e]
        assert ex["process"]["binary"] == "/bin/true" and ex["process"]["arguments"] == token
        v = _run(
            [str(venv / "bin" / "tetra"), "--server-address", addr, "version", "--server"], env=env, cwd="/"
        )
        assert "0.1.0" in v.stdout
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_the_example_plugin_builds_out_of_tree_and_reports_signals(wheels: Path, tmp_path: Path) -> None:
    """examples/sensor-plugin, copied out of the tree, built against the tetragon-core wheel only,
    installed, run: a signal we send is an example_signal event in the export and on GetEvents."""
    src = tmp_path / "example"
    shutil.copytree(
        ROOT / "examples" / "sensor-plugin", src, ignore=shutil.ignore_patterns("*.o", "__pycache__")
    )
    plugin_dist = tmp_path / "plugin-dist"
    env = dict(os.environ, PIP_FIND_LINKS=str(wheels))
    _run([sys.executable, "-m", "build", "--wheel", "-o", str(plugin_dist), str(src)], env=env, cwd=str(src))
    venv = tmp_path / "venv"
    _run(["python3", "-m", "venv", str(venv)])
    pip = [
        str(venv / "bin" / "pip"),
        "install",
        "-q",
        "--find-links",
        str(wheels),
        "--find-links",
        str(plugin_dist),
    ]
    _run([*pip, "tetragon-core", "tetragon-sensor-exec", "example-signal-sensor", "pytest"])
    # its own tests, against the installed package and SDK
    _run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(src / "tests")],
        cwd="/",
    )

    export, addr, env, cmd = _agent_cmd(venv, tmp_path, "example", "--sensors", "example_signal")
    errf = tmp_path / "stderr"
    proc = subprocess.Popen(cmd, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=errf.open("wb"))
    stream = None
    try:
        _wait_log(errf, proc, "tetragon running")
        # a GetEvents stream through our tetra, which knows the installed plugin's event type
        stream = subprocess.Popen(
            [str(venv / "bin" / "tetra"), "--server-address", addr, "getevents", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.0)  # the stream is subscribed
        target = subprocess.Popen(["/bin/sleep", "60"])
        time.sleep(0.2)
        subprocess.run(["/bin/kill", "-USR2", str(target.pid)], check=True)
        target.wait(10)

        def ours(ev: dict[str, object]) -> bool:
            e = ev.get("example_signal")
            return isinstance(e, dict) and e.get("signal") == "SIGUSR2" and e.get("target_pid") == target.pid

        deadline = time.monotonic() + 30
        exported: list[dict[str, object]] = []
        while not exported:
            lines = export.read_text().splitlines() if export.exists() else []
            exported = [e for e in map(json.loads, lines) if ours(e)]
            assert time.monotonic() < deadline, errf.read_text()
            time.sleep(0.1)
        ev = exported[0]["example_signal"]
        assert isinstance(ev, dict)
        assert ev["process"]["binary"] == "/bin/kill"  # the sender, from the process cache
        assert ev["result"] == "delivered" and ev["target_comm"] == "sleep"
        streamed = None
        assert stream.stdout is not None
        while streamed is None:
            line = stream.stdout.readline()
            assert line and time.monotonic() < deadline, "GetEvents stream ended"
            e = json.loads(line)
            if ours(e):
                streamed = e
        assert streamed["example_signal"] == exported[0]["example_signal"]
        _upstream_client_skips_it(addr, tmp_path)
    finally:
        if stream is not None:
            stream.kill()
        proc.terminate()
        assert proc.wait(30) == 0


def _wait_log(path: Path, proc: subprocess.Popen[bytes], text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in path.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, path.read_text()
        time.sleep(0.1)


def _upstream_client_skips_it(addr: str, tmp: Path) -> None:
    """A grpcio client built from the upstream-compatible proto/ streams past plugin events: it
    sees responses with no known event, their node_name and time intact, the plugin's message
    kept as unknown field 50001, and keeps receiving the core's events."""
    (tmp / "stubs").mkdir()
    compile_protos(tmp / "stubs")
    code = f"""
import json, subprocess, sys, threading
sys.path.insert(0, {str(tmp / "stubs")!r})
import grpc
from google.protobuf import unknown_fields
from tetragon import events_pb2, sensors_pb2_grpc
stub = sensors_pb2_grpc.FineGuidanceSensorsStub(grpc.insecure_channel({addr!r}))
def poke():
    t = subprocess.Popen(["/bin/sleep", "60"]); t.send_signal(12); t.wait()
threading.Timer(1.0, poke).start()
plugin = core = 0
for msg in stub.GetEvents(events_pb2.GetEventsRequest(), timeout=30):
    if msg.WhichOneof("event") is None:
        numbers = [f.field_number for f in unknown_fields.UnknownFieldSet(msg)]
        assert numbers == [50001] and msg.node_name and msg.time.seconds, (numbers, msg)
        plugin += 1
    else:
        core += 1
    if plugin and core > 1:
        break
print(json.dumps({{"plugin": plugin, "core": core}}))
"""
    r = _run([sys.executable, "-c", code])
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["plugin"] >= 1 and got["core"] >= 2, got


def _agent_cmd(venv: Path, tmp: Path, tag: str, *extra: str) -> tuple[Path, str, dict[str, str], list[str]]:
    """The installed agent's command line, its export file, gRPC address and environment: only the
    venv on PATH (no clang, no bpftool, no checkout)."""
    export = tmp / "export" / "tetragon.log"
    addr, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {"PATH": str(venv / "bin"), "HOME": "/root"}
    cmd = [str(venv / "bin" / "tetragon"), *extra, "--export-filename", str(export), "--server-address", addr]
    cmd += ["--health-server-address", health, "--bpf-dir", f"tg-{tag}-{os.getpid()}"]
    return export, addr, env, cmd
