"""The one BPF ring buffer of the agent, created by the core and consumed through mmap.

Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (read-write for us); page 1 holds
producer_pos; the data area follows and is mapped twice back to back, so a record that wraps is
still contiguous in our mapping. Each record has an 8-byte header: u32 length with the BUSY
(1<<31) and DISCARD (1<<30) bits, and u32 page offset.
"""

from __future__ import annotations

import ctypes
import mmap
import os

from tetragon_core.bpf.maps import BPF_MAP_TYPE_RINGBUF, Map
from tetragon_core.exceptions import BpfMapError

_BUSY = 1 << 31
_DISCARD = 1 << 30
_LEN_MASK = _DISCARD - 1
PAGE_SIZE = mmap.PAGESIZE


def ring_size(rb_size: int, rb_size_total: int, ncpus: int) -> int:
    """Tetragon's sizing: ``--rb-size-total``, else ``--rb-size`` × CPUs, else 64 KiB × CPUs,
    rounded up to a power-of-two number of pages."""
    want = rb_size_total or (rb_size or 65536) * ncpus
    pages = max(1, -(-want // PAGE_SIZE))
    return (1 << (pages - 1).bit_length()) * PAGE_SIZE


class RingBuffer:
    """A ring buffer map plus its consumer mapping. Not thread-safe: one consumer."""

    def __init__(self, size: int, name: str = "tg_rb_events") -> None:
        if size <= 0 or size % PAGE_SIZE or size & (size - 1):
            raise BpfMapError(f"ring buffer size {size} must be a power-of-two multiple of {PAGE_SIZE}")
        self.map = Map.create(BPF_MAP_TYPE_RINGBUF, name, 0, 0, size)
        self.size = size
        self._mask = size - 1
        try:
            self._cons_mm = mmap.mmap(
                self.map.fd, PAGE_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
            self._data_mm = mmap.mmap(
                self.map.fd, PAGE_SIZE + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=PAGE_SIZE
            )
        except OSError as e:
            self.map.close()
            raise BpfMapError(f"mmap of ring buffer failed: {os.strerror(e.errno or 0)}", e.errno or 0) from e
        # A single aligned 8-byte store publishes consumer_pos; a two-step write lets the kernel
        # see a transient zero and refuse reserves.
        self._cons = ctypes.c_uint64.from_buffer(self._cons_mm)
        whole = memoryview(self._data_mm)
        self._prod = whole[:8].cast("Q")
        self._data = whole[PAGE_SIZE:]
        self._u32 = self._data.cast("I")
        self.received = 0
        #: corrupt record headers met (a length past the ring); each skips what was pending
        self.errors = 0

    @property
    def fd(self) -> int:
        return self.map.fd

    def pending(self) -> int:
        """Bytes produced but not yet consumed."""
        return int(self._prod[0] - self._cons.value)

    def read_batch(self, max_records: int = 8192) -> list[bytes]:
        """Copy out up to ``max_records`` committed records and release their space."""
        out: list[bytes] = []
        cons = self._cons.value
        prod = self._prod[0]
        data = self._data
        u32 = self._u32
        mask = self._mask
        append = out.append
        n = 0
        while n < max_records:
            if cons >= prod:
                prod = self._prod[0]
                if cons >= prod:
                    break
            off = cons & mask
            hdr = u32[off >> 2]
            if hdr & _BUSY:
                break
            length = hdr & _LEN_MASK
            if length > self.size - 8:
                # Only a kernel bug writes this; no later header can be trusted. Skip to the
                # producer (the kernel's next records start clean) and count it.
                self.errors += 1
                cons = self._prod[0]
                break
            if not hdr & _DISCARD:
                append(bytes(data[off + 8 : off + 8 + length]))
                n += 1
            cons += (length + 15) & ~7
        if out or cons != self._cons.value:
            self._cons.value = cons
        self.received += n
        return out

    def close(self) -> None:
        """Unmap and close the map fd (BPF objects holding it keep the map alive)."""
        del self._cons
        for mv in (self._u32, self._data, self._prod):
            mv.release()
        self._cons_mm.close()
        self._data_mm.close()
        self.map.close()
