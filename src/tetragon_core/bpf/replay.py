"""An in-memory ring buffer that replays recorded raw records.

It stands in for :class:`~tetragon_core.bpf.ringbuf.RingBuffer` wherever only ``read_batch`` is
used, so decoders, the observer and the process cache are tested without root or a kernel. The
recording format is a sequence of ``u32 length`` + record bytes, little-endian.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from pathlib import Path

_LEN = struct.Struct("<I")


def dump_records(path: str | Path, records: Iterable[bytes]) -> int:
    """Write records in the replay format; returns how many."""
    n = 0
    with open(path, "wb") as f:
        for r in records:
            f.write(_LEN.pack(len(r)))
            f.write(r)
            n += 1
    return n


def load_records(path: str | Path) -> list[bytes]:
    """Read a recording back; a truncated tail is an error, not silently dropped."""
    data = Path(path).read_bytes()
    out: list[bytes] = []
    off = 0
    while off < len(data):
        if off + 4 > len(data):
            raise ValueError(f"{path}: truncated length at offset {off}")
        (n,) = _LEN.unpack_from(data, off)
        off += 4
        if off + n > len(data):
            raise ValueError(f"{path}: record at offset {off} needs {n} bytes, {len(data) - off} left")
        out.append(data[off : off + n])
        off += n
    return out


class ReplayRing:
    """Serves recorded records through the RingBuffer consumer interface."""

    def __init__(self, records: Iterable[bytes]) -> None:
        self._q: deque[bytes] = deque(records)
        self.received = 0

    def feed(self, records: Iterable[bytes]) -> None:
        self._q.extend(records)

    def pending(self) -> int:
        return sum(len(r) for r in self._q)

    def read_batch(self, max_records: int = 8192) -> list[bytes]:
        q = self._q
        n = min(max_records, len(q))
        out = [q.popleft() for _ in range(n)]
        self.received += n
        return out
