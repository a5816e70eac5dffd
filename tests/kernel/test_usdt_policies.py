"""TracingPolicy usdts on this host's kernel: SystemTap SDT probes of a program built with
sys/sdt.h (int and string arguments, the four operand forms, a semaphore) and of the system
python (python:import__find__load__done, guarded by a semaphore), in-kernel selectors, Sigkill, Set, and
load errors that name the YAML path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tetragon_sensor_usdt import argspec, notes

from tests.kernel.test_tracepoint_policies import Tetra, start
from tetragon_core.probes import has_probe_write_user, has_uprobes

ROOT = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3.11"  # Debian's, built with --with-dtrace

pytestmark = pytest.mark.skipif(not has_uprobes(), reason="kernel lacks uprobes (CONFIG_UPROBES)")


def usdts(evs: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    return [e["process_usdt"] for e in evs if e.get("process_usdt", {}).get("policy_name") == policy]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("usdt") / "usdt_target"
    subprocess.run(["gcc", "-O2", "-g", "-o", str(out), str(ROOT / "progs" / "usdt_target.c")], check=True)
    return str(out)


def _add(tetra: Tetra, tmp: Path, name: str, spec: str) -> subprocess.CompletedProcess[str]:
    f = tmp / f"{name}.yaml"
    f.write_text(
        f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
    return tetra("tp", "add", str(f))


def _run(target: str, *args: str) -> list[str]:
    return subprocess.run([target, *args], capture_output=True, text=True, check=True).stdout.split()


def test_the_test_program_has_every_operand_form(target: str) -> None:
    kinds = {a.kind for p in notes.probes(target) for a in argspec.parse_args("args", p.args)}
    assert {argspec.KIND_REG, argspec.KIND_CONST, argspec.KIND_DEREF, argspec.KIND_SIB} <= kinds


def test_int_and_string_arguments_with_an_in_kernel_selector(
    start_agent, tmp_path: Path, target: str
) -> None:
    agent, tetra, _ = start(start_agent)
    spec = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: call
    message: "call probe"
    tags: [test]
    args:
    - {{index: 0, type: int32}}
    - {{index: 1, type: string}}
    - {{index: 2, type: int64}}
    - {{index: 3, type: int32}}
    selectors:
    - matchArgs:
      - {{index: 0, operator: Equal, values: ["2"]}}
"""
    r = _add(tetra, tmp_path, "usdt-call", spec)
    assert r.returncode == 0, r.stderr
    assert _run(target, "4", "hello")[0] == "6"
    evs = agent.wait_for(lambda e: bool(usdts(e, "usdt-call")))
    (ev,) = usdts(evs, "usdt-call")  # i == 2 alone passed the selector, in the kernel
    assert ev["path"] == target and ev["provider"] == "tgtest" and ev["name"] == "call"
    assert ev["message"] == "call probe" and ev["tags"] == ["test"]
    assert ev["action"] == "KPROBE_ACTION_POST"
    assert ev["args"] == [
        {"int_arg": 2},
        {"string_arg": "hello"},
        {"long_arg": "5000000002"},
        {"int_arg": -2},
    ]
    assert ev["process"]["binary"] == target and ev["process"]["arguments"] == "4 hello"
    assert ev["parent"]["pid"] == os.getpid()


def test_constant_register_deref_and_sib_operands(start_agent, tmp_path: Path, target: str) -> None:
    agent, tetra, _ = start(start_agent)
    spec = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: arr
    args:
    - {{index: 0, type: int64}}
    - {{index: 1, type: int32}}
    - {{index: 2, type: int64}}
