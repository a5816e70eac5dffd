"""The BPF filesystem that pins live in: checked, and mounted when absent, as Tetragon does."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

from tetragon_core.exceptions import BpfError

BPF_FS_MAGIC = 0xCAFE4A11


def is_bpffs(path: str) -> bool:
    """Whether ``path`` is a mount of the bpf filesystem."""
    try:
        with open("/proc/self/mounts") as f:
            return any(parts[1] == path and parts[2] == "bpf" for parts in (line.split() for line in f))
    except OSError:
        return False


def ensure_bpffs(path: str = "/sys/fs/bpf") -> str:
    """Mount bpffs at ``path`` unless it is already; returns ``path``."""
    if is_bpffs(path):
        return path
    os.makedirs(path, exist_ok=True)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mount(b"bpffs", os.fsencode(path), b"bpf", 0, None) != 0:
        err = ctypes.get_errno()
        raise BpfError(f"mounting the BPF filesystem at {path} failed: {os.strerror(err)}", err)
    return path


def remove_pins(path: str, rounds: int = 20) -> None:
    """Remove a pin directory tree. bpffs directory listings can omit entries while siblings are
    being unlinked, so the walk repeats until the tree is gone."""
    for _ in range(rounds):
        if not os.path.lexists(path):
            return
        for root, dirs, names in os.walk(path, topdown=False):
            for n in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, n))
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, d))
        with contextlib.suppress(OSError):
            os.rmdir(path)
    if os.path.lexists(path):
        raise BpfError(f"could not remove pinned objects under {path}")
