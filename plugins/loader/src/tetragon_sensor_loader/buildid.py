"""Build ids of mapped files, read from their ELF notes once per file identity.

The kernel reports a mapping's file by identity (device, inode, mtime) and by its path as the
mapping process sees it. The file is opened through that process when it can be (its root, then
its ``map_files`` entry for the mapping), else at the path on this host, and used only when
``fstat`` shows the same device and inode: a path that now names another file is not read.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

__all__ = ["BuildIds", "FileId", "read_build_id"]


@dataclass(frozen=True, slots=True)
class FileId:
    """A file's identity as the kernel reports it (dev is the kernel's: major << 20 | minor)."""

    dev: int
    ino: int
    mtime_ns: int

    def matches(self, st: os.stat_result) -> bool:
        same = st.st_ino == self.ino and st.st_dev == os.makedev(self.dev >> 20, self.dev & 0xFFFFF)
        return same and (not self.mtime_ns or st.st_mtime_ns == self.mtime_ns)


def read_build_id(f: BinaryIO) -> bytes:
    """The NT_GNU_BUILD_ID of an open ELF file (its PT_NOTE segments, else its note sections);
    b"" when it has none or is not ELF."""
    try:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_NOTE":
                continue
            for note in seg.iter_notes():  # type: ignore[attr-defined]
                if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                    return bytes.fromhex(note["n_desc"])
        for sec in elf.iter_sections():
            if sec["sh_type"] == "SHT_NOTE":
                for note in sec.iter_notes():  # type: ignore[attr-defined]
                    if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                        return bytes.fromhex(note["n_desc"])
    except (ELFError, ValueError, OSError, KeyError):
        return b""
    return b""


class BuildIds:
    """A bounded LRU of FileId → build id (b"": the file has none)."""

    def __init__(self, size: int = 4096, proc: str = "/proc") -> None:
        self._cache: OrderedDict[FileId, bytes] = OrderedDict()
        self._size = size
        self._proc = proc
        self.hits = 0
        self.reads = 0

    def __len__(self) -> int:
        return len(self._cache)

    def lookup(self, fid: FileId, pid: int, path: str, start: int = 0, end: int = 0) -> bytes | None:
        """The build id of ``fid`` (b"" if none); None when no path to that very file is left."""
        got = self._cache.get(fid)
        if got is not None:
            self._cache.move_to_end(fid)
            self.hits += 1
            return got
        candidates = [f"{self._proc}/{pid}/root{path}"]
        if start and end:
            candidates.append(f"{self._proc}/{pid}/map_files/{start:x}-{end:x}")
        candidates.append(path)
        for cand in candidates:
            try:
                with open(cand, "rb") as f:
                    if not fid.matches(os.fstat(f.fileno())):
                        continue
                    self.reads += 1
                    bid = read_build_id(f)
            except OSError:
                continue
            self._cache[fid] = bid
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return bid
        return None
