#!/usr/bin/env python3
"""Run tests in a VM on Debian's 6.1 kernel, which has what this host's kernel lacks (kprobes,
fentry, fmod_ret, BPF LSM).

virtme-ng boots the kernel of Debian's linux-image-amd64 under qemu with TCG (``--disable-kvm``:
/dev/kvm does not work here) and ``lsm=lockdown,capability,bpf``. The guest shares the host's
filesystem read-only, so the same checkout and venv run there; ``/tmp`` is the guest's own, and the
results come back through a ``--rwdir``: pytest's junit XML, its output, and its exit status.

    tools/vm.py                       # the VM suite (VM_TESTS); exit status = pytest's
    tools/vm.py --collect             # print the suite's test ids (no VM)
    tools/vm.py -- tests/vm -k probe  # other pytest arguments
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CMDLINE = "lsm=lockdown,capability,bpf"
#: what runs in the VM: the tests that need its kernel, and host tests that show that the objects
#: built against the host's BTF run on another kernel (CO-RE portability)
_KPROBE_HOST = "tests/kernel/test_kprobe_policies.py::"
VM_TESTS = (
    "tests/vm",
    # CO-RE portability of the exec/exit and tracepoint objects and the JSON export
    "tests/kernel/test_exec_exit.py::test_echo_exec_fields_and_parent_linkage",
    "tests/kernel/test_tracepoint_policies.py::test_openat_prefix_only_the_match_leaves_the_kernel",
    # on that kernel these run as kprobes and kretprobes (here: on syscall tracepoints); the
    # tests share one agent there (an agent's start costs ~40 s of TCG: SharedAgent), and what
    # the host covers the same way stays there
    _KPROBE_HOST + "test_shared_write_policy",
    _KPROBE_HOST + "test_shared_setuid_policy",
    _KPROBE_HOST + "test_return_value_is_merged_into_the_entry_event",
    _KPROBE_HOST + "test_sigkill_through_a_kprobe_selector",
    _KPROBE_HOST + "test_a_kernel_function_hook_needs_kprobes",
    _KPROBE_HOST + "test_kernel_and_user_stack_traces",
    # the loader's kprobe route (perf_event_mmap_output), and USDT Set where lockdown allows it
    "tests/kernel/test_loader.py::test_exec_and_dlopen_mappings_with_their_build_ids",
    "tests/kernel/test_usdt_policies.py::test_set_writes_a_memory_argument_or_is_refused_with_the_reason",
)
#: the whole run (boot included) may take this long; TCG runs Python ~10x slower than the host
TIMEOUT_S = 1500


class VmError(Exception):
    """The VM could not be booted, or gave no results."""


def find_kernel() -> Path:
    """The newest Debian 6.1 kernel image in /boot (package linux-image-amd64 on bookworm)."""
    found = sorted(
        Path("/boot").glob("vmlinuz-6.1.*"),
        key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"[.-]", p.name)],
    )
    if not found:
        raise VmError("no /boot/vmlinuz-6.1.* (install linux-image-amd64: ./scripts/bootstrap.sh --vm)")
    release = found[-1].name.removeprefix("vmlinuz-")
    if not Path("/lib/modules", release).is_dir():
        raise VmError(f"/lib/modules/{release} is missing: the guest loads its 9p and virtio modules there")
    return found[-1]


def collect(tests: tuple[str, ...] = VM_TESTS) -> list[str]:
    """The test ids the VM suite runs, collected on the host (as the guest would)."""
    env = dict(os.environ, TG_VM_GUEST="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    ids = [line for line in out.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if out.returncode != 0 or not ids:
        raise VmError(f"collecting {tests} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return ids


@dataclass
class VmRun:
    """What came back from one VM run."""

    booted: bool
    status: int | None  # pytest's exit status in the guest
    results: dict[str, tuple[str, str]] = field(default_factory=dict)  # test id → (outcome, text)
    log: str = ""  # pytest's output in the guest
    console: str = ""  # vng/qemu/kernel output
    seconds: float = 0.0


def _test_id(case: ET.Element) -> str:
    cls = case.get("classname", "")
    parts = cls.split(".")
    # junit names the module as a dotted path and, for a class, appends it
    for i in range(len(parts), 0, -1):
        path = Path(ROOT, *parts[:i]).with_suffix(".py")
        if path.is_file():
            rest = parts[i:]
            return "::".join([str(path.relative_to(ROOT)), *rest, case.get("name", "")])
    return f"{cls}::{case.get('name', '')}"


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    """Test id → (passed|failed|error|skipped, message) from pytest's junit XML."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            el = case.find(kind)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                text = (el.get("message") or "") + "\n" + (el.text or "")
                break
        out[_test_id(case)] = (outcome, text)
    return out


