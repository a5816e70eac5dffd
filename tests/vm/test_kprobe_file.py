"""A kprobe on a kernel function with a ``file`` argument and a Prefix path filter (the VM's
kernel has kprobes; the file's path is walked from its dentry in the kernel)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.kernel.test_kprobe_policies import kps, method
from tests.kernel.test_tracepoint_policies import add, copy_bin, start


def test_security_file_permission_with_a_prefix_on_the_file_path(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    watched, other = tmp_path / "watched", tmp_path / "other"
    watched.mkdir()
    other.mkdir()
    (watched / "in").write_text("in")
    (other / "out").write_text("out")
    cat = copy_bin(tmp_path, "/bin/cat", "cat-perm")
    add(
        tetra,
        tmp_path,
        f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: file-perm
spec:
  kprobes:
  - call: security_file_permission
    syscall: false
    args:
    - {{index: 0, type: file}}
    - {{index: 1, type: int}}
    selectors:
    - matchArgs: [{{index: 0, operator: Prefix, values: ["{watched}/"]}}]
      matchBinaries: [{{operator: In, values: ["{cat}"]}}]
""",
    )
    r = subprocess.run([cat, str(other / "out"), str(watched / "in")], capture_output=True, check=True)
    assert r.stdout == b"outin"
    evs = agent.wait_for(lambda e: bool(kps(e, "file-perm")))
    got = kps(evs, "file-perm")
    assert {k["args"][0]["file_arg"]["path"] for k in got} == {str(watched / "in")}
    assert all(k["function_name"] == "security_file_permission" for k in got)
    assert all(k["args"][1]["int_arg"] & 4 for k in got)  # MAY_READ
    assert method(agent, "security_file_permission") == "kprobe"
