"""Stack traces of kprobe events (``kernelStackTrace`` / ``userStackTrace`` in a Post action):
the addresses the kernel put in a hook's stack map, as Tetragon's StackTraceEntry (symbol and
offset in it; for user frames also the mapped file).

Kernel addresses resolve through ``/proc/kallsyms`` (read once, again when a module appears);
user addresses through the process's ``/proc/<pid>/maps`` and the ELF symbol tables of the
mapped files (read once per file).
"""

from __future__ import annotations

import bisect
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache

from tetragon_core.events import StackTraceEntry

__all__ = ["KernelSymbols", "kernel_functions", "kernel_trace", "parse_stack", "user_trace"]

_ADDR = struct.Struct("<Q")


def parse_stack(raw: bytes) -> list[int]:
    """The non-zero addresses of one stack map value (up to 127 u64)."""
    out = []
    for (a,) in _ADDR.iter_unpack(raw[: len(raw) - len(raw) % 8]):
        if not a:
            break
        out.append(a)
    return out


class KernelSymbols:
    """``/proc/kallsyms`` as a sorted table of (address, name, module)."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._addrs: list[int] = []
        self._syms: list[tuple[str, str]] = []

    def _load(self) -> None:
        rows = []
        with open(self.path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in "tTwW":
                    continue
                a = int(parts[0], 16)
                if a:
                    rows.append((a, parts[2], parts[3].strip("[]") if len(parts) > 3 else ""))
        rows.sort()
        self._addrs = [r[0] for r in rows]
        self._syms = [(r[1], r[2]) for r in rows]

    def lookup(self, addr: int) -> tuple[str, int, str] | None:
        """(symbol, offset, module) of a kernel text address, or None (kallsyms hidden: no root)."""
        with self._lock:
            if not self._addrs:
                self._load()
            i = bisect.bisect_right(self._addrs, addr) - 1
            if i < 0:
                return None
            name, module = self._syms[i]
            return name, addr - self._addrs[i], module


_kernel = KernelSymbols()


@lru_cache(maxsize=1)
def kernel_functions(path: str = "/proc/kallsyms") -> frozenset[str]:
    """Names of the kernel's text symbols: the functions a kprobe can attach to."""
    with open(path) as f:
        return frozenset(p[2] for p in (line.split() for line in f) if len(p) >= 3 and p[1] in "tTwW")


def kernel_trace(
    addrs: list[int], expose: bool = False, syms: KernelSymbols = _kernel
) -> list[StackTraceEntry]:
    """Kernel frames: ``symbol`` and ``offset`` (and ``address`` with --expose-stack-addresses)."""
    out = []
    for a in addrs:
        try:
            found = syms.lookup(a)
        except OSError:
            found = None
        if found is None:
            continue  # as Tetragon: a frame it cannot name is left out
        name, off, module = found
        out.append(
            StackTraceEntry(address=str(a) if expose else "0", offset=str(off), symbol=name, module=module)
        )
    return out


@dataclass(frozen=True)
class _Elf:
    """An ELF file's function symbols and how file offsets map to its addresses."""

    addrs: tuple[int, ...]
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    loads: tuple[tuple[int, int, int], ...]  # PT_LOAD: (file offset, vaddr, file size)

    def symbol(self, file_off: int) -> tuple[str, int] | None:
        for off, vaddr, size in self.loads:
            if off <= file_off < off + size:
                v = file_off - off + vaddr
                i = bisect.bisect_right(self.addrs, v) - 1
                if i >= 0 and (v < self.addrs[i] + self.sizes[i] or not self.sizes[i]):
                    return self.names[i], v - self.addrs[i]
                return None
        return None


@lru_cache(maxsize=64)
def _elf(path: str) -> _Elf | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # 64-bit little-endian only
        return None
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _fl, p_off, p_vaddr, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize
        )
        if p_type == 1:
            loads.append((p_off, p_vaddr, p_filesz))
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    syms: dict[int, tuple[str, int]] = {}
    for sh in sections:
        if sh[1] not in (2, 11) or not sh[9]:  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strtab = sections[sh[6]]
        s_off = strtab[4]
        for k in range(sh[5] // sh[9]):
            name_off, info, _other, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", data, sh[4] + k * sh[9]
            )
            if info & 0xF != 2 or not shndx or not value:  # STT_FUNC, defined
                continue
            end = data.index(b"\0", s_off + name_off)
            syms.setdefault(value, (data[s_off + name_off : end].decode("utf-8", "replace"), size))
    order = sorted(syms)
    return _Elf(
        tuple(order), tuple(syms[a][0] for a in order), tuple(syms[a][1] for a in order), tuple(loads)
    )


def _maps(pid: int, procfs: str) -> list[tuple[int, int, int, str]]:
    out = []
    try:
        with open(f"{procfs}/{pid}/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) < 6 or not parts[5].startswith("/"):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, int(parts[2], 16), parts[5].strip()))
    except OSError:
        pass
    return out


def user_trace(
    pid: int, addrs: list[int], expose: bool = False, procfs: str = "/proc"
) -> list[StackTraceEntry]:
    """User frames: the mapped file (``module``) and the symbol and offset in it where known."""
    maps = _maps(pid, procfs)
    out = []
    for a in addrs:
        m = next((m for m in maps if m[0] <= a < m[1]), None)
        if m is None:
            continue  # the process is gone or the address is anonymous memory
        file_off = a - m[0] + m[2]
        elf = _elf(m[3])
        found = elf.symbol(file_off) if elf else None
        name, off = found if found else ("", file_off)
        out.append(
            StackTraceEntry(address=str(a) if expose else "0", offset=str(off), symbol=name, module=m[3])
        )
    return out
