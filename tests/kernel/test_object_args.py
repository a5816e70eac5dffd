"""Kernel-object arguments on this host's kernel: a raw tracepoint's ``struct linux_binprm *``
read in the kernel as the executed file's path, flags and permissions, and filtered on it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.kernel.test_tracepoint_policies import add, copy_bin, start, tps

RAWTP = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  tracepoints:
  - subsystem: sched
    event: sched_process_exec
    raw: true
    args:
    - index: 2
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["{prefix}"]
"""


def test_raw_tracepoint_linux_binprm_path_and_permission(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    binary = copy_bin(tmp_path, "/bin/true", "binprm-true")
    setuid = copy_bin(tmp_path, "/bin/true", "binprm-setuid")
    os.chmod(setuid, 0o4750)
    add(tetra, tmp_path, RAWTP.format(name="binprm", prefix=str(tmp_path / "binprm-")))
    for b in (binary, setuid, "/bin/true"):
        subprocess.run([b], check=True)
    agent.wait_for(lambda e: len(tps(e, "binprm")) >= 2)
    time.sleep(0.5)
    got = tps(agent.events(), "binprm")
    args = {ev["args"][0]["linux_binprm_arg"]["path"]: ev["args"][0]["linux_binprm_arg"] for ev in got}
    assert args == {
        binary: {"path": binary, "permission": "-rwxr-xr-x"},
        setuid: {"path": setuid, "permission": "-rwsr-x---"},
    }, got
    assert {ev["process"]["binary"] for ev in got} == {binary, setuid}
    assert all(ev["subsys"] == "sched" and ev["event"] == "sched_process_exec" for ev in got)
