"""A binary's USDT probes, from its ``.note.stapsdt`` notes (SystemTap SDT, ``sys/sdt.h``).

Each note (owner ``stapsdt``, type 3) holds the probe's address, the link-time address of
``.stapsdt.base``, its semaphore's address (0: none), then ``provider\\0name\\0args\\0``. When the
binary was prelinked or its sections moved, the note's addresses are off by the difference between
``.stapsdt.base``'s real address and the one in the note. The probe point and the semaphore are
then turned into file offsets through the binary's PT_LOAD segments, which is what the kernel's
uprobe and its ``ref_ctr_offset`` take.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from tetragon_core.sdk import PolicyError

__all__ = ["UsdtProbe", "find_probe", "probes"]

_NT_STAPSDT = 3
_ADDRS = struct.Struct("<3Q")


@dataclass(frozen=True)
class UsdtProbe:
    """One probe of a binary, placed: file offsets of the probe point and of its semaphore."""

    provider: str
    name: str
    args: str  # the argument specs, e.g. "-4@%eax 8@%rsi"
    offset: int  # file offset of the probe point (a nop)
    semaphore: int  # file offset of the semaphore (unsigned short), 0 when it has none


def _file_offset(loads: list[tuple[int, int, int, int]], addr: int) -> int | None:
    for vaddr, memsz, offset, filesz in loads:
        if vaddr <= addr < vaddr + min(memsz, filesz):
            return addr - vaddr + offset
    return None


@lru_cache(maxsize=64)
def _probes(path: str, mtime_ns: int) -> tuple[UsdtProbe, ...]:
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf.elfclass != 64 or not elf.little_endian:
                raise PolicyError("path", f"{path}: USDT probes are read from 64-bit little-endian ELF only")
            loads = [
                (s["p_vaddr"], s["p_memsz"], s["p_offset"], s["p_filesz"])
                for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"
            ]
            base_sec = elf.get_section_by_name(".stapsdt.base")
            real_base = base_sec["sh_addr"] if base_sec is not None else None
            notes = elf.get_section_by_name(".note.stapsdt")
            out: list[UsdtProbe] = []
            if notes is None:
                return ()
            for i, note in enumerate(notes.iter_notes()):  # type: ignore[attr-defined]
                if note["n_name"] != "stapsdt" or note["n_descsz"] < _ADDRS.size + 3:
                    continue
                desc = note["n_desc"]
                if not isinstance(desc, bytes):
                    raise PolicyError("path", f"{path}: note {i} of .note.stapsdt is not raw bytes")
                pc, base, sema = _ADDRS.unpack_from(desc)
                provider, name, args = [*desc[_ADDRS.size :].split(b"\0"), b"", b"", b""][:3]
                probe = f"{provider.decode()}:{name.decode()}"
                if real_base is not None and base:
                    delta = real_base - base
                    pc += delta
                    if sema:
                        sema += delta
                off = _file_offset(loads, pc)
                if off is None:
                    raise PolicyError("path", f"{path}: probe {probe} lies in no segment")
                sema_off = _file_offset(loads, sema) if sema else 0
                if sema and sema_off is None:
                    raise PolicyError("path", f"{path}: the semaphore of {probe} lies in no segment")
                out.append(UsdtProbe(provider.decode(), name.decode(), args.decode(), off, sema_off or 0))
    except (OSError, ELFError) as e:
        raise PolicyError("path", f"{path} is not a readable ELF file: {e}") from e
    return tuple(out)


def probes(path: str) -> tuple[UsdtProbe, ...]:
    """Every USDT probe of ``path`` (cached by path and mtime); PolicyError if it is no ELF file."""
    return _probes(path, os.stat(path).st_mtime_ns)


def find_probe(where: str, path: str, provider: str, name: str) -> list[UsdtProbe]:
    """Every site of ``provider:name`` in ``path`` (a probe may appear more than once, e.g.
    inlined); PolicyError naming ``where`` and the probes there are when it is absent."""
    try:
        found = probes(path)
    except PolicyError as e:
        raise PolicyError(where, e.reason) from e
    hits = [p for p in found if p.provider == provider and p.name == name]
    if not hits:
        have = sorted({f"{p.provider}:{p.name}" for p in found})
        listed = ", ".join(have[:12]) + (" …" if len(have) > 12 else "") if have else "none"
        raise PolicyError(where, f"{path} has no USDT probe {provider}:{name} (it has: {listed})")
    return hits
