"""kprobe policies on the running kernel.

With kprobes (the VM's 6.1 kernel, tools/vm.py) ``syscall: true`` hooks are kprobes on the
``__x64_sys_*`` wrappers and returns are kretprobes; without (this host) they run on the syscall
tracepoints. The events must be the same either way, which is what these tests assert; each also
checks which method the sensor chose.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.kernel.conftest import RunningAgent, exits
from tests.kernel.test_tracepoint_policies import Tetra, add, add_spec, copy_bin, start
from tetragon_core import probes

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "policies"
PY = sys.executable


def kps(evs: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    return [e["process_kprobe"] for e in evs if e.get("process_kprobe", {}).get("policy_name") == policy]


def method(agent: RunningAgent, function: str) -> str:
    m = re.search(rf"{function} runs as (\w+)", agent.stderr.read_text())
    assert m, agent.stderr.read_text()[-2000:]
    return m.group(1)


EXPECTED_METHOD = "syscall" if probes.has_kprobes() else "syscall_tp"


def test_shared_write_policy(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    r = tetra("tp", "add", str(SHARED / "write.yaml"))
    assert r.returncode == 0, r.stderr
    echo = copy_bin(tmp_path, "/bin/echo", "echo-kprobe")
    text = f"kprobe-write-{tmp_path.name}\n"
    subprocess.run([echo, text.strip()], check=True, capture_output=True)  # stdout is a pipe: fd 1
    evs = agent.wait_for(lambda e: any(k["process"]["binary"] == echo for k in kps(e, "sys-write")))
    (ev,) = [k for k in kps(evs, "sys-write") if k["process"]["binary"] == echo]
    assert ev["function_name"] == "__x64_sys_write"
    assert ev["args"] == [
        {"int_arg": 1},
        {"bytes_arg": base64.b64encode(text.encode()).decode()},
        {"size_arg": str(len(text))},
    ]
    assert ev["action"] == "KPROBE_ACTION_POST" and ev["parent"]["pid"] > 0
    assert method(agent, "__x64_sys_write") == EXPECTED_METHOD


def test_shared_setuid_policy(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    r = tetra("tp", "add", str(SHARED / "sys_setuid.yaml"))
    assert r.returncode == 0, r.stderr
    tag = copy_bin(tmp_path, PY, "py-setuid")
    subprocess.run([tag, "-S", "-c", "import os; os.setuid(65534)"], check=True)
    evs = agent.wait_for(lambda e: any(k["process"]["binary"] == tag for k in kps(e, "syscalls")))
    (ev,) = [k for k in kps(evs, "syscalls") if k["process"]["binary"] == tag]
    assert ev["function_name"] == "__x64_sys_setuid" and ev["args"] == [{"int_arg": 65534}]


def _openat(name: str, prefix: str, *, ret: bool = False, actions: str = "", binary: str = "") -> str:
    sel = f'    - matchArgs: [{{index: 1, operator: Prefix, values: ["{prefix}"]}}]\n'
    if binary:
        sel += f'      matchBinaries: [{{operator: In, values: ["{binary}"]}}]\n'
    sel += actions
    ret_yaml = "    return: true\n    returnArg: {index: 0, type: int}\n" if ret else ""
    return f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  kprobes:
  - call: sys_openat
    syscall: true
{ret_yaml}    args:
    - {{index: 0, type: int}}
    - {{index: 1, type: string}}
    - {{index: 2, type: int}}
    selectors:
{sel}"""


