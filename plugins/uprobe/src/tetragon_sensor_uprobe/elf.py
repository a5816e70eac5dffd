"""Where a uprobe attaches: the binary's real path and a symbol's file offset, from its ELF.

Symbols come from ``.symtab``, or ``.dynsym`` when the binary is stripped (pyelftools reads
both). Paths follow symlinks; a path under ``/proc/<pid>/root/`` is resolved inside that
process's root (its mount namespace), so a container's binary is probed from the host: the
kernel opens the path through the ``/proc/<pid>/root`` link, and symlinks below it are followed
relative to that root, never the host's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from tetragon_core.sdk import PolicyError

_PROC_ROOT = re.compile(r"^(/proc/\d+/root)(/.*)$")
_FUNC_TYPES = ("STT_FUNC", "STT_GNU_IFUNC")
_MAX_LINKS = 40


def resolve_path(where: str, path: str) -> str:
    """The file to attach to; PolicyError naming ``where`` if it is missing or not a file."""
    m = _PROC_ROOT.match(path)
    real = _resolve_under(m.group(1), m.group(2)) if m else os.path.realpath(path)
    if not os.path.isfile(real):
        why = "does not exist" if not os.path.exists(real) else "is not a regular file"
        raise PolicyError(where, f"{path} {why}")
    return real


def _resolve_under(root: str, rest: str) -> str:
    """``rest`` resolved inside ``root``: absolute symlink targets restart at ``root``."""
    parts = [p for p in rest.split("/") if p]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if os.path.islink(candidate):
            links += 1
            if links > _MAX_LINKS:
                raise PolicyError("path", f"too many symbolic links under {root}{rest}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


@dataclass(frozen=True)
class _Segments:
    """The PT_LOAD segments of a file: (vaddr, memsz, offset, filesz, executable)."""

    loads: tuple[tuple[int, int, int, int, bool], ...]
    size: int


@lru_cache(maxsize=64)
def _elf_info(path: str, mtime_ns: int) -> tuple[_Segments, dict[str, int]]:
    """Segments and function symbols (name → address) of ``path``; cached by path and mtime."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            loads = tuple(
                (s["p_vaddr"], s["p_memsz"], s["p_offset"], s["p_filesz"], bool(s["p_flags"] & 1))
                for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"
            )
            symbols: dict[str, int] = {}
            for name in (".symtab", ".dynsym"):  # .symtab first; .dynsym when stripped
                sec = elf.get_section_by_name(name)
                if not isinstance(sec, SymbolTableSection):
                    continue
                for sym in sec.iter_symbols():
                    if (
                        sym.name
                        and sym["st_info"]["type"] in _FUNC_TYPES
                        and sym["st_shndx"] != "SHN_UNDEF"
                        and sym["st_value"]
                    ):
                        symbols.setdefault(sym.name.split("@", 1)[0], sym["st_value"])
            size = os.fstat(f.fileno()).st_size
    except (OSError, ELFError) as e:
        raise PolicyError("path", f"{path} is not a readable ELF file: {e}") from e
    return _Segments(loads, size), symbols


def _info(path: str) -> tuple[_Segments, dict[str, int]]:
    return _elf_info(path, os.stat(path).st_mtime_ns)


def symbol_offset(where: str, path: str, symbol: str) -> int:
    """The file offset of function ``symbol`` in ``path``; PolicyError naming both if absent."""
    segs, symbols = _info(path)
    addr = symbols.get(symbol)
    if addr is None:
        raise PolicyError(where, f"symbol {symbol!r} is not a function of {path}")
    return addr_offset(where, path, addr, segs)


def addr_offset(where: str, path: str, addr: int, segs: _Segments | None = None) -> int:
    """The file offset of virtual address ``addr``: it must lie in an executable segment."""
    segs = segs or _info(path)[0]
    for vaddr, memsz, offset, filesz, exe in segs.loads:
        if vaddr <= addr < vaddr + min(memsz, filesz):
            if not exe:
                raise PolicyError(where, f"address {addr:#x} of {path} is not in an executable segment")
            return addr - vaddr + offset
    raise PolicyError(where, f"address {addr:#x} is in no loaded segment of {path}")


def check_offset(where: str, path: str, offset: int) -> int:
    """A raw file offset: inside the file and inside an executable segment."""
    segs = _info(path)[0]
    if not 0 <= offset < segs.size:
        raise PolicyError(where, f"offset {offset:#x} is past the end of {path} ({segs.size} bytes)")
    for _vaddr, _memsz, off, filesz, exe in segs.loads:
        if off <= offset < off + filesz and exe:
            return offset
    raise PolicyError(where, f"offset {offset:#x} of {path} is not in an executable segment")


def symbol_at(path: str, offset: int) -> str:
    """The function whose code holds file ``offset`` (for events of offsets[]), or ""."""
    segs, symbols = _info(path)
    best = ""
    best_off = -1
    for name, addr in symbols.items():
        try:
            off = addr_offset("", path, addr, segs)
        except PolicyError:
            continue
        if best_off < off <= offset:
            best, best_off = name, off
    return best
