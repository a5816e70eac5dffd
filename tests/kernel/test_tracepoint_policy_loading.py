"""TracingPolicy loading on the real kernel: every shared example policy is loaded or refused with
a reason, and malformed policies are rejected with their YAML path while the agent keeps serving."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.kernel.test_tracepoint_policies import add, openat_policy, start, tps
from tetragon_core.probes import has_bpf_lsm, has_fmod_ret

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "policies"


def test_every_shared_example_is_loaded_or_refused_with_a_reason(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    files = sorted(p for p in SHARED.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert len(files) == 43
    states: dict[str, str] = {}
    for f in files:
        r = tetra("tp", "add", str(f))
        name = re.search(r'^\s*name:\s*"?([^"\s]+)', f.read_text(), re.M).group(1)  # type: ignore[union-attr]
        if r.returncode != 0:  # parsed and registered, but this kernel or agent cannot run it
            assert "FAILED_PRECONDITION" in r.stderr and "failed to load" in r.stderr, (f, r.stderr)
        p = tetra.policies()[name]
        states[f.name] = p["state"]
        if p["state"] == "TP_STATE_LOAD_ERROR":
            assert re.match(r"spec\.\w+", p["error"]), (f, p["error"])  # the YAML path, then the reason
        else:
            assert p["state"] == "TP_STATE_ENABLED" and r.returncode == 0, (f, p)
        assert tetra("tp", "delete", name).returncode == 0  # some examples share a name
    assert states["list-syscalls-tracepoint.yaml"] == "TP_STATE_ENABLED"
    # syscall kprobes run everywhere (kprobes, or the syscall tracepoints); the rest where the
    # kernel has what they need (the VM suite runs this on a kernel that has it all)
    enabled = {f for f, st in states.items() if st == "TP_STATE_ENABLED"}
    assert {"write.yaml", "sys_setuid.yaml"} <= enabled
    if has_bpf_lsm():
        assert "lsm_file_open.yaml" in enabled
    if has_fmod_ret():
        assert "override-security.yaml" in enabled
    print(f"{len(enabled)} of {len(states)} shared examples enabled: {sorted(enabled)}")
    assert tetra.policies() == {}
    # and the agent still serves: a new process is still seen
    r = subprocess.run(["/bin/echo", "still-alive"], capture_output=True)
    assert r.returncode == 0
    agent.wait_for(
        lambda evs: any(
            e.get("process_exec", {}).get("process", {}).get("arguments") == "still-alive" for e in evs
        )
    )


_BASE = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bad
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 5, type: int}, {index: 6, type: string}]
"""

MALFORMED = [
    (
        _BASE + "    selectors: [{matchArgs: [{index: 1, operator: Prefx, values: [/tmp]}]}]\n",
        "INVALID_ARGUMENT",
        "spec.tracepoints[0].selectors[0].matchArgs[0].operator: unknown operator 'Prefx'",
    ),
    (
        _BASE
        + "    selectors: [{matchArgs: [{index: 0, operator: Equal, values: ['1','2','3','4','5']}]}]\n",
        "INVALID_ARGUMENT",
        "spec.tracepoints[0].selectors[0].matchArgs[0].values: "
        "operator 'Equal' takes at most 4 values, got 5",
    ),
    (
        _BASE + "    selectors: [{}, {}, {}, {}, {}, {}]\n",
        "INVALID_ARGUMENT",
        "spec.tracepoints[0].selectors: at most 5 selectors",
    ),
    (
        _BASE + "    selectors: [{matchActions: "
        "[{action: Post}, {action: Post}, {action: Post}, {action: Post}]}]\n",
        "INVALID_ARGUMENT",
        "spec.tracepoints[0].selectors[0].matchActions: at most 3 actions per selector, got 4",
    ),
    (
        _BASE + "    selectors: [{matchActions: [{action: Sigkil}]}]\n",
        "INVALID_ARGUMENT",
        "spec.tracepoints[0].selectors[0].matchActions[0].action: unknown action 'Sigkil'",
    ),
    (
        _BASE + "    selectors: [{matchArgs: [{index: 7, operator: Equal, values: ['1']}]}]\n",
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].selectors[0].matchArgs[0].index: the hook has 2 args; index 7 names none",
    ),
    (
        _BASE + "    selectors: [{matchArgs: [{index: 1, operator: GT, values: ['1']}]}]\n",
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].selectors[0].matchArgs[0].operator: "
        "operator 'GT' does not apply to a string argument",
    ),
    (
        _BASE.replace("sys_enter_openat", "sys_enter_nope"),
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].event: tracepoint syscalls/sys_enter_nope does not exist on this kernel",
    ),
    (
        _BASE.replace("index: 6, type: string", "index: 60, type: string"),
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].args[1].index: syscalls/sys_enter_openat has 9 fields (indexes 0..8)",
    ),
    (
        _BASE + "    selectors: [{matchActions: [{action: NotifyEnforcer, argError: -1}]}]\n",
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].selectors[0].matchActions[0].action: NotifyEnforcer needs an enforcer",
    ),
    (
        _BASE + "    selectors: [{matchActions: [{action: Signal, argSig: 99}]}]\n",
        "FAILED_PRECONDITION",
        "spec.tracepoints[0].selectors[0].matchActions[0].argSig: expected a signal number 1..64, got 99",
    ),
    (
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: bad}\nspec: [\n",
        "INVALID_ARGUMENT",
        "",
    ),
]


def test_malformed_policies_are_rejected_with_path_and_reason_while_the_agent_serves(
    start_agent, tmp_path: Path
) -> None:
    agent, tetra, _ = start(start_agent)
    for i, (text, status, message) in enumerate(MALFORMED):
        f = tmp_path / f"bad-{i}.yaml"
        f.write_text(text)
        r = tetra("tp", "add", str(f))
        assert r.returncode == 1 and status in r.stderr, (i, r.stderr)
        assert message in r.stderr, (i, r.stderr)
        if status == "FAILED_PRECONDITION":  # registered in load_error: clear it for the next one
            assert tetra.policies()["bad"]["state"] == "TP_STATE_LOAD_ERROR"
            assert tetra("tp", "delete", "bad").returncode == 0
    assert tetra.policies() == {}
    add(tetra, tmp_path, openat_policy("good-after-bad", str(tmp_path / "good")))
    (tmp_path / "good").write_text("g")
    subprocess.run(["/bin/cat", str(tmp_path / "good")], check=True, capture_output=True)
    agent.wait_for(lambda e: tps(e, "good-after-bad"))