"""
    assert _add(tetra, tmp_path, "usdt-arr", spec).returncode == 0
    _run(target, "3")
    evs = agent.wait_for(lambda e: len(usdts(e, "usdt-arr")) >= 3)
    got = [[next(iter(a.values())) for a in ev["args"]] for ev in usdts(evs, "usdt-arr")]
    # vals[i] through (base,index,8), $42, and pair->b through 8(base)
    assert got == [["11", 42, "-12345"], ["22", 42, "-12345"], ["33", 42, "-12345"]]


def test_a_semaphore_is_raised_while_the_probe_is_attached(start_agent, tmp_path: Path, target: str) -> None:
    agent, tetra, _ = start(start_agent)
    assert _run(target, "5")[1] == "0"  # nobody attached: the guarded probe is skipped
    spec = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: guarded
    args: [{{index: 0, type: int32}}, {{index: 1, type: string}}]
"""
    assert _add(tetra, tmp_path, "usdt-sema", spec).returncode == 0
    assert _run(target, "5", "sema")[1] == "5"  # the kernel raised the semaphore
    evs = agent.wait_for(lambda e: len(usdts(e, "usdt-sema")) >= 5)
    assert [ev["args"] for ev in usdts(evs, "usdt-sema")] == [
        [{"int_arg": i}, {"string_arg": "sema"}] for i in range(5)
    ]
    assert tetra("tp", "delete", "usdt-sema").returncode == 0
    assert _run(target, "5")[1] == "0"  # and dropped it on detach


def test_the_system_python_import_probe(start_agent, tmp_path: Path) -> None:
    # import__find__load__done(module name, found), guarded by a semaphore like every probe of
    # Debian's python (python 3.11 fires function__entry for generator frames only)
    agent, tetra, _ = start(start_agent)
    (tmp_path / "tg_usdt_marker.py").write_text("X = 1\n")
    spec = f"""  usdts:
  - path: {PYTHON}
    provider: python
    name: import__find__load__done
    args:
    - {{index: 0, type: string}}
    - {{index: 1, type: int32}}
    selectors:
    - matchArgs:
      - {{index: 0, operator: Equal, values: ["tg_usdt_marker"]}}
"""
    r = _add(tetra, tmp_path, "usdt-py", spec)
    assert r.returncode == 0, r.stderr
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import json, tg_usdt_marker"
    subprocess.run([PYTHON, "-S", "-c", code], check=True)
    evs = agent.wait_for(lambda e: bool(usdts(e, "usdt-py")))
    (ev,) = usdts(evs, "usdt-py")  # json and its modules did not pass the selector, in the kernel
    assert ev["args"] == [{"string_arg": "tg_usdt_marker"}, {"int_arg": 1}]
    assert ev["process"]["binary"] == PYTHON and ev["path"] == PYTHON
    assert ev["provider"] == "python" and ev["name"] == "import__find__load__done"


def test_sigkill_on_a_matching_probe(start_agent, tmp_path: Path, target: str) -> None:
    _agent, tetra, _ = start(start_agent)
    spec = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: call
    args: [{{index: 1, type: string}}]
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: ["die"]}}]
      matchActions: [{{action: Sigkill}}]
