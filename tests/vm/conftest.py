"""Tests that run inside the VM on Debian's 6.1 kernel (tools/vm.py boots it).

On the host they are not collected: tests/kernel/test_vm.py boots the VM once and reports each of
them as a host test. In the guest (TG_VM_GUEST=1) the kernel has kprobes, fentry, fmod_ret and BPF
LSM, so nothing here skips: a missing feature there is a failure.
"""

from __future__ import annotations

import os

from tests.kernel.conftest import start_agent

__all__ = ["start_agent"]  # the fixture, for the tests here

if os.environ.get("TG_VM_GUEST") != "1":
    collect_ignore_glob = ["test_*.py"]
