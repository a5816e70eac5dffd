"""The exec/exit sensor end to end: real processes, the real kernel, the agent's JSON export."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tests.kernel.conftest import execs, exits, tg_prog_ids, wait_unloaded


def _token() -> str:
    return "tok" + uuid.uuid4().hex[:12]


def _by_args(evs: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    return [e for e in execs(evs) if token in e["process"].get("arguments", "")]


def test_echo_exec_fields_and_parent_linkage(start_agent, tmp_path: Path) -> None:
    agent = start_agent()
    cwd = tmp_path / "cwd with space"
    cwd.mkdir()
    token = _token()
    pidfile = tmp_path / "echo.pid"
    sh = subprocess.Popen(
        ["/bin/sh", "-c", f"/bin/echo {token} >/dev/null & echo $! > '{pidfile}'; wait"], cwd=cwd
    )
    assert sh.wait(10) == 0
    echo_pid = int(pidfile.read_text())

    evs = agent.wait_for(lambda evs: any(e["process"]["binary"] == "/bin/echo" for e in _by_args(evs, token)))
    (ev,) = [e for e in _by_args(evs, token) if e["process"]["binary"] == "/bin/echo"]
    p = ev["process"]
    assert p["binary"] == "/bin/echo"
    assert p["arguments"] == token
    assert p["cwd"] == str(cwd)
    assert p["uid"] == os.geteuid()
    assert p["pid"] == echo_pid
    assert p["tid"] == echo_pid
    assert p["auid"] == 4294967295 or isinstance(p["auid"], int)
    assert p["flags"] == "execve clone"
    # exec_id is base64("node:ktime:pid")
    node, ktime, pid = base64.b64decode(p["exec_id"]).decode().rsplit(":", 2)
    assert int(pid) == echo_pid and int(ktime) > 0 and ev and node == evs[0]["node_name"]

    # the parent is that shell, by exec_id linkage
    shells = [e for e in execs(evs) if e["process"]["pid"] == sh.pid and e["process"]["binary"] == "/bin/sh"]
    assert len(shells) == 1, shells
    assert p["parent_exec_id"] == shells[0]["process"]["exec_id"]
    assert ev["parent"]["exec_id"] == shells[0]["process"]["exec_id"]
    assert ev["parent"]["pid"] == sh.pid
    assert shells[0]["process"]["cwd"] == str(cwd)
    assert shells[0]["process"]["arguments"].startswith('-c "/bin/echo')


def test_exit_status_and_signal(start_agent) -> None:
    agent = start_agent()
    sh = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    assert sh.wait(10) == 3
    victim = subprocess.Popen(["/bin/sleep", "1000"])
    time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    def done(evs: list[dict[str, Any]]) -> bool:
        pids = {e["process"]["pid"] for e in exits(evs)}
        return sh.pid in pids and victim.pid in pids

    evs = agent.wait_for(done)
    (e3,) = [e for e in exits(evs) if e["process"]["pid"] == sh.pid]
    assert e3["status"] == 3
    assert "signal" not in e3
    assert e3["process"]["binary"] == "/bin/sh"
    (ek,) = [e for e in exits(evs) if e["process"]["pid"] == victim.pid]
    assert ek["signal"] == "SIGKILL"
    assert "status" not in ek
    assert ek["process"]["binary"] == "/bin/sleep"
    assert ek["process"]["arguments"] == "1000"
    # the exit refers to the same process image as its exec
    (ex,) = [e for e in execs(evs) if e["process"]["pid"] == victim.pid]
    assert ek["process"]["exec_id"] == ex["process"]["exec_id"]


def test_exec_without_fork_has_previous_image_as_parent(start_agent) -> None:
    agent = start_agent()
    token = _token()
    sh = subprocess.Popen(["/bin/sh", "-c", f"exec /bin/true {token}"])
    assert sh.wait(10) == 0
    evs = agent.wait_for(lambda evs: len([e for e in execs(evs) if e["process"]["pid"] == sh.pid]) >= 2)
    mine = [e for e in execs(evs) if e["process"]["pid"] == sh.pid]
    first = next(e for e in mine if e["process"]["binary"] == "/bin/sh")
    second = next(e for e in mine if e["process"]["binary"] == "/bin/true")
    assert second["process"]["arguments"] == token
    assert second["process"]["parent_exec_id"] == first["process"]["exec_id"]
    assert second["parent"]["exec_id"] == first["process"]["exec_id"]
    assert second["process"]["flags"] == "execve"  # no clone: same pid, new image
    assert "clone" in first["process"]["flags"].split()


def test_test_process_appears_through_procfs(start_agent) -> None:
    agent = start_agent()
    me = os.getpid()
    evs = agent.events()
    (ev,) = [e for e in execs(evs) if e["process"]["pid"] == me]
    assert "procFS" in ev["process"]["flags"].split()
    assert ev["process"]["binary"] == os.path.realpath("/proc/self/exe")
    assert ev["parent"]["pid"] == os.getppid()
    # the <kernel> root is there too
    assert any(
        e["process"]["binary"] == "<kernel>" or e.get("parent", {}).get("binary") == "<kernel>"
        for e in execs(evs)
    )


def test_sigterm_detaches_and_removes_pins(start_agent) -> None:
    before = tg_prog_ids()  # another agent on the machine may have its own
    agent = start_agent()
    ours = tg_prog_ids() - before
    assert len(ours) == 4, ours  # exec, fork, exit, cgroup_rmdir
    pins = Path("/sys/fs/bpf") / f"tetragon-test-{os.getpid()}"
    assert agent.stop() == 0
    assert not pins.exists()
    assert not wait_unloaded(ours), "programs still loaded after SIGTERM"


def test_long_arguments_are_truncated_and_flagged(start_agent) -> None:
    agent = start_agent()
    token = _token()
    long_arg = "x" * 5000
    proc = subprocess.Popen(["/bin/true", token, long_arg])
    proc.wait()
    evs = agent.wait_for(lambda evs: any(e["process"]["pid"] == proc.pid for e in execs(evs)))
    (ev,) = [e for e in execs(evs) if e["process"]["pid"] == proc.pid]
    assert ev["process"]["flags"] == "execve truncArgs clone"
    args = ev["process"]["arguments"]
    assert args.startswith(token + " xxx")
    # argv is read up to 4096 bytes: "/bin/true\0" + token + "\0" + the start of the long arg
    assert len(args) == 4096 - len("/bin/true") - 1


def test_multithreaded_group_exit_is_reported_once_with_the_group_code(start_agent, tmp_path: Path) -> None:
    agent = start_agent()
    script = tmp_path / "threads.py"
    script.write_text(
        "import os, threading, time\n"
        "ts = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(4)]\n"
        "[t.start() for t in ts]\n"
        "threading.Thread(target=lambda: os._exit(5)).start()\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(["/usr/bin/env", "python3", str(script)])
    assert proc.wait(20) == 5
    agent.wait_for(lambda evs: any(e["process"]["pid"] == proc.pid for e in exits(evs)))
    time.sleep(0.3)  # a duplicate report would arrive right behind the first
    mine = [e for e in exits(agent.events()) if e["process"]["pid"] == proc.pid]
    assert len(mine) == 1, mine
    assert mine[0]["status"] == 5
    assert mine[0]["process"]["tid"] == proc.pid