def test_return_value_is_merged_into_the_entry_event(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    d = tmp_path / "ret"
    d.mkdir()
    (d / "there").write_text("x")
    add(tetra, tmp_path, _openat("openat-ret", str(d), ret=True))
    tag = copy_bin(tmp_path, PY, "py-ret")
    code = (
        "import os\n"
        f"fd = os.open({str(d / 'there')!r}, os.O_RDONLY)\n"
        "print(fd)\n"
        f"try: os.open({str(d / 'missing')!r}, os.O_RDONLY)\n"
        "except FileNotFoundError: pass\n"
    )
    fd = int(subprocess.run([tag, "-S", "-c", code], check=True, capture_output=True, text=True).stdout)
    evs = agent.wait_for(
        lambda e: len([k for k in kps(e, "openat-ret") if k["process"]["binary"] == tag]) == 2
    )
    mine = [k for k in kps(evs, "openat-ret") if k["process"]["binary"] == tag]
    assert len(mine) == 2  # one event per call: entry and return merged
    got = {k["args"][1]["string_arg"]: k for k in mine}
    assert got[str(d / "there")]["return"] == {"int_arg": fd}
    assert got[str(d / "missing")]["return"] == {"int_arg": -2}  # -ENOENT
    assert got[str(d / "there")]["return_action"] == "KPROBE_ACTION_POST"
    assert got[str(d / "there")]["function_name"] == "__x64_sys_openat"
    body = urllib_get(mport)
    assert re.search(r"tetragon_generic_kprobe_merge_ok_total\S* ([0-9.]+)", body)
    assert "tetragon_generic_kprobe_merge_errors_total{" not in body  # nothing failed to merge


def urllib_get(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_sigkill_through_a_kprobe_selector(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    forbidden = tmp_path / "forbidden"
    forbidden.write_text("secret")
    killer = copy_bin(tmp_path, "/bin/cat", "cat-kp-killed")
    sibling = copy_bin(tmp_path, "/bin/cat", "cat-kp-sibling")
    actions = "      matchActions: [{action: Sigkill}]\n"
    add(tetra, tmp_path, _openat("kp-kill", str(forbidden), actions=actions, binary=killer))
    r = subprocess.run([killer, str(forbidden)], capture_output=True)
    assert r.returncode == -9 and r.stdout == b"", r
    s = subprocess.run([sibling, str(forbidden)], capture_output=True)
    assert s.returncode == 0 and s.stdout == b"secret"
    evs = agent.wait_for(
        lambda e: any(x["process"].get("binary") == killer and x.get("signal") == "SIGKILL" for x in exits(e))
    )
    (ev,) = kps(evs, "kp-kill")
    assert ev["action"] == "KPROBE_ACTION_SIGKILL" and ev["process"]["binary"] == killer


def test_a_kernel_function_hook_needs_kprobes(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    f = tmp_path / "fd_install.yaml"
    f.write_text(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: fdinst}\nspec:\n"
        "  kprobes:\n  - call: fd_install\n    syscall: false\n    args: [{index: 0, type: int}]\n"
    )
    tetra("tp", "add", str(f))
    p = Tetra.policies(tetra)["fdinst"]
    if probes.has_kprobes():
        assert p["state"] == "TP_STATE_ENABLED", p
        subprocess.run(["/bin/true"], check=True)  # its exec installs fds
        agent.wait_for(lambda e: bool(kps(e, "fdinst")))
        assert method(agent, "fd_install") == "kprobe"
    else:
        assert p["state"] == "TP_STATE_LOAD_ERROR"
        assert p["error"].startswith("spec.kprobes[0].call: 'fd_install' requires kprobes (CONFIG_KPROBES)")


def test_a_list_of_syscalls_is_a_hook_per_syscall(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    tag = copy_bin(tmp_path, PY, "py-dups")
    add_spec(
        tetra,
        tmp_path,
        "dups",
        f"""  lists:
  - {{name: dups, type: syscalls, values: [sys_dup, sys_dup2]}}
  kprobes:
  - call: list:dups
    args: [{{index: 0, type: int}}]
    selectors:
    - matchBinaries: [{{operator: In, values: ["{tag}"]}}]
""",
    )
    # libc's dup and dup2 (Python's os.dup is fcntl F_DUPFD_CLOEXEC)
    subprocess.run(
        [tag, "-S", "-c", "import ctypes; c = ctypes.CDLL(None); c.dup(1); c.dup2(1, 9)"], check=True
    )
    evs = agent.wait_for(lambda e: len(kps(e, "dups")) >= 2)
    got = sorted((k["function_name"], k["args"][0]["int_arg"]) for k in kps(evs, "dups"))
    assert got == [("__x64_sys_dup", 1), ("__x64_sys_dup2", 1)]


def test_kernel_and_user_stack_traces(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    tag = copy_bin(tmp_path, PY, "py-stacks")
    add_spec(
        tetra,
        tmp_path,
        "stacks",
        f"""  kprobes:
  - call: sys_getppid
    syscall: true
    selectors:
    - matchBinaries: [{{operator: In, values: ["{tag}"]}}]
      matchActions: [{{action: Post, kernelStackTrace: true, userStackTrace: true}}]
""",
    )
    # alive until its event is decoded: user frames are named from its /proc/<pid>/maps
    proc = subprocess.Popen([tag, "-S", "-c", "import os, time; os.getppid(); time.sleep(120)"])
    try:
        evs = agent.wait_for(lambda e: bool(kps(e, "stacks")))
    finally:
        proc.kill()
        proc.wait()
    (ev,) = kps(evs, "stacks")
    kernel = [f["symbol"] for f in ev["kernel_stack_trace"]]
    assert "do_syscall_64" in kernel, kernel
    assert all(f.get("address", "0") == "0" for f in ev["kernel_stack_trace"])  # not exposed by default
    libc = [f for f in ev["user_stack_trace"] if f["module"].endswith("libc.so.6")]
    assert libc and any(f["symbol"] in ("getppid", "__getppid") for f in libc), ev["user_stack_trace"]
