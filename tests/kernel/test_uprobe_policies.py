"""TracingPolicy uprobes on this host's kernel: a real binary's function, its arguments and
return value, in-kernel selectors and Sigkill, a stripped binary's dynamic symbols, a path under
/proc/<pid>/root, and load errors that name the path and symbol."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.test_tracepoint_policies import Tetra, start
from tetragon_core.probes import has_uprobes

ROOT = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not has_uprobes(), reason="kernel lacks uprobes (CONFIG_UPROBES)")


def ups(evs: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    return [e["process_uprobe"] for e in evs if e.get("process_uprobe", {}).get("policy_name") == policy]


@pytest.fixture
def target(tmp_path: Path) -> str:
    out = tmp_path / "uprobe_target"
    subprocess.run(["gcc", "-O1", "-g", "-o", str(out), str(ROOT / "progs" / "uprobe_target.c")], check=True)
    return str(out)


def _add(tetra: Tetra, tmp: Path, name: str, spec: str) -> subprocess.CompletedProcess[str]:
    f = tmp / f"{name}.yaml"
    f.write_text(
        f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
    return tetra("tp", "add", str(f))


def test_arguments_return_and_an_in_kernel_selector(start_agent, tmp_path: Path, target: str) -> None:
    agent, tetra, _ = start(start_agent)
    spec = f"""  uprobes:
  - path: {target}
    symbols: [tg_uprobe_target]
    message: "target called"
    tags: [test]
    args:
    - {{index: 0, type: int}}
    - {{index: 1, type: string}}
    - {{index: 2, type: int64}}
    return: true
    returnArg: {{index: 0, type: int}}
    selectors:
    - matchArgs:
      - {{index: 0, operator: Equal, values: ["2"]}}
"""
    r = _add(tetra, tmp_path, "up-args", spec)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([target, "4", "hello"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sum(i + 5 + 1000 for i in range(4)))
    evs = agent.wait_for(lambda e: bool(ups(e, "up-args")))
    (ev,) = ups(evs, "up-args")  # the selector let i == 2 alone through, in the kernel
    assert ev["path"] == target and ev["symbol"] == "tg_uprobe_target"
    assert ev["message"] == "target called" and ev["tags"] == ["test"]
    assert ev["action"] == "KPROBE_ACTION_POST" and int(ev["offset"]) > 0
    assert ev["args"] == [
        {"int_arg": 2},
        {"string_arg": "hello"},
        {"long_arg": "1000"},
        {"int_arg": 1007, "label": "return"},
    ]
    assert ev["process"]["binary"] == target and ev["process"]["arguments"] == "4 hello"
    assert ev["parent"]["pid"] == os.getpid()


def test_match_return_args_and_a_rate_limit(start_agent, tmp_path: Path, target: str) -> None:
    agent, tetra, _ = start(start_agent)
    # tg_uprobe_target(i, "hello", 1000) returns i + 1005: only i == 3 returns 1008
    spec = f"""  uprobes:
  - path: {target}
    symbols: [tg_uprobe_target]
    args: [{{index: 0, type: int}}]
    return: true
    returnArg: {{index: 0, type: int}}
    selectors:
    - matchReturnArgs:
      - {{index: 0, operator: Equal, values: ["1008"]}}
  - path: {target}
    symbols: [tg_uprobe_target]
    message: same
    args: [{{index: 1, type: string}}]
    selectors:
    - matchActions: [{{action: Post, rateLimit: "1m"}}]
  - path: {target}
    symbols: [tg_uprobe_target]
    message: distinct
    args: [{{index: 0, type: int}}]
    selectors:
    - matchActions: [{{action: Post, rateLimit: "1m"}}]
"""
    r = _add(tetra, tmp_path, "up-ret", spec)
    assert r.returncode == 0, r.stderr
    subprocess.run([target, "6", "hello"], capture_output=True, check=True)
    agent.wait_for(lambda e: len(ups(e, "up-ret")) >= 8)
    time.sleep(0.5)  # anything more would come now
    got = ups(agent.events(), "up-ret")
    by = {m: [e["args"] for e in got if e.get("message", "") == m] for m in ("", "same", "distinct")}
    assert by[""] == [[{"int_arg": 3}, {"int_arg": 1008, "label": "return"}]]
    # rateLimit: one event a minute for the same arguments, each distinct one passes
    assert by["same"] == [[{"string_arg": "hello"}]]
    assert by["distinct"] == [[{"int_arg": i}] for i in range(6)]
    assert len(got) == 8


def test_sigkill_on_a_matching_call(start_agent, tmp_path: Path, target: str) -> None:
    _agent, tetra, _ = start(start_agent)
    spec = f"""  uprobes:
  - path: {target}
    symbols: [tg_uprobe_target]
    args: [{{index: 1, type: string}}]
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: ["die"]}}]
      matchActions: [{{action: Sigkill}}]
