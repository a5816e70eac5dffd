"""tools/vm.py without a VM: junit results mapped back to test ids, and its own errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location("tg_tools_vm", Path(__file__).parents[2] / "tools" / "vm.py")
assert _spec is not None and _spec.loader is not None
vm: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = vm
_spec.loader.exec_module(vm)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.vm.test_features" name="test_the_guest_runs_debian_6_1" time="0.01"/>
<testcase classname="tests.kernel.test_exec_exit" name="test_exit_status_and_signal" time="9">
<failure message="assert 1 == 0">long traceback</failure></testcase>
<testcase classname="tests.vm.test_features" name="test_probes_see_the_vm_kernel_features">
<skipped message="kernel lacks kprobes"/></testcase>
<testcase classname="tests.kernel.test_vm_like.TestGroup" name="test_x[a-b]">
<error message="boom"/></testcase>
</testsuite></testsuites>"""


def test_junit_outcomes_by_test_id(tmp_path: Path) -> None:
    f = tmp_path / "junit.xml"
    f.write_text(JUNIT)
    got = vm.parse_junit(f)
    assert got["tests/vm/test_features.py::test_the_guest_runs_debian_6_1"] == ("passed", "")
    outcome, text = got["tests/kernel/test_exec_exit.py::test_exit_status_and_signal"]
    assert outcome == "failed" and "assert 1 == 0" in text and "long traceback" in text
    assert got["tests/vm/test_features.py::test_probes_see_the_vm_kernel_features"][0] == "skipped"
    # no such module file: the dotted name is kept as it is
    assert got["tests.kernel.test_vm_like.TestGroup::test_x[a-b]"][0] == "error"


def test_the_suite_collects_on_the_host_as_in_the_guest() -> None:
    ids = vm.collect()
    assert "tests/vm/test_features.py::test_probes_see_the_vm_kernel_features" in ids
    assert all(i.split("::")[0].endswith(".py") for i in ids)


def test_a_missing_kernel_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vm, "Path", lambda *a: tmp_path if a == ("/boot",) else Path(*a))
    with pytest.raises(vm.VmError, match="linux-image-amd64"):
        vm.find_kernel()
