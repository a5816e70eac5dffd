"""The VM suite (tools/vm.py): boots Debian's 6.1 kernel under qemu once and reports each test run
there as a test here. A VM that does not boot fails every one of them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location("tg_tools_vm", Path(__file__).parents[2] / "tools" / "vm.py")
assert _spec is not None and _spec.loader is not None
vm: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = vm  # dataclasses look their module up there
_spec.loader.exec_module(vm)

IDS: list[str] = vm.collect()
# the first test boots the VM and runs the whole suite (≈ 8 min under TCG)
pytestmark = pytest.mark.timeout(vm.TIMEOUT_S + 120)


@pytest.fixture(scope="module")
def vm_run() -> Any:
    res = vm.run()
    print(f"\nVM suite: {len(res.results)} tests in {res.seconds:.0f} s, pytest status {res.status}")
    slowest = res.log.split("slowest 8 durations", 1)[-1].split("=====", 1)[0] if res.log else ""
    print(f"slowest:{slowest}")
    return res


def test_vm_boots_and_reports_every_test(vm_run: Any) -> None:
    assert vm_run.booted, f"the VM did not boot:\n{vm_run.console[-4000:]}"
    assert set(vm_run.results) == set(IDS), (sorted(set(IDS) ^ set(vm_run.results)), vm_run.log[-3000:])


@pytest.mark.parametrize("test_id", IDS)
def test_in_vm(vm_run: Any, test_id: str) -> None:
    outcome, text = vm_run.results.get(test_id, ("not run", vm_run.log[-3000:] or vm_run.console[-3000:]))
    assert outcome == "passed", f"{test_id} {outcome} in the VM:\n{text[-4000:]}"