"""
    assert _add(tetra, tmp_path, "up-kill", spec).returncode == 0
    assert subprocess.run([target, "3", "die"], capture_output=True).returncode == -9
    assert subprocess.run([target, "3", "live"], capture_output=True).returncode == 0


def test_a_stripped_binary_and_a_proc_root_path(start_agent, tmp_path: Path, target: str) -> None:
    agent, tetra, _ = start(start_agent)
    holder = subprocess.Popen(["/bin/sleep", "60"])
    try:
        spec = f"""  uprobes:
  - path: /usr/bin/python3.11
    symbols: [Py_BytesMain]
  - path: /proc/{holder.pid}/root{target}
    symbols: [tg_uprobe_target]
"""
        r = _add(tetra, tmp_path, "up-paths", spec)
        assert r.returncode == 0, r.stderr
        subprocess.run(["/usr/bin/python3.11", "-S", "-c", "pass"], check=True)
        subprocess.run([target, "1"], capture_output=True, check=True)
        evs = agent.wait_for(lambda e: len(ups(e, "up-paths")) >= 2)
    finally:
        holder.kill()
        holder.wait()
    by_symbol = {e["symbol"]: e for e in ups(evs, "up-paths")}
    assert by_symbol["Py_BytesMain"]["path"] == "/usr/bin/python3.11"  # from .dynsym: stripped
    assert by_symbol["Py_BytesMain"]["process"]["binary"] == "/usr/bin/python3.11"
    assert by_symbol["tg_uprobe_target"]["path"] == f"/proc/{holder.pid}/root{target}"


def test_bad_input_is_refused_naming_path_and_symbol(start_agent, tmp_path: Path, target: str) -> None:
    _agent, tetra, _ = start(start_agent)
    ok = f"  uprobes:\n  - path: {target}\n    symbols: [tg_uprobe_target]\n"
    assert _add(tetra, tmp_path, "up-good", ok).returncode == 0
    cases = {
        "up-nofile": (
            f"  uprobes:\n  - path: {tmp_path}/nope\n    symbols: [main]\n",
            f"spec.uprobes[0].path: {tmp_path}/nope does not exist",
        ),
        "up-nosym": (
            f"  uprobes:\n  - path: {target}\n    symbols: [main, no_such_fn]\n",
            f"spec.uprobes[0].symbols[1]: symbol 'no_such_fn' is not a function of {target}",
        ),
        "up-past": (
            f"  uprobes:\n  - path: {target}\n    offsets: [99999999]\n",
            f"spec.uprobes[0].offsets[0]: offset 0x5f5e0ff is past the end of {target}",
        ),
    }
    for name, (spec, want) in cases.items():
        r = _add(tetra, tmp_path, name, spec)
        assert r.returncode != 0 and want in r.stderr, (name, r.stderr)
    policies = tetra.policies()
    assert policies["up-good"]["state"] == "TP_STATE_ENABLED"  # the others failed alone
    for name, (_spec, want) in cases.items():
        assert policies[name]["state"] == "TP_STATE_LOAD_ERROR" and want in policies[name]["error"]


def test_the_shared_uprobe_examples(start_agent) -> None:
    _agent, tetra, _ = start(start_agent)
    shared = ROOT.parents[2] / "shared" / "reference" / "policies"
    assert tetra("tp", "add", str(shared / "uprobe-pid.yaml")).returncode == 0  # /bin/bash readline
    assert tetra.policies()["uprobe"]["state"] == "TP_STATE_ENABLED"
    assert tetra("tp", "delete", "uprobe").returncode == 0
    r = tetra("tp", "add", str(shared / "uprobe-host.yaml"))  # a path of the author's machine
    assert r.returncode != 0
    assert "spec.uprobes[0].path: /procRoot/1/root/usr/bin/bash does not exist" in r.stderr
