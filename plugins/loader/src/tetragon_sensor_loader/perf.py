"""The kprobe route's perf events: one software event per CPU with ``mmap`` and ``build_id``
set, so that the kernel calls perf_event_mmap_output (and parses the build id) on every
executable mapping. Nothing reads them: the kprobe on that function is the consumer, and it
keeps to these events by their ids."""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct

from tetragon_core.sdk import SensorError

__all__ = ["MmapEvents"]

_NR_PERF_EVENT_OPEN = 298  # x86-64
_PERF_TYPE_SOFTWARE = 1
_PERF_COUNT_SW_DUMMY = 9
_ATTR_SIZE = 128  # PERF_ATTR_SIZE_VER7
_PERF_FLAG_FD_CLOEXEC = 1 << 3
_PERF_EVENT_IOC_ID = 0x80082407  # _IOR('$', 7, __u64 *)
_BITS = (1 << 8) | (1 << 23) | (1 << 34)  # mmap, mmap2, build_id

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _attr() -> bytes:
    # type, size, config, sample_period, sample_type, read_format, flag bits; the rest zero
    head = struct.pack("<IIQQQQQ", _PERF_TYPE_SOFTWARE, _ATTR_SIZE, _PERF_COUNT_SW_DUMMY, 0, 0, 0, _BITS)
    return head + bytes(_ATTR_SIZE - len(head))


class MmapEvents:
    """The per-CPU events, open; ``ids`` are their kernel ids."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.ids: list[int] = []
        attr = ctypes.create_string_buffer(_attr(), _ATTR_SIZE)
        try:
            for cpu in range(os.cpu_count() or 1):
                fd = _libc.syscall(_NR_PERF_EVENT_OPEN, attr, -1, cpu, -1, _PERF_FLAG_FD_CLOEXEC)
                if fd < 0:
                    err = ctypes.get_errno()
                    if err == 19 and self.fds:  # ENODEV: an offline CPU
                        continue
                    raise SensorError(f"perf_event_open (mmap, build_id) on CPU {cpu}: {os.strerror(err)}")
                self.fds.append(fd)
                buf = bytearray(8)
                fcntl.ioctl(fd, _PERF_EVENT_IOC_ID, buf)
                self.ids.append(struct.unpack("<Q", buf)[0])
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        self.ids.clear()
