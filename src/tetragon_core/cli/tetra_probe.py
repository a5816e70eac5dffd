"""tetra's ``probe`` subcommand: this machine's kernel features, probed locally (no agent)."""

from __future__ import annotations

import gzip
import os
import platform
import sys
from typing import Any, TextIO

#: kernel options a BPF sensor of ours depends on, as ``tetra probe config`` shows them
CONFIG_OPTIONS = (
    "CONFIG_BPF",
    "CONFIG_BPF_SYSCALL",
    "CONFIG_BPF_JIT",
    "CONFIG_BPF_EVENTS",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_KPROBES",
    "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBES",
    "CONFIG_UPROBE_EVENTS",
    "CONFIG_FPROBE",
    "CONFIG_FTRACE",
    "CONFIG_FUNCTION_TRACER",
    "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
    "CONFIG_BPF_KPROBE_OVERRIDE",
    "CONFIG_FUNCTION_ERROR_INJECTION",
    "CONFIG_BPF_LSM",
    "CONFIG_SECURITY_LOCKDOWN_LSM",
    "CONFIG_CGROUP_BPF",
)


def add_probe_command(sub: Any) -> None:
    """Register ``probe`` (and ``probe config``) on tetra's subparsers."""
    p = sub.add_parser("probe", help="Probe for eBPF system features")
    acts = p.add_subparsers(dest="action")
    acts.add_parser("config", help="Print the kernel options BPF sensors depend on")


def kernel_config() -> dict[str, str]:
    """The running kernel's build options, from /proc/config.gz or /boot/config-<release>."""
    text = ""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        try:
            with open(f"/boot/config-{platform.release()}") as f:
                text = f.read()
        except OSError:
            return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CONFIG_"):
            out[key] = value
    return out


def print_probes(out: TextIO) -> int:
    """One line per feature: ``name: true|false|unknown`` and what it is; returns 0."""
    from tetragon_core import probes

    results = probes.probe_all()
    width = max(len(f.name) for f, _ in results)
    for f, ok in results:
        value = "unknown" if ok is None else str(ok).lower()
        out.write(f"{f.name + ':':<{width + 1}} {value:<7} {f.needs}\n")
    if any(ok is None for _, ok in results):
        out.write("(unknown: BPF probes need root)\n")
    return 0


def run_probe(action: str | None, out: TextIO = sys.stdout) -> int:
    """Run ``tetra probe [config]``; returns the exit status."""
    if action == "config":
        cfg = kernel_config()
        if not cfg:
            print("tetra probe config: no kernel config (/proc/config.gz, /boot/config-*)", file=sys.stderr)
            return 1
        for key in CONFIG_OPTIONS:
            out.write(f"{key}={cfg.get(key, 'n')}\n")
        return 0
    if os.geteuid() != 0:
        print("tetra probe: not root, BPF probes will read unknown", file=sys.stderr)
    return print_probes(out)
