"""A BPF map as seen from user space: typed byte access by fd."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass

from tetragon_core.bpf import _libbpf as lb
from tetragon_core.exceptions import MapKeyNotFound

BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_RINGBUF = 27

_PERCPU = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, 10}

BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2


@dataclass
class Map:
    """A map fd with its geometry. ``owned`` maps are closed by :meth:`close`."""

    name: str
    fd: int
    type: int
    key_size: int
    value_size: int
    max_entries: int
    owned: bool = True

    @classmethod
    def create(
        cls, map_type: int, name: str, key_size: int, value_size: int, max_entries: int, flags: int = 0
    ) -> Map:
        """Create a new kernel map owned by the caller (``flags``: BPF_F_*, e.g. no preallocation)."""
        fd = lb.map_create(map_type, name, key_size, value_size, max_entries, flags)
        return cls(name, fd, map_type, key_size, value_size, max_entries, owned=True)

    @property
    def percpu(self) -> bool:
        return self.type in _PERCPU

    def _value_len(self) -> int:
        if self.percpu:
            return ((self.value_size + 7) & ~7) * lb.num_possible_cpus()
        return self.value_size

    def lookup(self, key: bytes) -> bytes:
        """The raw value for ``key`` (for per-CPU maps, every CPU's value concatenated)."""
        buf = ctypes.create_string_buffer(self._value_len())
        lb.map_lookup(self.fd, key, buf)
        return buf.raw

    def lookup_percpu(self, key: bytes) -> list[bytes]:
        """Each CPU's value of a per-CPU map."""
        raw = self.lookup(key)
        step = (self.value_size + 7) & ~7
        return [raw[i : i + self.value_size] for i in range(0, len(raw), step)]

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.lookup(key)
        except MapKeyNotFound:
            return None

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        lb.map_update(self.fd, key, value, flags)

    def update_percpu(self, key: bytes, values: list[bytes], flags: int = BPF_ANY) -> None:
        """Write each CPU's value of a per-CPU map (one value per possible CPU)."""
        step = (self.value_size + 7) & ~7
        self.update(key, b"".join(v.ljust(step, b"\0") for v in values), flags)

    def delete(self, key: bytes) -> None:
        lb.map_delete(self.fd, key)

    def keys(self) -> Iterator[bytes]:
        buf = ctypes.create_string_buffer(self.key_size)
        prev: bytes | None = None
        while lb.map_next_key(self.fd, prev, buf):
            prev = buf.raw
            yield prev

    def count(self) -> int:
        return sum(1 for _ in self.keys())

    def pin(self, path: str) -> None:
        lb.obj_pin(self.fd, path)

    def close(self) -> None:
        if self.owned and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
