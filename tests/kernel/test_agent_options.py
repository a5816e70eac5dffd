"""Agent options that change what the kernel side keeps or reports."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.kernel.conftest import execs, tg_prog_ids, wait_unloaded


def test_keep_sensors_on_exit_then_release_pinned_bpf(start_agent) -> None:
    before = tg_prog_ids()
    a = start_agent("--keep-sensors-on-exit")
    ours = tg_prog_ids() - before
    assert len(ours) == 4  # exec, fork, exit, cgroup_rmdir
    assert a.stop() == 0
    pins = Path("/sys/fs/bpf") / f"tetragon-test-{os.getpid()}" / "execve"
    links = ["tg_cgroup_rmdir_link", "tg_execve_link", "tg_exit_link", "tg_fork_link"]
    assert sorted(p.name for p in pins.iterdir()) == links
    assert ours <= tg_prog_ids(), "kept programs were unloaded"

    # The next agent starts with --release-pinned-bpf (default true): the old programs go away.
    b = start_agent()
    assert not pins.exists()
    assert not wait_unloaded(ours)
    assert b.stop() == 0


def test_process_cred_ns_and_username(start_agent) -> None:
    agent = start_agent("--enable-process-cred", "--enable-process-ns", "--username-metadata", "unix")
    proc = subprocess.Popen(["/bin/sleep", "5"])
    try:
        time.sleep(0.3)
        want_ns = {n: os.stat(f"/proc/{proc.pid}/ns/{n}").st_ino for n in ("mnt", "net", "pid", "uts", "ipc")}
        evs = agent.wait_for(lambda evs: any(e["process"]["pid"] == proc.pid for e in execs(evs)))
    finally:
        proc.kill()
        proc.wait()
    (ev,) = [e for e in execs(evs) if e["process"]["pid"] == proc.pid]
    p = ev["process"]
    assert "CAP_SYS_ADMIN" in p["cap"]["effective"] and "CAP_SYS_ADMIN" in p["cap"]["permitted"]
    for name, inum in want_ns.items():
        assert p["ns"][name]["inum"] == inum, name
    creds = p["process_credentials"]
    assert creds["uid"] == 0 and creds["euid"] == 0 and creds["fsgid"] == 0
    assert p["user"]["name"] == "root"


def test_without_the_flags_no_cred_or_ns_is_reported(start_agent) -> None:
    agent = start_agent()
    proc = subprocess.Popen(["/bin/true"])
    proc.wait()
    evs = agent.wait_for(lambda evs: any(e["process"]["pid"] == proc.pid for e in execs(evs)))
    (ev,) = [e for e in execs(evs) if e["process"]["pid"] == proc.pid]
    for key in ("cap", "ns", "process_credentials", "user"):
        assert key not in ev["process"]


def test_unsupported_flag_fails_at_start_naming_it(tmp_path: Path) -> None:
    from tests.kernel.conftest import TETRAGON

    r = subprocess.run([TETRAGON, "--enable-cgidmap"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "--enable-cgidmap" in r.stderr and "pod resolution by cgroup id maps is not built" in r.stderr
    # a flag that works but cannot here: outside a pod, without a kubeconfig, it names both
    r = subprocess.run([TETRAGON, "--enable-k8s-api"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(
        "tetragon: --enable-k8s-api: --k8s-kubeconfig-path is not set and the in-cluster service account "
        "(/var/run/secrets/kubernetes.io/serviceaccount) cannot be used: "
    ), r.stderr


def test_setuid_exec_reports_binary_properties(start_agent) -> None:
    agent = start_agent("--enable-process-cred")
    # an unprivileged user runs the setuid-root mount(8)
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/mount", "--version"],
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    evs = agent.wait_for(
        lambda evs: any(
            e["process"]["binary"] == "/usr/bin/mount" and e["process"].get("arguments") == "--version"
            for e in execs(evs)
        )
    )
    (ev,) = [
        e
        for e in execs(evs)
        if e["process"]["binary"] == "/usr/bin/mount" and e["process"].get("arguments") == "--version"
    ]
    p = ev["process"]
    assert p["uid"] == 0  # uid is the euid
    assert p["process_credentials"]["uid"] == 65534 and p["process_credentials"]["euid"] == 0
    props = p["binary_properties"]
    assert props["setuid"] == 0
    assert "PRIVILEGES_RAISED_EXEC_FILE_SETUID" in props["privileges_changed"]