def run(pytest_args: tuple[str, ...] = VM_TESTS, *, timeout: float = TIMEOUT_S, command: str = "") -> VmRun:
    """Boot the VM, run pytest with ``pytest_args`` in it (or ``command``, a shell command run in
    the checkout with the venv's bin first on PATH), and return what it reported."""
    import time

    vng = VENV_BIN / "vng"
    if not vng.exists():
        raise VmError(f"{vng} is missing (virtme-ng: ./scripts/bootstrap.sh --vm)")
    for tool in ("qemu-system-x86_64", "busybox"):
        if shutil.which(tool) is None and not Path("/bin", tool).exists():
            raise VmError(f"{tool} is missing (./scripts/bootstrap.sh --vm)")
    kernel = find_kernel()
    out = Path(tempfile.mkdtemp(prefix="tg-vm-"))
    os.chmod(out, 0o777)
    pytest = (
        f"{sys.executable} -m pytest -p no:cacheprovider -ra --durations=8 --timeout 600"
        f" --junitxml={out}/junit.xml {' '.join(pytest_args)}"
    )
    # the guest reads its command from the shared directory: vng passes --exec on the kernel
    # command line, whose 2 KiB limit a long list of test ids would pass (the guest then hangs)
    (out / "run.sh").write_text(
        f"cd {ROOT} && export PATH={VENV_BIN}:$PATH PYTHONDONTWRITEBYTECODE=1 TG_VM_GUEST=1 &&"
        f" {command or pytest} > {out}/pytest.txt 2>&1; echo $? > {out}/status\n"
    )
    cmd = [
        str(vng), "--run", str(kernel), "--disable-kvm", "--cpus", "2", "--memory", "2G",
        "--append", CMDLINE, "--rwdir", str(out), "--exec", f"sh {out}/run.sh",
    ]  # fmt: skip
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        console = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        console = f"timed out after {timeout}s\n" + str(e.stdout or "") + str(e.stderr or "")
    res = VmRun(booted=(out / "status").exists(), status=None, console=console[-20000:])
    res.seconds = time.monotonic() - t0
    if (out / "pytest.txt").exists():
        res.log = (out / "pytest.txt").read_text(errors="replace")
        res.booted = True
    if (out / "status").exists():
        res.status = int((out / "status").read_text().strip() or "-1")
    if (out / "junit.xml").exists():
        res.results = parse_junit(out / "junit.xml")
    shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collect", action="store_true", help="print the VM suite's test ids and exit")
    ap.add_argument("--exec", dest="command", default="", help="run this shell command instead of pytest")
    ap.add_argument("pytest_args", nargs="*", help="pytest arguments (default: the VM suite)")
    args = ap.parse_args()
    tests = tuple(args.pytest_args) or VM_TESTS
    if args.collect:
        print("\n".join(collect(tests)))
        return 0
    try:
        res = run(tests, command=args.command)
    except VmError as e:
        print(f"vm: {e}", file=sys.stderr)
        return 2
    print(res.log or res.console)
    print(f"vm: {len(res.results)} tests in {res.seconds:.0f} s, pytest status {res.status}")
    if not res.booted:
        print(f"vm: the VM did not boot or ran nothing:\n{res.console[-4000:]}", file=sys.stderr)
        return 2
    return res.status if res.status is not None else 2


if __name__ == "__main__":
    sys.exit(main())
