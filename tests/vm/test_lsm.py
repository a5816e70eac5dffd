"""lsmhooks on BPF LSM (the VM boots with lsm=...,bpf): Override blocks one path, not another."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.kernel.test_tracepoint_policies import add, copy_bin, metric, start


def lsms(evs: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    return [e["process_lsm"] for e in evs if e.get("process_lsm", {}).get("policy_name") == policy]


def policy(name: str, blocked: Path, binary: str, actions: str) -> str:
    return f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  lsmhooks:
  - hook: file_open
    args: [{{index: 0, type: file}}]
    selectors:
    - matchBinaries: [{{operator: In, values: ["{binary}"]}}]
      matchArgs: [{{index: 0, operator: Equal, values: ["{blocked}"]}}]
{actions}"""


def test_file_open_override_blocks_one_path_only(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    blocked, allowed = tmp_path / "blocked", tmp_path / "allowed"
    blocked.write_text("secret")
    blocked.chmod(0o640)
    allowed.write_text("fine")
    cat = copy_bin(tmp_path, "/bin/cat", "cat-lsm")
    add(
        tetra,
        tmp_path,
        policy("lsm-block", blocked, cat, "      matchActions: [{action: Override, argError: -1}]\n"),
    )
    r = subprocess.run([cat, str(blocked)], capture_output=True, text=True)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr, r  # EPERM
    a = subprocess.run([cat, str(allowed)], capture_output=True, text=True)
    assert a.returncode == 0 and a.stdout == "fine"
    other = subprocess.run(["/bin/cat", str(blocked)], capture_output=True, text=True)
    assert other.stdout == "secret"  # another binary is not matched
    evs = agent.wait_for(lambda e: bool(lsms(e, "lsm-block")))
    (ev,) = lsms(evs, "lsm-block")
    assert ev["function_name"] == "file_open" and ev["args"] == [
        {"file_arg": {"path": str(blocked), "permission": "-rw-r-----"}}
    ]
    assert ev["action"] == "KPROBE_ACTION_OVERRIDE" and ev["process"]["binary"] == cat
    assert (
        metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="lsm-block", outcome="overrides")
        == 1
    )
    # monitor mode: counted, not enforced
    assert tetra("tp", "set-mode", "lsm-block", "monitor").returncode == 0
    m = subprocess.run([cat, str(blocked)], capture_output=True, text=True)
    assert m.returncode == 0 and m.stdout == "secret"