"""
    assert _add(tetra, tmp_path, "usdt-kill", spec).returncode == 0
    assert subprocess.run([target, "3", "die"], capture_output=True).returncode == -9
    assert subprocess.run([target, "3", "live"], capture_output=True).returncode == 0


def test_the_write_helper_probe_follows_kernel_lockdown() -> None:
    state = Path("/sys/kernel/security/lockdown")
    if not state.exists() and not os.path.ismount("/sys/kernel/security"):
        subprocess.run(["mount", "-t", "securityfs", "securityfs", "/sys/kernel/security"], check=True)
    if not state.exists():
        pytest.skip("securityfs has no lockdown file: the kernel lacks the lockdown LSM")
    assert has_probe_write_user() == ("[none]" in state.read_text()), state.read_text()


def test_set_writes_a_memory_argument_or_is_refused_with_the_reason(
    start_agent, tmp_path: Path, target: str
) -> None:
    agent, tetra, _ = start(start_agent)
    on_reg = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: call
    args: [{{index: 0, type: int32}}]
    selectors:
    - matchActions: [{{action: Set, argIndex: 0, argValue: 7}}]
"""
    r = _add(tetra, tmp_path, "usdt-set-reg", on_reg)
    assert r.returncode != 0
    assert (
        "spec.usdts[0].selectors[0].matchActions[0].argIndex: argument 0 of the probe is '-4@%eax'"
        in r.stderr
    )
    spec = f"""  usdts:
  - path: {target}
    provider: tgtest
    name: arr
    args: [{{index: 2, type: int64}}]
    selectors:
    - matchActions: [{{action: Set, argIndex: 2, argValue: 31337}}]
"""
    r = _add(tetra, tmp_path, "usdt-set", spec)
    if not has_probe_write_user():
        assert r.returncode != 0
        assert (
            "spec.usdts[0].selectors[0].matchActions[0].action: Set requires bpf_probe_write_user, "
            "which this kernel does not allow"
        ) in r.stderr
        assert _run(target, "2")[-1] == "-12345"
        return
    assert r.returncode == 0, r.stderr
    assert _run(target, "2")[-1] == "31337"  # pair->b, written in the traced process
    evs = agent.wait_for(lambda e: bool(usdts(e, "usdt-set")))
    assert usdts(evs, "usdt-set")[0]["action"] == "KPROBE_ACTION_SET"


def test_bad_input_is_refused_naming_the_yaml_path(start_agent, tmp_path: Path, target: str) -> None:
    _agent, tetra, _ = start(start_agent)
    ok = f"  usdts:\n  - path: {target}\n    provider: tgtest\n    name: call\n"
    assert _add(tetra, tmp_path, "usdt-good", ok).returncode == 0
    cases = {
        "usdt-nofile": (
            f"  usdts:\n  - path: {tmp_path}/nope\n    provider: a\n    name: b\n",
            f"spec.usdts[0].path: {tmp_path}/nope does not exist",
        ),
        "usdt-noprobe": (
            f"  usdts:\n  - path: {target}\n    provider: tgtest\n    name: nope\n",
            f"spec.usdts[0].path: {target} has no USDT probe tgtest:nope (it has: tgtest:arr, tgtest:call",
        ),
        "usdt-noarg": (
            f"  usdts:\n  - path: {target}\n    provider: tgtest\n    name: guarded\n"
            "    args: [{index: 5, type: int32}]\n",
            "spec.usdts[0].args[0].index: the probe has 2 arguments; index 5 is not one of them",
        ),
        "usdt-type": (
            f"  usdts:\n  - path: {target}\n    provider: tgtest\n    name: guarded\n"
            "    args: [{index: 0, type: sock}]\n",
            "spec.usdts[0].args[0].type: type 'sock' is not supported on usdts",
        ),
    }
    for name, (spec, want) in cases.items():
        r = _add(tetra, tmp_path, name, spec)
        assert r.returncode != 0 and want in r.stderr, (name, r.stderr)
    policies = tetra.policies()
    assert policies["usdt-good"]["state"] == "TP_STATE_ENABLED"  # the others failed alone
    for name, (_spec, want) in cases.items():
        assert policies[name]["state"] == "TP_STATE_LOAD_ERROR" and want in policies[name]["error"]


def test_the_shared_usdt_examples_are_refused_with_the_reason(start_agent) -> None:
    _agent, tetra, _ = start(start_agent)
    shared = ROOT.parents[2] / "shared" / "reference" / "policies"
    for name, binary in (("usdt.yaml", "usdt"), ("usdt-set.yaml", "usdt-override")):
        r = tetra("tp", "add", str(shared / name))  # paths of the author's machine
        assert r.returncode != 0
        assert (
            f"spec.usdts[0].path: /home/jolsa/tetragon/contrib/tester-progs/{binary} does not exist"
            in r.stderr
        )
        assert tetra.policies()["usdts"]["state"] == "TP_STATE_LOAD_ERROR"
        assert tetra("tp", "delete", "usdts").returncode == 0  # both are named "usdts"
