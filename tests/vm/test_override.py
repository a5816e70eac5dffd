"""Override on a security_* kprobe hook, done with fmod_ret (Debian's 6.1 has no
bpf_override_return): the function returns argError and the operation fails. With return: true
the overridden call's return is the override's value, the other calls' their own (kretprobe)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.kernel.test_kprobe_policies import kps, method
from tests.kernel.test_tracepoint_policies import add, copy_bin, start


def test_fmod_ret_override_on_security_inode_mkdir(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    mkdir = copy_bin(tmp_path, "/bin/mkdir", "mkdir-denied")
    add(
        tetra,
        tmp_path,
        f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: security-override
spec:
  kprobes:
  - call: security_inode_mkdir
    syscall: false
    return: true
    returnArg: {{index: 0, type: int}}
    selectors:
    - matchBinaries: [{{operator: In, values: ["{mkdir}"]}}]
      matchActions: [{{action: Override, argError: -1}}]
    - matchBinaries: [{{operator: In, values: ["/bin/mkdir", "/usr/bin/mkdir"]}}]
""",
    )
    r = subprocess.run([mkdir, str(tmp_path / "denied")], capture_output=True, text=True)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr, r
    assert not (tmp_path / "denied").exists()
    ok = subprocess.run(["/bin/mkdir", str(tmp_path / "allowed")], capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "allowed").is_dir()
    evs = agent.wait_for(lambda e: len(kps(e, "security-override")) >= 2)
    by_bin = {k["process"]["binary"]: k for k in kps(evs, "security-override")}
    ev = by_bin[mkdir]
    assert ev["function_name"] == "security_inode_mkdir" and ev["action"] == "KPROBE_ACTION_OVERRIDE"
    assert ev["return"] == {"int_arg": -1}
    (other,) = [k for b, k in by_bin.items() if b != mkdir]
    assert other["action"] == "KPROBE_ACTION_POST" and other["return"] == {"int_arg": 0}
    assert method(agent, "security_inode_mkdir") == "fmod_ret"
