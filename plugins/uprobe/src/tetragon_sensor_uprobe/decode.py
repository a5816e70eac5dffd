"""Decode MSG_OP_GENERIC_UPROBE records into ProcessUprobe events, merging entry and return.

``ProcessUprobe`` has no return field in Tetragon's API; the return value of a ``return: true``
hook is appended to ``args`` as the argument labelled ``return`` (the entry and its return are one
event, merged by the SDK's ReturnMerger, as kprobes are).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tetragon_core.sdk import (
    HEADER,
    MSG_RETURN,
    MSG_RETURN_FILTERED,
    DecodeError,
    ExecKey,
    Header,
    HookMessage,
    ProcessUprobe,
    Registry,
    ResolvedArg,
    ReturnMerger,
    ReturnSpec,
    action_name,
    decode_args,
    header,
    int_arg,
)

__all__ = ["UprobeDecoder", "UprobeInfo"]

_U64 = struct.Struct("<Q")


@dataclass
class UprobeInfo:
    """What user space knows of one loaded uprobe hook (``func_id`` in its records)."""

    policy_name: str
    path: str
    symbol: str
    offset: int
    args: list[ResolvedArg]
    ret: ReturnSpec | None = None
    ref_ctr_offset: int = 0
    message: str = ""
    tags: list[str] = field(default_factory=list)


class UprobeDecoder:
    """The op's decoder: the event, None while an entry waits for its return, or a list."""

    def __init__(self, hooks: dict[int, UprobeInfo], registry: Registry | None = None) -> None:
        self.hooks = hooks
        self._merger = ReturnMerger(registry, lambda msg: str(msg.event.symbol))

    @property
    def pending(self) -> int:
        return len(self._merger)

    def __call__(self, rec: bytes) -> HookMessage | list[HookMessage] | None:
        h = header(rec, "generic uprobe")
        info = self.hooks.get(h.func_id)
        if info is None:
            raise DecodeError(f"generic uprobe record for unknown hook {h.func_id} (policy deleted?)")
        stale = self._merger.expire(h.ktime)
        data = memoryview(rec)[HEADER.size :]
        out = self._return(h, info, data) if h.flags & MSG_RETURN else self._entry(h, info, data)
        if not stale:
            return out
        return stale + ([out] if out is not None else [])

    def _entry(self, h: Header, info: UprobeInfo, data: memoryview) -> HookMessage | None:
        ev = ProcessUprobe(
            path=info.path,
            symbol=info.symbol,
            policy_name=info.policy_name,
            message=info.message,
            args=decode_args(info.symbol or info.path, info.args, data),
            tags=list(info.tags),
            offset=str(info.offset),
            ref_ctr_offset=str(info.ref_ctr_offset),
            action=action_name(h.action),
        )
        msg = HookMessage(ExecKey(h.pid, h.exec_ktime), h.ktime, "process_uprobe", ev, "PROCESS_UPROBE")
        if info.ret is None:
            return msg
        self._merger.push(h, msg)
        return None

    def _return(self, h: Header, info: UprobeInfo, data: memoryview) -> HookMessage | None:
        msg = self._merger.pop(h, info.symbol)
        if msg is None or h.flags & MSG_RETURN_FILTERED:  # matchReturnArgs rejected it
            return None
        if len(data) < 8 or info.ret is None:
            raise DecodeError(f"{info.symbol}: return record without its value")
        value = int_arg(info.ret.arg, _U64.unpack_from(data)[0])
        value.label = "return"
        msg.event.args.append(value)
        self._merger.merged()
        return msg
