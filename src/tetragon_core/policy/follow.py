"""matchBinaries ``followChildren``: one bit of execve_map's ``mbset`` per binary set.

The exec program ORs ``tg_mbset_paths[path]`` into the image's mbset at exec, and a fork copies
its parent's, so descendants of a listed binary carry its bit (bpf/exec/bpf_execve.c). Processes
already running when the policy loads are marked here from execve_map, ancestors included.
"""

from __future__ import annotations

import struct
import threading

from tetragon_core.bpf.maps import Map
from tetragon_core.exceptions import BpfMapError
from tetragon_core.policy import PolicyError

# struct execve_map_value (bpf/lib/process.h)
_PPID = 16
_PATH_LEN = 104
_PATH = 112
_MBSET = 368
_VALUE_SIZE = 376
PATH_SIZE = 256


class MbsetBits:
    """The 64 bits, shared by every policy of every sensor (there is one ``BITS``)."""

    def __init__(self) -> None:
        self._free = set(range(64))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            if not self._free:
                raise PolicyError(
                    "matchBinaries", "followChildren: all 64 binary sets are in use by other policies"
                )
            bit = min(self._free)
            self._free.discard(bit)
            return bit

    def give_back(self, bits: list[int]) -> None:
        with self._lock:
            self._free.update(bits)


def _key(path: str) -> bytes:
    raw = path.encode()[: PATH_SIZE - 1]
    return raw + b"\0" * (PATH_SIZE - len(raw))


def _update_paths(paths: Map, entries: list[tuple[str, int]], add: bool) -> None:
    for path, bit in entries:
        k = _key(path)
        old = paths.get(k)
        mask = struct.unpack("<Q", old)[0] if old else 0
        mask = mask | (1 << bit) if add else mask & ~(1 << bit)
        if mask:
            paths.update(k, struct.pack("<Q", mask))
        elif old is not None:
            try:
                paths.delete(k)
            except BpfMapError:
                pass


def _set_bits(execve_map: Map, entries: list[tuple[str, int]], add: bool) -> None:
    """Mark (or unmark) running processes that are, or descend from, a listed binary."""
    by_pid: dict[int, bytes] = {}
    for k in execve_map.keys():
        v = execve_map.get(k)
        if v is not None and len(v) >= _VALUE_SIZE:
            by_pid[struct.unpack("<I", k)[0]] = v
    for pid, v in by_pid.items():
        mbset = struct.unpack_from("<Q", v, _MBSET)[0]
        new = mbset
        for path, bit in entries:
            if not add:
                new &= ~(1 << bit)
                continue
            cur: bytes | None = v
            for _ in range(64):  # the process, then its ancestors known to execve_map
                if cur is None:
                    break
                n = max(0, min(struct.unpack_from("<i", cur, _PATH_LEN)[0], PATH_SIZE - 1))
                if cur[_PATH : _PATH + n].decode("utf-8", "replace") == path:
                    new |= 1 << bit
                    break
                ppid = struct.unpack_from("<I", cur, _PPID)[0]
                cur = by_pid.get(ppid) if ppid and ppid != pid else None
        if new != mbset:
            value = v[:_MBSET] + struct.pack("<Q", new) + v[_MBSET + 8 :]
            try:
                execve_map.update(struct.pack("<I", pid), value)
            except BpfMapError:
                pass  # the process exited meanwhile


def install(paths: Map, execve_map: Map | None, entries: list[tuple[str, int]]) -> None:
    """Add the policy's binary sets: future execs through tg_mbset_paths, running ones now."""
    _update_paths(paths, entries, add=True)
    if execve_map is not None:
        _set_bits(execve_map, entries, add=True)


def remove(paths: Map, execve_map: Map | None, entries: list[tuple[str, int]]) -> None:
    """Take the bits out of tg_mbset_paths and of every running process, before they are reused."""
    _update_paths(paths, entries, add=False)
    if execve_map is not None:
        _set_bits(execve_map, entries, add=False)


#: the one allocator: execve_map has one mbset, whichever sensor's policy takes a bit
BITS = MbsetBits()
