"""Decode MSG_OP_LOADER records into ProcessLoader events, with the build id from the record
(kprobe route) or from the file (tracepoint route, cached per file identity)."""

from __future__ import annotations

import struct

from tetragon_core.sdk import DecodeError, ExecKey, HookMessage, ProcessLoader, Registry
from tetragon_sensor_loader.buildid import BuildIds, FileId

__all__ = ["MSG_OP_LOADER", "RECORD", "LoaderDecoder"]

MSG_OP_LOADER = 26
#: struct msg_loader (bpf/loader/bpf_loader.c) up to its path
RECORD = struct.Struct("<BB2xIQ I4xQ II QQ II QQ II 20s4x")
FLAG_KPROBE, FLAG_EXEC, FLAG_INTERP = 0x1, 0x2, 0x4


class LoaderDecoder:
    """The op's decoder; counts tetragon_process_loader_stats as upstream does."""

    def __init__(self, registry: Registry | None = None, build_ids: BuildIds | None = None) -> None:
        reg = registry or Registry()
        self.build_ids = build_ids or BuildIds()
        self._stats = reg.counter(
            "tetragon_process_loader_stats",
            "Process Loader event statistics. For internal use only.",
            ("count",),
        )
        self._unresolved = reg.counter(
            "tetragon_process_loader_unresolved_total",
            "Executable mappings not reported: the file has no build id, or it could no longer be "
            "opened as the same file to read it.",
            ("reason",),
        )

    def _resolved(self, immediate: bool) -> None:
        self._stats.inc("LoaderResolvedImm" if immediate else "LoaderResolvedRetry")

    def __call__(self, rec: bytes) -> HookMessage | None:
        if len(rec) < RECORD.size:
            raise DecodeError(f"loader record of {len(rec)} bytes, shorter than its header ({RECORD.size})")
        (
            _op, _flags, _size, ktime, cur_pid, cur_ktime, pid, _tid, ino, mtime, dev, flags,
            start, end, bid_size, path_size, bid,
        ) = RECORD.unpack_from(rec)  # fmt: skip
        if RECORD.size + path_size > len(rec):
            raise DecodeError(f"loader record: path of {path_size} bytes past its end ({len(rec)})")
        self._stats.inc("LoaderReceived")
        path = rec[RECORD.size : RECORD.size + path_size].decode(errors="replace")
        if flags & FLAG_KPROBE:
            buildid = bid[:bid_size]
        else:
            got = self.build_ids.lookup(FileId(dev, ino, mtime), pid, path, start, end)
            if got is None:
                self._unresolved.inc("file_gone")
                return None
            buildid = got
        if not buildid:
            self._unresolved.inc("no_build_id")
            return None
        ev = ProcessLoader(path=path, buildid=buildid)
        key = ExecKey(cur_pid, cur_ktime)
        return HookMessage(key, ktime, "process_loader", ev, "PROCESS_LOADER", resolved=self._resolved)
